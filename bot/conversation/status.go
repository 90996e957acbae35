package conversation

import "fmt"

// Status is where a conversation stands. The transitions are
//
//	bot ──▶ handed_off ──▶ resolved
//	bot ──────────────────▶ resolved
//
// and nothing leaves resolved. While a conversation is handed_off a human
// owns it: the bot appends no answer to it (ErrHandedOff).
type Status string

const (
	// StatusBot: the bot answers.
	StatusBot Status = "bot"
	// StatusHandedOff: a human took over; the handoff ticket is in the
	// outbox.
	StatusHandedOff Status = "handed_off"
	// StatusResolved: the conversation is over.
	StatusResolved Status = "resolved"
)

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool {
	return s == StatusBot || s == StatusHandedOff || s == StatusResolved
}

// CanBecome reports whether the state machine has the transition s → to.
func (s Status) CanBecome(to Status) bool {
	switch s {
	case StatusBot:
		return to == StatusHandedOff || to == StatusResolved
	case StatusHandedOff:
		return to == StatusResolved
	}
	return false
}

// TransitionError is a refused status change; it wraps
// ErrInvalidTransition.
type TransitionError struct {
	Conversation string
	From, To     Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("conversation %q: %s → %s is not a transition", e.Conversation, e.From, e.To)
}

func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// Transition moves c to status to, or returns a *TransitionError and
// leaves c unchanged.
func (c *Conversation) Transition(to Status) error {
	if !c.Status.CanBecome(to) {
		return &TransitionError{Conversation: c.ID, From: c.Status, To: to}
	}
	c.Status = to
	return nil
}
