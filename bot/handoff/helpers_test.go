package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/store"
)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dir, &store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// receiver is a help desk on loopback: it answers each request with the
// status its policy picks and counts the tickets it accepted, by
// Idempotency-Key, so a test sees duplicates.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	policy   func(id string, n int) (status int, retryAfter string) // n: requests for id so far, from 1
	requests map[string][]time.Time
	accepted map[string]int
}

func newReceiver(t *testing.T, policy func(id string, n int) (int, string)) *receiver {
	r := &receiver{policy: policy, requests: map[string][]time.Time{}, accepted: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var tk Ticket
		if err := json.NewDecoder(req.Body).Decode(&tk); err != nil || tk.ID != req.Header.Get("Idempotency-Key") {
			http.Error(w, "bad ticket", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.requests[tk.ID] = append(r.requests[tk.ID], time.Now())
		status, ra := r.policy(tk.ID, len(r.requests[tk.ID]))
		if status < 300 {
			r.accepted[tk.ID]++
		}
		r.mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setPolicy(p func(id string, n int) (int, string)) {
	r.mu.Lock()
	r.policy = p
	r.mu.Unlock()
}

func (r *receiver) acceptedCount(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted[id]
}

func (r *receiver) requestTimes(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.requests[id]...)
}

func always(status int) func(string, int) (int, string) {
	return func(string, int) (int, string) { return status, "" }
}

// httpTarget is the test's Target: it posts the ticket to a receiver and
// classifies the answer as the real targets do (4xx but 408 and 429 are
// permanent).
type httpTarget struct {
	name, url string
}

func (h httpTarget) Name() string { return h.name }

func (h httpTarget) Deliver(ctx context.Context, t Ticket) error {
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", t.ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &DeliveryError{Target: h.name, Err: err}
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 300 {
		return nil
	}
	de := &DeliveryError{Target: h.name, Status: resp.StatusCode, Err: errors.New(resp.Status),
		Permanent: resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		de.RetryAfter = time.Duration(s) * time.Second
	}
	return de
}

func ticket(id string) Ticket {
	return Ticket{ID: id, Bot: "acme", ConversationID: "c-" + id, Reason: "asked_for_human",
		User:       User{ID: "u1", Verified: true},
		Transcript: []Message{{Role: "user", Content: "I want a person", CreatedAt: time.Now().UTC()}}}
}

func enqueue(t *testing.T, st Store, target string, ids ...string) {
	t.Helper()
	var w store.Write
	for _, id := range ids {
		if err := Enqueue(&w, ticket(id), target); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Apply(context.Background(), &w); err != nil {
		t.Fatal(err)
	}
}

// startDeliverer runs a deliverer until the returned stop is called (or
// the test ends).
func startDeliverer(t *testing.T, st Store, o Options) (*Deliverer, func()) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	d, err := NewDeliverer(st, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func load(t *testing.T, st Store, id string) *Record {
	t.Helper()
	r, err := Load(context.Background(), st, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func stateIs(t *testing.T, st Store, id string, want State) func() bool {
	return func() bool {
		r, err := Load(context.Background(), st, id)
		return err == nil && r.State == want
	}
}

func dueCount(t *testing.T, st Store) int {
	t.Helper()
	n := 0
	err := st.Walk(context.Background(), store.PrefixRange(store.SectionPrefix(store.KindOutbox, store.SectionDue)), nil, 0,
		func(_, _ []byte) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}
