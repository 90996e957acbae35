package handoff

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const wait = 10 * time.Second

func TestDeliveredOnceWhenTargetIsUp(t *testing.T) {
	st := openStore(t, t.TempDir())
	rc := newReceiver(t, always(http.StatusOK))
	d, stop := startDeliverer(t, st, Options{Targets: []Target{httpTarget{"webhook", rc.srv.URL}}, PollInterval: time.Hour})
	tickets := ids("up", 5)
	enqueue(t, st, "webhook", tickets...)
	d.Notify() // with an hour's poll, only Notify (or the first scan) delivers
	for _, id := range tickets {
		waitFor(t, wait, id+" delivered", stateIs(t, st, id, StateDelivered))
	}
	stop()
	for _, id := range tickets {
		if n := rc.acceptedCount(id); n != 1 {
			t.Errorf("%s accepted %d times, want 1", id, n)
		}
		if r := load(t, st, id); r.Attempts != 1 || r.DeliveredAt.IsZero() || !r.NextAttempt.IsZero() {
			t.Errorf("%s: %+v, want one attempt, a delivery time and no next attempt", id, r)
		}
	}
	if n := dueCount(t, st); n != 0 {
		t.Errorf("due index holds %d entries after delivery, want 0", n)
	}
	if got := counterValue(t, d.m.deliveries.WithLabelValues("webhook", outcomeDelivered)); got != 5 {
		t.Errorf("delivered counter = %v, want 5", got)
	}
}

func TestNotifyWakesRun(t *testing.T) {
	st := openStore(t, t.TempDir())
	rc := newReceiver(t, always(http.StatusOK))
	d, _ := startDeliverer(t, st, Options{Targets: []Target{httpTarget{"webhook", rc.srv.URL}}, PollInterval: time.Hour})
	time.Sleep(50 * time.Millisecond) // Run's first scan has found nothing and sleeps for an hour
	enqueue(t, st, "webhook", "late")
	d.Notify()
	waitFor(t, 2*time.Second, "a notified ticket delivered before the poll", stateIs(t, st, "late", StateDelivered))
}

func TestRetryOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		policy       func(id string, n int) (int, string)
		giveUp       time.Duration
		want         State
		wantAttempts func(int) bool
		wantOutcome  string
		minGap       time.Duration // between the first two requests
	}{
		{"retried while failing, then delivered",
			func(_ string, n int) (int, string) {
				if n <= 3 {
					return http.StatusServiceUnavailable, ""
				}
				return http.StatusOK, ""
			}, time.Hour, StateDelivered, func(n int) bool { return n == 4 }, outcomeDelivered, 0},
		{"Retry-After honoured",
			func(_ string, n int) (int, string) {
				if n == 1 {
					return http.StatusTooManyRequests, "1"
				}
				return http.StatusOK, ""
			}, time.Hour, StateDelivered, func(n int) bool { return n == 2 }, outcomeDelivered, time.Second},
		{"permanent refusal fails at once", always(http.StatusUnprocessableEntity), time.Hour,
			StateFailed, func(n int) bool { return n == 1 }, outcomePermanent, 0},
		{"give-up time fails a ticket that keeps failing", always(http.StatusBadGateway), 300 * time.Millisecond,
			StateFailed, func(n int) bool { return n > 1 }, outcomeExpired, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			rc := newReceiver(t, tt.policy)
			d, stop := startDeliverer(t, st, Options{Targets: []Target{httpTarget{"webhook", rc.srv.URL}},
				MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, GiveUpAfter: tt.giveUp})
			enqueue(t, st, "webhook", "t1")
			d.Notify()
			waitFor(t, wait, "final state", func() bool {
				r, err := Load(context.Background(), st, "t1")
				return err == nil && r.State.Final()
			})
			stop()
			r := load(t, st, "t1")
			if r.State != tt.want || !tt.wantAttempts(r.Attempts) {
				t.Fatalf("record %+v: state %s attempts %d, want %s", r, r.State, r.Attempts, tt.want)
			}
			if n := len(rc.requestTimes("t1")); n != r.Attempts {
				t.Errorf("receiver saw %d requests, record counts %d attempts", n, r.Attempts)
			}
			if tt.want == StateFailed && (r.FailedAt.IsZero() || r.LastError == "") {
				t.Errorf("failed record without failure time or error: %+v", r)
			}
			if got := counterValue(t, d.m.deliveries.WithLabelValues("webhook", tt.wantOutcome)); got != 1 {
				t.Errorf("%s counter = %v, want 1", tt.wantOutcome, got)
			}
			if times := rc.requestTimes("t1"); tt.minGap > 0 && times[1].Sub(times[0]) < tt.minGap {
				t.Errorf("retry came %v after the first attempt, want at least %v", times[1].Sub(times[0]), tt.minGap)
			}
			if n := dueCount(t, st); n != 0 {
				t.Errorf("due index holds %d entries for a final record", n)
			}
		})
	}
}

