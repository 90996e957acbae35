package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// fillDocuments writes n documents d000..d(n-1) into collection kb.
func fillDocuments(t testing.TB, s *Store, n int) [][]byte {
	t.Helper()
	b := s.NewBatch()
	var keys [][]byte
	for i := range n {
		k := DocumentKey("kb", fmt.Sprintf("d%03d", i))
		keys = append(keys, k)
		b.Set(k, []byte(fmt.Sprint(i)))
	}
	if err := b.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestScanPages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	keys := fillDocuments(t, s, 10)
	mustSet(t, s, string(DocumentKey("kb2", "x")), "other collection")
	r := PrefixRange(DocumentsPrefix("kb"))
	reversed := slices.Clone(keys)
	slices.Reverse(reversed)

	tests := []struct {
		name    string
		limit   int
		reverse bool
		want    [][]byte
	}{
		{"all at once", 0, false, keys},
		{"pages of 1", 1, false, keys},
		{"pages of 3", 3, false, keys},
		{"exact pages of 5", 5, false, keys},
		{"one page of 100", 100, false, keys},
		{"reverse, pages of 4", 4, true, reversed},
		{"reverse, all", 0, true, reversed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]byte
			var after []byte
			pages := 0
			for {
				p, err := s.Scan(ctx, r, ScanOptions{After: after, Limit: tt.limit, Reverse: tt.reverse})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if tt.limit > 0 && len(p.Entries) > tt.limit {
					t.Fatalf("page of %d entries, limit %d", len(p.Entries), tt.limit)
				}
				for _, e := range p.Entries {
					got = append(got, e.Key)
				}
				if p.Next == nil {
					break
				}
				if !bytes.Equal(p.Next, p.Entries[len(p.Entries)-1].Key) {
					t.Fatalf("cursor %q is not the page's last key", p.Next)
				}
				after = p.Next
				if pages > 20 {
					t.Fatal("no end")
				}
			}
			if !slices.EqualFunc(got, tt.want, bytes.Equal) {
				t.Fatalf("keys = %q, want %q", got, tt.want)
			}
			if tt.limit > 0 {
				if want := (len(keys) + tt.limit - 1) / tt.limit; pages != want {
					t.Errorf("%d pages, want %d (no empty last page)", pages, want)
				}
			}
		})
	}
}

func TestIterateBounds(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	keys := fillDocuments(t, s, 5)
	r := PrefixRange(DocumentsPrefix("kb"))
	tests := []struct {
		name string
		r    Range
		o    ScanOptions
		want [][]byte
	}{
		{"after the middle", r, ScanOptions{After: keys[2]}, keys[3:]},
		{"after the middle, reverse", r, ScanOptions{After: keys[2], Reverse: true}, [][]byte{keys[1], keys[0]}},
		{"after a key not stored", r, ScanOptions{After: DocumentKey("kb", "d001x")}, keys[2:]},
		{"after before the range", r, ScanOptions{After: CollectionKey("zz")}, keys},
		{"after past the range", r, ScanOptions{After: ChunkKey("", "", 0)}, nil},
		{"after the last", r, ScanOptions{After: keys[4]}, nil},
		{"reverse after the first", r, ScanOptions{After: keys[0], Reverse: true}, nil},
		{"explicit bounds", Range{Start: keys[1], End: keys[3]}, ScanOptions{}, keys[1:3]},
		{"empty range", Range{Start: keys[3], End: keys[3]}, ScanOptions{}, nil},
		{"inverted range", Range{Start: keys[3], End: keys[1]}, ScanOptions{}, nil},
		{"limit", r, ScanOptions{Limit: 2}, keys[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := s.Iterate(ctx, tt.r, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			var got [][]byte
			for it.Next() {
				got = append(got, bytes.Clone(it.Key()))
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, bytes.Equal) {
				t.Fatalf("keys = %q, want %q", got, tt.want)
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			if err := it.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
	if _, err := s.Iterate(ctx, r, ScanOptions{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

func TestIteratorContext(t *testing.T) {
	s := openTest(t, "", nil)
	fillDocuments(t, s, 500)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	it, err := s.Iterate(ctx, Range{}, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.Next() {
		n++
		if n == 10 {
			cancel()
		}
	}
	if !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("Err = %v after %d entries, want context.Canceled", it.Err(), n)
	}
	if n > 10+ctxCheckEvery {
		t.Errorf("iterated %d entries after cancel", n-10)
	}
	if _, err := s.Get(ctx, DocumentKey("kb", "d000")); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v", err)
	}
}

func TestIteratorSeesOnePointInTime(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	fillDocuments(t, s, 4)
	it, err := s.Iterate(ctx, PrefixRange(DocumentsPrefix("kb")), ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	b := s.NewBatch()
	b.DeletePrefix(DocumentsPrefix("kb"))
	b.Set(DocumentKey("kb", "new"), []byte("x"))
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		n++
	}
	if n != 4 || it.Err() != nil {
		t.Errorf("iterator saw %d entries (%v), want the 4 from its creation", n, it.Err())
	}
}

func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	writeDocument(t, s, "kb", "a", 3, 0)
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Replace a with 1 chunk, add b, after the snapshot.
	b := s.NewBatch()
	b.DeletePrefix(DocumentChunksPrefix("kb", "a"))
	b.Set(DocumentKey("kb", "a"), []byte("chunks=1"))
	b.Set(ChunkKey("kb", "a", 0), []byte("new"))
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	writeDocument(t, s, "kb", "b", 2, 3)

	if v, err := snap.Get(ctx, DocumentKey("kb", "a")); err != nil || string(v) != "chunks=3" {
		t.Errorf("snapshot Get(a) = %q, %v", v, err)
	}
	if _, err := snap.Get(ctx, DocumentKey("kb", "b")); !errors.Is(err, ErrNotFound) {
		t.Errorf("snapshot sees b: %v", err)
	}
	p, err := snap.Scan(ctx, PrefixRange(DocumentChunksPrefix("kb", "a")), ScanOptions{Limit: 2})
	if err != nil || len(p.Entries) != 2 || p.Next == nil {
		t.Fatalf("snapshot Scan = %d entries, next %q, %v", len(p.Entries), p.Next, err)
	}
	p, err = snap.Scan(ctx, PrefixRange(DocumentChunksPrefix("kb", "a")), ScanOptions{After: p.Next})
	if err != nil || len(p.Entries) != 1 || string(p.Entries[0].Value) != "a chunk 2" {
		t.Fatalf("snapshot second page = %+v, %v", p.Entries, err)
	}
	if got := count(t, s, PrefixRange(DocumentChunksPrefix("kb", "a"))); got != 1 {
		t.Errorf("store sees %d chunks of a, want 1", got)
	}

	it, err := snap.Iterate(ctx, Range{}, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if it.Next() || !errors.Is(it.Err(), ErrClosed) {
		t.Errorf("iterator of a closed snapshot: %v, want ErrClosed", it.Err())
	}
	if err := it.Close(); err != nil {
		t.Errorf("Close of an iterator closed with its snapshot: %v", err)
	}
	if err := snap.Close(); err != nil {
		t.Errorf("second snapshot Close: %v", err)
	}
	if _, err := snap.Get(ctx, DocumentKey("kb", "a")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get on a closed snapshot: %v", err)
	}
}
