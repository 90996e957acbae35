package hnsw

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// deadlockGuard is how long a test waits for an operation that must not be
// blocked at all before it calls it blocked. It bounds a hang rather than
// measuring speed: the guarded operations take milliseconds, even under
// -race on a loaded machine.
const deadlockGuard = time.Minute

// hookWriter runs hook at its first Write, while WriteTo is in the middle
// of a snapshot, and then keeps every byte.
type hookWriter struct {
	bytes.Buffer
	hook func() error
}

func (w *hookWriter) Write(p []byte) (int, error) {
	if h := w.hook; h != nil {
		w.hook = nil
		if err := h(); err != nil {
			return 0, err
		}
	}
	return w.Buffer.Write(p)
}

// checkLinks fails t if a node that searches can reach (live, or a
// tombstone) links to itself, to a freed slot, or to a node without that
// level. A consolidation frees slots only once nothing reachable points at
// them, so a snapshot holding such a link mixed two moments.
func checkLinks(t testing.TB, x *Index) {
	t.Helper()
	n := x.next.Load()
	for id := uint32(0); id < n; id++ {
		m := x.meta(id)
		if m&0xff == stateFree {
			continue
		}
		for l := 0; l <= int(m>>8); l++ {
			ls := x.linkSlot(id, l)
			for _, nb := range ls[1 : 1+linkCount(ls)] {
				nm := x.meta(nb)
				if nb == id || nm&0xff == stateFree || int(nm>>8) < l {
					t.Fatalf("node %d (meta %#x) level %d links to %d (meta %#x)", id, m, l, nb, nm)
				}
			}
		}
	}
}

// vectorOf returns the stored vector of key in an unquantised index.
func vectorOf(x *Index, key uint64) ([]float32, bool) {
	id, ok := x.keys[key]
	if !ok {
		return nil, false
	}
	blk, off := x.node(id)
	o := int(off) * x.dim
	return blk.vecs[o : o+x.dim], true
}

