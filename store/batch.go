package store

import (
	"bytes"
	"context"

	"github.com/cockroachdb/pebble/v2"
)

// batchOverhead approximates Pebble's per-record bytes (kind and two varint
// lengths) for the MaxBatchBytes check.
const batchOverhead = 16

// Batch collects writes that Commit applies atomically and durably: after
// Commit returns nil every write is on disk, and after a crash either all of
// them are present or none. A Batch belongs to one goroutine.
//
// The write methods copy their arguments. They do not return errors: the
// first invalid write (a malformed or reserved key, an inverted range, a
// batch past MaxBatchBytes) is kept, and Commit returns it without writing
// anything, so that a caller building a document from many records checks
// once.
type Batch struct {
	s    *Store
	b    *pebble.Batch
	err  error
	ops  int
	done bool
}

// NewBatch returns an empty batch for s.
func (s *Store) NewBatch() *Batch {
	b := &Batch{s: s}
	db, err := s.acquire("batch")
	if err != nil {
		b.err = err
		return b
	}
	defer s.mu.RUnlock()
	b.b = db.NewBatch()
	return b
}

func (b *Batch) usable(key []byte, extra int) bool {
	if b.done {
		if b.err == nil {
			b.err = &OpError{Op: "batch", Dir: b.s.dir, Err: ErrClosed}
		}
		return false
	}
	if b.err != nil {
		return false
	}
	if b.b.Len()+len(key)+extra+batchOverhead > b.s.maxBatchBytes {
		b.err = &OpError{Op: "batch", Dir: b.s.dir, Err: ErrBatchTooLarge}
		return false
	}
	return true
}

// checkKey refuses keys outside the layout: empty, of an unknown kind, or the
// format record.
func checkKey(key []byte) error {
	kind, ok := KindOf(key)
	if !ok {
		k := Kind(0)
		if len(key) > 0 {
			k = Kind(key[0])
		}
		return &KeyError{Key: bytes.Clone(key), Kind: k, Reason: "empty key or unknown kind", Err: ErrInvalidKey}
	}
	if kind == KindMeta && bytes.Equal(key, formatKey()) {
		return &KeyError{Key: bytes.Clone(key), Kind: kind, Reason: "the store's format record", Err: ErrReservedKey}
	}
	return nil
}

// Set writes value under key.
func (b *Batch) Set(key, value []byte) {
	if !b.usable(key, len(value)) {
		return
	}
	if err := checkKey(key); err != nil {
		b.err = err
		return
	}
	b.apply(b.b.Set(key, value, nil))
}

// Delete removes key (a no-op when it is absent).
func (b *Batch) Delete(key []byte) {
	if !b.usable(key, 0) {
		return
	}
	if err := checkKey(key); err != nil {
		b.err = err
		return
	}
	b.apply(b.b.Delete(key, nil))
}

// DeleteRange removes every key in r. A nil Start or End is the start or end
// of the key space; a range that covers the format record is refused, and so
// is one whose Start is after its End. An empty range is a no-op.
func (b *Batch) DeleteRange(r Range) {
	start, end := r.Start, r.End
	if start == nil {
		start = []byte{}
	}
	if end == nil {
		// No key of a known kind begins with 0xff.
		end = []byte{0xff}
	}
	if !b.usable(start, len(end)) {
		return
	}
	switch c := bytes.Compare(start, end); {
	case c > 0:
		b.err = &KeyError{Key: bytes.Clone(start), Reason: "range start after its end", Err: ErrInvalidKey}
		return
	case c == 0:
		return
	}
	if (Range{Start: start, End: end}).Contains(formatKey()) {
		b.err = &KeyError{Key: bytes.Clone(start), Kind: KindMeta, Reason: "range covers the store's format record", Err: ErrReservedKey}
		return
	}
	b.apply(b.b.DeleteRange(start, end, nil))
}

// DeletePrefix removes every key that begins with prefix, which must not be
// empty.
func (b *Batch) DeletePrefix(prefix []byte) {
	if len(prefix) == 0 {
		if b.err == nil && !b.done {
			b.err = &KeyError{Reason: "empty prefix", Err: ErrInvalidKey}
		}
		return
	}
	b.DeleteRange(PrefixRange(prefix))
}

func (b *Batch) apply(err error) {
	if err != nil {
		b.err = &OpError{Op: "batch", Dir: b.s.dir, Err: err}
		return
	}
	b.ops++
}

// setFormat writes the format record; only Open and upgrades call it.
func (b *Batch) setFormat(v uint32) {
	if b.usable(formatKey(), 4+len(formatMagic)) {
		b.apply(b.b.Set(formatKey(), formatValue(v), nil))
	}
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return b.ops }

// Size returns the batch's encoded size in bytes.
func (b *Batch) Size() int {
	if b.b == nil || b.done {
		return 0
	}
	return b.b.Len()
}

// Err returns the first invalid write, which Commit will return.
func (b *Batch) Err() error { return b.err }

// Commit writes the batch atomically and waits until it is synced to disk
// (pebble.Sync): a nil error is the acknowledgement. On any error nothing of
// the batch is written. ctx is checked before the write starts; a write that
// has started is not abandoned, so that its outcome is never unknown. The
// batch is closed afterwards, whatever the outcome.
func (b *Batch) Commit(ctx context.Context) (err error) {
	if b.done {
		return &OpError{Op: "commit", Dir: b.s.dir, Err: ErrClosed}
	}
	defer b.Close()
	if b.err != nil {
		return b.err
	}
	if err := ctx.Err(); err != nil {
		return &OpError{Op: "commit", Dir: b.s.dir, Err: err}
	}
	if b.ops == 0 {
		return nil
	}
	db, err := b.s.acquire("commit")
	if err != nil {
		return err
	}
	defer b.s.mu.RUnlock()
	if b.s.readOnly {
		return &OpError{Op: "commit", Dir: b.s.dir, Err: ErrReadOnly}
	}
	defer b.s.recoverFatal("commit", &err)
	if err := db.Apply(b.b, pebble.Sync); err != nil {
		return &OpError{Op: "commit", Dir: b.s.dir, Err: err}
	}
	return nil
}

// Close discards a batch that will not be committed. It is idempotent and a
// no-op after Commit.
func (b *Batch) Close() {
	if b.done {
		return
	}
	b.done = true
	if b.b != nil {
		_ = b.b.Close()
		b.b = nil
	}
}

// Set writes value under key in a batch of its own, synced.
func (s *Store) Set(ctx context.Context, key, value []byte) error {
	b := s.NewBatch()
	b.Set(key, value)
	return b.Commit(ctx)
}

// Delete removes key in a batch of its own, synced.
func (s *Store) Delete(ctx context.Context, key []byte) error {
	b := s.NewBatch()
	b.Delete(key)
	return b.Commit(ctx)
}
