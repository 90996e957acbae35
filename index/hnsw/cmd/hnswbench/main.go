// Command hnswbench measures index/hnsw on the data set of issue 6: a
// Gaussian mixture of L2-normalised vectors (default 100,000 x 384, 1,000
// centres, noise sigma 0.6), 1,000 held-out queries, exact top-k by brute
// force. It prints build time, memory per vector, and queries/s and
// recall@k per ef on one search goroutine, snapshot save/load times, and the
// same figures for github.com/coder/hnsw v0.6.1 as a baseline row.
//
//	go run ./index/hnsw/cmd/hnswbench              # the data set
//	go run ./index/hnsw/cmd/hnswbench -n 20000 -coder=false -quant=false
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	mathrand "math/rand"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	coder "github.com/coder/hnsw"
	"github.com/viterin/vek/vek32"

	"github.com/infergate/infergate/index/hnsw"
)

type options struct {
	n, dim, centres, queries, k int
	sigma                       float64
	seed                        uint64
	m, efc, threads, passes     int
	efs                         []int
	coderRow, quant, snapshot   bool
	coderEfs                    []int
	coderM                      int
	indexFile, truthFile, prof  string
}

func main() {
	var o options
	var efs, coderEfs string
	flag.IntVar(&o.n, "n", 100000, "vectors in the index")
	flag.IntVar(&o.dim, "dim", 384, "dimensions")
	flag.IntVar(&o.centres, "centres", 1000, "mixture centres")
	flag.Float64Var(&o.sigma, "sigma", 0.6, "per-dimension noise around a centre")
	flag.IntVar(&o.queries, "queries", 1000, "held-out queries")
	flag.IntVar(&o.k, "k", 10, "neighbours per query (recall@k)")
	flag.Uint64Var(&o.seed, "seed", 1, "data and level seed")
	flag.IntVar(&o.m, "m", hnsw.DefaultM, "HNSW M")
	flag.IntVar(&o.efc, "efc", hnsw.DefaultEfConstruction, "efConstruction")
	flag.IntVar(&o.threads, "threads", 2, "insertion goroutines")
	flag.IntVar(&o.passes, "passes", 3, "timed passes over the queries per ef (median reported)")
	flag.StringVar(&efs, "ef", "10,12,14,16,18,20,24,32,40,64,80", "ef values to measure")
	flag.StringVar(&coderEfs, "coder-ef", "10,20,40,80,320", "ef values for the coder/hnsw row")
	flag.BoolVar(&o.coderRow, "coder", true, "measure github.com/coder/hnsw v0.6.1 as a baseline")
	flag.IntVar(&o.coderM, "coder-m", 16, "M for the coder/hnsw baseline (its default, as in the issue's measurement)")
	flag.BoolVar(&o.quant, "quant", true, "also measure the int8-quantised index with exact re-ranking")
	flag.BoolVar(&o.snapshot, "snapshot", true, "measure snapshot save/load through a file")
	flag.StringVar(&o.indexFile, "index-cache", "", "if set: load the unquantised index from this snapshot when it exists, else build and save it there (skips the build measurement on reuse)")
	flag.StringVar(&o.truthFile, "truth-cache", "", "if set: read/write the brute-force ground truth here")
	flag.StringVar(&o.prof, "cpuprofile", "", "write a CPU profile of the search passes")
	flag.Parse()
	o.efs = parseInts(efs)
	o.coderEfs = parseInts(coderEfs)

	fmt.Printf("hnswbench: n=%d dim=%d centres=%d sigma=%.2f queries=%d k=%d M=%d efC=%d insert-threads=%d passes=%d\n",
		o.n, o.dim, o.centres, o.sigma, o.queries, o.k, o.m, o.efc, o.threads, o.passes)
	fmt.Printf("go=%s GOMAXPROCS=%d NumCPU=%d kernels=%s cpu=%q load=%s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), hnsw.KernelName(), cpuModel(), loadAvg())

	t0 := time.Now()
	base, queries := generate(o)
	fmt.Printf("data generated in %.1fs\n", time.Since(t0).Seconds())
	t0 = time.Now()
	truth := cachedTruth(o, base, queries)
	fmt.Printf("ground truth (brute force) in %.1fs\n\n", time.Since(t0).Seconds())

	fmt.Printf("%-34s %8s %10s %6s %10s %10s %12s\n", "index", "build_s", "bytes/vec", "ef", "queries/s", "recall@"+strconv.Itoa(o.k), "q/s(thrCPU)")
	idx := runOurs(o, base, queries, truth, false)
	if o.snapshot {
		runSnapshot(o, idx, queries)
	}
	idx = nil
	runtime.GC()
	if o.quant {
		runOurs(o, base, queries, truth, true)
		runtime.GC()
	}
	if o.coderRow {
		runCoder(o, base, queries, truth)
	}
	fmt.Printf("\nload at end=%s\n", loadAvg())
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad integer list:", s)
			os.Exit(2)
		}
		out = append(out, v)
	}
	return out
}

