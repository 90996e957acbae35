package store

import "context"

// Write is an atomic group of changes described as data, for consumers that
// reach the store through an interface of their own (the index, the bot):
// they build a Write without holding a Batch, and any store that can apply
// it atomically and durably (this one through Apply; a shared store for
// several replicas later) can stand behind their interface. Several
// packages may add to one Write, so that, for example, a conversation's
// status and its handoff record are committed together.
//
// Apply performs range deletions first, then point deletions, then sets, so
// that a record re-created under a deleted prefix survives.
type Write struct {
	ranges  []Range
	deletes [][]byte
	sets    [][2][]byte
}

// Set records key=value. The slices must not change until the Write is
// applied.
func (w *Write) Set(key, value []byte) { w.sets = append(w.sets, [2][]byte{key, value}) }

// Delete records the removal of key.
func (w *Write) Delete(key []byte) { w.deletes = append(w.deletes, key) }

// DeleteRange records the removal of every key in r.
func (w *Write) DeleteRange(r Range) { w.ranges = append(w.ranges, r) }

// Len is the number of changes.
func (w *Write) Len() int { return len(w.ranges) + len(w.deletes) + len(w.sets) }

// Apply commits w as one Batch: atomically, and synced before it returns
// nil. Its errors are Commit's.
func (s *Store) Apply(ctx context.Context, w *Write) error {
	b := s.NewBatch()
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
	return b.Commit(ctx)
}

// Walk calls fn for every record in r, in key order, after the key after
// (nil: from the range's start), until fn returns an error, which Walk
// returns, or limit records were seen (0: no limit). key and value are
// valid only during the call; unlike Scan, nothing is copied.
func (s *Store) Walk(ctx context.Context, r Range, after []byte, limit int, fn func(key, value []byte) error) error {
	it, err := s.Iterate(ctx, r, ScanOptions{After: after, Limit: limit})
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
