package hnsw

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"testing"
)

// Go benchmarks on a small generated set, for quick comparisons while
// working on the package. The full benchmark (100,000 x 384 with a
// coder/hnsw baseline row) is the hnswbench command:
//
//	go run ./index/hnsw/cmd/hnswbench
//
// HNSW_BENCH_N and HNSW_BENCH_DIM resize the set here.
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
		benchOnce.ds, benchOnce.x = ds, x
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
