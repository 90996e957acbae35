package batcher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infergate/infergate/inference"
	"github.com/infergate/infergate/internal/testenv"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/models"
)

func modelPath(t testing.TB, name string) string {
	t.Helper()
	p, err := models.TestModelPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newChat(t testing.TB, cfg Config) *Batcher {
	t.Helper()
	cfg.ModelPath = modelPath(t, models.StoriesModel)
	if cfg.Threads == 0 {
		// The test model is tiny: one thread is as fast as two, and it does
		// not spin-wait when the machine's cores are busy elsewhere.
		cfg.Threads = 1
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// storyPrompts are distinct openings in the style stories260K was trained on.
func storyPrompts(n int) []string {
	subjects := []string{"Lily", "Tom", "the little dog", "a big bear", "Sam", "the old cat", "Mia", "a tiny bird"}
	actions := []string{"went to the park", "found a red ball", "saw a big tree", "wanted to play", "was very happy", "had a new toy", "ate a cake", "looked at the sky"}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("Once upon a time, %s %s.", subjects[i%len(subjects)], actions[(i/len(subjects)+i)%len(actions)])
	}
	return out
}

// longPrompt is a story of roughly n tokens for stories260K.
func longPrompt(t testing.TB, b *Batcher, n int, seed string) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(seed)
	sentences := storyPrompts(64)
	for i := 0; ; i++ {
		toks, err := b.Tokenize(sb.String())
		if err != nil {
			t.Fatal(err)
		}
		if len(toks) >= n {
			return sb.String()
		}
		sb.WriteString(" ")
		sb.WriteString(sentences[i%len(sentences)][len("Once upon a time, "):])
	}
}

// collect reads a stream to its end.
func collect(s *llm.Stream) (string, llm.Result) {
	var sb strings.Builder
	for d := range s.Deltas() {
		sb.WriteString(d.Text)
	}
	return sb.String(), s.Result()
}

func greedy(prompt string, n int) llm.Request {
	return llm.Request{Prompt: prompt, MaxTokens: n}
}

// reference is a prompt's greedy continuation computed alone, straight on
// the engine: the text each step added and how far the chosen token's
// logit led the runner-up.
type reference struct {
	pieces []string
	gaps   []float32
}

func greedyReference(t *testing.T, prompt string, n int) reference {
	t.Helper()
	m, err := inference.Load(modelPath(t, models.StoriesModel), inference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := inference.NewGenerator(m, inference.GeneratorParams{Sequences: 1, CtxSize: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	toks, err := m.Tokenize(prompt)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := g.Add(0, 0, toks, true)
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	dec := m.NewTextDecoder()
	for pos := len(toks); len(ref.pieces) < n; pos++ {
		if err := g.Decode(); err != nil {
			t.Fatal(err)
		}
		logits := g.Logits(idx)
		best, second := 0, -1
		for i, x := range logits {
			switch {
			case x > logits[best]:
				best, second = i, best
			case i != best && (second < 0 || x > logits[second]):
				second = i
			}
		}
		if m.IsEOG(inference.Token(best)) {
			break
		}
		ref.pieces = append(ref.pieces, dec.Add(inference.Token(best)))
		ref.gaps = append(ref.gaps, logits[best]-logits[second])
		if idx, err = g.Add(0, pos, []inference.Token{inference.Token(best)}, true); err != nil {
			t.Fatal(err)
		}
	}
	return ref
}

// nearTie is how close the reference's top two logits must be for a
// batched run to choose otherwise: twice the logit tolerance inference's
// TestBatchedLogitsMatchAlone allows.
const nearTie = 0.1

// matchesGreedy checks a greedy text of up to n tokens against the
// prompt's reference continuation: it may part from it only where the
// reference's top two logits were a near tie. It reports whether it
// parted.
func matchesGreedy(t *testing.T, prompt, text string, n int) bool {
	t.Helper()
	if text == "" {
		t.Errorf("prompt %q: nothing generated", prompt)
		return false
	}
	ref := greedyReference(t, prompt, n)
	at := 0 // bytes of text matched so far
	for step, piece := range ref.pieces {
		if strings.HasPrefix(text[at:], piece) {
			at += len(piece)
			continue
		}
		if ref.gaps[step] > nearTie {
			t.Errorf("prompt %q: the text parts from the greedy reference at step %d, where the reference's top two logits are %g apart:\n reference %q\n got       %q",
				prompt, step, ref.gaps[step], strings.Join(ref.pieces, ""), text)
		}
		return true
	}
	return false
}

// TestGreedyMatchesAloneAmong31 runs 32 greedy prompts at once and checks
// each against its continuation computed alone. llama.cpp does not promise
// bit-identical logits across batch shapes (see inference's
// TestBatchedLogitsMatchAlone), so a text may part from the reference, but
// only at a step where the reference's top two logits were a near tie;
// anything the scheduler mixed up between slots (positions, sequence ids,
// shared prefixes) parts at once and for good reason.
func TestGreedyMatchesAloneAmong31(t *testing.T) {
	b := newChat(t, Config{Parallel: 32, CtxSize: 32 * 256, QueueLen: 64})
	prompts := storyPrompts(32)
	const n = 40
	together := make([]string, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := b.Generate(context.Background(), greedy(p, n))
			if err != nil {
				t.Error(err)
				return
			}
			var res llm.Result
			together[i], res = collect(s)
			if res.Err != nil {
				t.Error(res.Err)
			}
		}()
	}
	wg.Wait()
	parted := 0
	for i, p := range prompts {
		if matchesGreedy(t, p, together[i], n) {
			parted++
		}
	}
	t.Logf("%d of %d texts parted from their reference at a near tie", parted, len(prompts))
}

func TestFinishReasons(t *testing.T) {
	b := newChat(t, Config{Parallel: 4, CtxSize: 4 * 128})
	ctx := context.Background()

	// Reference greedy text to pick a stop string from.
	s, err := b.Generate(ctx, greedy("Once upon a time, Lily", 40))
	if err != nil {
		t.Fatal(err)
	}
	ref, res := collect(s)
	if res.FinishReason != llm.FinishLength || res.CompletionTokens != 40 {
		t.Fatalf("max_tokens run: finish %q after %d tokens, want length after 40", res.FinishReason, res.CompletionTokens)
	}
	if len(ref) < 30 {
		t.Fatalf("reference text too short: %q", ref)
	}

	t.Run("stop string split across tokens", func(t *testing.T) {
		// A stop string made of the end of one word and the start of the
		// next spans several tokens.
		stop := ref[10:17]
		s, err := b.Generate(ctx, llm.Request{Prompt: "Once upon a time, Lily", MaxTokens: 40, Stop: []string{"zzz-never", stop}})
		if err != nil {
			t.Fatal(err)
		}
		text, res := collect(s)
		want := ref[:strings.Index(ref, stop)]
		if res.FinishReason != llm.FinishStop || text != want {
			t.Errorf("stop %q: got %q (%s), want %q (stop)", stop, text, res.FinishReason, want)
		}
	})

	t.Run("context exhausted", func(t *testing.T) {
		s, err := b.Generate(ctx, llm.Request{Prompt: longPrompt(t, b, 100, "Tom ran."), MaxTokens: 0})
		if err != nil {
			t.Fatal(err)
		}
		_, res := collect(s)
		if res.FinishReason != llm.FinishLength || res.PromptTokens+res.CompletionTokens != b.SeqCtx() {
			t.Errorf("got %s after %d+%d tokens, want length at %d", res.FinishReason, res.PromptTokens, res.CompletionTokens, b.SeqCtx())
		}
	})

	t.Run("prompt longer than context refused", func(t *testing.T) {
		_, err := b.Generate(ctx, llm.Request{Prompt: longPrompt(t, b, b.SeqCtx()+20, "Sam sat.")})
		var tooLong *llm.PromptTooLongError
		if !errors.As(err, &tooLong) || tooLong.Limit != b.SeqCtx() || tooLong.Tokens < b.SeqCtx()+20 {
			t.Errorf("got %v, want llm.PromptTooLongError with its token count", err)
		}
	})

	// Each is the client's mistake: a *llm.RequestError naming the field.
	for _, tc := range []struct {
		name  string
		req   llm.Request
		field string
	}{
		{"token outside the vocabulary", llm.Request{PromptTokens: []int32{1, 99999}}, llm.FieldPrompt},
		{"unparsable grammar", llm.Request{Prompt: "x", Sampling: llm.Sampling{Grammar: "root ::= ("}}, llm.FieldGrammar},
		{"undefined grammar rule", llm.Request{Prompt: "x", Sampling: llm.Sampling{Grammar: "root ::= item"}}, llm.FieldGrammar},
		{"left-recursive grammar", llm.Request{Prompt: "x", Sampling: llm.Sampling{Grammar: "root ::= root \"a\" | \"a\""}}, llm.FieldGrammar},
		// llama.cpp refuses repetition counts above 2,000.
		{"grammar repetition past llama.cpp's limit", llm.Request{Prompt: "x", Sampling: llm.Sampling{Grammar: `root ::= [a-z]{0,5000}`}}, llm.FieldGrammar},
		{"grammar without a root", llm.Request{Prompt: "x", Sampling: llm.Sampling{Grammar: `item ::= "a"`}}, llm.FieldGrammar},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Generate(ctx, tc.req)
			var re *llm.RequestError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Fatalf("got %v, want a llm.RequestError for %s", err, tc.field)
			}
		})
	}
	// Nothing above reached a slot or stayed queued.
	if st := b.Stats(); st.Running != 0 || st.Waiting != 0 {
		t.Errorf("after refused requests: %d running, %d waiting", st.Running, st.Waiting)
	}
}

