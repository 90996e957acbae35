package handoff

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/infergate/infergate/store"
)

func TestTransitions(t *testing.T) {
	tests := []struct {
		from, to State
		ok       bool
	}{
		{StatePending, StateDelivered, true},
		{StatePending, StateFailed, true},
		{StatePending, StatePending, true}, // a retry
		{StateDelivered, StatePending, false},
		{StateDelivered, StateFailed, false},
		{StateFailed, StateDelivered, false},
		{StateFailed, StatePending, false},
		{StatePending, "lost", false},
	}
	now := time.Unix(100, 0).UTC()
	for _, tt := range tests {
		t.Run(string(tt.from)+"→"+string(tt.to), func(t *testing.T) {
			r := &Record{Ticket: Ticket{ID: "t"}, State: tt.from, NextAttempt: now}
			err := r.transition(tt.to, now)
			if tt.ok != (err == nil) {
				t.Fatalf("transition error = %v, want ok=%v", err, tt.ok)
			}
			var te *TransitionError
			if !tt.ok && (!errors.Is(err, ErrInvalidTransition) || !errors.As(err, &te) || r.State != tt.from) {
				t.Fatalf("refused transition: error %v, state %s; want a *TransitionError and the state unchanged", err, r.State)
			}
			if tt.ok && tt.to.Final() && !r.NextAttempt.IsZero() {
				t.Errorf("final record keeps a next attempt %v", r.NextAttempt)
			}
		})
	}
}

func TestEnqueueRejects(t *testing.T) {
	var w store.Write
	for _, c := range []struct {
		t      Ticket
		target string
	}{{Ticket{}, "webhook"}, {Ticket{ID: "x"}, ""}} {
		if err := Enqueue(&w, c.t, c.target); !errors.Is(err, ErrInvalidTicket) {
			t.Errorf("Enqueue(%+v, %q) = %v, want ErrInvalidTicket", c.t, c.target, err)
		}
	}
	if w.Len() != 0 {
		t.Errorf("a refused Enqueue added %d changes", w.Len())
	}
}

func TestEnqueueRoundTripAndErase(t *testing.T) {
	st := openStore(t, t.TempDir())
	ctx := context.Background()
	tk := ticket("t1")
	tk.CreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	tk.Passages = []Passage{{Document: "d", Text: "p", Score: 0.5}}
	var w store.Write
	if err := Enqueue(&w, tk, "webhook"); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, &w); err != nil {
		t.Fatal(err)
	}
	r := load(t, st, "t1")
	if r.State != StatePending || r.Target != "webhook" || !r.NextAttempt.Equal(tk.CreatedAt) || r.Attempts != 0 {
		t.Errorf("enqueued record = %+v", r)
	}
	if !reflect.DeepEqual(r.Ticket, tk) {
		t.Errorf("ticket round trip:\n got %+v\nwant %+v", r.Ticket, tk)
	}
	if n := dueCount(t, st); n != 1 {
		t.Fatalf("due entries = %d, want 1", n)
	}

	var e store.Write
	if err := Erase(ctx, st, &e, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := Erase(ctx, st, &e, "never-enqueued"); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, &e); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, st, "t1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Erase = %v, want ErrNotFound", err)
	}
	if n := dueCount(t, st); n != 0 {
		t.Errorf("due entries after Erase = %d, want 0", n)
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	for name, b := range map[string]string{
		"not JSON":          `{`,
		"newer version":     `{"v":2,"ticket":{"id":"t"},"state":"pending"}`,
		"no version":        `{"ticket":{"id":"t"},"state":"pending"}`,
		"unknown state":     `{"v":1,"ticket":{"id":"t"},"state":"lost"}`,
		"ticket without id": `{"v":1,"ticket":{},"state":"pending"}`,
	} {
		if _, err := decodeRecord([]byte(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeRecord = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt         int
		min, max, after time.Duration
		lowest, highest time.Duration
	}{
		{1, time.Second, time.Minute, 0, 500 * time.Millisecond, time.Second},
		{3, time.Second, time.Minute, 0, 2 * time.Second, 4 * time.Second},
		{40, time.Second, time.Minute, 0, 30 * time.Second, time.Minute},
		{1000, time.Second, time.Minute, 0, 30 * time.Second, time.Minute},
		{1, time.Second, time.Minute, 10 * time.Second, 10 * time.Second, 10 * time.Second},
		{2, time.Second, time.Minute, time.Hour, time.Hour, time.Hour},
	}
	for _, tt := range tests {
		for range 50 {
			if d := backoff(tt.attempt, tt.min, tt.max, tt.after); d < tt.lowest || d > tt.highest {
				t.Fatalf("backoff(%d, %v, %v, %v) = %v, want in [%v, %v]", tt.attempt, tt.min, tt.max, tt.after, d, tt.lowest, tt.highest)
			}
		}
	}
}

// FuzzDecodeRecord: arbitrary bytes never panic the decoder, and a record
// it accepts re-encodes to one that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"v":1,"ticket":{"id":"t","bot":"b"},"target":"w","state":"pending","attempts":2,"next_attempt":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":1,"ticket":{"id":"t"},"state":"failed","failed_at":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		e, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeRecord(e)
		if err != nil {
			t.Fatalf("re-encoded record %s does not decode: %v", e, err)
		}
		e2, _ := encodeRecord(r2)
		if string(e) != string(e2) {
			t.Fatalf("encoding not stable:\n%s\n%s", e, e2)
		}
	})
}
