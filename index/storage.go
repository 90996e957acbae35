package index

import (
	"context"
	"fmt"

	"github.com/infergate/infergate/store"
)

// Store is what the knowledge base needs from its store of record. The
// key layout is the store package's (store.CollectionKey and its
// siblings); the interface only moves bytes, so that another store (one
// shared by replicas) can stand behind it.
type Store interface {
	// Get returns the value under key, or an error wrapping
	// store.ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Scan calls fn for every record in r, in key order, after the key
	// after (nil: from the start), until fn returns an error or limit
	// records were seen (0: no limit). key and value are valid only during
	// the call.
	Scan(ctx context.Context, r store.Range, after []byte, limit int, fn func(key, value []byte) error) error
	// Commit applies w atomically and returns once it is durable.
	Commit(ctx context.Context, w *Write) error
	// Checkpoint writes a consistent, openable copy of the store to dest.
	Checkpoint(ctx context.Context, dest string) error
}

// Write is an atomic group of changes: range deletions first, then point
// deletions, then sets, so a record re-created under a deleted prefix
// survives.
type Write struct {
	ranges  []store.Range
	deletes [][]byte
	sets    [][2][]byte
}

// Set records key=value.
func (w *Write) Set(key, value []byte) { w.sets = append(w.sets, [2][]byte{key, value}) }

// Delete records the removal of key.
func (w *Write) Delete(key []byte) { w.deletes = append(w.deletes, key) }

// DeleteRange records the removal of every key in r.
func (w *Write) DeleteRange(r store.Range) { w.ranges = append(w.ranges, r) }

// Len is the number of changes.
func (w *Write) Len() int { return len(w.ranges) + len(w.deletes) + len(w.sets) }

// PebbleStore adapts the Pebble store to Store.
func PebbleStore(s *store.Store) Store { return pebbleStore{s} }

type pebbleStore struct{ s *store.Store }

func (p pebbleStore) Get(ctx context.Context, key []byte) ([]byte, error) { return p.s.Get(ctx, key) }

func (p pebbleStore) Scan(ctx context.Context, r store.Range, after []byte, limit int, fn func(key, value []byte) error) error {
	it, err := p.s.Iterate(ctx, r, store.ScanOptions{After: after, Limit: limit})
	if err != nil {
		return err
	}
	for it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Err(); err != nil {
		_ = it.Close()
		return err
	}
	return it.Close()
}

func (p pebbleStore) Commit(ctx context.Context, w *Write) error {
	b := p.s.NewBatch()
	defer b.Close()
	// Pebble applies a batch's operations in order, and a range deletion
	// covers only what precedes it in the batch: so ranges go first.
	for _, r := range w.ranges {
		b.DeleteRange(r)
	}
	for _, k := range w.deletes {
		b.Delete(k)
	}
	for _, kv := range w.sets {
		b.Set(kv[0], kv[1])
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("index: commit: %w", err)
	}
	return nil
}

func (p pebbleStore) Checkpoint(ctx context.Context, dest string) error {
	return p.s.Checkpoint(ctx, dest)
}
