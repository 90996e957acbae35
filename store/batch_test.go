package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// writeDocument commits a document with its chunks, vectors and postings in
// one batch, as the index will.
func writeDocument(t testing.TB, s *Store, coll, doc string, chunks int, firstVector uint64) {
	t.Helper()
	b := s.NewBatch()
	b.Set(DocumentKey(coll, doc), []byte(fmt.Sprintf("chunks=%d", chunks)))
	for i := range chunks {
		b.Set(ChunkKey(coll, doc, uint32(i)), []byte(fmt.Sprintf("%s chunk %d", doc, i)))
		b.Set(VectorKey(coll, firstVector+uint64(i)), bytes.Repeat([]byte{byte(i)}, 16))
		b.Set(PostingKey(coll, "term", doc, uint32(i)), []byte{1})
	}
	if err := b.Commit(context.Background()); err != nil {
		t.Fatalf("commit %s/%s: %v", coll, doc, err)
	}
}

func count(t testing.TB, s *Store, r Range) int {
	t.Helper()
	p, err := s.Scan(context.Background(), r, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Entries)
}

func TestBatchDocument(t *testing.T) {
	s := openTest(t, "", nil)
	writeDocument(t, s, "kb", "refunds", 3, 0)
	writeDocument(t, s, "kb", "shipping", 2, 3)
	writeDocument(t, s, "other", "refunds", 4, 0)
	tests := []struct {
		name string
		r    Range
		want int
	}{
		{"documents of kb", PrefixRange(DocumentsPrefix("kb")), 2},
		{"chunks of refunds", PrefixRange(DocumentChunksPrefix("kb", "refunds")), 3},
		{"chunks of kb", PrefixRange(ChunksPrefix("kb")), 5},
		{"vectors of kb", PrefixRange(VectorsPrefix("kb")), 5},
		{"postings of term", PrefixRange(TermPostingsPrefix("kb", "term")), 5},
		{"chunks of other", PrefixRange(ChunksPrefix("other")), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(t, s, tt.r); got != tt.want {
				t.Errorf("%d entries, want %d", got, tt.want)
			}
		})
	}
	b := s.NewBatch()
	defer b.Close()
	if b.Len() != 0 || b.Err() != nil {
		t.Errorf("new batch: len %d err %v", b.Len(), b.Err())
	}
}

