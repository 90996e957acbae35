package conversation

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/infergate/infergate/bot/handoff"
)

// Conversation is one conversation's record. Its turns are stored apart
// (one record each), so that appending a turn writes one small record and
// this one, never the whole transcript.
type Conversation struct {
	ID  string `json:"id"`
	Bot string `json:"bot"`
	// UserID is the end user's id; empty for an anonymous conversation,
	// which SecretHash binds instead.
	UserID       string `json:"user_id,omitempty"`
	UserVerified bool   `json:"user_verified"`
	// SecretHash is SHA-256 of an anonymous conversation's secret; the
	// secret itself is never stored.
	SecretHash []byte    `json:"secret_hash,omitempty"`
	Status     Status    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Turns is the number of turns, and so the number of the next one.
	Turns uint32 `json:"turns"`
	// HandoffReason, HandoffTicket and HandedOffAt are set by Handoff.
	HandoffReason string    `json:"handoff_reason,omitempty"`
	HandoffTicket string    `json:"handoff_ticket,omitempty"`
	HandedOffAt   time.Time `json:"handed_off_at,omitzero"`
	ResolvedAt    time.Time `json:"resolved_at,omitzero"`
	// CSAT is the customer's satisfaction score, 1–5; 0 when not given.
	CSAT     int                  `json:"csat,omitempty"`
	Chatwoot *handoff.ChatwootRef `json:"chatwoot,omitempty"`
	// Arm is the soft-launch arm the conversation was drawn into ("bot" or
	// "human"), so that containment compares like with like.
	Arm string `json:"arm,omitempty"`
}

// Role says who wrote a turn.
type Role string

const (
	// RoleBot: a user's message and the bot's answer to it.
	RoleBot Role = "bot"
	// RoleUser: a user's message the bot did not answer (a human owns the
	// conversation).
	RoleUser Role = "user"
	// RoleAgent: a human agent's message, after a handoff.
	RoleAgent Role = "agent"
)

func (r Role) valid() bool { return r == RoleBot || r == RoleUser || r == RoleAgent }

// Turn is one exchange of the transcript.
type Turn struct {
	// N is the turn's number in its conversation, from 0, without gaps.
	N    uint32 `json:"n"`
	Role Role   `json:"role"`
	// User is the end user's text (RoleBot, RoleUser).
	User string `json:"user,omitempty"`
	// Answer is the bot's answer (RoleBot) or the agent's message
	// (RoleAgent).
	Answer    string     `json:"answer,omitempty"`
	Agent     string     `json:"agent,omitempty"` // the agent's name, RoleAgent
	Citations []Citation `json:"citations,omitempty"`
	// Scores are the retrieval scores of the passages in the prompt, best
	// first.
	Scores           []float64     `json:"scores,omitempty"`
	TTFT             time.Duration `json:"ttft_ns,omitempty"`
	Latency          time.Duration `json:"latency_ns,omitempty"`
	Route            string        `json:"route,omitempty"` // "local" or "cloud:<name>"
	Model            string        `json:"model,omitempty"`
	PromptTokens     int           `json:"prompt_tokens,omitempty"`
	CompletionTokens int           `json:"completion_tokens,omitempty"`
	// Handoff says this turn handed the conversation off, and why.
	Handoff       bool      `json:"handoff,omitempty"`
	HandoffReason string    `json:"handoff_reason,omitempty"`
	Feedback      *Feedback `json:"feedback,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Citation is a numbered reference of an answer.
type Citation struct {
	Document string `json:"document"`
	Title    string `json:"title,omitempty"`
	URL      string `json:"url,omitempty"`
	Chunk    uint32 `json:"chunk"`
}

// Rating is the end user's verdict on an answer.
type Rating string

const (
	RatingUp   Rating = "up"
	RatingDown Rating = "down"
)

// Feedback is the end user's rating of one answer.
type Feedback struct {
	Rating    Rating    `json:"rating"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// recordVersion is the version of the JSON encodings below; a record of
// another version is refused rather than half understood.
const recordVersion = 1

type versioned[T any] struct {
	V   int `json:"v"`
	Rec T   `json:"rec"`
}

func encode[T any](rec T) ([]byte, error) {
	b, err := json.Marshal(versioned[T]{V: recordVersion, Rec: rec})
	if err != nil {
		return nil, fmt.Errorf("conversation: encode: %w", err)
	}
	return b, nil
}

func decode[T any](b []byte) (T, error) {
	var v versioned[T]
	if err := json.Unmarshal(b, &v); err != nil {
		return v.Rec, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if v.V != recordVersion {
		return v.Rec, fmt.Errorf("%w: version %d, this build reads %d", ErrCorrupt, v.V, recordVersion)
	}
	return v.Rec, nil
}

func decodeConversation(b []byte) (*Conversation, error) {
	c, err := decode[Conversation](b)
	if err != nil {
		return nil, err
	}
	if c.ID == "" || !c.Status.Valid() {
		return nil, fmt.Errorf("%w: conversation %q with status %q", ErrCorrupt, c.ID, c.Status)
	}
	return &c, nil
}

func decodeTurn(b []byte) (*Turn, error) {
	t, err := decode[Turn](b)
	if err != nil {
		return nil, err
	}
	if !t.Role.valid() {
		return nil, fmt.Errorf("%w: turn %d with role %q", ErrCorrupt, t.N, t.Role)
	}
	return &t, nil
}
