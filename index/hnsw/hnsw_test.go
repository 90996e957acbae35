package hnsw

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// buildIndex adds ds.vecs under keys 0..n-1. graph forces graph search
// even on data small enough for the exact scan.
func buildIndex(t testing.TB, cfg Config, ds *dataset, graph bool) *Index {
	t.Helper()
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if graph {
		x.exactBelow = 0
	}
	for i, v := range ds.vecs {
		if err := x.Add(uint64(i), v); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// meanRecall searches every query and compares with brute force over the
// vectors still present (nil entries are deleted).
func meanRecall(t testing.TB, x *Index, m Metric, vecs [][]float32, queries [][]float32, k, ef int) float64 {
	t.Helper()
	var sum float64
	for _, q := range queries {
		got, err := x.Search(q, k, ef, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.Key >= uint64(len(vecs)) || vecs[r.Key] == nil {
				t.Fatalf("result %d is not a live key", r.Key)
			}
		}
		if !slices.IsSortedFunc(got, func(a, b Result) int { return cmpF32(a.Distance, b.Distance) }) {
			t.Fatalf("results not sorted: %v", got)
		}
		sum += recallOf(got, bruteForce(m, vecs, q, k, nil))
	}
	return sum / float64(len(queries))
}

func cmpF32(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestRecall holds the graph to recall floors on several distributions,
// dimensions and metrics. The floors sit a few points under what the
// graph measures, so they catch a broken search or build, not noise.
func TestRecall(t *testing.T) {
	tests := []struct {
		name  string
		dist  distribution
		dim   int
		n     int
		cfg   Config
		ef    int
		floor float64
	}{
		{"cosine/normalized-mixture/64", distNormalizedMixture, 64, 1200, Config{Metric: Cosine}, 10, 0.93},
		{"cosine/gaussian/192", distGaussian, 192, 800, Config{Metric: Cosine}, 48, 0.93},
		{"l2/gaussian/32", distGaussian, 32, 1200, Config{Metric: L2, M: 16}, 32, 0.94},
		{"l2/uniform/8", distUniform, 8, 1200, Config{Metric: L2, M: 8}, 10, 0.92},
		{"l2/mixture/100", distMixture, 100, 1200, Config{Metric: L2}, 10, 0.88},
		{"dot/normalized-mixture/128", distNormalizedMixture, 128, 1000, Config{Metric: Dot}, 10, 0.89},
		{"dot/mixture/32", distMixture, 32, 1200, Config{Metric: Dot, M: 12}, 10, 0.95},
		{"cosine/odd-dim/37", distNormalizedMixture, 37, 1200, Config{Metric: Cosine, M: 12}, 10, 0.93},
		{"int8+rerank/cosine/64", distNormalizedMixture, 64, 1200, Config{Metric: Cosine, Quantize: true}, 10, 0.89},
		{"int8+rerank/l2/mixture/48", distMixture, 48, 1200, Config{Metric: L2, Quantize: true}, 10, 0.89},
		{"int8 no rerank/l2/gaussian/32", distGaussian, 32, 1200, Config{Metric: L2, M: 16, Quantize: true}, 32, 0.93},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ds := genData(uint64(i+1), tc.dist, tc.n, 30, tc.dim)
			cfg := tc.cfg
			cfg.Dim, cfg.Seed = tc.dim, uint64(i+1)
			if cfg.EfConstruction == 0 {
				cfg.EfConstruction = 64 // keeps -race runs short
			}
			if cfg.Quantize && tc.name[:12] == "int8+rerank/" {
				cfg.Source = func(key uint64, dst []float32) bool { copy(dst, ds.vecs[key]); return true }
			}
			x := buildIndex(t, cfg, ds, true)
			if x.Len() != tc.n {
				t.Fatalf("Len = %d, want %d", x.Len(), tc.n)
			}
			r := meanRecall(t, x, tc.cfg.Metric, ds.vecs, ds.queries, 10, tc.ef)
			t.Logf("%s: recall@10 = %.4f at ef=%d (floor %.2f)", tc.name, r, tc.ef, tc.floor)
			if r < tc.floor {
				t.Errorf("recall@10 = %.4f, below floor %.2f", r, tc.floor)
			}
		})
	}
}

// TestExactScanSmall checks that a small index answers exactly: below the
// scan threshold Search does not walk the graph at all.
func TestExactScanSmall(t *testing.T) {
	ds := genData(3, distGaussian, 300, 20, 16)
	x := buildIndex(t, Config{Dim: 16, Metric: L2, Seed: 3}, ds, false)
	for _, q := range ds.queries {
		got, _ := x.Search(q, 7, 0, nil)
		if r := recallOf(got, bruteForce(L2, ds.vecs, q, 7, nil)); r != 1 {
			t.Fatalf("recall %.2f on an exact scan", r)
		}
	}
}

// TestDeleteReinsert runs delete / re-insert cycles, including deleting
// the entry point and emptying the index, and checks that deleted keys
// never come back, slots are reused, the graph stays connected, and recall
// holds.
func TestDeleteReinsert(t *testing.T) {
	const n, dim = 1000, 32
	ds := genData(5, distNormalizedMixture, n, 30, dim)
	x := buildIndex(t, Config{Dim: dim, Metric: Cosine, Seed: 5, M: 12, EfConstruction: 64}, ds, true)
	rng := rand.New(rand.NewPCG(5, 5))
	present := slices.Clone(ds.vecs)
	// At ef=10 the search is sensitive to graph quality; the cycles must not
	// erode it.
	r0 := meanRecall(t, x, Cosine, present, ds.queries, 10, 10)
	for cycle := 0; cycle < 5; cycle++ {
		// Delete a third, always including the current entry point.
		ep := x.keyOf(uint32(x.entry.Load()))
		victims := []uint64{ep}
		for _, k := range rng.Perm(n)[:n/3] {
			if uint64(k) != ep {
				victims = append(victims, uint64(k))
			}
		}
		for _, k := range victims {
			if present[k] == nil {
				continue
			}
			if !x.Delete(k) {
				t.Fatalf("cycle %d: Delete(%d) = false for a present key", cycle, k)
			}
			if x.Delete(k) {
				t.Fatalf("cycle %d: second Delete(%d) = true", cycle, k)
			}
			present[k] = nil
		}
		live := 0
		for _, v := range present {
			if v != nil {
				live++
			}
		}
		if x.Len() != live {
			t.Fatalf("cycle %d: Len = %d, want %d", cycle, x.Len(), live)
		}
		r := meanRecall(t, x, Cosine, present, ds.queries, 10, 64)
		if r < 0.97 {
			t.Errorf("cycle %d after delete: recall %.4f", cycle, r)
		}
		// Re-insert, half with new vectors, which must reuse freed slots.
		before := x.next.Load()
		for _, k := range victims {
			if present[k] != nil {
				continue
			}
			v := ds.vecs[k]
			if rng.IntN(2) == 0 {
				v = genData(uint64(k)+100, distNormalizedMixture, 1, 0, dim).vecs[0]
			}
			if err := x.Add(k, v); err != nil {
				t.Fatal(err)
			}
			present[k] = v
		}
		// All but the last, unconsolidated tombstones must have been reused.
		if grew := x.next.Load() - before; grew >= minConsolidate {
			t.Errorf("cycle %d: ids grew by %d; freed slots were not reused", cycle, grew)
		}
		if x.Len() != n {
			t.Fatalf("cycle %d: Len = %d after re-insert, want %d", cycle, x.Len(), n)
		}
		r = meanRecall(t, x, Cosine, present, ds.queries, 10, 64)
		r10 := meanRecall(t, x, Cosine, present, ds.queries, 10, 10)
		t.Logf("cycle %d: recall after re-insert %.4f (ef=10: %.4f, fresh graph %.4f)", cycle, r, r10, r0)
		if r10 < r0-0.04 {
			t.Errorf("cycle %d: recall at ef=10 fell from %.4f to %.4f", cycle, r0, r10)
		}
		if u := x.unreachable(); u > 2 {
			t.Errorf("cycle %d: %d live nodes unreachable from the entry point", cycle, u)
		}
		if r < 0.97 {
			t.Errorf("cycle %d after re-insert: recall %.4f", cycle, r)
		}
	}
	// Replace keys in place: Add on an existing key.
	for k := 0; k < n; k += 7 {
		v := genData(uint64(k)+9000, distNormalizedMixture, 1, 0, dim).vecs[0]
		if err := x.Add(uint64(k), v); err != nil {
			t.Fatal(err)
		}
		present[k] = v
	}
	if x.Len() != n {
		t.Fatalf("Len = %d after replacing, want %d", x.Len(), n)
	}
	if r := meanRecall(t, x, Cosine, present, ds.queries, 10, 64); r < 0.97 {
		t.Errorf("after replace: recall %.4f", r)
	}
	// Empty the index entirely, then use it again.
	for k := range present {
		x.Delete(uint64(k))
	}
	if x.Len() != 0 {
		t.Fatalf("Len = %d after deleting all", x.Len())
	}
	if got, err := x.Search(ds.queries[0], 5, 0, nil); err != nil || len(got) != 0 {
		t.Fatalf("search of an emptied index: %v, %v", got, err)
	}
	for i := 0; i < 200; i++ {
		if err := x.Add(uint64(i), ds.vecs[i]); err != nil {
			t.Fatal(err)
		}
	}
	small := make([][]float32, 200)
	copy(small, ds.vecs)
	if r := meanRecall(t, x, Cosine, small, ds.queries, 10, 64); r < 0.95 {
		t.Errorf("after refill: recall %.4f", r)
	}
}

// TestFiltered checks that a filtered search returns exactly the true
// nearest neighbours among the accepted keys, across selectivities, on
// the graph (ef wide enough to cover a small set) and on the exact scan
// that very selective filters fall back to.
func TestFiltered(t *testing.T) {
	const n, dim = 600, 24
	ds := genData(7, distMixture, n, 15, dim)
	filters := []struct {
		name string
		keep func(uint64) bool
	}{
		{"half", func(k uint64) bool { return k%2 == 0 }},
		{"tenth", func(k uint64) bool { return k%10 == 3 }},
		{"1%", func(k uint64) bool { return k%97 == 5 }},
		{"one key", func(k uint64) bool { return k == 123 }},
		{"none", func(k uint64) bool { return false }},
		{"all", func(k uint64) bool { return true }},
	}
	modes := []struct {
		name  string
		graph bool
		ef    int
	}{
		{"scan", false, 10},
		{"graph", true, n},
	}
	for _, mode := range modes {
		x := buildIndex(t, Config{Dim: dim, Metric: L2, Seed: 7}, ds, mode.graph)
		for _, f := range filters {
			t.Run(mode.name+"/"+f.name, func(t *testing.T) {
				for _, q := range ds.queries {
					got, err := x.Search(q, 10, mode.ef, f.keep)
					if err != nil {
						t.Fatal(err)
					}
					want := bruteForce(L2, ds.vecs, q, 10, f.keep)
					keys := make([]uint64, len(got))
					for i, r := range got {
						keys[i] = r.Key
						if !f.keep(r.Key) {
							t.Fatalf("key %d does not pass the filter", r.Key)
						}
					}
					if !slices.Equal(keys, want) {
						t.Fatalf("got %v, want %v", keys, want)
					}
				}
			})
		}
	}
}

// TestFilteredSelectiveFallback uses an index large enough for the graph
// and a filter accepting a handful of keys: the search must switch to the
// exact scan and return exactly those keys in order.
func TestFilteredSelectiveFallback(t *testing.T) {
	const n, dim = 1800, 80
	ds := genData(8, distNormalizedMixture, n, 10, dim)
	x := buildIndex(t, Config{Dim: dim, Metric: Cosine, Seed: 8, M: 12, EfConstruction: 64}, ds, false)
	if n*dim <= x.exactBelow {
		t.Fatal("test index is below the scan threshold")
	}
	keep := func(k uint64) bool { return k%200 == 17 }
	for _, q := range ds.queries {
		got, _ := x.Search(q, 5, 20, keep)
		want := bruteForce(Cosine, ds.vecs, q, 5, keep)
		if len(got) != len(want) {
			t.Fatalf("got %d results, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Key != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}
	// A moderately selective filter stays on the graph and keeps recall.
	keep = func(k uint64) bool { return k%3 == 0 }
	var sum float64
	for _, q := range ds.queries {
		got, _ := x.Search(q, 10, 64, keep)
		sum += recallOf(got, bruteForce(Cosine, ds.vecs, q, 10, keep))
	}
	if r := sum / float64(len(ds.queries)); r < 0.95 {
		t.Errorf("filtered recall %.4f", r)
	}
}

// TestConcurrent runs inserts, searches, deletes and snapshots at once;
// its value is mostly under -race.
func TestConcurrent(t *testing.T) {
	const n, dim = 1200, 16
	ds := genData(9, distNormalizedMixture, n, 20, dim)
	x, _ := New(Config{Dim: dim, Metric: Cosine, Seed: 9, EfConstruction: 40, M: 8})
	x.exactBelow = 0
	var wg sync.WaitGroup
	const writers = 3
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += writers {
				if err := x.Add(uint64(i), ds.vecs[i]); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 3; r++ {
		readers.Add(1)
		go func(r int) {
			defer readers.Done()
			dst := make([]Result, 0, 10)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var filter func(uint64) bool
				if i%3 == 1 {
					filter = func(k uint64) bool { return k%5 == 0 }
				}
				var err error
				dst, err = x.AppendSearch(dst[:0], ds.queries[(i+r)%len(ds.queries)], 10, 32, filter)
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(r)
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := uint64(i * 37 % n)
			if x.Delete(k) {
				x.Add(k, ds.vecs[k])
			}
			if i%50 == 0 {
				var sink countingWriter
				if _, err := x.WriteTo(&sink); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	if x.Len() != n {
		t.Fatalf("Len = %d, want %d", x.Len(), n)
	}
	if r := meanRecall(t, x, Cosine, ds.vecs, ds.queries, 10, 64); r < 0.9 {
		t.Errorf("recall after concurrent build: %.4f", r)
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// TestSearchAllocs holds steady-state searches to zero allocations.
func TestSearchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ds := genData(11, distNormalizedMixture, 2000, 10, 32)
	for _, quant := range []bool{false, true} {
		cfg := Config{Dim: 32, Seed: 11, Quantize: quant}
		if quant {
			cfg.Source = func(k uint64, dst []float32) bool { copy(dst, ds.vecs[k]); return true }
		}
		x := buildIndex(t, cfg, ds, true)
		dst := make([]Result, 0, 10)
		filter := func(k uint64) bool { return k%2 == 0 }
		for i := 0; i < 10; i++ { // warm the pool
			dst, _ = x.AppendSearch(dst[:0], ds.queries[i], 10, 64, filter)
		}
		allocs := testing.AllocsPerRun(200, func() {
			dst, _ = x.AppendSearch(dst[:0], ds.queries[3], 10, 64, nil)
			dst, _ = x.AppendSearch(dst[:0], ds.queries[4], 10, 64, filter)
		})
		if allocs != 0 {
			t.Errorf("quant=%v: %.1f allocations per search pair, want 0", quant, allocs)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {Dim: -1}, {Dim: maxDim + 1}, {Dim: 4, M: 1}, {Dim: 4, M: maxM + 1}, {Dim: 4, Metric: 9}} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) error = %v, want ErrConfig", cfg, err)
		}
	}
	x, _ := New(Config{Dim: 3})
	if err := x.Add(1, []float32{1, 2}); !errors.Is(err, ErrDimension) {
		t.Errorf("short vector: %v", err)
	}
	if err := x.Add(1, []float32{1, float32(math.NaN()), 2}); !errors.Is(err, ErrInvalidVector) {
		t.Errorf("NaN vector: %v", err)
	}
	if err := x.Add(1, []float32{1, float32(math.Inf(1)), 2}); !errors.Is(err, ErrInvalidVector) {
		t.Errorf("Inf vector: %v", err)
	}
	if _, err := x.Search([]float32{1}, 3, 0, nil); !errors.Is(err, ErrDimension) {
		t.Errorf("short query: %v", err)
	}
	if got, err := x.Search([]float32{1, 2, 3}, 3, 0, nil); err != nil || len(got) != 0 {
		t.Errorf("empty index: %v %v", got, err)
	}
	// A zero vector under cosine is stored, and is at distance 1 from all.
	if err := x.Add(7, []float32{0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	got, _ := x.Search([]float32{1, 0, 0}, 1, 0, nil)
	if len(got) != 1 || got[0].Key != 7 || got[0].Distance != 1 {
		t.Errorf("zero vector: %v", got)
	}
	if got, _ := x.Search([]float32{1, 0, 0}, 0, 0, nil); len(got) != 0 {
		t.Errorf("k=0: %v", got)
	}
	if !x.Contains(7) || x.Contains(8) {
		t.Error("Contains")
	}
}

func TestMetricString(t *testing.T) {
	for m, want := range map[Metric]string{Cosine: "cosine", Dot: "dot", L2: "l2", 7: "Metric(7)"} {
		if got := m.String(); got != want {
			t.Errorf("%d: %q", m, got)
		}
	}
	_ = fmt.Sprint(Config{})
}

// unreachable counts live nodes that a level-0 walk from the entry point
// cannot reach (tombstones count as bridges, as they do for searches).
func (x *Index) unreachable() int {
	n := x.next.Load()
	seen := make([]bool, n)
	ep := uint32(x.entry.Load())
	if x.entry.Load() == noEntry {
		return x.Len()
	}
	queue := []uint32{ep}
	seen[ep] = true
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		ls := x.linkSlot(id, 0)
		for _, nb := range ls[1 : 1+linkCount(ls)] {
			if !seen[nb] {
				seen[nb] = true
				queue = append(queue, nb)
			}
		}
	}
	u := 0
	for id := uint32(0); id < n; id++ {
		if x.isLive(id) && !seen[id] {
			u++
		}
	}
	return u
}

func TestAppendKeys(t *testing.T) {
	x, err := New(Config{Dim: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for k := uint64(1); k <= 50; k++ {
		if err := x.Add(k*3, []float32{float32(k), 1, 2, float32(k % 7)}); err != nil {
			t.Fatal(err)
		}
	}
	x.Delete(9)
	x.Delete(150)
	keys := x.AppendKeys(nil)
	slices.Sort(keys)
	var want []uint64
	for k := uint64(1); k <= 50; k++ {
		if k != 3 && k != 50 {
			want = append(want, k*3)
		}
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("AppendKeys = %v, want %v", keys, want)
	}
}
