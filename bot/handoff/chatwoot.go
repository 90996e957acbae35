package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// defaultNoteSearchPages bounds how far back a delivery looks for the note
// an earlier attempt posted: 50 pages of 20 messages. A retry comes soon
// after the attempt that posted, so the note is almost always on the first
// page; the bound keeps a huge conversation from costing unbounded calls.
const defaultNoteSearchPages = 50

// ticketAttribute is the content_attributes key that also carries the
// ticket id, for Chatwoot versions that keep custom attributes.
const ticketAttribute = "infergate_ticket_id"

// ChatwootTargetConfig configures the Chatwoot handoff target.
type ChatwootTargetConfig struct {
	Client *ChatwootClient
	// MaxNoteChars bounds the note; zero means ChatwootMaxContentChars.
	MaxNoteChars int
	// NoteSearchPages bounds the search for an earlier attempt's note;
	// zero means 50 pages (1,000 messages).
	NoteSearchPages int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Chatwoot is the handoff Target for conversations that came from
// Chatwoot, where infergate is an agent bot: it posts the transcript and
// passages as a private note in the conversation and sets it open, which
// puts it in the agents' queue and, since the bot answers only pending
// conversations, silences the bot there.
//
// Chatwoot has no idempotency key, so Deliver makes itself safe to repeat:
// it first looks for a note whose first line names this ticket and posts
// one only when there is none; setting the status is idempotent. A retry
// after a failure anywhere (even after Chatwoot stored the note but the
// answer was lost) therefore leaves exactly one note.
type Chatwoot struct {
	client   *ChatwootClient
	maxNote  int
	maxPages int
	log      *slog.Logger
}

var _ Target = (*Chatwoot)(nil)

// NewChatwoot returns the Chatwoot target for cfg.
func NewChatwoot(cfg ChatwootTargetConfig) (*Chatwoot, error) {
	if cfg.Client == nil {
		return nil, errors.New("handoff: chatwoot target: a client is required")
	}
	c := &Chatwoot{client: cfg.Client, maxNote: cfg.MaxNoteChars, maxPages: cfg.NoteSearchPages, log: cfg.Logger}
	if c.maxNote <= 0 || c.maxNote > ChatwootMaxContentChars {
		c.maxNote = ChatwootMaxContentChars
	}
	if c.maxPages <= 0 {
		c.maxPages = defaultNoteSearchPages
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// Name implements Target.
func (c *Chatwoot) Name() string { return "chatwoot" }

// Deliver implements Target: note (once), then open. The status is set
// only while the conversation is still pending, the state the bot owns: if
// a human has meanwhile opened, resolved or snoozed it, a late retry must
// not undo their decision.
func (c *Chatwoot) Deliver(ctx context.Context, t Ticket) error {
	ref := t.Chatwoot
	if ref == nil {
		return &DeliveryError{Target: c.Name(), Permanent: true, Err: errors.New("ticket has no Chatwoot conversation")}
	}
	found, err := c.findNote(ctx, ref, t.ID)
	if err != nil {
		return c.deliveryError("find an earlier note", err)
	}
	if !found {
		note := RenderNote(t, c.maxNote)
		if _, err := c.client.CreatePrivateNote(ctx, ref.AccountID, ref.ConversationID, note, map[string]any{ticketAttribute: t.ID}); err != nil {
			return c.deliveryError("post the note", err)
		}
	}
	status, err := c.client.ConversationStatus(ctx, ref.AccountID, ref.ConversationID)
	if err != nil {
		return c.deliveryError("read the status", err)
	}
	if status == ChatwootStatusPending {
		if _, err := c.client.ToggleStatus(ctx, ref.AccountID, ref.ConversationID, ChatwootStatusOpen); err != nil {
			return c.deliveryError("set the conversation open", err)
		}
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "handoff delivered to chatwoot",
		slog.String("ticket", t.ID), slog.String("bot", t.Bot),
		slog.Int64("account", ref.AccountID), slog.Int64("conversation", ref.ConversationID),
		slog.Bool("note_existed", found), slog.String("status_before", status))
	return nil
}

// findNote pages back from the newest message looking for this ticket's
// note.
func (c *Chatwoot) findNote(ctx context.Context, ref *ChatwootRef, ticketID string) (bool, error) {
	var before int64
	for range c.maxPages {
		page, err := c.client.Messages(ctx, ref.AccountID, ref.ConversationID, before)
		if err != nil {
			return false, err
		}
		if len(page) == 0 {
			return false, nil
		}
		oldest := page[0].ID
		for _, m := range page {
			if isTicketNote(m, ticketID) {
				return true, nil
			}
			oldest = min(oldest, m.ID)
		}
		if before != 0 && oldest >= before {
			return false, nil // a server ignoring before; stop rather than loop
		}
		before = oldest
	}
	return false, nil
}

// isTicketNote reports whether m is the private note for ticketID: its
// first line is the marker, or its content_attributes carry the id.
func isTicketNote(m ChatwootMessage, ticketID string) bool {
	if !m.Private {
		return false
	}
	first, _, _ := strings.Cut(m.Content, "\n")
	if first == noteMarker(ticketID) {
		return true
	}
	if len(m.ContentAttributes) == 0 || !bytes.Contains(m.ContentAttributes, []byte(ticketAttribute)) {
		return false
	}
	var attrs map[string]any
	if json.Unmarshal(m.ContentAttributes, &attrs) != nil {
		return false
	}
	id, _ := attrs[ticketAttribute].(string)
	return id == ticketID
}

// deliveryError classifies a client error for the deliverer: Chatwoot's
// 408, 429 and 5xx and transport failures are retryable, its other
// answers (401 bad token, 404 no such conversation, 422) are not.
func (c *Chatwoot) deliveryError(step string, err error) *DeliveryError {
	e := &DeliveryError{Target: c.Name(), Err: fmt.Errorf("%s: %w", step, err)}
	var api *ChatwootAPIError
	if errors.As(err, &api) {
		e.Status = api.Status
		e.Permanent = !api.Retryable()
		e.RetryAfter = api.RetryAfter
	}
	return e
}
