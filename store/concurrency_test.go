package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upsertDoc replaces document doc of collection kb with n chunks, in one
// batch: the document's value is "n=<n>", its chunks are 0..n-1.
func upsertDoc(ctx context.Context, s *Store, doc string, n int, gen int) error {
	b := s.NewBatch()
	b.DeletePrefix(DocumentChunksPrefix("kb", doc))
	b.Set(DocumentKey("kb", doc), []byte(fmt.Sprintf("n=%d gen=%d", n, gen)))
	for i := range n {
		b.Set(ChunkKey("kb", doc, uint32(i)), []byte(fmt.Sprintf("%s gen=%d chunk=%d", doc, gen, i)))
	}
	return b.Commit(ctx)
}

func deleteDoc(ctx context.Context, s *Store, doc string) error {
	b := s.NewBatch()
	b.Delete(DocumentKey("kb", doc))
	b.DeletePrefix(DocumentChunksPrefix("kb", doc))
	return b.Commit(ctx)
}

func parseDocValue(v []byte) (n, gen int, err error) {
	_, err = fmt.Sscanf(string(v), "n=%d gen=%d", &n, &gen)
	return n, gen, err
}

// checkConsistent reads documents and chunks through one iterator (one point
// in time) and checks that every document has exactly its chunks, all of its
// generation, and that no chunk lacks its document.
func checkConsistent(ctx context.Context, iterate func(context.Context, Range, ScanOptions) (*Iterator, error)) error {
	r := Range{Start: DocumentsPrefix("kb"), End: prefixEnd(ChunksPrefix("kb"))}
	it, err := iterate(ctx, r, ScanOptions{})
	if err != nil {
		return err
	}
	defer it.Close()
	type doc struct{ n, gen, chunks int }
	docs := map[string]*doc{}
	for it.Next() {
		k, err := ParseKey(it.Key())
		if err != nil {
			return err
		}
		switch k.Kind {
		case KindDocument:
			n, gen, err := parseDocValue(it.Value())
			if err != nil {
				return err
			}
			docs[k.Document] = &doc{n: n, gen: gen}
		case KindChunk:
			d := docs[k.Document] // documents sort before chunks
			if d == nil {
				return fmt.Errorf("chunk %d of %q without its document", k.Chunk, k.Document)
			}
			want := fmt.Sprintf("%s gen=%d chunk=%d", k.Document, d.gen, k.Chunk)
			if string(it.Value()) != want || int(k.Chunk) != d.chunks {
				return fmt.Errorf("chunk %d of %q = %q, want %q as chunk %d", k.Chunk, k.Document, it.Value(), want, d.chunks)
			}
			d.chunks++
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	for name, d := range docs {
		if d.chunks != d.n {
			return fmt.Errorf("document %q has %d chunks, its record says %d (half-written)", name, d.chunks, d.n)
		}
	}
	return nil
}

// TestConcurrentReadersAndWriters runs writers upserting and deleting
// documents (each document has one writer, so its final state is known)
// beside readers checking, through iterators and snapshots, that no reader
// ever sees a half-written document; then checks no update was lost. Run it
// with -race.
func TestConcurrentReadersAndWriters(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	const writers, readers, docsPerWriter = 6, 4, 5
	ops := 60
	if testing.Short() {
		ops = 20
	}
	type final struct {
		deleted bool
		n, gen  int
	}
	finals := make([]map[string]final, writers)
	var wg sync.WaitGroup
	for w := range writers {
		finals[w] = map[string]final{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range ops {
				doc := fmt.Sprintf("w%d-d%d", w, rng.IntN(docsPerWriter))
				if rng.IntN(5) == 0 {
					if err := deleteDoc(ctx, s, doc); err != nil {
						t.Error(err)
						return
					}
					finals[w][doc] = final{deleted: true}
					continue
				}
				n := rng.IntN(8)
				if err := upsertDoc(ctx, s, doc, n, i); err != nil {
					t.Error(err)
					return
				}
				finals[w][doc] = final{n: n, gen: i}
			}
		}()
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for !stop.Load() {
				switch r % 3 {
				case 0:
					if err := checkConsistent(ctx, s.Iterate); err != nil {
						t.Error(err)
						return
					}
				case 1:
					snap, err := s.Snapshot()
					if err != nil {
						t.Error(err)
						return
					}
					// Two passes over one snapshot agree with each other.
					err = checkConsistent(ctx, snap.Iterate)
					p1, err1 := snap.Scan(ctx, PrefixRange(KindPrefix(KindChunk)), ScanOptions{})
					time.Sleep(time.Millisecond)
					p2, err2 := snap.Scan(ctx, PrefixRange(KindPrefix(KindChunk)), ScanOptions{})
					_ = snap.Close()
					if err = errors.Join(err, err1, err2); err != nil {
						t.Error(err)
						return
					}
					if len(p1.Entries) != len(p2.Entries) {
						t.Errorf("snapshot changed: %d then %d chunks", len(p1.Entries), len(p2.Entries))
						return
					}
				case 2:
					doc := fmt.Sprintf("w%d-d%d", r%writers, r%docsPerWriter)
					if _, err := s.Get(ctx, DocumentKey("kb", doc)); err != nil && !errors.Is(err, ErrNotFound) {
						t.Error(err)
						return
					}
				}
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	rwg.Wait()
	t.Logf("%d writes, %d reads", writers*ops, reads.Load())

	if err := checkConsistent(ctx, s.Iterate); err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		for doc, f := range finals[w] {
			v, err := s.Get(ctx, DocumentKey("kb", doc))
			if f.deleted {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: deleted, but Get = %q, %v", doc, v, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: lost: %v", doc, err)
				continue
			}
			if n, gen, _ := parseDocValue(v); n != f.n || gen != f.gen {
				t.Errorf("%s = %q, want n=%d gen=%d (lost update)", doc, v, f.n, f.gen)
			}
		}
	}
}

// TestCloseWhileInUse closes the store under running writers, readers,
// iterators and snapshots: each of them ends with ErrClosed, nothing panics,
// and every acknowledged write is there after reopening.
func TestCloseWhileInUse(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(ctx, dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]int{}
	var wg sync.WaitGroup
	var started sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				doc := "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				err := upsertDoc(ctx, s, doc, 2, i)
				if i == 0 {
					started.Done()
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[doc] = i
				mu.Unlock()
			}
		}()
	}
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var err error
				switch r {
				case 0:
					err = checkConsistent(ctx, s.Iterate)
				case 1:
					var snap *Snapshot
					if snap, err = s.Snapshot(); err == nil {
						err = checkConsistent(ctx, snap.Iterate)
						_ = snap.Close()
					}
				default:
					_, err = s.Get(ctx, DocumentKey("kb", "w0-0"))
					if errors.Is(err, ErrNotFound) {
						err = nil
					}
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	s = openTest(t, dir, nil)
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no write acknowledged")
	}
	for doc, gen := range acked {
		v, err := s.Get(ctx, DocumentKey("kb", doc))
		if err != nil || !strings.HasPrefix(string(v), "n=2 gen="+strconv.Itoa(gen)) {
			t.Errorf("%s: %q, %v", doc, v, err)
		}
	}
	if err := checkConsistent(ctx, s.Iterate); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointUnderLoad takes checkpoints while writers commit documents,
// opens each checkpoint, and finds in it every document acknowledged before
// the checkpoint began, whole, and no half-written one.
func TestCheckpointUnderLoad(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	var mu sync.Mutex
	acked := map[string]int{} // document -> generation
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				// Rewrites as well as new documents, so a checkpoint must
				// hold the latest acknowledged generation or a later one.
				doc := fmt.Sprintf("w%d-%d", w, i%40)
				if err := upsertDoc(ctx, s, doc, 1+i%5, i); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[doc] = i
				mu.Unlock()
			}
		}()
	}
	base := t.TempDir()
	for round := range 3 {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		before := make(map[string]int, len(acked))
		for k, v := range acked {
			before[k] = v
		}
		mu.Unlock()
		dest := filepath.Join(base, fmt.Sprintf("ck%d", round))
		start := time.Now()
		if err := s.Checkpoint(ctx, dest); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if err := s.Checkpoint(ctx, dest); err == nil {
			t.Error("Checkpoint into an existing directory succeeded")
		}

		c, err := Open(ctx, dest, testOptions())
		if err != nil {
			t.Fatalf("open checkpoint %d: %v", round, err)
		}
		if err := checkConsistent(ctx, c.Iterate); err != nil {
			t.Errorf("checkpoint %d: %v", round, err)
		}
		missing := 0
		for doc, gen := range before {
			v, err := c.Get(ctx, DocumentKey("kb", doc))
			if err != nil {
				missing++
				continue
			}
			if _, g, _ := parseDocValue(v); g < gen {
				t.Errorf("checkpoint %d: %s at generation %d, acknowledged %d before", round, doc, g, gen)
			}
		}
		if missing > 0 {
			t.Errorf("checkpoint %d: %d of %d acknowledged documents missing", round, missing, len(before))
		}
		p, _ := c.Scan(ctx, PrefixRange(DocumentsPrefix("kb")), ScanOptions{})
		t.Logf("checkpoint %d: %d acknowledged before, %d documents in it, took %v", round, len(before), len(p.Entries), took)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if len(before) == 0 {
			t.Errorf("checkpoint %d: no write acknowledged before it; the load is not running", round)
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := checkConsistent(ctx, s.Iterate); err != nil {
		t.Fatal(err)
	}
}
