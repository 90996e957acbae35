package batcher

import (
	"context"
	"github.com/infergate/infergate/llm"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/grammar"
)

// BenchmarkGrammar measures output tokens/s of 4 concurrent sampled
// streams with and without the json_object grammar: the grammar's cost
// per token is the gap between the two.
//
//	go test -run '^$' -bench Grammar -benchtime 5x ./batcher/
func BenchmarkGrammar(b *testing.B) {
	for _, bc := range []struct {
		name    string
		grammar string
	}{{"none", ""}, {"json", grammar.JSONObject}} {
		b.Run(bc.name, func(b *testing.B) {
			bt := newBenchChat(b, Config{Parallel: 4, CtxSize: 4 * 256})
			var tokens int
			var busy time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var wg sync.WaitGroup
				var mu sync.Mutex
				for c := 0; c < 4; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						s, err := bt.Generate(context.Background(), llm.Request{
							Prompt:    "Once upon a time",
							MaxTokens: 128,
							Sampling:  llm.Sampling{Temperature: 0.8, Seed: uint32(i*4 + c), HasSeed: true, Grammar: bc.grammar},
						})
						if err != nil {
							b.Error(err)
							return
						}
						_, res := collect(s)
						if res.Err != nil {
							b.Error(res.Err)
						}
						mu.Lock()
						tokens += res.CompletionTokens
						mu.Unlock()
					}()
				}
				wg.Wait()
				busy += time.Since(start)
			}
			b.ReportMetric(float64(tokens)/busy.Seconds(), "tok/s")
			b.ReportMetric(float64(tokens)/float64(b.N*4), "tokens/req")
		})
	}
}
