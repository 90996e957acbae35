package inference

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/infergate/infergate/models"
)

var (
	loadOnce   sync.Once
	chatModel  *Model
	embedModel *Model
	loadErr    error
)

// testModels loads the two real test models once for the package.
func testModels(t testing.TB) (*Model, *Model) {
	t.Helper()
	loadOnce.Do(func() {
		var chatPath, embedPath string
		if chatPath, loadErr = models.TestModelPath(models.StoriesModel); loadErr != nil {
			return
		}
		if embedPath, loadErr = models.TestModelPath(models.MiniLMModel); loadErr != nil {
			return
		}
		if chatModel, loadErr = Load(chatPath, Options{}); loadErr != nil {
			return
		}
		embedModel, loadErr = Load(embedPath, Options{})
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return chatModel, embedModel
}

var prompts = []string{
	"Once upon a time",
	"The little dog",
	"Lily and Tom went to the park",
	"One day, a big bear",
	"The sun was hot and",
	"Sam had a red ball",
	"There was a tiny bird who",
	"Mom said",
}

// trace is one sequence's greedy run: the token chosen at each step and
// the logits it was chosen from.
type trace struct {
	tokens []Token
	logits [][]float32
}

// greedyTraces decodes every prompt in one batch per step for n steps and
// picks each next token as the argmax of its logits. With forced set, step
// k of sequence i feeds forced[i].tokens[k] instead (teacher forcing), so
// that two runs see the same token history even where they would choose
// differently, and their logits can be compared step by step.
func greedyTraces(t testing.TB, g *Generator, ps []string, n int, forced []trace) []trace {
	t.Helper()
	m := g.Model()
	out := make([]trace, len(ps))
	idx := make([]int, len(ps))
	pos := make([]int, len(ps))
	for i, p := range ps {
		toks, err := m.Tokenize(p)
		if err != nil {
			t.Fatal(err)
		}
		pos[i] = len(toks)
		if idx[i], err = g.Add(i, 0, toks, true); err != nil {
			t.Fatal(err)
		}
	}
	for step := 0; step < n; step++ {
		if err := g.Decode(); err != nil {
			t.Fatal(err)
		}
		for i := range ps {
			logits := slices.Clone(g.Logits(idx[i]))
			tok := Token(argmax(logits))
			if forced != nil {
				tok = forced[i].tokens[step]
			}
			out[i].tokens = append(out[i].tokens, tok)
			out[i].logits = append(out[i].logits, logits)
			var err error
			if idx[i], err = g.Add(i, pos[i], []Token{tok}, true); err != nil {
				t.Fatal(err)
			}
			pos[i]++
		}
	}
	g.Decode() // the last queued tokens
	for i := range ps {
		g.Forget(i)
	}
	return out
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// topTwoGap is how far the best logit leads the second best.
func topTwoGap(v []float32) float32 {
	first, second := float32(math.Inf(-1)), float32(math.Inf(-1))
	for _, x := range v {
		switch {
		case x > first:
			first, second = x, first
		case x > second:
			second = x
		}
	}
	return first - second
}

// TestBatchedLogitsMatchAlone checks that a sequence decoded among seven
// others computes what it computes alone. llama.cpp does not promise
// bit-identical results across batch shapes: a batch of 8 takes other
// matrix kernels and reduction orders than a batch of 1 (and the kernels
// differ between AVX2 and AVX-512 machines), so greedy text can part at a
// near tie and then diverge for good. What must hold: with the same token
// history (teacher forcing), the logits agree within a small tolerance at
// every step, and the greedy choice agrees wherever the top two logits are
// not a near tie. State leaking between sequences would break both by far
// more than rounding does.
func TestBatchedLogitsMatchAlone(t *testing.T) {
	chat, _ := testModels(t)
	// One thread: the model is tiny, and threads that spin-wait for each
	// other crawl on a machine whose other core is busy.
	g, err := NewGenerator(chat, GeneratorParams{Sequences: 8, CtxSize: 8 * 256, BatchSize: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const (
		n = 60
		// stories260K's logits span about 20 units. Other kernels and
		// summation orders (and the f16 KV cells they read back) moved
		// them by at most 0.015 on an AVX2 machine; leaked state moves
		// them by whole units (TestBatchedLogitsDetectLeaks).
		tolerance = 0.05
		nearTie   = 2 * tolerance
	)
	batched := greedyTraces(t, g, prompts, n, nil)
	again := greedyTraces(t, g, prompts, n, nil)
	var worst float32
	for i, p := range prompts {
		alone := greedyTraces(t, g, []string{p}, n, batched[i:i+1])[0]
		for step := range n {
			b, a := batched[i].logits[step], alone.logits[step]
			d := maxAbsDiff(a, b)
			worst = max(worst, d)
			if d > tolerance {
				t.Fatalf("prompt %q step %d: logits alone and batched differ by %g (tolerance %g)", p, step, d, tolerance)
			}
			if argmax(a) != argmax(b) && topTwoGap(a) > nearTie {
				t.Errorf("prompt %q step %d: greedy token alone %d, batched %d, though the top two logits are %g apart",
					p, step, argmax(a), argmax(b), topTwoGap(a))
			}
		}
		// The same batch shape is the same computation.
		if !slices.Equal(again[i].tokens, batched[i].tokens) {
			t.Errorf("prompt %q: a second batched run chose other tokens", p)
		}
	}
	t.Logf("largest logit difference alone vs batched over %d steps: %g (logits of the last step span %g)",
		n, worst, spread(batched[0].logits[n-1]))
	if g.UsedPositions() != 0 {
		t.Errorf("KV memory holds %d positions after every sequence was forgotten", g.UsedPositions())
	}
}

// TestBatchedLogitsDetectLeaks shows that the comparison above would catch
// state shared between sequences: logits computed over another sequence's
// history differ by far more than the tolerance.
func TestBatchedLogitsDetectLeaks(t *testing.T) {
	chat, _ := testModels(t)
	g, err := NewGenerator(chat, GeneratorParams{Sequences: 2, CtxSize: 2 * 256, BatchSize: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	a := greedyTraces(t, g, prompts[:1], 8, nil)[0]
	b := greedyTraces(t, g, prompts[1:2], 8, nil)[0]
	if d := maxAbsDiff(a.logits[7], b.logits[7]); d < 1 {
		t.Errorf("two different stories give logits only %g apart: the tolerance would not tell a leak from rounding", d)
	}
}

func spread(v []float32) float32 { return slices.Max(v) - slices.Min(v) }

func maxAbsDiff(a, b []float32) float32 {
	var d float32
	for i := range a {
		d = max(d, float32(math.Abs(float64(a[i]-b[i]))))
	}
	return d
}

func TestEmbeddingsRankParaphraseFirst(t *testing.T) {
	_, emb := testModels(t)
	e, err := NewEmbedder(emb, EmbedderParams{Sequences: 8, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	texts := []string{
		"How do I reset my password?",
		"I forgot my password and need to change it.",
		"The weather in Paris is sunny today.",
		"Our shipping takes five business days.",
		"Bananas are rich in potassium.",
	}
	inputs := make([][]Token, len(texts))
	for i, s := range texts {
		if inputs[i], err = emb.Tokenize(s); err != nil {
			t.Fatal(err)
		}
	}
	vecs, err := e.Embed(inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if len(v) != 384 {
			t.Fatalf("vector %d has %d dims, want 384", i, len(v))
		}
		if n := dot(v, v); math.Abs(float64(n)-1) > 1e-4 {
			t.Errorf("vector %d has squared norm %f, want 1", i, n)
		}
	}
	para := dot(vecs[0], vecs[1])
	for i := 2; i < len(vecs); i++ {
		if other := dot(vecs[0], vecs[i]); other >= para {
			t.Errorf("unrelated %q scores %.3f >= paraphrase %.3f", texts[i], other, para)
		}
	}
	// The same input alone gives the same vector as in a batch.
	alone, err := e.Embed(inputs[2:3])
	if err != nil {
		t.Fatal(err)
	}
	if d := dot(alone[0], vecs[2]); d < 0.9999 {
		t.Errorf("batched and single embedding differ: cosine %f", d)
	}
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestTokenizeRoundTrip(t *testing.T) {
	chat, _ := testModels(t)
	cases := []string{
		"Hello, world!",
		"Grüße aus München — ça va?",
		"日本語のテキストです",
		"Привет, как дела?",
		"emoji: 👋🏽 🚀 👩‍💻",
		"mixed 中文 and English 123",
		"  leading and trailing spaces  ",
		"",
	}
	for _, s := range cases {
		toks, err := chat.m.Tokenize(s, false, false)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got, err := chat.Detokenize(toks); err != nil || got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
		// Streaming through the TextDecoder yields the same text and never
		// a broken character.
		d := chat.NewTextDecoder()
		var b strings.Builder
		for _, tok := range toks {
			piece := d.Add(tok)
			if !isValidUTF8(piece) {
				t.Errorf("%q: decoder emitted invalid UTF-8 %q", s, piece)
			}
			b.WriteString(piece)
		}
		b.WriteString(d.Flush())
		// Detokenize strips the leading space SentencePiece adds; the
		// streamed text keeps it.
		if got := strings.TrimPrefix(b.String(), " "); got != strings.TrimPrefix(s, " ") && got != s {
			t.Errorf("streamed %q gave %q", s, b.String())
		}
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestChatTemplateFallback(t *testing.T) {
	chat, _ := testModels(t)
	if chat.Info().ChatTemplate != FallbackTemplate {
		t.Fatalf("stories260K has no template, want fallback %q, got %q", FallbackTemplate, chat.Info().ChatTemplate)
	}
	out, err := chat.ApplyTemplate([]Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestBadModelFiles(t *testing.T) {
	chatPath, err := models.TestModelPath(models.StoriesModel)
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(chatPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		"missing":        filepath.Join(dir, "nope.gguf"),
		"text file":      write("notes.txt", []byte("this is not a model\n")),
		"empty":          write("empty.gguf", nil),
		"header only":    write("header.gguf", good[:64]),
		"truncated half": write("half.gguf", good[:len(good)/2]),
		"truncated tail": write("tail.gguf", good[:len(good)-100]),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := Load(path, Options{})
			if err == nil {
				m.Close()
				t.Fatalf("loading %s succeeded", path)
			}
			if !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestLoadFreeDoesNotLeak(t *testing.T) {
	chatPath, err := models.TestModelPath(models.StoriesModel)
	if err != nil {
		t.Fatal(err)
	}
	cycle := func(n int) {
		for i := 0; i < n; i++ {
			m, err := Load(chatPath, Options{})
			if err != nil {
				t.Fatal(err)
			}
			g, err := NewGenerator(m, GeneratorParams{Sequences: 2, CtxSize: 256})
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			m.Close()
		}
	}
	// glibc keeps freed memory in its arenas, so RSS after the first
	// cycles says little. A leak grows linearly: compare two equal runs
	// after a warm-up. Leaking the weights (1.2 MB) or a context per cycle
	// would add over 100 MB per run.
	cycle(30)
	a := rssKB(t)
	cycle(100)
	b := rssKB(t)
	cycle(100)
	c := rssKB(t)
	t.Logf("RSS after warm-up %d KB, +100 cycles %d KB, +100 more %d KB", a, b, c)
	if c-b > 8*1024 {
		t.Errorf("RSS grew %d KB, then %d KB more over a second 100 load/free cycles", b-a, c-b)
	}
}

func rssKB(t *testing.T) int {
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func TestTextDecoderHidesControlTokens(t *testing.T) {
	chat, _ := testModels(t)
	d := chat.NewTextDecoder()
	eos := chat.m.EOS()
	if !chat.m.IsControl(eos) {
		t.Fatalf("EOS %d is not a control token in this model", eos)
	}
	if got := d.Add(eos) + d.Flush(); got != "" {
		t.Errorf("EOS rendered as %q", got)
	}
}

// The cache type must reach llama.cpp: f32 cells change the logits a
// little (f16 rounds keys and values), not the answer; a quantized type the
// model's head size cannot hold, or an unknown name, is refused clearly.
func TestCacheTypes(t *testing.T) {
	chat, _ := testModels(t)
	prompt, err := chat.Tokenize("Once upon a time, there was a little dog named Max.")
	if err != nil {
		t.Fatal(err)
	}
	logits := func(cacheType string) []float32 {
		t.Helper()
		off := false
		g, err := NewGenerator(chat, GeneratorParams{Sequences: 1, CtxSize: 256, Threads: 1, FlashAttention: &off, CacheType: cacheType})
		if err != nil {
			t.Fatalf("cache type %q: %v", cacheType, err)
		}
		defer g.Close()
		idx, err := g.Add(0, 0, prompt, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Decode(); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(g.Logits(idx))
	}
	f16, f32 := logits(""), logits("f32")
	if slices.Equal(f16, f32) {
		t.Error("f32 and f16 caches gave identical logits: the cache type did not reach llama.cpp")
	}
	argmax := func(l []float32) int {
		best := 0
		for i, v := range l {
			if v > l[best] {
				best = i
			}
		}
		return best
	}
	if argmax(f16) != argmax(f32) {
		t.Errorf("f32 cache changed the greedy token: %d, f16 %d", argmax(f32), argmax(f16))
	}

	on := true
	// stories260K has 8-dimensional heads; q8_0 blocks hold 32 values.
	_, err = NewGenerator(chat, GeneratorParams{Sequences: 1, CtxSize: 256, FlashAttention: &on, CacheType: "q8_0"})
	if err == nil || !strings.Contains(err.Error(), "q8_0") {
		t.Errorf("q8_0 cache on a model with 8-dimensional heads: err = %v, want a refusal naming the type", err)
	}
	_, err = NewGenerator(chat, GeneratorParams{Sequences: 1, CtxSize: 256, CacheType: "f8"})
	if err == nil || !strings.Contains(err.Error(), "q8_0") {
		t.Errorf("unknown cache type: err = %v, want one listing the valid types", err)
	}
}

// TestAddIsAllOrNothing: a failed Add leaves the batch as it was, and
// DiscardPending empties it, so that a batch abandoned half-built cannot
// leak tokens into the next decode.
func TestAddIsAllOrNothing(t *testing.T) {
	chat, _ := testModels(t)
	g, err := NewGenerator(chat, GeneratorParams{Sequences: 2, CtxSize: 2 * 128, BatchSize: 16, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	toks := make([]Token, 10)
	for i := range toks {
		toks[i] = Token(100 + i)
	}
	if _, err := g.Add(0, 0, toks, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		seq  int
		n    int
	}{{"past the batch's capacity", 1, 7}, {"unknown sequence", 2, 1}, {"negative sequence", -1, 1}} {
		if _, err := g.Add(tc.seq, 0, toks[:tc.n], true); err == nil {
			t.Errorf("%s: Add succeeded", tc.name)
		}
		if g.Pending() != 10 {
			t.Errorf("%s: %d tokens pending after the failed Add, want the 10 added before", tc.name, g.Pending())
		}
	}
	g.DiscardPending()
	if g.Pending() != 0 {
		t.Errorf("%d tokens pending after DiscardPending", g.Pending())
	}
	// The next decode sees only what is added after.
	idx, err := g.Add(1, 0, toks[:3], true)
	if err != nil || idx != 2 {
		t.Fatalf("Add after discard: index %d, %v; want 2", idx, err)
	}
	if err := g.Decode(); err != nil {
		t.Fatal(err)
	}
	if g.SeqLen(0) != 0 || g.SeqLen(1) != 3 {
		t.Errorf("after the decode: sequence 0 holds %d positions (want 0), sequence 1 holds %d (want 3)", g.SeqLen(0), g.SeqLen(1))
	}
}
