package handoff

import (
	"context"

	"github.com/infergate/infergate/store"
)

// Store is what the outbox needs from its store of record; *store.Store
// satisfies it. The key layout is the store package's (store.OutboxKey,
// store.OutboxDueKey).
type Store interface {
	// Get returns the value under key, or an error wrapping
	// store.ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Walk calls fn for every record in r, in key order, after the key
	// after (nil: from the start), until fn returns an error or limit
	// records were seen (0: no limit).
	Walk(ctx context.Context, r store.Range, after []byte, limit int, fn func(key, value []byte) error) error
	// Apply commits w atomically and returns once it is durable.
	Apply(ctx context.Context, w *store.Write) error
}

var _ Store = (*store.Store)(nil)
