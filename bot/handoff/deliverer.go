package handoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/infergate/infergate/store"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrUnknownTarget: a record names a target the deliverer was not given
// (a configuration change removed it). Such a record is retried until its
// give-up time, so that restoring the configuration delivers it.
var ErrUnknownTarget = errors.New("handoff: unknown target")

// Options configure a Deliverer. Zero fields take the defaults below.
type Options struct {
	// Targets, by Name; names must be unique.
	Targets []Target
	// GiveUpAfter is how long after the handoff a ticket is retried
	// before it is marked failed (default 24h).
	GiveUpAfter time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential wait
	// between attempts (defaults 1s and 10m).
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is how often the outbox is scanned when nothing calls
	// Notify and no retry is due sooner (default 30s): the safety net for
	// tickets enqueued by another process.
	PollInterval time.Duration
	// AttemptTimeout bounds one Deliver call (default 30s).
	AttemptTimeout time.Duration
	// Concurrency is how many tickets are delivered at once (default 4).
	Concurrency int
	// Batch is how many due tickets one scan takes (default 64).
	Batch  int
	Logger *slog.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.GiveUpAfter, 24*time.Hour)
	def(&o.MinBackoff, time.Second)
	def(&o.MaxBackoff, 10*time.Minute)
	def(&o.PollInterval, 30*time.Second)
	def(&o.AttemptTimeout, 30*time.Second)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Deliverer drains the outbox: it takes the pending tickets that are due,
// in next-attempt order from the due index (store.OutboxDueRange), hands
// each to its target, and records the outcome, synced, after every attempt.
// Because the outbox is the whole state, a restarted Deliverer resumes
// exactly the pending tickets. Run one Deliverer per store.
type Deliverer struct {
	st      Store
	o       Options
	targets map[string]Target
	wake    chan struct{}
	m       *metrics
}

// NewDeliverer returns a Deliverer over st.
func NewDeliverer(st Store, o Options) (*Deliverer, error) {
	if st == nil {
		return nil, errors.New("handoff: NewDeliverer: nil store")
	}
	o.defaults()
	d := &Deliverer{st: st, o: o, targets: make(map[string]Target, len(o.Targets)), wake: make(chan struct{}, 1), m: newMetrics(st)}
	for _, t := range o.Targets {
		if t == nil || t.Name() == "" {
			return nil, errors.New("handoff: NewDeliverer: a target without a name")
		}
		if _, dup := d.targets[t.Name()]; dup {
			return nil, fmt.Errorf("handoff: NewDeliverer: two targets named %q", t.Name())
		}
		d.targets[t.Name()] = t
	}
	return d, nil
}

// Collector returns the deliverer's metrics, for a Prometheus registry:
// the backlog, deliveries by target and outcome, and the handoff-to-
// delivery delay.
func (d *Deliverer) Collector() prometheus.Collector { return d.m }

