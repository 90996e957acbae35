package conversation

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no such conversation, or one that belongs to another
	// end user: the two are indistinguishable on purpose, so that nobody
	// learns that another user's conversation exists.
	ErrNotFound = errors.New("conversation: not found")
	// ErrInvalidTransition: a status change the state machine does not
	// have (wrapped by *TransitionError).
	ErrInvalidTransition = errors.New("conversation: invalid status transition")
	// ErrHandedOff: the bot tried to answer a conversation a human owns.
	ErrHandedOff = errors.New("conversation: handed off; the bot does not answer")
	// ErrResolved: a message for a conversation that is over.
	ErrResolved = errors.New("conversation: resolved")
	// ErrInvalid: a request the log refuses (a bad rating, CSAT, role,
	// turn number or owner).
	ErrInvalid = errors.New("conversation: invalid request")
	// ErrCorrupt: a stored record that does not decode.
	ErrCorrupt = errors.New("conversation: corrupt record")
)
