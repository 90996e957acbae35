package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/infergate/infergate/store"
)

// State is an outbox record's delivery state.
type State string

const (
	// StatePending: not delivered yet; the deliverer will try (again).
	StatePending State = "pending"
	// StateDelivered: a target accepted the ticket. Final.
	StateDelivered State = "delivered"
	// StateFailed: the target refused the ticket for good, or the give-up
	// time passed. Final; the record is kept.
	StateFailed State = "failed"
)

// Final reports whether no transition leaves s.
func (s State) Final() bool { return s == StateDelivered || s == StateFailed }

// Valid reports whether s is one of the states above.
func (s State) Valid() bool { return s == StatePending || s.Final() }

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidTransition: a state change the delivery state machine
	// does not have (wrapped by *TransitionError).
	ErrInvalidTransition = errors.New("handoff: invalid delivery state transition")
	// ErrNotFound: no outbox record under the ticket id.
	ErrNotFound = errors.New("handoff: ticket not found")
	// ErrInvalidTicket: a ticket or target that cannot be enqueued.
	ErrInvalidTicket = errors.New("handoff: invalid ticket")
	// ErrCorrupt: a stored record that does not decode.
	ErrCorrupt = errors.New("handoff: corrupt outbox record")
)

// TransitionError is a refused state change.
type TransitionError struct {
	Ticket   string
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("handoff: ticket %q: %s → %s is not a transition", e.Ticket, e.From, e.To)
}

func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// recordVersion is the version of the record encoding below.
const recordVersion = 1

// Record is one ticket in the outbox.
type Record struct {
	Ticket Ticket `json:"ticket"`
	// Target names the Target that delivers it (Target.Name).
	Target      string    `json:"target"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	FailedAt    time.Time `json:"failed_at,omitzero"`
}

// transition moves r to state to at time now, or refuses a change the state
// machine does not have: only a pending record moves, to any state.
func (r *Record) transition(to State, now time.Time) error {
	if r.State != StatePending || !to.Valid() {
		return &TransitionError{Ticket: r.Ticket.ID, From: r.State, To: to}
	}
	r.State = to
	switch to {
	case StateDelivered:
		r.DeliveredAt, r.NextAttempt = now, time.Time{}
	case StateFailed:
		r.FailedAt, r.NextAttempt = now, time.Time{}
	}
	return nil
}

type recordJSON struct {
	V int `json:"v"`
	Record
}

func encodeRecord(r *Record) ([]byte, error) {
	b, err := json.Marshal(recordJSON{V: recordVersion, Record: *r})
	if err != nil {
		return nil, fmt.Errorf("handoff: encode ticket %q: %w", r.Ticket.ID, err)
	}
	return b, nil
}

// decodeRecord parses a stored record, refusing unknown versions and
// states so that a newer build's records are never half-understood.
func decodeRecord(b []byte) (*Record, error) {
	var rj recordJSON
	if err := json.Unmarshal(b, &rj); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if rj.V != recordVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrCorrupt, rj.V, recordVersion)
	}
	if !rj.State.Valid() || rj.Ticket.ID == "" {
		return nil, fmt.Errorf("%w: state %q, ticket %q", ErrCorrupt, rj.State, rj.Ticket.ID)
	}
	return &rj.Record, nil
}

// Enqueue adds a pending record for t, due at once, to w: the ticket is in
// the outbox exactly when w is applied, so a caller commits it together
// with whatever caused the handoff. t.ID must be unique (it is the
// idempotency key), and t.CreatedAt starts the give-up clock (Enqueue sets
// it to now when zero).
func Enqueue(w *store.Write, t Ticket, target string) error {
	if t.ID == "" || target == "" {
		return fmt.Errorf("%w: ticket id and target are required", ErrInvalidTicket)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	r := &Record{Ticket: t, Target: target, State: StatePending, NextAttempt: t.CreatedAt, CreatedAt: t.CreatedAt}
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	w.Set(store.OutboxKey(t.ID), b)
	w.Set(store.OutboxDueKey(r.NextAttempt, t.ID), []byte{})
	return nil
}

// Load returns the outbox record of ticket id, or an error wrapping
// ErrNotFound.
func Load(ctx context.Context, st Store, id string) (*Record, error) {
	b, err := st.Get(ctx, store.OutboxKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("handoff: ticket %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("handoff: load ticket %q: %w", id, err)
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("handoff: ticket %q: %w", id, err)
	}
	return r, nil
}

// Erase adds the removal of ticket id's record and due-index entry to w (a
// no-op for an unknown id): the record holds the customer's transcript, so
// erasing an end user or purging old conversations removes it too. A
// pending ticket erased this way is never delivered, unless an attempt is
// in flight as w commits (that attempt's update re-creates nothing: see
// Deliverer).
func Erase(ctx context.Context, st Store, w *store.Write, id string) error {
	r, err := Load(ctx, st, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return err
	}
	w.Delete(store.OutboxKey(id))
	if r != nil && r.State == StatePending {
		w.Delete(store.OutboxDueKey(r.NextAttempt, id))
	}
	return nil
}

// save adds r's new value to w, moving its due-index entry from the time
// it was due (prevDue) to r.NextAttempt, or removing it once r is final.
func save(w *store.Write, r *Record, prevDue time.Time) error {
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	w.Delete(store.OutboxDueKey(prevDue, r.Ticket.ID))
	w.Set(store.OutboxKey(r.Ticket.ID), b)
	if r.State == StatePending {
		w.Set(store.OutboxDueKey(r.NextAttempt, r.Ticket.ID), []byte{})
	}
	return nil
}