// Notify wakes Run so that a ticket just enqueued is delivered now rather
// than at the next poll. It never blocks; wake-ups coalesce.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then returns nil. A scan that fails (the
// store is unavailable) is logged and retried after MinBackoff.
func (d *Deliverer) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next, err := d.drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := d.o.PollInterval
		switch {
		case err != nil:
			d.o.Logger.LogAttrs(ctx, slog.LevelWarn, "handoff: outbox scan failed", slog.String("error", err.Error()))
			wait = d.o.MinBackoff
		case !next.IsZero():
			wait = min(wait, max(time.Until(next), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
}

// due is one entry of the due index.
type due struct {
	at time.Time
	id string
}

// drain attempts every ticket due now, a batch at a time, and returns when
// the next pending ticket is due (zero when none is pending).
func (d *Deliverer) drain(ctx context.Context) (time.Time, error) {
	for {
		batch, err := d.scan(ctx, time.Now(), d.o.Batch)
		if err != nil {
			return time.Time{}, err
		}
		if err := d.attemptAll(ctx, batch); err != nil {
			return time.Time{}, err
		}
		if len(batch) < d.o.Batch {
			break
		}
	}
	next, err := d.scan(ctx, time.Time{}, 1)
	if err != nil || len(next) == 0 {
		return time.Time{}, err
	}
	return next[0].at, nil
}

// scan returns up to limit due-index entries due by until (zero: any).
func (d *Deliverer) scan(ctx context.Context, until time.Time, limit int) ([]due, error) {
	r := store.PrefixRange(store.SectionPrefix(store.KindOutbox, store.SectionDue))
	if !until.IsZero() {
		r = store.OutboxDueRange(until)
	}
	var out []due
	err := d.st.Walk(ctx, r, nil, limit, func(k, _ []byte) error {
		at, id, err := store.ParseOutboxDueKey(k)
		if err != nil {
			return fmt.Errorf("handoff: outbox due index: %w", err)
		}
		out = append(out, due{at: at, id: id})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("handoff: scan outbox: %w", err)
	}
	return out, nil
}

// attemptAll attempts the batch, Concurrency at a time, and returns the
// first store error.
func (d *Deliverer) attemptAll(ctx context.Context, batch []due) error {
	sem := make(chan struct{}, d.o.Concurrency)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, e := range batch {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.attempt(ctx, e); err != nil && ctx.Err() == nil {
				mu.Lock()
				first = cmpErr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// attempt delivers one due ticket and records the outcome.
func (d *Deliverer) attempt(ctx context.Context, e due) error {
	r, err := Load(ctx, d.st, e.id)
	stale := errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) ||
		(err == nil && (r.State.Final() || !r.NextAttempt.Equal(e.at)))
	if stale {
		// An index entry without a pending record due at its time (erased,
		// or a record this build cannot read, which is kept for
		// inspection): drop the entry so that it is not scanned again.
		if errors.Is(err, ErrCorrupt) {
			d.o.Logger.LogAttrs(ctx, slog.LevelError, "handoff: undecodable outbox record", slog.String("ticket", e.id), slog.String("error", err.Error()))
		}
		var w store.Write
		w.Delete(store.OutboxDueKey(e.at, e.id))
		return d.st.Apply(ctx, &w)
	}
	if err != nil {
		return err
	}

	derr := d.deliver(ctx, r)
	if ctx.Err() != nil {
		// Shutting down: the attempt was cut short, not answered; the
		// ticket stays due and is retried after the restart.
		return ctx.Err()
	}
	now := time.Now().UTC()
	r.Attempts++
	outcome := d.settle(r, derr, now)

	var w store.Write
	if err := save(&w, r, e.at); err != nil {
		return err
	}
	// The record may have been erased while the target was called; do not
	// bring it back. (A store without compare-and-set leaves a small window
	// here; the next erase of the user removes what it leaves.)
	if _, err := d.st.Get(ctx, store.OutboxKey(e.id)); errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err := d.st.Apply(ctx, &w); err != nil {
		return fmt.Errorf("handoff: record attempt on ticket %q: %w", e.id, err)
	}

	d.m.deliveries.WithLabelValues(r.Target, outcome).Inc()
	attrs := []slog.Attr{slog.String("ticket", e.id), slog.String("target", r.Target),
		slog.String("outcome", outcome), slog.Int("attempts", r.Attempts)}
	switch outcome {
	case outcomeDelivered:
		d.m.delay.WithLabelValues(r.Target).Observe(now.Sub(r.CreatedAt).Seconds())
		d.o.Logger.LogAttrs(ctx, slog.LevelInfo, "handoff: delivered", attrs...)
	case outcomeRetry:
		d.o.Logger.LogAttrs(ctx, slog.LevelWarn, "handoff: delivery failed, will retry",
			append(attrs, slog.String("error", r.LastError), slog.Time("next_attempt", r.NextAttempt))...)
	default:
		d.o.Logger.LogAttrs(ctx, slog.LevelError, "handoff: delivery failed for good",
			append(attrs, slog.String("error", r.LastError))...)
	}
	return nil
}

// deliver calls r's target, bounded by AttemptTimeout.
func (d *Deliverer) deliver(ctx context.Context, r *Record) error {
	t, ok := d.targets[r.Target]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownTarget, r.Target)
	}
	actx, cancel := context.WithTimeout(ctx, d.o.AttemptTimeout)
	defer cancel()
	return t.Deliver(actx, r.Ticket)
}

// settle applies the outcome of an attempt to r through the state machine
// and returns the outcome label: delivered; failed for a permanent error or
// once the give-up time has passed; otherwise pending again, due after the
// backoff (never later than the give-up time, so that the last attempt
// happens then).
func (d *Deliverer) settle(r *Record, derr error, now time.Time) string {
	if derr == nil {
		r.LastError = ""
		_ = r.transition(StateDelivered, now)
		return outcomeDelivered
	}
	r.LastError = derr.Error()
	var de *DeliveryError
	var retryAfter time.Duration
	if errors.As(derr, &de) {
		if de.Permanent {
			_ = r.transition(StateFailed, now)
			return outcomePermanent
		}
		retryAfter = de.RetryAfter
	}
	deadline := r.CreatedAt.Add(d.o.GiveUpAfter)
	if !now.Before(deadline) {
		_ = r.transition(StateFailed, now)
		return outcomeExpired
	}
	next := now.Add(backoff(r.Attempts, d.o.MinBackoff, d.o.MaxBackoff, retryAfter))
	if next.After(deadline) {
		next = deadline
	}
	r.NextAttempt = next
	return outcomeRetry
}