func TestRestartResumesPending(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	rc := newReceiver(t, func(id string, _ int) (int, string) {
		if strings.HasPrefix(id, "early") {
			return http.StatusOK, ""
		}
		return http.StatusServiceUnavailable, ""
	})
	o := Options{Targets: []Target{httpTarget{"webhook", rc.srv.URL}}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	d, stop := startDeliverer(t, st, o)
	early, pending := ids("early", 3), ids("pending", 4)
	enqueue(t, st, "webhook", early...)
	enqueue(t, st, "webhook", pending...)
	d.Notify()
	for _, id := range early {
		waitFor(t, wait, id+" delivered", stateIs(t, st, id, StateDelivered))
	}
	waitFor(t, wait, "pending tickets retried", func() bool { return load(t, st, pending[0]).Attempts >= 2 })
	stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	rc.setPolicy(always(http.StatusOK))
	st2 := openStore(t, dir)
	if n := dueCount(t, st2); n != len(pending) {
		t.Fatalf("after reopen the due index holds %d entries, want %d", n, len(pending))
	}
	d2, _ := startDeliverer(t, st2, o)
	d2.Notify()
	for _, id := range pending {
		waitFor(t, wait, id+" delivered after restart", stateIs(t, st2, id, StateDelivered))
	}
	for _, id := range append(early, pending...) {
		if n := rc.acceptedCount(id); n != 1 {
			t.Errorf("%s accepted %d times, want exactly 1", id, n)
		}
	}
}

func TestConcurrentEnqueues(t *testing.T) {
	st := openStore(t, t.TempDir())
	rc := newReceiver(t, always(http.StatusOK))
	d, stop := startDeliverer(t, st, Options{Targets: []Target{httpTarget{"webhook", rc.srv.URL}}, Concurrency: 8})
	const writers, each = 12, 15
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range ids("w"+string(rune('a'+g)), each) {
				var w store.Write
				if err := Enqueue(&w, ticket(id), "webhook"); err != nil {
					t.Error(err)
					return
				}
				if err := st.Apply(context.Background(), &w); err != nil {
					t.Error(err)
					return
				}
				d.Notify()
			}
		}()
	}
	wg.Wait()
	waitFor(t, wait, "backlog drained", func() bool { return dueCount(t, st) == 0 })
	stop()
	for g := range writers {
		for _, id := range ids("w"+string(rune('a'+g)), each) {
			if n := rc.acceptedCount(id); n != 1 {
				t.Errorf("%s accepted %d times, want 1", id, n)
			}
		}
	}
}

func TestUnknownTargetIsRetriedUntilGiveUp(t *testing.T) {
	st := openStore(t, t.TempDir())
	d, _ := startDeliverer(t, st, Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, GiveUpAfter: 100 * time.Millisecond})
	enqueue(t, st, "gone", "t1")
	d.Notify()
	waitFor(t, wait, "failed", stateIs(t, st, "t1", StateFailed))
	if r := load(t, st, "t1"); !strings.Contains(r.LastError, ErrUnknownTarget.Error()) {
		t.Errorf("last error %q does not name the unknown target", r.LastError)
	}
}

func TestBacklogMetric(t *testing.T) {
	st := openStore(t, t.TempDir())
	d, err := NewDeliverer(st, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, st, "webhook", ids("b", 3)...)
	if got := backlog(t, d.Collector()); got != 3 {
		t.Errorf("backlog = %v, want 3", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// backlog scrapes c and returns the infergate_handoff_backlog gauge.
func backlog(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	v := -1.0
	for m := range ch {
		if m.Desc() != descBacklog {
			continue
		}
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		v = d.GetGauge().GetValue()
	}
	return v
}

func TestNewDelivererRejects(t *testing.T) {
	st := openStore(t, t.TempDir())
	for name, o := range map[string]Options{
		"duplicate names": {Targets: []Target{httpTarget{"w", "x"}, httpTarget{"w", "y"}}},
		"empty name":      {Targets: []Target{httpTarget{"", "x"}}},
	} {
		if _, err := NewDeliverer(st, o); err == nil {
			t.Errorf("%s: NewDeliverer accepted it", name)
		}
	}
	if _, err := NewDeliverer(nil, Options{}); err == nil {
		t.Error("NewDeliverer accepted a nil store")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	st := openStore(t, t.TempDir())
	d, err := NewDeliverer(st, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after cancel")
	}
}
