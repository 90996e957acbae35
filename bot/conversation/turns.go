package conversation

import (
	"context"
	"errors"
	"fmt"

	"github.com/infergate/infergate/store"
)

// AppendTurn appends t to owner's conversation and returns it as stored,
// numbered and timestamped; it returns once the turn is durable. A bot
// answer (RoleBot) is refused with ErrHandedOff once a human owns the
// conversation, so the bot never speaks after a handoff; RoleUser records
// a message nobody automatic answers. Nothing is appended to a resolved
// conversation (ErrResolved). Handoff turns go through Handoff, agent
// messages through AddAgentMessage.
func (l *Log) AppendTurn(ctx context.Context, bot, id string, owner Owner, t Turn) (Turn, error) {
	switch {
	case t.Role != RoleBot && t.Role != RoleUser:
		return Turn{}, fmt.Errorf("%w: AppendTurn takes roles %q and %q, not %q", ErrInvalid, RoleBot, RoleUser, t.Role)
	case t.Handoff:
		return Turn{}, fmt.Errorf("%w: a handoff turn goes through Handoff", ErrInvalid)
	case t.Feedback != nil:
		return Turn{}, fmt.Errorf("%w: feedback goes through SetFeedback", ErrInvalid)
	}
	defer l.lockOne(bot, id)()
	c, err := l.loadOwned(ctx, bot, id, owner)
	if err != nil {
		return Turn{}, err
	}
	return l.appendLocked(ctx, c, t)
}

// AddAgentMessage appends a human agent's message to a handed-off
// conversation, so that the transcript the customer sees holds the
// agent's replies. It is for the help desk's side (the gateway has
// authenticated it), so it is bound to no end user.
func (l *Log) AddAgentMessage(ctx context.Context, bot, id, agent, text string) (Turn, error) {
	defer l.lockOne(bot, id)()
	c, err := l.load(ctx, bot, id)
	if err != nil {
		return Turn{}, err
	}
	if c.Status == StatusBot {
		return Turn{}, fmt.Errorf("%w: conversation %q is not handed off", ErrInvalid, id)
	}
	return l.appendLocked(ctx, c, Turn{Role: RoleAgent, Agent: agent, Answer: text})
}

// appendLocked numbers t as c's next turn and commits both; the caller
// holds c's lock.
func (l *Log) appendLocked(ctx context.Context, c *Conversation, t Turn) (Turn, error) {
	switch {
	case c.Status == StatusResolved:
		return Turn{}, fmt.Errorf("conversation %q: %w", c.ID, ErrResolved)
	case c.Status == StatusHandedOff && t.Role == RoleBot:
		return Turn{}, fmt.Errorf("conversation %q: %w", c.ID, ErrHandedOff)
	}
	var w store.Write
	t, err := l.stageTurn(&w, c, t)
	if err != nil {
		return Turn{}, err
	}
	if err := l.stageConversation(&w, c); err != nil {
		return Turn{}, err
	}
	if err := l.st.Apply(ctx, &w); err != nil {
		return Turn{}, fmt.Errorf("conversation %q: append turn: %w", c.ID, err)
	}
	return t, nil
}

// stageTurn numbers t as c's next turn, advances c, and adds the turn to w.
func (l *Log) stageTurn(w *store.Write, c *Conversation, t Turn) (Turn, error) {
	if c.Turns == 1<<32-1 {
		return Turn{}, fmt.Errorf("%w: conversation %q has too many turns", ErrInvalid, c.ID)
	}
	now := l.now()
	t.N = c.Turns
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	c.Turns++
	c.UpdatedAt = now
	b, err := encode(t)
	if err != nil {
		return Turn{}, err
	}
	w.Set(store.TurnKey(c.Bot, c.ID, t.N), b)
	return t, nil
}

func (l *Log) stageConversation(w *store.Write, c *Conversation) error {
	b, err := encode(c)
	if err != nil {
		return err
	}
	w.Set(store.ConversationKey(c.Bot, c.ID), b)
	return nil
}

// SetFeedback records owner's rating of the answer in turn n, replacing
// an earlier one.
func (l *Log) SetFeedback(ctx context.Context, bot, id string, owner Owner, n uint32, rating Rating, comment string) (Turn, error) {
	if rating != RatingUp && rating != RatingDown {
		return Turn{}, fmt.Errorf("%w: rating %q", ErrInvalid, rating)
	}
	defer l.lockOne(bot, id)()
	if _, err := l.loadOwned(ctx, bot, id, owner); err != nil {
		return Turn{}, err
	}
	b, err := l.st.Get(ctx, store.TurnKey(bot, id, n))
	if errors.Is(err, store.ErrNotFound) {
		return Turn{}, fmt.Errorf("conversation %q turn %d: %w", id, n, ErrNotFound)
	}
	if err != nil {
		return Turn{}, fmt.Errorf("conversation %q turn %d: %w", id, n, err)
	}
	t, err := decodeTurn(b)
	if err != nil {
		return Turn{}, fmt.Errorf("conversation %q turn %d: %w", id, n, err)
	}
	if t.Role != RoleBot || t.Answer == "" {
		return Turn{}, fmt.Errorf("%w: turn %d holds no bot answer to rate", ErrInvalid, n)
	}
	t.Feedback = &Feedback{Rating: rating, Comment: comment, CreatedAt: l.now()}
	if b, err = encode(t); err != nil {
		return Turn{}, err
	}
	var w store.Write
	w.Set(store.TurnKey(bot, id, n), b)
	if err := l.st.Apply(ctx, &w); err != nil {
		return Turn{}, fmt.Errorf("conversation %q turn %d: feedback: %w", id, n, err)
	}
	return *t, nil
}