// generate draws the mixture: centres ~ N(0, I), points = centre + N(0,
// sigma^2 I), then L2-normalised. Queries are drawn the same way and are not
// in the index. Generation is split over goroutines with fixed per-part seeds,
// so the data depend only on -seed.
func generate(o options) (base, queries [][]float32) {
	rng := rand.New(rand.NewPCG(o.seed, 1))
	centres := make([][]float32, o.centres)
	for i := range centres {
		c := make([]float32, o.dim)
		for j := range c {
			c[j] = float32(rng.NormFloat64())
		}
		centres[i] = c
	}
	all := make([][]float32, o.n+o.queries)
	const part = 4096
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for start := 0; start < len(all); start += part {
		wg.Add(1)
		sem <- struct{}{}
		go func(start int) {
			defer wg.Done()
			defer func() { <-sem }()
			r := rand.New(rand.NewPCG(o.seed, uint64(start)+2))
			for i := start; i < min(start+part, len(all)); i++ {
				c := centres[r.IntN(len(centres))]
				v := make([]float32, o.dim)
				var n float64
				for j := range v {
					f := float64(c[j]) + r.NormFloat64()*o.sigma
					v[j] = float32(f)
					n += f * f
				}
				inv := 1 / math.Sqrt(n)
				for j := range v {
					v[j] = float32(float64(v[j]) * inv)
				}
				all[i] = v
			}
		}(start)
	}
	wg.Wait()
	return all[:o.n], all[o.n:]
}

// groundTruth is the exact top-k by cosine distance (a dot product on
// normalised data), computed by brute force on all cores.
func groundTruth(base, queries [][]float32, k int) [][]uint64 {
	truth := make([][]uint64, len(queries))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			type kd struct {
				d float32
				k uint64
			}
			top := make([]kd, 0, k+1)
			for qi := w; qi < len(queries); qi += workers {
				q := queries[qi]
				top = top[:0]
				for i, v := range base {
					d := 1 - vek32.Dot(q, v)
					if len(top) == k && d >= top[k-1].d {
						continue
					}
					pos, _ := slices.BinarySearchFunc(top, d, func(e kd, t float32) int {
						if e.d < t {
							return -1
						}
						if e.d > t {
							return 1
						}
						return 0
					})
					top = slices.Insert(top, pos, kd{d, uint64(i)})
					if len(top) > k {
						top = top[:k]
					}
				}
				ids := make([]uint64, len(top))
				for i, e := range top {
					ids[i] = e.k
				}
				truth[qi] = ids
			}
		}(w)
	}
	wg.Wait()
	return truth
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func recall(got []uint64, want []uint64) int {
	hit := 0
	for _, w := range want {
		if slices.Contains(got, w) {
			hit++
		}
	}
	return hit
}

