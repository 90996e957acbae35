package bot

import "github.com/infergate/infergate/bot/conversation"

// EventKind names an event of a turn; the gateway sends each as an SSE
// event of that name.
type EventKind string

// The events of a turn, in the order they can come: any number of delta,
// at most one replace, at most one citations, at most one handoff, then
// exactly one done or one error, the last event.
const (
	// EventDelta: answer text to append to what was shown.
	EventDelta EventKind = "delta"
	// EventReplace: discard the text shown so far and show Text instead
	// (the output check refused the answer, or the model could not help).
	EventReplace EventKind = "replace"
	// EventCitations: the passages the answer cites.
	EventCitations EventKind = "citations"
	// EventHandoff: a human takes over the conversation.
	EventHandoff EventKind = "handoff"
	// EventDone: the turn is over and logged.
	EventDone EventKind = "done"
	// EventError: the turn failed; Err says why.
	EventError EventKind = "error"
)

// Event is one event of a turn; the fields its Kind names are set.
type Event struct {
	Kind      EventKind
	Text      string     // delta, replace
	Citations []Citation // citations
	Handoff   *Handoff   // handoff
	Done      *Done      // done
	Err       error      // error
}

// Handoff is the handoff event's payload.
type Handoff struct {
	Reason string `json:"reason"`
	// Ticket is the handoff's reference, for the customer to quote.
	Ticket string `json:"ticket"`
}

// Done is the done event's payload.
type Done struct {
	// Turn is the logged turn's number (conversation.Turn.N).
	Turn   uint32              `json:"turn"`
	Status conversation.Status `json:"status"`
	// Answered says the model's answer was sent (not a gate reply, a
	// refusal, or a handoff message).
	Answered bool `json:"answered"`
	// Reason says why not: a gate reason, a handoff reason, "prompt_leak"
	// or "with_human" (the message went to the human who owns the
	// conversation).
	Reason string `json:"reason,omitempty"`
	// Model and the token counts are the generation's, when there was one.
	Model            string `json:"model,omitempty"`
	PromptTokens     int    `json:"prompt_tokens,omitempty"`
	CompletionTokens int    `json:"completion_tokens,omitempty"`
}

// Sink receives a turn's events as they happen. An error from it (the
// client went away) stops the turn: the generation is cancelled and
// Answer returns the error.
type Sink func(Event) error
