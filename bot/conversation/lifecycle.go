package conversation

import (
	"context"
	"fmt"

	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/store"
)

// Resolve ends owner's conversation (from bot or handed_off) with the
// customer's satisfaction score, 1–5, or 0 for none.
func (l *Log) Resolve(ctx context.Context, bot, id string, owner Owner, csat int) (*Conversation, error) {
	if csat < 0 || csat > 5 {
		return nil, fmt.Errorf("%w: CSAT %d is not 1–5", ErrInvalid, csat)
	}
	defer l.lockOne(bot, id)()
	c, err := l.loadOwned(ctx, bot, id, owner)
	if err != nil {
		return nil, err
	}
	if err := c.Transition(StatusResolved); err != nil {
		return nil, err
	}
	c.CSAT = csat
	c.ResolvedAt = l.now()
	c.UpdatedAt = c.ResolvedAt
	var w store.Write
	if err := l.stageConversation(&w, c); err != nil {
		return nil, err
	}
	if err := l.st.Apply(ctx, &w); err != nil {
		return nil, fmt.Errorf("conversation %q: resolve: %w", id, err)
	}
	return c, nil
}

// HandoffRequest is a handoff's what and where.
type HandoffRequest struct {
	// Reason is low-cardinality ("unanswerable", "asked_for_human", ...);
	// Detail is free text for the agent.
	Reason, Detail string
	// Target names the handoff.Target that delivers the ticket.
	Target string
	// Turn, when set, is the turn that hands off (the customer's message
	// and the bot's handoff message); it is committed with the handoff
	// and marked Handoff with the reason.
	Turn *Turn
	// Passages are the knowledge-base passages the bot last used.
	Passages []handoff.Passage
	// User adds what the bot knows of the end user (name, e-mail) to the
	// ticket; its id and verification come from the conversation.
	User handoff.User
}

// Handoff hands owner's conversation to a human: in one synced Write it
// marks the conversation handed_off, appends req.Turn, and enqueues the
// ticket (the whole transcript) in the outbox, so that after any crash both
// are there or neither is. It refuses a conversation that is not with the
// bot (*TransitionError), so a conversation is handed off once. The
// Notifier is woken after the commit.
func (l *Log) Handoff(ctx context.Context, bot, id string, owner Owner, req HandoffRequest) (*Conversation, handoff.Ticket, error) {
	if req.Reason == "" || req.Target == "" {
		return nil, handoff.Ticket{}, fmt.Errorf("%w: a handoff needs a reason and a target", ErrInvalid)
	}
	if req.Turn != nil && (req.Turn.Role != RoleBot && req.Turn.Role != "") {
		return nil, handoff.Ticket{}, fmt.Errorf("%w: the handoff turn is the bot's", ErrInvalid)
	}
	defer l.lockOne(bot, id)()
	c, err := l.loadOwned(ctx, bot, id, owner)
	if err != nil {
		return nil, handoff.Ticket{}, err
	}
	if err := c.Transition(StatusHandedOff); err != nil {
		return nil, handoff.Ticket{}, err
	}
	turns, err := l.turns(ctx, bot, id)
	if err != nil {
		return nil, handoff.Ticket{}, err
	}
	var w store.Write
	if req.Turn != nil {
		t := *req.Turn
		t.Role, t.Handoff, t.HandoffReason, t.Feedback = RoleBot, true, req.Reason, nil
		if t, err = l.stageTurn(&w, c, t); err != nil {
			return nil, handoff.Ticket{}, err
		}
		turns = append(turns, t)
	}
	now := l.now()
	user := req.User
	user.ID, user.Verified = c.UserID, c.UserVerified
	tk := handoff.Ticket{ID: newID("h_"), Bot: bot, ConversationID: id, User: user, Reason: req.Reason,
		Detail: req.Detail, CreatedAt: now, Transcript: transcript(turns), Passages: req.Passages, Chatwoot: c.Chatwoot}
	c.HandoffReason, c.HandoffTicket, c.HandedOffAt, c.UpdatedAt = req.Reason, tk.ID, now, now
	if err := l.stageConversation(&w, c); err != nil {
		return nil, handoff.Ticket{}, err
	}
	if err := handoff.Enqueue(&w, tk, req.Target); err != nil {
		return nil, handoff.Ticket{}, fmt.Errorf("conversation %q: %w", id, err)
	}
	if err := l.st.Apply(ctx, &w); err != nil {
		return nil, handoff.Ticket{}, fmt.Errorf("conversation %q: handoff: %w", id, err)
	}
	if l.o.Notifier != nil {
		l.o.Notifier.Notify() // never blocks
	}
	return c, tk, nil
}

// transcript is the conversation as messages, oldest first: the user's
// text, then the bot's ("assistant") or the agent's reply.
func transcript(turns []Turn) []handoff.Message {
	out := make([]handoff.Message, 0, 2*len(turns))
	for _, t := range turns {
		if t.User != "" {
			out = append(out, handoff.Message{Role: "user", Content: t.User, CreatedAt: t.CreatedAt})
		}
		if t.Answer != "" {
			role := "assistant"
			if t.Role == RoleAgent {
				role = "agent"
			}
			out = append(out, handoff.Message{Role: role, Content: t.Answer, CreatedAt: t.CreatedAt})
		}
	}
	return out
}
