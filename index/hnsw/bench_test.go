package hnsw

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Go benchmarks on a small generated set, for quick comparisons while
// working on the package. The full benchmark (100,000 x 384 with a
// coder/hnsw baseline row) is the hnswbench command:
//
//	go run ./index/hnsw/cmd/hnswbench
//
// HNSW_BENCH_N and HNSW_BENCH_DIM resize the set here. HNSW_BENCH_SNAPSHOT
// names a file that keeps the built index between runs: it is loaded when
// it holds an index of that size, and written after a build otherwise, so
// that repeated runs at 100,000 vectors skip the half-minute build.
func benchSize() (n, dim int) {
	n, dim = 20000, 384
	if v, err := strconv.Atoi(os.Getenv("HNSW_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("HNSW_BENCH_DIM")); err == nil && v > 0 {
		dim = v
	}
	return n, dim
}

var benchOnce struct {
	sync.Once
	ds *dataset
	x  *Index
}

func benchIndex(b *testing.B) (*dataset, *Index) {
	benchOnce.Do(func() {
		n, dim := benchSize()
		ds := genData(1, distNormalizedMixture, n, 1000, dim)
		benchOnce.ds = ds
		path := os.Getenv("HNSW_BENCH_SNAPSHOT")
		if path != "" {
			if f, err := os.Open(path); err == nil {
				x, err := Load(f)
				f.Close()
				if err == nil && x.Len() == n && x.dim == dim {
					benchOnce.x = x
					return
				}
			}
		}
		x, _ := New(Config{Dim: dim, Metric: Cosine, Seed: 1})
		var wg sync.WaitGroup
		for t := 0; t < 2; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				for i := t; i < n; i += 2 {
					x.Add(uint64(i), ds.vecs[i])
				}
			}(t)
		}
		wg.Wait()
		benchOnce.x = x
		if path != "" {
			f, err := os.Create(path)
			if err == nil {
				_, err = x.WriteTo(f)
				f.Close()
			}
			if err != nil {
				b.Logf("keeping the index in %s: %v", path, err)
			}
		}
	})
	return benchOnce.ds, benchOnce.x
}

func BenchmarkSearch(b *testing.B) {
	ds, x := benchIndex(b)
	for _, ef := range []int{10, 20, 40, 80} {
		b.Run("ef="+strconv.Itoa(ef), func(b *testing.B) {
			dst := make([]Result, 0, 10)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = x.AppendSearch(dst[:0], ds.queries[i%len(ds.queries)], 10, ef, nil)
				i++
			}
		})
	}
}

func BenchmarkAdd(b *testing.B) {
	n, dim := benchSize()
	ds := genData(2, distNormalizedMixture, min(n, 5000), 0, dim)
	x, _ := New(Config{Dim: dim, Metric: Cosine, Seed: 2})
	i := 0
	for b.Loop() {
		x.Add(uint64(i), ds.vecs[i%len(ds.vecs)]) // distinct keys: every call is an insert
		i++
	}
}

func BenchmarkSnapshot(b *testing.B) {
	_, x := benchIndex(b)
	var buf bytes.Buffer
	x.WriteTo(&buf)
	b.Run("write", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			var w bytes.Buffer
			w.Grow(buf.Len())
			x.WriteTo(&w)
		}
	})
	b.Run("load", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			if _, err := Load(bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAddDuringSave measures what a snapshot costs writers. While the
// benchmark writes a snapshot of the benchIndex set to a file (in the page
// cache), another goroutine calls Add back to back with new keys; every Add
// that overlapped the save is timed. It reports the save's median wall
// time, the median, 99th percentile and maximum of those Adds over all
// saves, how many completed per save, and for scale the median Add before
// the save began. The size:
//
//	HNSW_BENCH_N=100000 go test -run '^$' -bench AddDuringSave -benchtime 5x ./index/hnsw/
func BenchmarkAddDuringSave(b *testing.B) {
	ds, x := benchIndex(b)
	extra := genData(3, distNormalizedMixture, 10000, 0, ds.dim).vecs
	f, err := os.Create(filepath.Join(b.TempDir(), "index.snap"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const warmAdds = 50 // timed before the save starts: the idle baseline
	type span struct{ start, end time.Time }
	key := uint64(1) << 40
	var saves, during, idle []time.Duration
	// Not b.Loop: with this body, go1.26.8's compiler fails (an internal
	// error in escape analysis).
	for range b.N {
		if _, err := f.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if err := f.Truncate(0); err != nil {
			b.Fatal(err)
		}
		var spans []span
		warm, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				if err := x.Add(key, extra[key%uint64(len(extra))]); err != nil {
					b.Error(err)
					return
				}
				spans = append(spans, span{t0, time.Now()})
				key++
				if i == warmAdds {
					close(warm)
				}
			}
		}()
		select {
		case <-warm:
		case <-done:
			b.FailNow() // the adder has reported why it stopped
		}
		s0 := time.Now()
		_, err := x.WriteTo(f)
		s1 := time.Now()
		close(stop)
		<-done
		if err != nil {
			b.Fatal(err)
		}
		saves = append(saves, s1.Sub(s0))
		for _, sp := range spans {
			switch {
			case sp.end.Before(s0):
				idle = append(idle, sp.end.Sub(sp.start))
			case sp.start.Before(s1):
				during = append(during, sp.end.Sub(sp.start))
			}
		}
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	b.ReportMetric(float64(quantile(saves, 0.5))/1e6, "save-ms")
	b.ReportMetric(us(quantile(during, 0.5)), "add-p50-us")
	b.ReportMetric(us(quantile(during, 0.99)), "add-p99-us")
	b.ReportMetric(us(quantile(during, 1)), "add-max-us")
	b.ReportMetric(float64(len(during))/float64(len(saves)), "adds/save")
	b.ReportMetric(us(quantile(idle, 0.5)), "idle-add-p50-us")
	b.ReportMetric(0, "ns/op") // a save's time is save-ms; ns/op would add the adder's shutdown
}

// quantile returns the q-quantile of ds (nearest rank), or 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}
