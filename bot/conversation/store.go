package conversation

import (
	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/store"
)

// Store is what the conversation log needs from its store of record: Get,
// Walk and Apply, the outbox's own interface, because a handoff commits the
// conversation's status and its outbox record in one Write to one store.
// *store.Store satisfies it; the key layout is the store package's
// (store.ConversationKey and its siblings).
type Store interface {
	handoff.Store
}

var _ Store = (*store.Store)(nil)