func runOurs(o options, base, queries [][]float32, truth [][]uint64, quant bool) *hnsw.Index {
	before := heapInUse()
	cfg := hnsw.Config{Dim: o.dim, Metric: hnsw.Cosine, M: o.m, EfConstruction: o.efc, Seed: o.seed, Quantize: quant}
	if quant {
		cfg.Source = func(key uint64, dst []float32) bool {
			if key >= uint64(len(base)) {
				return false
			}
			copy(dst, base[key])
			return true
		}
	}
	if !quant && o.indexFile != "" {
		if f, err := os.Open(o.indexFile); err == nil {
			idx, err := hnsw.Load(bufio.NewReaderSize(f, 1<<20))
			f.Close()
			if err != nil {
				fatal(err)
			}
			fmt.Printf("(index loaded from %s; build not measured)\n", o.indexFile)
			searchRows(o, idx, fmt.Sprintf("infergate/hnsw M=%d efC=%d", o.m, o.efc), -1, float64(heapInUse()-before)/float64(len(base)), queries, truth)
			return idx
		}
	}
	idx, err := hnsw.New(cfg)
	if err != nil {
		fatal(err)
	}
	t0, c0 := time.Now(), processCPU()
	var wg sync.WaitGroup
	for t := 0; t < o.threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			for i := t; i < len(base); i += o.threads {
				if err := idx.Add(uint64(i), base[i]); err != nil {
					fatal(err)
				}
			}
		}(t)
	}
	wg.Wait()
	build := time.Since(t0).Seconds()
	fmt.Printf("(build: %.1fs wall, %.1fs CPU over %d goroutines)\n", build, (processCPU() - c0).Seconds(), o.threads)
	perVec := float64(heapInUse()-before) / float64(len(base))
	if !quant && o.indexFile != "" {
		f, err := os.Create(o.indexFile)
		if err != nil {
			fatal(err)
		}
		if _, err := idx.WriteTo(f); err != nil {
			fatal(err)
		}
		f.Close()
	}

	name := fmt.Sprintf("infergate/hnsw M=%d efC=%d", o.m, o.efc)
	if quant {
		name = fmt.Sprintf("infergate/hnsw int8+rerank M=%d", o.m)
	}
	searchRows(o, idx, name, build, perVec, queries, truth)
	return idx
}

func searchRows(o options, idx *hnsw.Index, name string, build, perVec float64, queries [][]float32, truth [][]uint64) {
	if o.prof != "" {
		f, err := os.Create(o.prof)
		if err != nil {
			fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	// The search loop must not allocate: the GC would otherwise run on the
	// second core and blur the single-thread figure.
	debug.SetGCPercent(-1)
	defer debug.SetGCPercent(100)
	dst := make([]hnsw.Result, 0, o.k)
	got := make([]uint64, 0, o.k)
	for i, ef := range o.efs {
		hits := 0
		for qi, q := range queries {
			dst, _ = idx.AppendSearch(dst[:0], q, o.k, ef, nil)
			got = got[:0]
			for _, r := range dst {
				got = append(got, r.Key)
			}
			hits += recall(got, truth[qi])
		}
		qps := make([]float64, o.passes)
		cpuQps := make([]float64, o.passes)
		runtime.LockOSThread()
		for p := range qps {
			t0, c0 := time.Now(), threadCPU()
			for _, q := range queries {
				dst, _ = idx.AppendSearch(dst[:0], q, o.k, ef, nil)
			}
			qps[p] = float64(len(queries)) / time.Since(t0).Seconds()
			cpuQps[p] = float64(len(queries)) / (threadCPU() - c0).Seconds()
		}
		runtime.UnlockOSThread()
		slices.Sort(qps)
		slices.Sort(cpuQps)
		b, pv := "", ""
		if i == 0 {
			b, pv = fmt.Sprintf("%.1f", build), fmt.Sprintf("%.0f", perVec)
			if build < 0 {
				b = "cached"
			}
		}
		fmt.Printf("%-34s %8s %10s %6d %10.0f %10.4f %12.0f\n", name, b, pv, ef, qps[len(qps)/2],
			float64(hits)/float64(len(queries)*o.k), cpuQps[len(cpuQps)/2])
	}
}

// cachedTruth computes the ground truth, or reads it from -truth-cache when
// that file was written for the same parameters.
func cachedTruth(o options, base, queries [][]float32) [][]uint64 {
	tag := fmt.Sprintf("%d %d %d %g %d %d %d", o.n, o.dim, o.centres, o.sigma, o.queries, o.k, o.seed)
	if o.truthFile != "" {
		if b, err := os.ReadFile(o.truthFile); err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) == len(queries)+1 && lines[0] == tag {
				truth := make([][]uint64, len(queries))
				for i, l := range lines[1:] {
					for _, f := range strings.Fields(l) {
						v, _ := strconv.ParseUint(f, 10, 64)
						truth[i] = append(truth[i], v)
					}
				}
				fmt.Println("(ground truth read from", o.truthFile+")")
				return truth
			}
		}
	}
	truth := groundTruth(base, queries, o.k)
	if o.truthFile != "" {
		var sb strings.Builder
		sb.WriteString(tag + "\n")
		for _, t := range truth {
			for j, v := range t {
				if j > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(strconv.FormatUint(v, 10))
			}
			sb.WriteByte('\n')
		}
		os.WriteFile(o.truthFile, []byte(sb.String()), 0o644)
	}
	return truth
}