func TestBatchDeletes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	writeDocument(t, s, "kb", "a", 3, 0)
	writeDocument(t, s, "kb", "a\x00", 2, 3) // shares a's bytes as a prefix
	writeDocument(t, s, "kb2", "a", 2, 0)
	mustSet(t, s, string(CollectionKey("kb")), "c")
	mustSet(t, s, string(CollectionKey("kb2")), "c2")

	// Re-chunk document a: drop its chunks, write fewer, in one batch.
	b := s.NewBatch()
	b.DeletePrefix(DocumentChunksPrefix("kb", "a"))
	b.Set(ChunkKey("kb", "a", 0), []byte("new"))
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, s, PrefixRange(DocumentChunksPrefix("kb", "a"))); got != 1 {
		t.Errorf("a has %d chunks after re-chunking, want 1", got)
	}
	if got := count(t, s, PrefixRange(DocumentChunksPrefix("kb", "a\x00"))); got != 2 {
		t.Errorf("a\\x00 has %d chunks, want 2 (untouched)", got)
	}

	// Delete collection kb entirely.
	b = s.NewBatch()
	for _, r := range CollectionRanges("kb") {
		b.DeleteRange(r)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range CollectionRanges("kb") {
		if got := count(t, s, r); got != 0 {
			t.Errorf("%d entries left in %q..%q", got, r.Start, r.End)
		}
	}
	if got := count(t, s, Range{}); got != 1+1+2*3+1 { // format, kb2, its doc, chunks, vectors, postings
		t.Errorf("%d entries left in the store, want 9", got)
	}
	if got := mustGet(t, s, CollectionKey("kb2")); got != "c2" {
		t.Errorf("kb2 = %q", got)
	}
	if err := s.Delete(ctx, CollectionKey("kb2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, CollectionKey("kb2")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}

func TestBatchInvalidWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", &Options{Logger: quietLogger(), maxBatchBytes: 1 << 16})
	tests := []struct {
		name  string
		write func(b *Batch)
		want  error
	}{
		{"empty key", func(b *Batch) { b.Set(nil, []byte("v")) }, ErrInvalidKey},
		{"unknown kind", func(b *Batch) { b.Set([]byte("\x7fkey"), []byte("v")) }, ErrInvalidKey},
		{"delete of unknown kind", func(b *Batch) { b.Delete([]byte{0xff}) }, ErrInvalidKey},
		{"format record", func(b *Batch) { b.Set(formatKey(), formatValue(99)) }, ErrReservedKey},
		{"format record delete", func(b *Batch) { b.Delete(formatKey()) }, ErrReservedKey},
		{"range over format record", func(b *Batch) { b.DeletePrefix(KindPrefix(KindMeta)) }, ErrReservedKey},
		{"whole key space", func(b *Batch) { b.DeleteRange(Range{}) }, ErrReservedKey},
		{"inverted range", func(b *Batch) { b.DeleteRange(Range{Start: []byte{0x12}, End: []byte{0x11}}) }, ErrInvalidKey},
		{"empty prefix", func(b *Batch) { b.DeletePrefix(nil) }, ErrInvalidKey},
		{"too large", func(b *Batch) {
			for i := range 100 {
				b.Set(ChunkKey("kb", "big", uint32(i)), make([]byte, 1<<10))
			}
		}, ErrBatchTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := s.NewBatch()
			b.Set(DocumentKey("kb", tt.name), []byte("valid, written before the invalid write"))
			tt.write(b)
			b.Set(DocumentKey("kb", tt.name+" after"), []byte("valid, after"))
			if !errors.Is(b.Err(), tt.want) {
				t.Errorf("Err() = %v, want %v", b.Err(), tt.want)
			}
			if err := b.Commit(ctx); !errors.Is(err, tt.want) {
				t.Fatalf("Commit error = %v, want %v", err, tt.want)
			}
			if got := count(t, s, Range{Start: KindPrefix(KindCollection)}); got != 0 {
				t.Errorf("%d records written by a refused batch", got)
			}
			if v, err := s.readFormat(); err != nil || v != FormatVersion {
				t.Errorf("format = %d, %v", v, err)
			}
		})
	}
}

func TestBatchLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)

	b := s.NewBatch()
	b.Set(MetaKey("a"), []byte("1"))
	if b.Len() != 1 || b.Size() == 0 {
		t.Errorf("Len %d Size %d", b.Len(), b.Size())
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("second Commit: %v, want ErrClosed", err)
	}
	b.Set(MetaKey("b"), []byte("2")) // ignored
	b.Close()
	if _, err := s.Get(ctx, MetaKey("b")); !errors.Is(err, ErrNotFound) {
		t.Errorf("write after Commit landed: %v", err)
	}

	// A discarded batch writes nothing.
	b = s.NewBatch()
	b.Set(MetaKey("c"), []byte("3"))
	b.Close()
	b.Close()
	if err := b.Commit(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Get(ctx, MetaKey("c")); !errors.Is(err, ErrNotFound) {
		t.Errorf("discarded batch landed: %v", err)
	}

	// A canceled context: refused before writing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	b = s.NewBatch()
	b.Set(MetaKey("d"), []byte("4"))
	if err := b.Commit(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a canceled context: %v", err)
	}
	if _, err := s.Get(ctx, MetaKey("d")); !errors.Is(err, ErrNotFound) {
		t.Errorf("canceled batch landed: %v", err)
	}

	// An empty batch commits trivially.
	if err := s.NewBatch().Commit(ctx); err != nil {
		t.Errorf("empty Commit: %v", err)
	}
	// Empty values are kept as empty, not as missing.
	if err := s.Set(ctx, MetaKey("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, MetaKey("empty")); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Get of an empty value = %q (nil %v), %v", v, v == nil, err)
	}
}

func TestBatchCopiesArguments(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	b := s.NewBatch()
	key := DocumentKey("kb", "x")
	val := []byte("original")
	b.Set(key, val)
	copy(val, "CHANGED!")
	key[len(key)-3] = 'y'
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, DocumentKey("kb", "x")); got != "original" {
		t.Errorf("Get = %q, want original", got)
	}
	v, _ := s.Get(ctx, DocumentKey("kb", "x"))
	v[0] = 'O'
	if got := mustGet(t, s, DocumentKey("kb", "x")); got != "original" {
		t.Errorf("Get returned the store's own memory: %q", got)
	}
}
