package conversation

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
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

// clock is a settable time source for retention and export tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// notifications counts Notify calls (the deliverer's side of Notifier).
type notifications struct{ n atomic.Int64 }

func (c *notifications) Notify() { c.n.Add(1) }

func newLog(t *testing.T) (*store.Store, *Log) {
	st := openStore(t, t.TempDir())
	return st, New(st, Options{Logger: quietLogger()})
}

var alice = Owner{UserID: "alice", Verified: true}

func create(t *testing.T, l *Log, bot string, o Owner) (*Conversation, Owner) {
	t.Helper()
	c, secret, err := l.Create(context.Background(), bot, o, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.UserID == "" {
		o.Secret = secret
	}
	return c, o
}

func answer(q, a string) Turn {
	return Turn{Role: RoleBot, User: q, Answer: a, Route: "local", Model: "stories260K",
		Citations: []Citation{{Document: "returns", Title: "Returns", URL: "https://acme.example/returns", Chunk: 2}},
		Scores:    []float64{0.82, 0.4}, TTFT: 120 * time.Millisecond, Latency: 900 * time.Millisecond,
		PromptTokens: 310, CompletionTokens: 42}
}

func appendTurn(t *testing.T, l *Log, c *Conversation, o Owner, turn Turn) Turn {
	t.Helper()
	got, err := l.AppendTurn(context.Background(), c.Bot, c.ID, o, turn)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func count(t *testing.T, st Store, r store.Range) int {
	t.Helper()
	n := 0
	if err := st.Walk(context.Background(), r, nil, 0, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
