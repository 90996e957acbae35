package conversation

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/store"
)

func TestTransitions(t *testing.T) {
	all := []Status{StatusBot, StatusHandedOff, StatusResolved, "closed"}
	legal := map[[2]Status]bool{
		{StatusBot, StatusHandedOff}: true, {StatusBot, StatusResolved}: true, {StatusHandedOff, StatusResolved}: true,
	}
	for _, from := range all[:3] {
		for _, to := range all {
			t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
				c := &Conversation{ID: "c", Status: from}
				err := c.Transition(to)
				if legal[[2]Status{from, to}] {
					if err != nil || c.Status != to {
						t.Fatalf("Transition = %v, status %s", err, c.Status)
					}
					return
				}
				var te *TransitionError
				if !errors.Is(err, ErrInvalidTransition) || !errors.As(err, &te) || c.Status != from {
					t.Fatalf("Transition = %v, status %s; want a *TransitionError and %s kept", err, c.Status, from)
				}
			})
		}
	}
}

func TestOwnerBinding(t *testing.T) {
	_, l := newLog(t)
	ctx := context.Background()
	verified, _ := create(t, l, "acme", alice)
	unverified, _ := create(t, l, "acme", Owner{UserID: "bob"})
	anon, anonOwner := create(t, l, "acme", Owner{})
	if len(anon.SecretHash) == 0 || anonOwner.Secret == "" {
		t.Fatal("an anonymous conversation got no secret")
	}
	tests := []struct {
		name  string
		c     *Conversation
		bot   string
		owner Owner
		ok    bool
	}{
		{"verified owner", verified, "acme", alice, true},
		{"another user", verified, "acme", Owner{UserID: "mallory", Verified: true}, false},
		{"unverified claim of a verified id", verified, "acme", Owner{UserID: "alice"}, false},
		{"other bot", verified, "other", alice, false},
		{"unverified owner", unverified, "acme", Owner{UserID: "bob"}, true},
		{"anonymous with its secret", anon, "acme", anonOwner, true},
		{"anonymous with a wrong secret", anon, "acme", Owner{Secret: "guess"}, false},
		{"anonymous without a secret", anon, "acme", Owner{}, false},
		{"a user id on an anonymous conversation", anon, "acme", Owner{UserID: "alice", Verified: true, Secret: anonOwner.Secret}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := l.Get(ctx, tt.bot, tt.c.ID, tt.owner)
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrNotFound)) {
				t.Fatalf("Get = %v, want ok=%v (else ErrNotFound)", err, tt.ok)
			}
			_, err = l.AppendTurn(ctx, tt.bot, tt.c.ID, tt.owner, answer("q", "a"))
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrNotFound)) {
				t.Fatalf("AppendTurn = %v, want ok=%v (else ErrNotFound)", err, tt.ok)
			}
		})
	}
}

func TestAppendTurnRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	l := New(st, Options{Logger: quietLogger()})
	c, _ := create(t, l, "acme", alice)
	var want []Turn
	for i := range 3 {
		got := appendTurn(t, l, c, alice, answer(fmt.Sprintf("q%d", i), fmt.Sprintf("a%d", i)))
		if got.N != uint32(i) || got.CreatedAt.IsZero() {
			t.Fatalf("turn %d stored as %+v", i, got)
		}
		want = append(want, got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	l = New(openStore(t, dir), Options{Logger: quietLogger()})
	got, turns, err := l.Get(context.Background(), "acme", c.ID, alice)
	if err != nil {
		t.Fatal(err)
	}
	if got.Turns != 3 || got.Status != StatusBot {
		t.Errorf("conversation after reopen = %+v", got)
	}
	if !reflect.DeepEqual(turns, want) {
		t.Errorf("turns after reopen:\n got %+v\nwant %+v", turns, want)
	}
}

func TestAppendTurnRejects(t *testing.T) {
	_, l := newLog(t)
	c, _ := create(t, l, "acme", alice)
	for name, turn := range map[string]Turn{
		"agent role":   {Role: RoleAgent, Answer: "hi"},
		"no role":      {User: "q"},
		"handoff flag": {Role: RoleBot, Handoff: true},
		"feedback":     {Role: RoleBot, Feedback: &Feedback{Rating: RatingUp}},
	} {
		if _, err := l.AppendTurn(context.Background(), "acme", c.ID, alice, turn); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: AppendTurn = %v, want ErrInvalid", name, err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	st := openStore(t, t.TempDir())
	var notes notifications
	l := New(st, Options{Logger: quietLogger(), Notifier: &notes})
	ctx := context.Background()
	c, _ := create(t, l, "acme", alice)
	appendTurn(t, l, c, alice, answer("where is my order", "It ships in 2 days [1]."))
	if _, err := l.AddAgentMessage(ctx, "acme", c.ID, "Sam", "hello"); !errors.Is(err, ErrInvalid) {
		t.Errorf("agent message before a handoff = %v, want ErrInvalid", err)
	}

	hc, tk, err := l.Handoff(ctx, "acme", c.ID, alice, HandoffRequest{
		Reason: "asked_for_human", Target: "webhook", Turn: &Turn{User: "a human please", Answer: "Connecting you."},
		Passages: []handoff.Passage{{Document: "returns", Text: "…", Score: 0.8}}, User: handoff.User{Email: "alice@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if hc.Status != StatusHandedOff || hc.HandoffTicket != tk.ID || hc.Turns != 2 {
		t.Errorf("after Handoff: %+v", hc)
	}
	if notes.n.Load() != 1 {
		t.Errorf("Notify called %d times, want 1", notes.n.Load())
	}
	rec, err := handoff.Load(ctx, st, tk.ID)
	if err != nil {
		t.Fatalf("the ticket is not in the outbox: %v", err)
	}
	wantTranscript := []string{"user:where is my order", "assistant:It ships in 2 days [1].", "user:a human please", "assistant:Connecting you."}
	var gotTranscript []string
	for _, m := range rec.Ticket.Transcript {
		gotTranscript = append(gotTranscript, m.Role+":"+m.Content)
	}
	if rec.State != handoff.StatePending || rec.Target != "webhook" || !reflect.DeepEqual(gotTranscript, wantTranscript) ||
		rec.Ticket.User != (handoff.User{ID: "alice", Verified: true, Email: "alice@example.com"}) || len(rec.Ticket.Passages) != 1 {
		t.Errorf("outbox record = %+v, transcript %q", rec, gotTranscript)
	}

	// A human owns it now: the bot is refused, the customer and the agent are not.
	if _, err := l.AppendTurn(ctx, "acme", c.ID, alice, answer("q", "bot answer")); !errors.Is(err, ErrHandedOff) {
		t.Errorf("bot answer after handoff = %v, want ErrHandedOff", err)
	}
	appendTurn(t, l, c, alice, Turn{Role: RoleUser, User: "still there?"})
	if _, err := l.AddAgentMessage(ctx, "acme", c.ID, "Sam", "Yes, looking now."); err != nil {
		t.Fatal(err)
	}
	var te *TransitionError
	if _, _, err := l.Handoff(ctx, "acme", c.ID, alice, HandoffRequest{Reason: "again", Target: "webhook"}); !errors.As(err, &te) {
		t.Errorf("second Handoff = %v, want a *TransitionError", err)
	}
	if n := count(t, st, store.PrefixRange(store.SectionPrefix(store.KindOutbox, store.SectionTicket))); n != 1 {
		t.Errorf("outbox holds %d tickets, want 1", n)
	}

	if _, err := l.Resolve(ctx, "acme", c.ID, alice, 6); !errors.Is(err, ErrInvalid) {
		t.Errorf("Resolve with CSAT 6 = %v, want ErrInvalid", err)
	}
	rc, err := l.Resolve(ctx, "acme", c.ID, alice, 4)
	if err != nil || rc.Status != StatusResolved || rc.CSAT != 4 || rc.ResolvedAt.IsZero() {
		t.Fatalf("Resolve = %+v, %v", rc, err)
	}
	if _, err := l.AppendTurn(ctx, "acme", c.ID, alice, Turn{Role: RoleUser, User: "one more thing"}); !errors.Is(err, ErrResolved) {
		t.Errorf("append to a resolved conversation = %v, want ErrResolved", err)
	}
	if _, err := l.Resolve(ctx, "acme", c.ID, alice, 0); !errors.As(err, &te) {
		t.Errorf("second Resolve = %v, want a *TransitionError", err)
	}
	_, turns, err := l.Get(ctx, "acme", c.ID, alice)
	if err != nil {
		t.Fatal(err)
	}
	roles := []Role{RoleBot, RoleBot, RoleUser, RoleAgent}
	for i, turn := range turns {
		if turn.N != uint32(i) || turn.Role != roles[i] {
			t.Errorf("turn %d = %d %s, want %d %s", i, turn.N, turn.Role, i, roles[i])
		}
	}
	if !turns[1].Handoff || turns[1].HandoffReason != "asked_for_human" {
		t.Errorf("handoff turn = %+v", turns[1])
	}
}

func TestHandoffSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	l := New(st, Options{Logger: quietLogger()})
	c, _ := create(t, l, "acme", alice)
	_, tk, err := l.Handoff(context.Background(), "acme", c.ID, alice, HandoffRequest{Reason: "unanswerable", Target: "chatwoot"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, dir)
	l = New(st, Options{Logger: quietLogger()})
	got, _, err := l.Get(context.Background(), "acme", c.ID, alice)
	if err != nil || got.Status != StatusHandedOff {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if rec, err := handoff.Load(context.Background(), st, tk.ID); err != nil || rec.State != handoff.StatePending {
		t.Fatalf("ticket after reopen: %+v, %v", rec, err)
	}
}

func TestSetFeedback(t *testing.T) {
	_, l := newLog(t)
	ctx := context.Background()
	c, _ := create(t, l, "acme", alice)
	appendTurn(t, l, c, alice, answer("q", "a"))
	appendTurn(t, l, c, alice, Turn{Role: RoleUser, User: "hm"})
	tests := []struct {
		name   string
		n      uint32
		rating Rating
		owner  Owner
		want   error
	}{
		{"up", 0, RatingUp, alice, nil},
		{"down replaces up", 0, RatingDown, alice, nil},
		{"bad rating", 0, "meh", alice, ErrInvalid},
		{"no answer to rate", 1, RatingUp, alice, ErrInvalid},
		{"missing turn", 9, RatingUp, alice, ErrNotFound},
		{"another user", 0, RatingUp, Owner{UserID: "eve", Verified: true}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.SetFeedback(ctx, "acme", c.ID, tt.owner, tt.n, tt.rating, "comment")
			if !errors.Is(err, tt.want) {
				t.Fatalf("SetFeedback = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (got.Feedback == nil || got.Feedback.Rating != tt.rating) {
				t.Fatalf("feedback = %+v", got.Feedback)
			}
		})
	}
	_, turns, _ := l.Get(ctx, "acme", c.ID, alice)
	if turns[0].Feedback == nil || turns[0].Feedback.Rating != RatingDown || turns[0].Answer != "a" {
		t.Errorf("stored turn = %+v", turns[0])
	}
}

func TestList(t *testing.T) {
	_, l := newLog(t)
	ctx := context.Background()
	want := map[string]bool{}
	for range 5 {
		c, _ := create(t, l, "acme", alice)
		want[c.ID] = true
	}
	create(t, l, "acme2", alice)
	got := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		page, next, err := l.List(ctx, "acme", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			if got[c.ID] || c.Bot != "acme" {
				t.Fatalf("List returned %q (bot %q) twice or from another bot", c.ID, c.Bot)
			}
			got[c.ID] = true
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("List does not end")
		}
		after = next
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}

func TestConcurrentAppends(t *testing.T) {
	st, l := newLog(t)
	ctx := context.Background()
	const convs, writers, each = 6, 6, 15
	var cs []*Conversation
	for range convs {
		c, _ := create(t, l, "acme", alice)
		cs = append(cs, c)
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if _, err := l.AppendTurn(ctx, "acme", c.ID, alice, answer(fmt.Sprintf("w%d q%d", w, i), "a")); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, c := range cs {
		got, turns, err := l.Get(ctx, "acme", c.ID, alice)
		if err != nil {
			t.Fatal(err)
		}
		if got.Turns != writers*each || len(turns) != writers*each {
			t.Fatalf("%s: %d turns counted, %d stored, want %d", c.ID, got.Turns, len(turns), writers*each)
		}
		seen := map[string]bool{}
		for i, turn := range turns {
			if turn.N != uint32(i) {
				t.Fatalf("%s: turn at %d numbered %d", c.ID, i, turn.N)
			}
			if seen[turn.User] {
				t.Fatalf("%s: %q stored twice", c.ID, turn.User)
			}
			seen[turn.User] = true
		}
	}
	if n := count(t, st, store.PrefixRange(store.SectionPrefix(store.KindConversation, store.SectionTurn))); n != convs*writers*each {
		t.Errorf("%d turn records, want %d", n, convs*writers*each)
	}
}