func runSnapshot(o options, idx *hnsw.Index, queries [][]float32) {
	dir, err := os.MkdirTemp("", "hnswbench")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "index.snap")

	t0 := time.Now()
	f, err := os.Create(path)
	if err != nil {
		fatal(err)
	}
	n, err := idx.WriteTo(f)
	if err != nil {
		fatal(err)
	}
	tw := time.Since(t0)
	if err := f.Sync(); err != nil {
		fatal(err)
	}
	ts := time.Since(t0)
	f.Close()

	runtime.GC()
	runtime.LockOSThread()
	t0, c0 := time.Now(), threadCPU()
	f, err = os.Open(path)
	if err != nil {
		fatal(err)
	}
	loaded, err := hnsw.Load(f)
	f.Close()
	if err != nil {
		fatal(err)
	}
	tl, cl := time.Since(t0), threadCPU()-c0
	runtime.UnlockOSThread()

	same := 0
	for _, q := range queries {
		a, _ := idx.Search(q, o.k, 64, nil)
		b, _ := loaded.Search(q, o.k, 64, nil)
		if slices.Equal(a, b) {
			same++
		}
	}
	fmt.Printf("snapshot: %.1f MB, write %.3fs (with fsync %.3fs), load %.3fs wall / %.3fs thread CPU (%.0f MB/s, file in page cache); identical results after load: %d/%d queries\n",
		float64(n)/1e6, tw.Seconds(), ts.Seconds(), tl.Seconds(), cl.Seconds(), float64(n)/1e6/tl.Seconds(), same, len(queries))
}

func runCoder(o options, base, queries [][]float32, truth [][]uint64) {
	before := heapInUse()
	g := coder.NewGraph[uint64]()
	g.M = o.coderM
	g.Rng = mathrand.New(mathrand.NewSource(int64(o.seed)))
	t0 := time.Now()
	// coder/hnsw is not safe for concurrent Add, so it builds on one thread.
	for i, v := range base {
		// A copy, so that it owns its vectors as our index does and the
		// memory column compares like with like.
		g.Add(coder.MakeNode(uint64(i), slices.Clone(v)))
	}
	build := time.Since(t0).Seconds()
	perVec := float64(heapInUse()-before) / float64(len(base))
	for i, ef := range o.coderEfs {
		g.EfSearch = ef
		hits := 0
		t0 := time.Now()
		for qi, q := range queries {
			res := g.Search(q, o.k)
			got := make([]uint64, 0, len(res))
			for _, r := range res {
				got = append(got, r.Key)
			}
			hits += recall(got, truth[qi])
		}
		qps := float64(len(queries)) / time.Since(t0).Seconds()
		b, pv := "", ""
		if i == 0 {
			b, pv = fmt.Sprintf("%.1f", build), fmt.Sprintf("%.0f", perVec)
		}
		fmt.Printf("%-34s %8s %10s %6d %10.0f %10.4f\n", fmt.Sprintf("coder/hnsw v0.6.1 M=%d (1 thread)", o.coderM), b, pv, ef, qps,
			float64(hits)/float64(len(queries)*o.k))
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.Index(line, ":"); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "hnswbench:", err)
	os.Exit(1)
}