// TestWriteToDuringWrites runs inserts of new keys, replacements and
// deletes (with a consolidation) while WriteTo is half way through a
// snapshot. They must complete without waiting for it, and the snapshot
// must still be the index as it was when WriteTo began, byte for byte:
// freed slots are not reused under it and the lists it writes are the old
// ones. Before the fix the mutations waited for the whole save.
func TestWriteToDuringWrites(t *testing.T) {
	const n, dim, predeleted = 3000, 128, 70
	ds := genData(31, distMixture, n, 0, dim)
	fresh := genData(32, distMixture, 80, 0, dim).vecs
	x := buildIndex(t, Config{Dim: dim, Metric: L2, M: 8, EfConstruction: 32, Seed: 31}, ds, true)
	// Tombstones and free slots at the top ids, whose vectors WriteTo reads
	// last, after the writer has been called.
	for k := n - predeleted; k < n; k++ {
		x.Delete(uint64(k))
	}
	if len(x.free) == 0 || len(x.dead) == 0 {
		t.Fatalf("setup: %d free slots and %d tombstones, want both", len(x.free), len(x.dead))
	}
	want := snapshotBytes(t, x)
	// The writer is first called once WriteTo's buffer is full; everything
	// after that point is still unread, which must include the free slots.
	firstFree := n
	for _, id := range x.free {
		firstFree = min(firstFree, int(id))
	}
	if off := headerSize + 12*n + firstFree*dim*4; off < writeBuffer {
		t.Fatalf("setup: the first free slot's vector is at byte %d, inside the first %d bytes WriteTo buffers", off, writeBuffer)
	}

	mutate := func() error {
		for i, v := range fresh[:40] {
			if err := x.Add(uint64(10_000+i), v); err != nil {
				return err
			}
		}
		for k := 0; k < 5; k++ {
			if err := x.Add(uint64(k), fresh[40+k]); err != nil {
				return err
			}
		}
		for k := 100; k < 200; k++ {
			if !x.Delete(uint64(k)) {
				return fmt.Errorf("Delete(%d) found nothing", k)
			}
		}
		for i, v := range fresh[45:] {
			if err := x.Add(uint64(20_000+i), v); err != nil {
				return err
			}
		}
		_, err := x.Search(fresh[0], 10, 32, nil)
		return err
	}
	errBlocked := errors.New("writers blocked behind WriteTo")
	w := &hookWriter{hook: func() error {
		done := make(chan error, 1)
		go func() { done <- mutate() }()
		select {
		case err := <-done:
			return err
		case <-time.After(deadlockGuard):
			return errBlocked
		}
	}}
	if _, err := x.WriteTo(w); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("snapshot written during mutations (%d bytes) differs from the index as it stood (%d bytes)", w.Len(), len(want))
	}
	y, err := Load(bytes.NewReader(w.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	checkLinks(t, y)

	// The mutations landed in the index, and slot reuse resumes.
	if wantLen := n - predeleted - 100 + len(fresh) - 5; x.Len() != wantLen {
		t.Fatalf("Len = %d after the mutations, want %d", x.Len(), wantLen)
	}
	if x.saving.Load() != 0 || len(x.free) == 0 {
		t.Fatalf("after WriteTo: saving = %d, %d free slots", x.saving.Load(), len(x.free))
	}
	before := x.next.Load()
	if err := x.Add(30_000, fresh[0]); err != nil {
		t.Fatal(err)
	}
	if x.next.Load() != before {
		t.Fatal("an Add after the save took a fresh id although freed slots were waiting")
	}
	checkLinks(t, x)
}

// TestSaveDuringConcurrentAdds saves again and again while writers insert
// and a deleter deletes; its value is mostly under -race. Every snapshot
// must load, hold only valid links, and be a cut: of each writer's keys
// (inserted in order, one at a time) it holds a prefix, each with the
// vector that was added.
func TestSaveDuringConcurrentAdds(t *testing.T) {
	const base, perWriter, writers, dim = 600, 600, 2, 13 // an odd dim puts nodes' vectors in shared words
	ds := genData(41, distGaussian, base+writers*perWriter, 0, dim)
	x, err := New(Config{Dim: dim, Metric: L2, M: 6, EfConstruction: 24, Seed: 41})
	if err != nil {
		t.Fatal(err)
	}
	x.exactBelow = 0
	const baseKey = 1 << 32
	for i := 0; i < base; i++ {
		if err := x.Add(baseKey+uint64(i), ds.vecs[i]); err != nil {
			t.Fatal(err)
		}
	}
	vecOf := func(w, j int) []float32 { return ds.vecs[base+w*perWriter+j] }

	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perWriter; j++ {
				if err := x.Add(uint64(w*perWriter+j), vecOf(w, j)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < base; i += 2 {
			x.Delete(baseKey + uint64(i))
		}
	}()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()

	path := filepath.Join(t.TempDir(), "index.snap")
	check := func(snap []byte) {
		y, err := Load(bytes.NewReader(snap))
		if err != nil {
			t.Fatal(err)
		}
		checkLinks(t, y)
		for w := 0; w < writers; w++ {
			prefix := 0
			for prefix < perWriter {
				if _, ok := y.keys[uint64(w*perWriter+prefix)]; !ok {
					break
				}
				prefix++
			}
			for j := 0; j < perWriter; j++ {
				v, ok := vectorOf(y, uint64(w*perWriter+j))
				if ok != (j < prefix) {
					t.Fatalf("writer %d: key %d present = %v, but the first %d keys form the prefix", w, j, ok, prefix)
				}
				if ok && !slices.Equal(v, vecOf(w, j)) {
					t.Fatalf("writer %d key %d: stored vector differs from the one added", w, j)
				}
			}
		}
		for i := 0; i < base; i++ {
			if v, ok := vectorOf(y, baseKey+uint64(i)); ok && !slices.Equal(v, ds.vecs[i]) {
				t.Fatalf("base key %d: stored vector differs from the one added", i)
			}
		}
	}
	saves, during := 0, 0
	for done := false; !done || saves < 3; saves++ {
		select {
		case <-finished:
			done = true
		default:
			during++
		}
		if saves%2 == 0 {
			if err := x.SaveFile(path); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			check(b)
		} else {
			var buf bytes.Buffer
			if _, err := x.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			check(buf.Bytes())
		}
	}
	t.Logf("%d snapshots, %d of them begun while the writers ran", saves, during)
	if want := base/2 + writers*perWriter; x.Len() != want {
		t.Fatalf("Len = %d, want %d", x.Len(), want)
	}
	final := snapshotBytes(t, x)
	y, err := Load(bytes.NewReader(final))
	if err != nil {
		t.Fatal(err)
	}
	if y.Len() != x.Len() {
		t.Fatalf("final snapshot holds %d keys, index %d", y.Len(), x.Len())
	}
	checkLinks(t, y)
}
