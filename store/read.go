package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// ScanOptions shape an iteration over a Range.
type ScanOptions struct {
	// After resumes an iteration: only keys after it (before it, when
	// Reverse) are returned. Pass the last key of the previous page, such as
	// Page.Next; nil starts at the range's beginning (end).
	After []byte
	// Limit caps the number of entries; 0 is no limit.
	Limit int
	// Reverse iterates from the end of the range to its start.
	Reverse bool
}

// Entry is one record returned by Scan. Its slices belong to the caller.
type Entry struct {
	Key, Value []byte
}

// Page is one page of a Scan.
type Page struct {
	Entries []Entry
	// Next is the cursor for the following page (pass it as
	// ScanOptions.After), or nil when the range has no more entries.
	Next []byte
}

// reader is what the Store and a Snapshot read through.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

// ctxCheckEvery is how many entries an Iterator steps between checks of its
// context.
const ctxCheckEvery = 64

// Get returns a copy of the value under key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &OpError{Op: "get", Dir: s.dir, Err: err}
	}
	db, err := s.acquire("get")
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	return s.get(db, key)
}

func (s *Store) get(r reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, &OpError{Op: "get", Dir: s.dir, Err: err}
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	_ = closer.Close()
	return out, nil
}

// Iterate returns an iterator over the keys of r, in key order (reverse
// order with o.Reverse), from the store's current state: the iterator sees
// one consistent point in time, the moment Iterate was called. Close it.
func (s *Store) Iterate(ctx context.Context, r Range, o ScanOptions) (*Iterator, error) {
	db, err := s.acquire("iterate")
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	return s.newIterator(ctx, db, nil, r, o)
}

// Scan returns up to o.Limit entries of r (all of them when o.Limit is 0),
// copied, with the cursor of the next page.
func (s *Store) Scan(ctx context.Context, r Range, o ScanOptions) (Page, error) {
	it, err := s.Iterate(ctx, r, o)
	if err != nil {
		return Page{}, err
	}
	return collect(it, o.Limit)
}

func collect(it *Iterator, limit int) (Page, error) {
	defer it.Close()
	if limit > 0 {
		it.limit = limit + 1 // one more, to learn whether a next page exists
	}
	var p Page
	for it.Next() {
		if limit > 0 && len(p.Entries) == limit {
			p.Next = bytes.Clone(p.Entries[limit-1].Key)
			break
		}
		p.Entries = append(p.Entries, Entry{Key: bytes.Clone(it.Key()), Value: bytes.Clone(it.Value())})
	}
	if err := it.Err(); err != nil {
		return Page{}, err
	}
	return p, nil
}

// bounds turns a range and a cursor into Pebble's iterator bounds; ok is
// false when nothing can lie between them.
func bounds(r Range, o ScanOptions) (lower, upper []byte, ok bool) {
	lower, upper = r.Start, r.End
	if o.After != nil {
		if !o.Reverse {
			if a := successor(o.After); lower == nil || bytes.Compare(a, lower) > 0 {
				lower = a
			}
		} else if upper == nil || bytes.Compare(o.After, upper) < 0 {
			upper = o.After
		}
	}
	if lower != nil && upper != nil && bytes.Compare(lower, upper) >= 0 {
		return nil, nil, false
	}
	return bytes.Clone(lower), bytes.Clone(upper), true
}

// newIterator is called with s.mu read-locked (and parent's lock, if any).
func (s *Store) newIterator(ctx context.Context, rd reader, parent *Snapshot, r Range, o ScanOptions) (*Iterator, error) {
	if err := ctx.Err(); err != nil {
		return nil, &OpError{Op: "iterate", Dir: s.dir, Err: err}
	}
	if o.Limit < 0 {
		return nil, &OpError{Op: "iterate", Dir: s.dir, Err: errors.New("negative limit")}
	}
	it := &Iterator{s: s, parent: parent, ctx: ctx, reverse: o.Reverse, limit: o.Limit}
	lower, upper, ok := bounds(r, o)
	if !ok {
		it.done = true
		return it, nil
	}
	pit, err := rd.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, &OpError{Op: "iterate", Dir: s.dir, Err: err}
	}
	it.it = pit
	s.resMu.Lock()
	s.iters[it] = struct{}{}
	s.resMu.Unlock()
	return it, nil
}

// Iterator walks a range. It belongs to one goroutine; Key and Value are
// valid until the next call to Next (they reuse one buffer each), and may be
// modified by the caller. Close it; the
// store's Close closes any left open.
type Iterator struct {
	s       *Store
	parent  *Snapshot // nil for the store's own iterators
	it      *pebble.Iterator
	ctx     context.Context
	reverse bool
	limit   int
	n       int
	started bool
	done    bool // exhausted or failed
	closed  bool // it released (by Close, its snapshot's Close or the store's)
	key     []byte
	value   []byte
	err     error
}

