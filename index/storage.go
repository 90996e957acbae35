package index

import (
	"context"

	"github.com/infergate/infergate/store"
)

// Store is what the knowledge base needs from its store of record;
// *store.Store satisfies it. The key layout is the store package's
// (store.CollectionKey and its siblings); the interface only moves bytes,
// so that another store (one shared by replicas) can stand behind it.
type Store interface {
	// Get returns the value under key, or an error wrapping
	// store.ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Walk calls fn for every record in r, in key order, after the key
	// after (nil: from the start), until fn returns an error or limit
	// records were seen (0: no limit). key and value are valid only during
	// the call.
	Walk(ctx context.Context, r store.Range, after []byte, limit int, fn func(key, value []byte) error) error
	// Apply commits w atomically and returns once it is durable.
	Apply(ctx context.Context, w *store.Write) error
	// Checkpoint writes a consistent, openable copy of the store to dest.
	Checkpoint(ctx context.Context, dest string) error
}

var _ Store = (*store.Store)(nil)
