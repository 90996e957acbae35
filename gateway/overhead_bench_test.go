package gateway

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/llm"
)

// BenchmarkOverhead measures what the gateway adds to a request: the same
// work (one short embedding; a 1-token completion) done directly on the
// scheduler in-process and through the full HTTP path (fasthttp client,
// loopback TCP, auth, parsing, metrics, logging, response encoding).
// Each reports requests/s and p50/p99 latency; the difference between the
// direct and http rows is the gateway's cost per request.
//
//	go test -run '^$' -bench Overhead -benchtime 2000x ./gateway/
func BenchmarkOverhead(b *testing.B) {
	chat, emb := realModels(b)
	cfg := realConfig(b)
	cfg.Keys = []APIKey{{Name: "bench", Hash: HashKey(key)}}
	_, base := startServer(b, cfg)
	hc := &fasthttp.HostClient{Addr: strings.TrimPrefix(base, "http://"), MaxConns: 64}
	ctx := context.Background()

	post := func(path, body string) func() error {
		return func() error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(base + path)
			req.Header.SetMethod("POST")
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.SetContentType("application/json")
			req.SetBodyString(body)
			if err := hc.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return &APIError{Status: resp.StatusCode(), Message: string(resp.Body())}
			}
			return nil
		}
	}
	cases := []struct {
		name string
		op   func() error
	}{
		{"embeddings/direct", func() error {
			_, err := emb.Embed(ctx, llm.EmbedRequest{Texts: []string{"How do I reset my password?"}})
			return err
		}},
		{"embeddings/http", post("/v1/embeddings", `{"model":"all-MiniLM-L6-v2-Q4_K_M","input":"How do I reset my password?"}`)},
		{"completion1/direct", func() error {
			st, err := chat.Generate(ctx, llm.Request{Prompt: "Once upon a time", MaxTokens: 1})
			if err != nil {
				return err
			}
			return drain(st).Err
		}},
		{"completion1/http", post("/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":1}`)},
	}
	for _, clients := range []int{1, 8} {
		for _, tc := range cases {
			b.Run(tc.name+"/clients="+itoa(clients), func(b *testing.B) {
				runClients(b, clients, tc.op)
			})
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// runClients runs b.N operations from n concurrent clients and reports
// throughput and latency percentiles.
func runClients(b *testing.B, n int, op func() error) {
	lat := make([]time.Duration, b.N)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
