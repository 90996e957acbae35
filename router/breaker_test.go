package router

import (
	"testing"
	"time"
)

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", Open: "open", HalfOpen: "half-open", State(9): "unknown"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}

// step is one event in a breaker's life: report an outcome (after an
// Allow that must succeed), ask Allow, or move the clock.
type step struct {
	do      string // "report", "allow", "wait"
	outcome Outcome
	allowed bool
	wait    time.Duration
	state   State // the state after the step
}

func TestBreaker(t *testing.T) {
	cfg := BreakerConfig{FailureThreshold: 3, Window: 4, MinRequests: 4, FailureRatio: 0.5, Cooldown: time.Minute}
	fail := step{do: "report", outcome: Failure, state: Closed}
	succeed := step{do: "report", outcome: Success, state: Closed}
	tripped := func(s step) step { s.state = Open; return s }
	tests := []struct {
		name  string
		cfg   *BreakerConfig // nil: cfg
		steps []step
	}{
		{"consecutive failures open", &BreakerConfig{FailureThreshold: 3, Window: 10, MinRequests: 10, Cooldown: time.Minute}, []step{fail, fail, succeed, fail, fail, tripped(fail),
			{do: "allow", allowed: false, state: Open}}},
		// Failures interleaved with successes never reach 3 in a row, but
		// reach half of the last 4.
		{"failure ratio opens", nil, []step{succeed, fail, succeed, tripped(fail)}},
		{"ratio waits for min requests", nil, []step{fail, succeed, fail, tripped(succeed)}},
		{"half-open admits one probe, success closes", nil, []step{fail, fail, tripped(fail),
			{do: "wait", wait: 59 * time.Second, state: Open},
			{do: "allow", allowed: false, state: Open},
			{do: "wait", wait: time.Second, state: HalfOpen},
			{do: "allow", allowed: true, state: HalfOpen},
			{do: "allow", allowed: false, state: HalfOpen}, // the probe is out
			{do: "report", outcome: Success, state: Closed},
			{do: "allow", allowed: true, state: Closed},
			// A clean history after closing: two failures do not reopen it.
			fail, fail}},
		{"probe failure reopens for a new cooldown", nil, []step{fail, fail, tripped(fail),
			{do: "wait", wait: time.Minute, state: HalfOpen},
			{do: "allow", allowed: true, state: HalfOpen},
			{do: "report", outcome: Failure, state: Open},
			{do: "wait", wait: 30 * time.Second, state: Open},
			{do: "allow", allowed: false, state: Open},
			{do: "wait", wait: 30 * time.Second, state: HalfOpen}}},
		{"an ignored probe frees the slot", nil, []step{fail, fail, tripped(fail),
			{do: "wait", wait: time.Minute, state: HalfOpen},
			{do: "allow", allowed: true, state: HalfOpen},
			{do: "report", outcome: Ignored, state: HalfOpen},
			{do: "allow", allowed: true, state: HalfOpen}}},
		{"ignored outcomes do not count", nil, []step{fail, fail,
			{do: "report", outcome: Ignored, state: Closed}, tripped(fail)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			c := cfg
			if tc.cfg != nil {
				c = *tc.cfg
			}
			b := NewBreaker(c, clk.Now)
			var probe Ticket
			for i, s := range tc.steps {
				switch s.do {
				case "report":
					tk := probe
					if b.State() != HalfOpen {
						var ok bool
						if tk, ok = b.Allow(); !ok {
							t.Fatalf("step %d: not allowed to report", i)
						}
					}
					tk.Report(s.outcome)
				case "allow":
					tk, got := b.Allow()
					if got != s.allowed {
						t.Fatalf("step %d: Allow %v, want %v", i, got, s.allowed)
					}
					if got {
						probe = tk
					}
				case "wait":
					clk.advance(s.wait)
				}
				if got := b.State(); got != s.state {
					t.Fatalf("step %d (%s): state %v, want %v", i, s.do, got, s.state)
				}
			}
		})
	}
}

// A request admitted before the breaker opened that reports during the
// half-open probe is not taken for the probe's outcome.
func TestBreakerStaleTicket(t *testing.T) {
	clk := newClock()
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, Cooldown: time.Minute}, clk.Now)
	stale, _ := b.Allow() // a long stream, still running
	failing, _ := b.Allow()
	failing.Report(Failure)
	if b.State() != Open {
		t.Fatalf("state %v", b.State())
	}
	clk.advance(time.Minute)
	probe, ok := b.Allow()
	if !ok {
		t.Fatal("no probe admitted")
	}
	stale.Report(Success)
	if _, ok := b.Allow(); ok || b.State() != HalfOpen {
		t.Fatalf("the stale report decided: state %v", b.State())
	}
	probe.Report(Failure)
	if b.State() != Open {
		t.Fatalf("after the probe failed: %v", b.State())
	}
	var zero Ticket
	zero.Report(Failure) // a refused request's zero ticket is harmless
}
