package inference

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// benchFlashAttention reads INFERGATE_BENCH_FA (on/off; unset: llama.cpp's choice).
func benchFlashAttention() *bool {
	switch os.Getenv("INFERGATE_BENCH_FA") {
	case "on":
		v := true
		return &v
	case "off":
		v := false
		return &v
	}
	return nil
}

// benchCacheType reads INFERGATE_BENCH_CACHE, the KV cache type (f16 when unset).
func benchCacheType() string { return os.Getenv("INFERGATE_BENCH_CACHE") }

func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("INFERGATE_BENCH_THREADS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// BenchmarkDecode measures generation throughput with 1, 8 and 32
// sequences decoded together: every step adds one token per sequence.
// tok/s counts generated tokens over all sequences.
//
//	go test -run '^$' -bench Decode -benchtime 256x ./inference/
func BenchmarkDecode(b *testing.B) {
	chat, _ := testModels(b)
	prompt, err := chat.Tokenize("Once upon a time, there was a little girl named Lily.")
	if err != nil {
		b.Fatal(err)
	}
	for _, seqs := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("seqs=%d", seqs), func(b *testing.B) {
			g, err := NewGenerator(chat, GeneratorParams{Sequences: seqs, CtxSize: seqs * 1024, BatchSize: 512, Threads: benchThreads(), FlashAttention: benchFlashAttention(), CacheType: benchCacheType()})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			samplers := make([]*Sampler, seqs)
			idx := make([]int, seqs)
			for s := range samplers {
				if samplers[s], err = g.NewSampler(Sampling{Temperature: 0.8, Seed: uint32(s)}); err != nil {
					b.Fatal(err)
				}
				defer samplers[s].Close()
				if idx[s], err = g.Add(s, 0, prompt, true); err != nil {
					b.Fatal(err)
				}
			}
			if err := g.Decode(); err != nil {
				b.Fatal(err)
			}
			pos := len(prompt)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if pos >= g.SeqCtx() {
					b.Fatalf("benchtime too long: the %d-cell sequences are full", g.SeqCtx())
				}
				for s := range samplers {
					tok, err := g.Sample(samplers[s], idx[s])
					if err != nil {
						b.Fatal(err)
					}
					if idx[s], err = g.Add(s, pos, []Token{tok}, true); err != nil {
						b.Fatal(err)
					}
				}
				if err := g.Decode(); err != nil {
					b.Fatal(err)
				}
				pos++
			}
			b.ReportMetric(float64(b.N*seqs)/time.Since(start).Seconds(), "tok/s")
		})
	}
}

// BenchmarkPrefill measures prompt processing: one 512-token prompt per op.
//
//	go test -run '^$' -bench Prefill -benchtime 20x ./inference/
func BenchmarkPrefill(b *testing.B) {
	chat, _ := testModels(b)
	g, err := NewGenerator(chat, GeneratorParams{Sequences: 1, CtxSize: 1024, BatchSize: 512, Threads: benchThreads(), FlashAttention: benchFlashAttention(), CacheType: benchCacheType()})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	prompt := make([]Token, 512)
	for i := range prompt {
		prompt[i] = Token(10 + i%400)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		g.Forget(0)
		if _, err := g.Add(0, 0, prompt, true); err != nil {
			b.Fatal(err)
		}
		if err := g.Decode(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(prompt))/time.Since(start).Seconds(), "tok/s")
}

// BenchmarkEmbed measures MiniLM embeddings per second for batches of 32
// short support-style sentences.
//
//	go test -run '^$' -bench Embed -benchtime 10x ./inference/
func BenchmarkEmbed(b *testing.B) {
	_, emb := testModels(b)
	e, err := NewEmbedder(emb, EmbedderParams{Sequences: 32, Threads: benchThreads()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	inputs := make([][]Token, 32)
	for i := range inputs {
		if inputs[i], err = emb.Tokenize(fmt.Sprintf("Question %d: how do I change the email address on my account?", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := e.Embed(inputs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(inputs))/time.Since(start).Seconds(), "embeddings/s")
}
