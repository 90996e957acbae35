package index_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/gateway"
	"github.com/infergate/infergate/index"
	"github.com/infergate/infergate/store"
)

// BenchmarkSearchHTTP100k: BenchmarkScale100k's 100,000-chunk collection
// served by the real gateway on a loopback port; clients POST
// /v1/collections/big/search over keep-alive connections, concurrently,
// and the benchmark reports p50 and p99 latency and queries/s by mode.
// Hybrid and text-vector queries embed their text with the real MiniLM
// through the batcher, as a live query does.
//
//	go test -run '^$' -bench SearchHTTP100k -benchtime 1x -timeout 30m ./index/
func BenchmarkSearchHTTP100k(b *testing.B) {
	dir := b.TempDir()
	index.PopulateSynthetic(b, dir, "big", 10000, 10)
	emb := index.SharedEmbedder(b)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "store"), &store.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	kb, err := index.Open(ctx, index.Config{Store: st, Dir: filepath.Join(dir, "index"),
		Embedders: map[string]index.Embedder{emb.ModelID(): emb}, SnapshotInterval: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer kb.Close()
	info := emb.Info()
	srv, err := gateway.New(gateway.Config{
		Models: []gateway.Model{{ID: emb.ModelID(), Kind: gateway.KindEmbedding, Embedder: gateway.Local{B: emb},
			Dimensions: info.EmbeddingSize, ContextLength: info.ContextTrain, VocabSize: info.VocabSize}},
		Keys: []gateway.APIKey{{Name: "bench", Hash: gateway.HashKey("sk-bench")}},
		KB:   kb, DataDir: dir, Logger: quiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	url := "http://" + ln.Addr().String() + "/v1/collections/big/search"

	const clients = 4
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	rng := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rng, 1.1, 2, 20000)
	for _, mode := range []string{"vector", "lexical", "hybrid"} {
		n := 400
		if mode != "lexical" {
			n = 200 // each embeds its query with the real model
		}
		bodies := make([][]byte, n)
		for i := range bodies {
			filter := ""
			if i%4 == 0 {
				filter = `,"filter":{"category":["c3"]}`
			}
			bodies[i] = fmt.Appendf(nil, `{"query":"w%x w%x ORD-2026-%07d","k":10,"mode":%q%s}`,
				zipf.Uint64(), zipf.Uint64(), rng.IntN(100000), mode, filter)
		}
		lat := make([]float64, n)
		var next sync.Mutex
		i := 0
		var wg sync.WaitGroup
		t0 := time.Now()
		for range clients {
			wg.Go(func() {
				for {
					next.Lock()
					q := i
					i++
					next.Unlock()
					if q >= n {
						return
					}
					req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[q]))
					req.Header.Set("Authorization", "Bearer sk-bench")
					req.Header.Set("Content-Type", "application/json")
					s := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					lat[q] = time.Since(s).Seconds()
					if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"chunk_id"`)) {
						b.Errorf("%s: %d %.200s", mode, resp.StatusCode, body)
						return
					}
				}
			})
		}
		wg.Wait()
		qps := float64(n) / time.Since(t0).Seconds()
		b.ReportMetric(index.Percentile(lat, 0.5)*1e3, mode+"-p50-ms")
		b.ReportMetric(index.Percentile(lat, 0.99)*1e3, mode+"-p99-ms")
		b.ReportMetric(qps, mode+"-qps")
	}
}
