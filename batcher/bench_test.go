package batcher

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/models"
)

// benchThreads is the llama.cpp thread count for benchmarks (default 1, as
// in ./inference/: on a small shared machine more threads spin-wait); set
// INFERGATE_BENCH_THREADS to compare with a peer at the same count.
func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("INFERGATE_BENCH_THREADS")); err == nil && n > 0 {
		return n
	}
	return 1
}

func newBenchChat(b *testing.B, cfg Config) *Batcher {
	b.Helper()
	cfg.ModelPath = modelPath(b, models.StoriesModel)
	cfg.Threads = benchThreads()
	cfg.Logger = slog.New(slog.DiscardHandler)
	bt, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bt.Close() })
	return bt
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// streamTimes runs one request and returns its time to first token and
// the gaps between later deltas.
func streamTimes(ctx context.Context, bt *Batcher, req llm.Request) (ttft time.Duration, gaps []time.Duration, arrivals []time.Time, res llm.Result, err error) {
	start := time.Now()
	s, err := bt.Generate(ctx, req)
	if err != nil {
		return 0, nil, nil, llm.Result{}, err
	}
	last := start
	for range s.Deltas() {
		now := time.Now()
		if ttft == 0 {
			ttft = now.Sub(start)
		} else {
			gaps = append(gaps, now.Sub(last))
		}
		arrivals = append(arrivals, now)
		last = now
	}
	return ttft, gaps, arrivals, s.Result(), nil
}

// BenchmarkThroughput measures aggregate output tokens/s and time to first
// token with 1, 4, 16 and 32 concurrent streams, each generating 128 tokens.
//
//	go test -run '^$' -bench Throughput -benchtime 3x ./batcher/
func BenchmarkThroughput(b *testing.B) {
	const outTokens = 128
	prompts := storyPrompts(64)
	for _, conc := range []int{1, 4, 16, 32} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			bt := newBenchChat(b, Config{Parallel: conc, CtxSize: conc * 512, QueueLen: conc})
			var ttfts []time.Duration
			var tokens int
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var mu sync.Mutex
				var wg sync.WaitGroup
				for c := 0; c < conc; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req := llm.Request{Prompt: prompts[(i*conc+c)%len(prompts)], MaxTokens: outTokens, IgnoreEOS: true,
							Sampling: llm.Sampling{Temperature: 0.8, Seed: uint32(c), HasSeed: true}}
						ttft, _, _, res, err := streamTimes(context.Background(), bt, req)
						if err != nil || res.Err != nil {
							b.Error(err, res.Err)
							return
						}
						mu.Lock()
						ttfts = append(ttfts, ttft)
						tokens += res.CompletionTokens
						mu.Unlock()
					}()
				}
				wg.Wait()
				bt.ClearCache()
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(tokens)/elapsed.Seconds(), "tok/s")
			b.ReportMetric(float64(percentile(ttfts, 0.5).Microseconds())/1000, "ttft-p50-ms")
			b.ReportMetric(float64(percentile(ttfts, 0.99).Microseconds())/1000, "ttft-p99-ms")
		})
	}
}

// BenchmarkChunkedPrefill keeps 15 sequences streaming, then sends a
// 1,500-token prompt, and compares the 15 streams' p99 inter-token time
// while it is prefilled with their p99 before it arrived.
//
// Each of the 15 clients sends answers of 96 tokens one after the other,
// so the load is the same before and during the prefill. Streams that grew
// without end would measure something else: their own attention gets
// dearer with every token, and in the pinned llama.cpp it doubles each time
// a sequence passes a multiple of 256 cells, prefill or not.
//
//	go test -run '^$' -bench ChunkedPrefill -benchtime 5x ./batcher/
func BenchmarkChunkedPrefill(b *testing.B) {
	const answerTokens = 96
	bt := newBenchChat(b, Config{Parallel: 16, CtxSize: 16 * 2048})
	long := longPrompt(b, bt, 1500, "Max the dog lived on a farm.")
	prompts := storyPrompts(15)
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt.ClearCache()
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var all [][]time.Time // token arrival times, one list per answer
		var wg sync.WaitGroup
		for c := range prompts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					_, _, arrivals, _, err := streamTimes(ctx, bt, llm.Request{Prompt: prompts[c], MaxTokens: answerTokens, IgnoreEOS: true})
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					all = append(all, arrivals)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(700 * time.Millisecond) // let the 15 reach steady decoding
		longStart := time.Now()
		ttft, _, _, res, err := streamTimes(context.Background(), bt, llm.Request{Prompt: long + fmt.Sprint(i), MaxTokens: 1})
		if err != nil || res.Err != nil {
			b.Fatal(err, res.Err)
		}
		longEnd := longStart.Add(ttft)
		cancel()
		wg.Wait()
		var before, during []time.Duration
		for _, arr := range all {
			for k := 1; k < len(arr); k++ {
				gap := arr[k].Sub(arr[k-1])
				switch {
				case arr[k].Before(longStart) && arr[k-1].After(longStart.Add(-500*time.Millisecond)):
					before = append(before, gap)
				case arr[k-1].After(longStart) && arr[k].Before(longEnd):
					during = append(during, gap)
				}
			}
		}
		r := float64(percentile(during, 0.99)) / float64(percentile(before, 0.99))
		ratios = append(ratios, r)
		b.Logf("run %d: p99 ITL before %v (%d gaps), during prefill %v (%d gaps, ratio %.2f), prefill of %d tokens took %v",
			i, percentile(before, 0.99), len(before), percentile(during, 0.99), len(during), r, res.PromptTokens, ttft)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "p99-itl-ratio")
}

// BenchmarkPrefixCache compares the time to first token of a request
// sharing a 1,000-token prefix with an earlier one against the first's.
//
//	go test -run '^$' -bench PrefixCache -benchtime 5x ./batcher/
func BenchmarkPrefixCache(b *testing.B) {
	bt := newBenchChat(b, Config{Parallel: 4, CtxSize: 4 * 2048})
	prefix := longPrompt(b, bt, 1000, "Lily had a garden.")
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt.ClearCache()
		first, _, _, r1, err := streamTimes(context.Background(), bt, llm.Request{Prompt: prefix + " Tom asked a question.", MaxTokens: 1})
		if err != nil {
			b.Fatal(err)
		}
		second, _, _, r2, err := streamTimes(context.Background(), bt, llm.Request{Prompt: prefix + " Mia asked another one.", MaxTokens: 1})
		if err != nil {
			b.Fatal(err)
		}
		if r2.CachedTokens < 990 {
			b.Fatalf("second request reused %d tokens of the 1,000-token prefix", r2.CachedTokens)
		}
		ratios = append(ratios, float64(second)/float64(first))
		b.Logf("run %d: TTFT %v (%d prompt tokens), then %v with %d reused", i, first, r1.PromptTokens, second, r2.CachedTokens)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ttft-ratio")
}
