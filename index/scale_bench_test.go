package index

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/store"
)

// populate writes a collection of docs documents of per chunks each
// straight into the store, through the index's own record encoders, with
// seeded random unit vectors and Zipf-distributed text: the state an
// ingestion would leave, without the hours the embedding model would take
// for 100,000 chunks on a small CPU.
func populate(tb testing.TB, kb *testKB, name string, docs, per int) {
	tb.Helper()
	ctx := context.Background()
	mustCreate(tb, kb, name)
	c, _ := kb.get(name)
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 2, 20000)
	word := func() string { return fmt.Sprintf("w%x", zipf.Uint64()) }
	id := uint64(0)
	for d := 0; d < docs; d += 100 {
		var w store.Write
		for dd := d; dd < min(d+100, docs); dd++ {
			e := &docEntry{id: fmt.Sprintf("doc-%06d", dd), hash: "x", first: id, n: per, format: "text",
				meta: Metadata{Title: "t" + word(), Category: fmt.Sprintf("c%d", dd%10)}}
			for j := range per {
				var sb strings.Builder
				for range 300 {
					sb.WriteString(word())
					sb.WriteByte(' ')
				}
				fmt.Fprintf(&sb, "ORD-2026-%07d", id)
				rec := chunkRecord{ID: id, End: sb.Len(), Tokens: 300, Text: sb.String()}
				w.Set(store.ChunkKey(name, e.id, uint32(j)), rec.encode())
				v := make([]float32, c.rec.Dim)
				var n float64
				for i := range v {
					v[i] = float32(rng.NormFloat64())
					n += float64(v[i] * v[i])
				}
				for i := range v {
					v[i] /= float32(math.Sqrt(n))
				}
				w.Set(store.VectorKey(name, id), encodeVector(v))
				id++
			}
			w.Set(store.DocumentKey(name, e.id), mustJSON(e.record("synthetic")))
		}
		if err := kb.KB.st.Apply(ctx, &w); err != nil {
			tb.Fatal(err)
		}
	}
	rec := c.rec
	rec.NextID = id
	var w store.Write
	w.Set(store.CollectionKey(name), mustJSON(rec))
	if err := kb.KB.st.Apply(ctx, &w); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkScale100k: a collection of 100,000 chunks (10,000 documents):
// open without snapshots (rebuild from the store), open from snapshots,
// heap per chunk, and search latency by mode (in process; the HTTP layer
// adds the gateway's overhead, see gateway's BenchmarkOverhead).
//
//	go test -run '^$' -bench Scale100k -benchtime 1x -timeout 30m ./index/
func BenchmarkScale100k(b *testing.B) {
	dir := b.TempDir()
	kb := openKB(b, dir)
	populate(b, kb, "big", 10000, 10)
	kb.close(b)

	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	kb = openKB(b, dir) // no snapshot yet: rebuild, then snapshot
	rebuild := time.Since(start)
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	info, _ := kb.Collection("big")
	kb.close(b)
	start = time.Now()
	kb = openKB(b, dir)
	fromSnap := time.Since(start)
	b.ReportMetric(rebuild.Seconds(), "open-rebuild-s")
	b.ReportMetric(fromSnap.Seconds(), "open-snapshot-s")
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(info.Chunks), "heap-B/chunk")

	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rng, 1.1, 2, 20000)
	for _, mode := range []Mode{ModeVector, ModeLexical, ModeHybrid} {
		var lat []float64
		t0 := time.Now()
		n := 200
		if mode == ModeHybrid {
			n = 100 // each embeds its query with the real model
		}
		for i := range n {
			q := Query{K: 10, Mode: mode}
			switch mode {
			case ModeVector:
				v := make([]float32, 384)
				for j := range v {
					v[j] = float32(rng.NormFloat64())
				}
				q.Vector = v
			default:
				q.Text = fmt.Sprintf("w%x w%x ORD-2026-%07d", zipf.Uint64(), zipf.Uint64(), rng.IntN(info.Chunks))
			}
			if i%4 == 0 {
				q.Filter = &Filter{Category: []string{"c3"}}
			}
			s := time.Now()
			hits, err := kb.Search(ctx, "big", q)
			if err != nil || len(hits) != 10 {
				b.Fatalf("%s: %d hits, %v", mode, len(hits), err)
			}
			lat = append(lat, time.Since(s).Seconds())
		}
		qps := float64(n) / time.Since(t0).Seconds()
		b.ReportMetric(median(lat)*1e3, string(mode)+"-p50-ms")
		b.ReportMetric(percentile(lat, 0.99)*1e3, string(mode)+"-p99-ms")
		b.ReportMetric(qps, string(mode)+"-qps")
	}
}

func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}
