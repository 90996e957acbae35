package router

import (
	"sync"
	"time"
)

// State is a circuit breaker's state.
type State int

// The states of a breaker.
const (
	// Closed: requests flow; outcomes are counted.
	Closed State = iota
	// Open: requests are refused until the cooldown has passed.
	Open
	// HalfOpen: the cooldown has passed and one probe is admitted; its
	// outcome closes or reopens the breaker.
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Outcome is what an admitted request reports through its Ticket.
type Outcome int

// Outcomes of an admitted request.
const (
	// Success: the upstream answered.
	Success Outcome = iota
	// Failure: the upstream failed in a way that says it is unhealthy.
	Failure
	// Ignored: the attempt says nothing about the upstream's health (the
	// caller cancelled, the request was the client's mistake); a probe
	// reporting it frees the probe slot for the next request.
	Ignored
)

// Breaker is one upstream's circuit breaker. Every transition happens in
// Allow or a Ticket's Report, on a request's path, never on a timer: an upstream
// that keeps failing is refused from the failure that opens the breaker
// on, and comes back exactly when a probe has succeeded. Share one Breaker
// between the Routers that use the same upstream. Safe for concurrent use.
type Breaker struct {
	cfg BreakerConfig
	now func() time.Time

	mu    sync.Mutex
	state State
	// epoch counts state changes, so that a request admitted in one state
	// and reporting in a later one (a long stream admitted before the
	// breaker opened) is not taken for the probe's outcome.
	epoch    uint64
	openedAt time.Time
	probing  bool // HalfOpen: the probe is out
	consec   int  // consecutive failures
	window   []bool
	next     int // ring index into window
	filled   int
	failures int // failures in window
}

// NewBreaker returns a closed breaker; now is the clock (nil: time.Now).
func NewBreaker(cfg BreakerConfig, now func() time.Time) *Breaker {
	cfg = cfg.withDefaults()
	if now == nil {
		now = time.Now
	}
	// Validate refuses negative counts; a breaker built without it still
	// gets a window that can hold an outcome.
	cfg.Window = max(cfg.Window, 1)
	return &Breaker{cfg: cfg, now: now, window: make([]bool, cfg.Window)}
}

// State is the breaker's state now, counting a passed cooldown as
// HalfOpen (for metrics; it does not admit anything).
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !b.now().Before(b.openedAt.Add(b.cfg.Cooldown)) {
		return HalfOpen
	}
	return b.state
}

// Ticket is an admitted request's right to report its outcome, once.
type Ticket struct {
	b     *Breaker
	epoch uint64
	probe bool
}

// Allow reports whether a request may go to the upstream now. An admitted
// request must report its outcome through the Ticket, exactly once.
func (b *Breaker) Allow() (Ticket, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Open:
		if b.now().Before(b.openedAt.Add(b.cfg.Cooldown)) {
			return Ticket{}, false
		}
		b.state = HalfOpen
		b.epoch++
		b.probing = true
		return Ticket{b: b, epoch: b.epoch, probe: true}, true
	case HalfOpen:
		if b.probing {
			return Ticket{}, false
		}
		b.probing = true
		return Ticket{b: b, epoch: b.epoch, probe: true}, true
	}
	return Ticket{b: b, epoch: b.epoch}, true
}

// Report records the outcome of the request the ticket admitted. A ticket
// from before the breaker's last change of state changes nothing: the
// cooldown or the probe decides now.
func (t Ticket) Report(o Outcome) {
	b := t.b
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.epoch != b.epoch {
		return
	}
	if t.probe {
		b.probing = false
		switch o {
		case Failure:
			b.trip()
		case Success:
			b.reset()
		}
		return
	}
	if o == Ignored {
		return
	}
	failed := o == Failure
	b.record(failed)
	if failed {
		b.consec++
	} else {
		b.consec = 0
	}
	if b.consec >= b.cfg.FailureThreshold ||
		b.filled >= b.cfg.MinRequests && float64(b.failures) >= b.cfg.FailureRatio*float64(b.filled) {
		b.trip()
	}
}

func (b *Breaker) record(failed bool) {
	if b.filled == len(b.window) {
		if b.window[b.next] {
			b.failures--
		}
	} else {
		b.filled++
	}
	b.window[b.next] = failed
	if failed {
		b.failures++
	}
	b.next = (b.next + 1) % len(b.window)
}

func (b *Breaker) trip() {
	b.state = Open
	b.epoch++
	b.openedAt = b.now()
}

// reset closes the breaker with a clean history: the failures that opened
// it are over.
func (b *Breaker) reset() {
	b.state = Closed
	b.epoch++
	b.consec, b.filled, b.failures, b.next = 0, 0, 0, 0
	clear(b.window)
}
