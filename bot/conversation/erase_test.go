package conversation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/store"
)

func TestEraseUser(t *testing.T) {
	st, l := newLog(t)
	ctx := context.Background()
	bob := Owner{UserID: "bob", Verified: true}
	var mine []*Conversation
	for range 3 {
		c, _ := create(t, l, "acme", alice)
		appendTurn(t, l, c, alice, answer("q", "a"))
		mine = append(mine, c)
	}
	_, tk, err := l.Handoff(ctx, "acme", mine[0].ID, alice, HandoffRequest{Reason: "asked_for_human", Target: "webhook"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := create(t, l, "acme", bob)
	appendTurn(t, l, theirs, bob, answer("q", "a"))
	otherBot, _ := create(t, l, "acme2", alice)

	n, err := l.EraseUser(ctx, "acme", "alice")
	if err != nil || n != 3 {
		t.Fatalf("EraseUser = %d, %v; want 3", n, err)
	}
	for _, c := range mine {
		if _, _, err := l.Get(ctx, "acme", c.ID, alice); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s after erase: %v, want ErrNotFound", c.ID, err)
		}
		if n := count(t, st, store.PrefixRange(store.TurnsPrefix("acme", c.ID))); n != 0 {
			t.Errorf("%s: %d turns left", c.ID, n)
		}
	}
	if n := count(t, st, store.PrefixRange(store.UserConversationsPrefix("acme", "alice"))); n != 0 {
		t.Errorf("%d user-index entries left", n)
	}
	if _, err := handoff.Load(ctx, st, tk.ID); !errors.Is(err, handoff.ErrNotFound) {
		t.Errorf("handoff ticket after erase: %v, want ErrNotFound", err)
	}
	if n := count(t, st, store.PrefixRange(store.KindPrefix(store.KindOutbox))); n != 0 {
		t.Errorf("%d outbox keys left", n)
	}
	if n := count(t, st, store.ConversationTimeRange(time.Time{}, time.Time{})); n != 2 {
		t.Errorf("%d time-index entries, want 2 (bob's, and alice's on the other bot)", n)
	}
	if _, turns, err := l.Get(ctx, "acme", theirs.ID, bob); err != nil || len(turns) != 1 {
		t.Errorf("bob's conversation after alice's erase: %d turns, %v", len(turns), err)
	}
	if _, _, err := l.Get(ctx, "acme2", otherBot.ID, alice); err != nil {
		t.Errorf("alice's conversation with another bot: %v", err)
	}
	if n, err := l.EraseUser(ctx, "acme", "alice"); err != nil || n != 0 {
		t.Errorf("second EraseUser = %d, %v", n, err)
	}
}

func TestPurge(t *testing.T) {
	st := openStore(t, t.TempDir())
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(st, Options{Logger: quietLogger(), Now: clk.Now})
	ctx := context.Background()
	const old, recent = 70, 3 // more than one eraseBatch of old ones
	var olds []*Conversation
	for range old {
		c, _ := create(t, l, "acme", alice)
		appendTurn(t, l, c, alice, answer("q", "a"))
		olds = append(olds, c)
	}
	clk.set(clk.Now().Add(40 * 24 * time.Hour))
	var recents []*Conversation
	for range recent {
		c, _ := create(t, l, "acme", Owner{})
		recents = append(recents, c)
	}
	clk.set(clk.Now().Add(24 * time.Hour))

	n, err := l.Purge(ctx, 30*24*time.Hour)
	if err != nil || n != old {
		t.Fatalf("Purge = %d, %v; want %d", n, err, old)
	}
	if _, _, err := l.Get(ctx, "acme", olds[0].ID, alice); !errors.Is(err, ErrNotFound) {
		t.Errorf("old conversation after purge: %v", err)
	}
	if n := count(t, st, store.PrefixRange(store.SectionPrefix(store.KindConversation, store.SectionTurn))); n != 0 {
		t.Errorf("%d turns left", n)
	}
	if n := count(t, st, store.PrefixRange(store.KindPrefix(store.KindConversation))); n != 2*recent {
		t.Errorf("%d conversation keys left, want %d (record and time entry of each recent one)", n, 2*recent)
	}
	if _, err := l.Purge(ctx, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Purge(0) = %v, want ErrInvalid", err)
	}
}

func TestRunPurgeLoop(t *testing.T) {
	st := openStore(t, t.TempDir())
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(st, Options{Logger: quietLogger(), Now: clk.Now})
	create(t, l, "acme", alice)
	clk.set(clk.Now().Add(48 * time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.RunPurge(ctx, 24*time.Hour, 10*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for count(t, st, store.PrefixRange(store.KindPrefix(store.KindConversation))) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("RunPurge did not purge")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunPurge = %v", err)
	}
}
