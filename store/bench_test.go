package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkCommit measures synced batch commits (each one waits for its
// fsync), on the file system of the test's temporary directory.
//
//	go test -run '^$' -bench BenchmarkCommit -benchtime 3s ./store/
func BenchmarkCommit(b *testing.B) {
	ctx := context.Background()
	vector := make([]byte, 384*4)
	chunk := make([]byte, 1500)

	// One 100-byte record per batch: the floor, one fsync per commit.
	b.Run("record-100B", func(b *testing.B) {
		s := openTest(b, "", nil)
		v := make([]byte, 100)
		b.SetBytes(100)
		i := 0
		for b.Loop() {
			if err := s.Set(ctx, DocumentKey("kb", fmt.Sprintf("d%09d", i)), v); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	// A document as the index writes it: the document record, 8 chunks of
	// 1.5 kB, 8 vectors of 384 float32 and 200 postings, in one batch.
	document := func(s *Store, i int) error {
		bt := s.NewBatch()
		doc := fmt.Sprintf("d%09d", i)
		bt.Set(DocumentKey("kb", doc), []byte(`{"title":"t","chunks":8}`))
		for c := range 8 {
			bt.Set(ChunkKey("kb", doc, uint32(c)), chunk)
			bt.Set(VectorKey("kb", uint64(i*8+c)), vector)
			for p := range 25 {
				bt.Set(PostingKey("kb", fmt.Sprintf("term%d", p), doc, uint32(c)), []byte{1})
			}
		}
		return bt.Commit(ctx)
	}
	docBytes := int64(8*(len(chunk)+len(vector)) + 200)

	b.Run("document-8chunks", func(b *testing.B) {
		s := openTest(b, "", nil)
		b.SetBytes(docBytes)
		i := 0
		for b.Loop() {
			if err := document(s, i); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	// Concurrent committers: Pebble groups their WAL syncs, so throughput
	// rises with concurrency while each commit still waits for its fsync.
	for _, par := range []int{4, 16} {
		b.Run(fmt.Sprintf("document-8chunks-parallel%d", par), func(b *testing.B) {
			s := openTest(b, "", nil)
			b.SetBytes(docBytes)
			b.SetParallelism(par)
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := document(s, int(next.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
