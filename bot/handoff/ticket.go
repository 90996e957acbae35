package handoff

import (
	"context"
	"time"
)

// Ticket is what a handoff hands to a human: everything a help desk needs
// to pick the conversation up without asking the customer again. It is
// stored in the outbox as JSON, so its field names are a stored format:
// add fields, never rename them.
type Ticket struct {
	// ID is the outbox record's id, stable across retries and restarts:
	// targets send it as the Idempotency-Key, so that a receiver creates
	// exactly one ticket however often it is delivered.
	ID             string    `json:"id"`
	Bot            string    `json:"bot"`
	ConversationID string    `json:"conversation_id"`
	User           User      `json:"user"`
	Reason         string    `json:"reason"` // a low-cardinality reason, e.g. "unanswerable", "asked_for_human"
	Detail         string    `json:"detail,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	// Transcript is the whole conversation, oldest message first.
	Transcript []Message `json:"transcript"`
	// Passages are the knowledge-base passages the bot's last answers
	// used, with their scores, so the agent sees what the bot saw.
	Passages []Passage `json:"passages,omitempty"`
	// Chatwoot is set when the conversation came from Chatwoot: the
	// handoff goes back to that conversation rather than to a new ticket.
	Chatwoot *ChatwootRef `json:"chatwoot,omitempty"`
}

// User is the end user as the bot knows them.
type User struct {
	ID string `json:"id,omitempty"` // empty for an anonymous user
	// Verified says the id came from a signed identity token rather than
	// from the client's word.
	Verified bool   `json:"verified"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
}

// Message is one message of the transcript.
type Message struct {
	Role      string    `json:"role"` // "user", "assistant" (the bot) or "agent" (a human)
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// Passage is one retrieved passage.
type Passage struct {
	Document string  `json:"document"`
	Title    string  `json:"title,omitempty"`
	URL      string  `json:"url,omitempty"`
	Text     string  `json:"text"`
	Score    float64 `json:"score"`
}

// ChatwootRef names a Chatwoot conversation.
type ChatwootRef struct {
	AccountID      int64 `json:"account_id"`
	ConversationID int64 `json:"conversation_id"`
}

// Target delivers a ticket to a help desk. Deliver must be idempotent for
// one Ticket.ID (the deliverer retries after timeouts, crashes and
// restarts), and its error says whether retrying can help (a
// *DeliveryError with Permanent set says it cannot).
type Target interface {
	// Name is a low-cardinality label ("webhook", "chatwoot") for metrics
	// and logs.
	Name() string
	Deliver(ctx context.Context, t Ticket) error
}

// DeliveryError is a failed delivery.
type DeliveryError struct {
	Target string
	// Status is the receiver's HTTP status, 0 when none was received.
	Status int
	// Permanent says the receiver refused the ticket itself (a 4xx other
	// than 408 and 429): retrying the same body cannot succeed.
	Permanent bool
	// RetryAfter is the receiver's Retry-After, 0 if it sent none.
	RetryAfter time.Duration
	Err        error
}

func (e *DeliveryError) Error() string {
	msg := "handoff: delivery to " + e.Target + " failed"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *DeliveryError) Unwrap() error { return e.Err }