// TestDecodeFailureEndsOnlyItsSequence makes one sequence outgrow its KV
// stream: the scheduler is told a sequence may hold more positions than
// llama.cpp gave it, so llama_decode finds no room for that sequence's
// next token. The batch is split until that sequence alone fails; the
// others stream to their end.
func TestDecodeFailureEndsOnlyItsSequence(t *testing.T) {
	b := newChat(t, Config{Parallel: 4, CtxSize: 4 * 64, QueueLen: 8})
	real := b.seqCtx
	b.seqCtx = real + 64 // set before any request: the job send orders it before the scheduler reads it
	ctx := context.Background()
	over, err := b.Generate(ctx, llm.Request{Prompt: longPrompt(t, b, real-8, "Tom ran."), MaxTokens: 40, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	var others []*llm.Stream
	for _, p := range storyPrompts(3) {
		s, err := b.Generate(ctx, llm.Request{Prompt: p, MaxTokens: 30, IgnoreEOS: true})
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, s)
	}
	_, res := collect(over)
	if res.Err == nil || !errors.Is(res.Err, inference.ErrNoKVSpace) {
		t.Fatalf("the sequence past its KV stream: %+v, want a no-KV-space error", res)
	}
	if got := res.PromptTokens + res.CompletionTokens; got > real+1 {
		t.Errorf("it generated %d tokens past the %d-cell stream", got-real, real)
	}
	for i, s := range others {
		text, res := collect(s)
		if res.Err != nil || res.CompletionTokens != 30 || text == "" {
			t.Errorf("sequence %d beside it: %d tokens, err %v", i, res.CompletionTokens, res.Err)
		}
	}
	// The failed sequence's cells were dropped; the scheduler's count and
	// llama.cpp's agree.
	if held, used := b.cachedTokens(), b.UsedCells(); held != used {
		t.Errorf("slots account for %d positions, llama.cpp holds %d", held, used)
	}
	// And the batcher still serves.
	s, err := b.Generate(ctx, greedy("Once upon a time", 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, res := collect(s); res.Err != nil || res.CompletionTokens != 8 {
		t.Errorf("after the failure: %+v", res)
	}
}

func TestGrammarConstrainsOutput(t *testing.T) {
	b := newChat(t, Config{Parallel: 2, CtxSize: 2 * 256})
	s, err := b.Generate(context.Background(), llm.Request{
		Prompt:    "Once upon a time",
		MaxTokens: 30,
		Sampling:  llm.Sampling{Grammar: `root ::= "yes" | "no"`},
	})
	if err != nil {
		t.Fatal(err)
	}
	text, res := collect(s)
	if text != "yes" && text != "no" {
		t.Errorf("grammar allows only yes or no, got %q (%s)", text, res.FinishReason)
	}
}

func TestSeededSamplingRepeats(t *testing.T) {
	b := newChat(t, Config{Parallel: 4, CtxSize: 4 * 256})
	run := func(seed uint32) string {
		s, err := b.Generate(context.Background(), llm.Request{
			Prompt: "Once upon a time", MaxTokens: 30,
			Sampling: llm.Sampling{Temperature: 1.0, TopP: 0.95, Seed: seed, HasSeed: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		text, _ := collect(s)
		return text
	}
	a, again, other := run(7), run(7), run(8)
	if a != again {
		t.Errorf("same seed, different text: %q vs %q", a, again)
	}
	if a == other {
		t.Errorf("seeds 7 and 8 gave the same text %q", a)
	}
}

func TestCancelFreesSlotAndCells(t *testing.T) {
	b := newChat(t, Config{Parallel: 2, CtxSize: 2 * 1024})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := b.Generate(ctx, llm.Request{Prompt: "Once upon a time", MaxTokens: 0})
	if err != nil {
		t.Fatal(err)
	}
	// Read a little, then hang up like a client closing its connection.
	got := 0
	for range s.Deltas() {
		if got++; got == 5 {
			cancel()
			break
		}
	}
	res := s.Result()
	if res.FinishReason != llm.FinishCancel {
		t.Errorf("finish %q, want %q", res.FinishReason, llm.FinishCancel)
	}
	st := b.Stats()
	if st.Running != 0 || st.Waiting != 0 {
		t.Errorf("after cancel: running %d waiting %d", st.Running, st.Waiting)
	}
	b.ClearCache()
	if used := b.UsedCells(); used != 0 {
		t.Errorf("%d KV cells still used after cancel and cache clear", used)
	}
}

func TestOverloadRefusedWithRetryHint(t *testing.T) {
	b := newChat(t, Config{Parallel: 1, QueueLen: 1, CtxSize: 2048})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One running, one waiting: the third is refused.
	for i := 0; i < 2; i++ {
		if b.QueueFull() {
			t.Fatalf("queue full with %d of 2 places taken", i)
		}
		if _, err := b.Generate(ctx, llm.Request{Prompt: "Once upon a time", MaxTokens: 0}); err != nil {
			t.Fatal(err)
		}
	}
	if !b.QueueFull() {
		t.Error("QueueFull is false with the slot and the queue taken")
	}
	_, err := b.Generate(ctx, llm.Request{Prompt: "Once upon a time", MaxTokens: 1})
	var over *llm.OverloadedError
	if !errors.As(err, &over) || over.RetryAfter <= 0 {
		t.Fatalf("got %v, want llm.OverloadedError with a retry hint", err)
	}
	if b.Stats().Refused != 1 {
		t.Errorf("refused counter %d, want 1", b.Stats().Refused)
	}
}

func TestQueueWaitLimit(t *testing.T) {
	b := newChat(t, Config{Parallel: 1, QueueLen: 4, CtxSize: 2048, MaxQueueWait: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := b.Generate(ctx, llm.Request{Prompt: "Once upon a time", MaxTokens: 0, IgnoreEOS: true}); err != nil {
		t.Fatal(err)
	}
	s, err := b.Generate(ctx, llm.Request{Prompt: "Once upon a time", MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, res := collect(s)
	var over *llm.OverloadedError
	if !errors.As(res.Err, &over) || res.QueueWait < 50*time.Millisecond || res.CompletionTokens != 0 {
		t.Errorf("queued request: %+v, want llm.OverloadedError after waiting 50ms", res)
	}
}

func TestPrefixCacheReuse(t *testing.T) {
	b := newChat(t, Config{Parallel: 4, CtxSize: 4 * 1024})
	ctx := context.Background()
	system := longPrompt(t, b, 300, "Lily had a dog named Max.")
	run := func(prompt string) (string, llm.Result) {
		s, err := b.Generate(ctx, greedy(prompt, 20))
		if err != nil {
			t.Fatal(err)
		}
		return collect(s)
	}
	_, first := run(system + " Then Tom came.")
	if first.CachedTokens != 0 {
		t.Errorf("first request reused %d tokens from an empty cache", first.CachedTokens)
	}
	text, second := run(system + " Then Mia sang.")
	if second.CachedTokens < 290 {
		t.Errorf("second request reused %d tokens, want the ~300-token shared prefix", second.CachedTokens)
	}
	b.ClearCache()
	uncached, third := run(system + " Then Mia sang.")
	if third.CachedTokens != 0 {
		t.Errorf("after ClearCache the request reused %d tokens", third.CachedTokens)
	}
	// Reused cells hold what recomputing them gives (up to the rounding
	// of another batch shape): both texts follow the greedy reference.
	matchesGreedy(t, system+" Then Mia sang.", text, 20)
	matchesGreedy(t, system+" Then Mia sang.", uncached, 20)
	if st := b.Stats(); st.PrefixHits == 0 || st.PrefixHitTokens < 290 {
		t.Errorf("stats: %d hits, %d tokens", st.PrefixHits, st.PrefixHitTokens)
	}
}

// TestStress runs 200 concurrent clients with random lengths, stop strings
// and cancellations, and checks every outcome and that no slot or KV cell
// leaks.
func TestStress(t *testing.T) {
	b := newChat(t, Config{Parallel: 8, CtxSize: 8 * 256, QueueLen: 256})
	const clients = 200
	prompts := storyPrompts(24)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 42))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := llm.Request{Prompt: prompts[r.IntN(len(prompts))], MaxTokens: 1 + r.IntN(60)}
			if r.IntN(3) == 0 {
				req.Stop = []string{"the", "."}
			}
			if r.IntN(2) == 0 {
				req.Sampling = llm.Sampling{Temperature: 0.8, Seed: uint32(i), HasSeed: true}
			}
			cancelAfter := -1
			if r.IntN(4) == 0 {
				cancelAfter = r.IntN(10)
			}
			s, err := b.Generate(ctx, req)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			var sb strings.Builder
			n := 0
			for d := range s.Deltas() {
				sb.WriteString(d.Text)
				if n++; n == cancelAfter {
					cancel()
				}
			}
			res := s.Result()
			text := sb.String()
			switch {
			case res.Err != nil:
				t.Errorf("client %d: %v", i, res.Err)
			case res.FinishReason == llm.FinishCancel:
				if cancelAfter < 0 {
					t.Errorf("client %d cancelled without cancelling", i)
				}
			case res.FinishReason == llm.FinishLength:
				if res.CompletionTokens != req.MaxTokens {
					t.Errorf("client %d: length after %d tokens, max %d", i, res.CompletionTokens, req.MaxTokens)
				}
			case res.FinishReason == llm.FinishStop:
				if res.CompletionTokens > req.MaxTokens {
					t.Errorf("client %d: %d tokens beyond max %d", i, res.CompletionTokens, req.MaxTokens)
				}
			default:
				t.Errorf("client %d: finish reason %q", i, res.FinishReason)
			}
			for _, stop := range req.Stop {
				if strings.Contains(text, stop) {
					t.Errorf("client %d: text %q contains stop string %q", i, text, stop)
				}
			}
		}()
	}
	wg.Wait()
	st := b.Stats()
	if st.Running != 0 || st.Waiting != 0 {
		t.Errorf("after all clients: running %d, waiting %d", st.Running, st.Waiting)
	}
	if cached := b.cachedTokens(); b.UsedCells() != cached {
		t.Errorf("KV holds %d positions, the slots account for %d", b.UsedCells(), cached)
	}
	b.ClearCache()
	if used := b.UsedCells(); used != 0 {
		t.Errorf("%d KV cells used after all requests ended and the cache was cleared", used)
	}
}

func TestEmbeddingsCoalesce(t *testing.T) {
	b, err := New(Config{ModelPath: modelPath(t, models.MiniLMModel), Parallel: 16, Threads: 1, QueueLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	texts := []string{"How do I reset my password?", "Where is my order?", "Can I get a refund?", "Talk to a human please"}
	ref, err := b.Embed(ctx, llm.EmbedRequest{Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Vectors) != len(texts) || len(ref.Vectors[0]) != 384 || ref.PromptTokens == 0 {
		t.Fatalf("got %d vectors of %d dims, %d tokens", len(ref.Vectors), len(ref.Vectors[0]), ref.PromptTokens)
	}
	stepsBefore := b.Stats().Steps
	const clients = 32
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % len(texts)
			res, err := b.Embed(ctx, llm.EmbedRequest{Texts: []string{texts[k]}})
			if err != nil {
				t.Error(err)
				return
			}
			var dot float32
			for j, x := range res.Vectors[0] {
				dot += x * ref.Vectors[k][j]
			}
			if dot < 0.9999 {
				t.Errorf("client %d: cosine %f with the reference embedding", i, dot)
			}
		}()
	}
	wg.Wait()
	if steps := b.Stats().Steps - stepsBefore; steps >= clients {
		t.Errorf("%d decodes for %d concurrent single-input requests: nothing was coalesced", steps, clients)
	}

	long := strings.Repeat("password reset help ", 400)
	for _, bad := range []llm.EmbedRequest{{}, {Tokens: [][]int32{{1, 99999}}}, {Tokens: [][]int32{{}}}} {
		var re *llm.RequestError
		if _, err := b.Embed(ctx, bad); !errors.As(err, &re) || re.Field != llm.FieldInput {
			t.Errorf("embedding %+v: got %v, want a llm.RequestError for the input", bad, err)
		}
	}
	if _, err := b.Embed(ctx, llm.EmbedRequest{Texts: []string{long}}); !errors.As(err, new(*llm.PromptTooLongError)) {
		t.Errorf("over-long input: got %v, want llm.PromptTooLongError", err)
	}
	res, err := b.Embed(ctx, llm.EmbedRequest{Texts: []string{long}, Truncate: true})
	if err != nil || len(res.Vectors) != 1 || res.PromptTokens != b.SeqCtx() {
		t.Errorf("truncated input: %v, %d tokens (limit %d)", err, res.PromptTokens, b.SeqCtx())
	}
	if _, err := b.Generate(ctx, llm.Request{Prompt: "hi"}); err == nil {
		t.Error("an embedding model accepted a generation request")
	}
}

func TestCloseEndsStreams(t *testing.T) {
	b, err := New(Config{ModelPath: modelPath(t, models.StoriesModel), Parallel: 1, QueueLen: 4, CtxSize: 4096, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var streams []*llm.Stream
	for i := 0; i < 3; i++ {
		s, err := b.Generate(context.Background(), llm.Request{Prompt: "Once upon a time", MaxTokens: 0})
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	// Close while one runs and two wait.
	testenv.Eventually(t, 10*time.Second, func() bool { st := b.Stats(); return st.Running == 1 && st.Waiting == 2 },
		"the scheduler did not take up the first request")
	b.Close()
	for i, s := range streams {
		_, res := collect(s)
		if !errors.Is(res.Err, ErrClosed) && res.FinishReason != llm.FinishLength {
			t.Errorf("stream %d after Close: %+v", i, res)
		}
	}
	if _, err := b.Generate(context.Background(), llm.Request{Prompt: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Generate after Close: %v", err)
	}
}

func TestBadModelPath(t *testing.T) {
	_, err := New(Config{ModelPath: filepath.Join(t.TempDir(), "missing.gguf")})
	if err == nil {
		t.Fatal("a missing model loaded")
	}
}

// TestLongPromptIsChunked checks that a long prompt arriving while another
// sequence streams is spread over several steps: the streaming sequence
// keeps receiving tokens while the prompt is read.
func TestLongPromptIsChunked(t *testing.T) {
	b := newChat(t, Config{Parallel: 2, CtxSize: 2 * 1024})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := b.Generate(ctx, llm.Request{Prompt: "Once upon a time", MaxTokens: 0, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	var streamed atomic.Int64
	go func() {
		for d := range a.Deltas() {
			streamed.Add(int64(d.Tokens))
		}
	}()
	testenv.Eventually(t, 10*time.Second, func() bool { return streamed.Load() >= 3 }, "the first stream sent no tokens")
	long := longPrompt(t, b, 600, "Tom had a kite.")
	before := streamed.Load()
	s, err := b.Generate(context.Background(), llm.Request{Prompt: long, MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, res := collect(s)
	during := streamed.Load() - before
	t.Logf("%d tokens streamed while a %d-token prompt was read", during, res.PromptTokens)
	// Chunked: hundreds (measured 357-409); read in one step: about 3.
	if res.PromptTokens < 600 || during < 20 {
		t.Errorf("%d-token prompt: the streaming sequence got %d tokens while it was read; chunked prefill lets it go on",
			res.PromptTokens, during)
	}
}

func TestFlashAttentionChoice(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		mode, cache string
		gpuLayers   int
		want        *bool
		err         string
	}{
		{mode: "auto", want: &off},
		{mode: "", cache: "f32", want: &off},
		{mode: "auto", gpuLayers: -1, want: nil},
		{mode: "auto", cache: "q8_0", want: &on}, // quantized values need the kernel
		{mode: "on", cache: "f16", want: &on},
		{mode: "off", cache: "q4_0", err: "needs flash attention"},
		{mode: "off", cache: "f8", err: "want one of"},
		{mode: "sometimes", err: "want on, off or auto"},
	} {
		got, err := flashAttention(tc.mode, tc.gpuLayers, tc.cache)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q/%q: err = %v, want %q", tc.mode, tc.cache, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q/%q: %v", tc.mode, tc.cache, err)
			continue
		}
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%q/%q gpu %d: got %v, want %v", tc.mode, tc.cache, tc.gpuLayers, fmtBool(got), fmtBool(tc.want))
		}
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "llama.cpp's choice"
	}
	return strconv.FormatBool(*b)
}

// TestEmbeddingBulkYields checks that bulk embedding work gives way to
// interactive requests at every decode, and that a bulk request's vectors,
// embedded a few inputs at a time, are the same as embedding them at once.
func TestEmbeddingBulkYields(t *testing.T) {
	b, err := New(Config{ModelPath: modelPath(t, models.MiniLMModel), Parallel: 4, Threads: 1, QueueLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	var texts []string
	for i := range 48 {
		texts = append(texts, fmt.Sprintf("Passage %d: %s", i, strings.Repeat("refunds for annual plans are prorated to the day. ", 20)))
	}
	ref, err := b.Embed(ctx, llm.EmbedRequest{Texts: texts[:3]})
	if err != nil {
		t.Fatal(err)
	}
	steps := b.Stats().Steps
	bulkDone := make(chan llm.EmbedResult, 1)
	go func() {
		res, err := b.Embed(ctx, llm.EmbedRequest{Texts: texts, Priority: llm.PriorityBulk})
		if err != nil {
			t.Error(err)
		}
		bulkDone <- res
	}()
	testenv.Eventually(t, time.Minute, func() bool { return b.Stats().Steps > steps }, "the bulk request never started")
	q, err := b.Embed(ctx, llm.EmbedRequest{Texts: []string{"how do refunds work?"}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-bulkDone:
		t.Fatal("the interactive request finished only after the whole bulk request: it did not get priority")
	default:
	}
	if len(q.Vectors) != 1 {
		t.Fatalf("%d vectors for one input", len(q.Vectors))
	}
	res := <-bulkDone
	if len(res.Vectors) != len(texts) {
		t.Fatalf("bulk: %d vectors for %d inputs", len(res.Vectors), len(texts))
	}
	for i := range ref.Vectors {
		var dot float32
		for j, x := range res.Vectors[i] {
			dot += x * ref.Vectors[i][j]
		}
		if dot < 0.999 {
			t.Errorf("bulk vector %d: cosine %f with the same input embedded interactively", i, dot)
		}
	}

	// A cancelled bulk request ends promptly and leaves the model serving.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := b.Embed(cctx, llm.EmbedRequest{Texts: texts, Priority: llm.PriorityBulk})
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled bulk request: %v, want context.Canceled", err)
	}
	if _, err := b.Embed(ctx, llm.EmbedRequest{Texts: []string{"still serving?"}}); err != nil {
		t.Errorf("after a cancelled bulk request: %v", err)
	}
	if got := b.Stats(); got.Running != 0 || got.Waiting != 0 {
		t.Errorf("after all requests: %d running, %d waiting", got.Running, got.Waiting)
	}
}

// TestPredictedTTFTIncludesFirstToken: the router's estimate is the wait
// for a slot plus what a slot takes to its first token, learnt from the
// requests served; the wait alone would admit requests that then miss the
// SLO by their prefill.
func TestPredictedTTFTIncludesFirstToken(t *testing.T) {
	b := newChat(t, Config{Parallel: 1, QueueLen: 4, CtxSize: 1024})
	if got := b.PredictedTTFT(); got != 0 {
		t.Fatalf("PredictedTTFT before any request = %v, want 0", got)
	}
	prompt := longPrompt(t, b, 400, "Once upon a time,")
	for range 3 {
		st, err := b.Generate(context.Background(), greedy(prompt, 4))
		if err != nil {
			t.Fatal(err)
		}
		if _, res := collect(st); res.Err != nil || res.TimeToFirstToken <= 0 {
			t.Fatalf("result %+v", res)
		}
	}
	if w := b.PredictedWait(); w != 0 {
		t.Fatalf("PredictedWait on an idle batcher = %v, want 0", w)
	}
	idle := b.PredictedTTFT()
	if idle <= 0 {
		t.Fatalf("PredictedTTFT after 3 requests = %v, want the learnt time to first token (> 0)", idle)
	}
	// Occupy the slot and queue one behind it: the estimate grows by the
	// wait, and keeps the time to first token on top of it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var streams []*llm.Stream
	for range 2 {
		st, err := b.Generate(ctx, greedy(prompt, 256))
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	wait, ttft := b.PredictedWait(), b.PredictedTTFT()
	cancel()
	for _, st := range streams {
		collect(st)
	}
	if wait <= 0 || ttft < wait+idle/2 {
		t.Fatalf("busy: PredictedWait %v, PredictedTTFT %v; want a wait, and the first-token time (~%v) on top of it", wait, ttft, idle)
	}
}

// TestQuantileTracksP99: the shortfall tracker settles where 99% of the
// observations lie below it, from below and from above.
func TestQuantileTracksP99(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, start := range []float64{0, 20} {
		var q quantile
		q.bits.Store(math.Float64bits(start))
		sum := 0.0
		for i := range 20000 {
			q.observe(1 + 4*rng.Float64()) // uniform [1, 5): p99 4.96
			if i >= 15000 {
				sum += q.value()
			}
		}
		// Each step moves it by up to 0.2: its mean over the last
		// observations is the estimate.
		if got := sum / 5000; got < 4.8 || got > 5.1 {
			t.Errorf("from %v: estimate %.2f of uniform [1, 5), want about 4.96", start, got)
		}
	}
}