// Next advances to the next entry and reports whether there is one. When it
// returns false, Err says whether the iteration ended or failed.
func (it *Iterator) Next() bool {
	if it.done || it.err != nil || (it.limit > 0 && it.n >= it.limit) {
		return false
	}
	it.s.mu.RLock()
	defer it.s.mu.RUnlock()
	if it.parent != nil {
		it.parent.mu.RLock()
		defer it.parent.mu.RUnlock()
	}
	if it.closed {
		it.err = &OpError{Op: "iterate", Dir: it.s.dir, Err: ErrClosed}
		return false
	}
	if err := it.s.failure("iterate"); err != nil {
		it.err = err
		return false
	}
	if it.n%ctxCheckEvery == 0 {
		if err := it.ctx.Err(); err != nil {
			it.err = &OpError{Op: "iterate", Dir: it.s.dir, Err: err}
			return false
		}
	}
	var ok bool
	switch {
	case !it.started && it.reverse:
		ok = it.it.Last()
	case !it.started:
		ok = it.it.First()
	case it.reverse:
		ok = it.it.Prev()
	default:
		ok = it.it.Next()
	}
	it.started = true
	if !ok {
		it.done = true
		if err := it.it.Error(); err != nil {
			it.err = &OpError{Op: "iterate", Dir: it.s.dir, Err: err}
		}
		return false
	}
	v, err := it.it.ValueAndErr()
	if err != nil {
		it.done = true
		it.err = &OpError{Op: "iterate", Dir: it.s.dir, Err: err}
		return false
	}
	// Copied into the iterator's own buffers, so that what Key and Value
	// return stays valid even when Close, from another goroutine, releases
	// Pebble's iterator (and its memory) underneath.
	it.key = append(it.key[:0], it.it.Key()...)
	it.value = append(it.value[:0], v...)
	it.n++
	return true
}

// Key returns the current entry's key.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current entry's value.
func (it *Iterator) Value() []byte { return it.value }

// Err returns the error that ended the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Close releases the iterator. It is idempotent.
func (it *Iterator) Close() error {
	if it.it == nil {
		return nil
	}
	it.s.mu.RLock()
	defer it.s.mu.RUnlock()
	if it.parent != nil {
		it.parent.mu.RLock()
		defer it.parent.mu.RUnlock()
	}
	if it.closed {
		return nil
	}
	it.s.resMu.Lock()
	delete(it.s.iters, it)
	it.s.resMu.Unlock()
	return it.release()
}

// release closes the Pebble iterator; the caller holds the locks that keep
// Next out (or has removed it from the registry under the store's lock).
func (it *Iterator) release() error {
	if it.closed || it.it == nil {
		return nil
	}
	it.closed = true
	if err := it.it.Close(); err != nil {
		return &OpError{Op: "iterate", Dir: it.s.dir, Err: err}
	}
	return nil
}

// Snapshot is a consistent, read-only view of the store at the moment it was
// taken: reads through it see every write committed before and none after.
// It is safe for concurrent use. Close it; an open snapshot keeps old
// versions of records from being compacted away.
type Snapshot struct {
	s      *Store
	mu     sync.RWMutex // read-locked by reads, write-locked by Close
	snap   *pebble.Snapshot
	closed bool
}

// Snapshot takes a snapshot of the store.
func (s *Store) Snapshot() (*Snapshot, error) {
	db, err := s.acquire("snapshot")
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	sn := &Snapshot{s: s, snap: db.NewSnapshot()}
	s.resMu.Lock()
	s.snaps[sn] = struct{}{}
	s.resMu.Unlock()
	return sn, nil
}

// lock read-locks the store and the snapshot for one read.
func (sn *Snapshot) lock(op string) error {
	if _, err := sn.s.acquire(op); err != nil {
		return err
	}
	sn.mu.RLock()
	if sn.closed {
		sn.unlock()
		return &OpError{Op: op, Dir: sn.s.dir, Err: ErrClosed}
	}
	return nil
}

func (sn *Snapshot) unlock() {
	sn.mu.RUnlock()
	sn.s.mu.RUnlock()
}

// Get returns a copy of the value under key as of the snapshot, or
// ErrNotFound.
func (sn *Snapshot) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &OpError{Op: "get", Dir: sn.s.dir, Err: err}
	}
	if err := sn.lock("get"); err != nil {
		return nil, err
	}
	defer sn.unlock()
	return sn.s.get(sn.snap, key)
}

// Iterate is Store.Iterate as of the snapshot.
func (sn *Snapshot) Iterate(ctx context.Context, r Range, o ScanOptions) (*Iterator, error) {
	if err := sn.lock("iterate"); err != nil {
		return nil, err
	}
	defer sn.unlock()
	return sn.s.newIterator(ctx, sn.snap, sn, r, o)
}

// Scan is Store.Scan as of the snapshot.
func (sn *Snapshot) Scan(ctx context.Context, r Range, o ScanOptions) (Page, error) {
	it, err := sn.Iterate(ctx, r, o)
	if err != nil {
		return Page{}, err
	}
	return collect(it, o.Limit)
}

// Close releases the snapshot and closes its iterators still open. It is
// idempotent.
func (sn *Snapshot) Close() error {
	sn.s.mu.RLock()
	defer sn.s.mu.RUnlock()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.closed {
		return nil
	}
	sn.s.resMu.Lock()
	var children []*Iterator
	for it := range sn.s.iters {
		if it.parent == sn {
			children = append(children, it)
			delete(sn.s.iters, it)
		}
	}
	delete(sn.s.snaps, sn)
	sn.s.resMu.Unlock()
	for _, it := range children {
		_ = it.release()
	}
	return sn.release()
}

func (sn *Snapshot) release() error {
	if sn.closed {
		return nil
	}
	sn.closed = true
	if err := sn.snap.Close(); err != nil {
		return &OpError{Op: "snapshot", Dir: sn.s.dir, Err: err}
	}
	return nil
}
