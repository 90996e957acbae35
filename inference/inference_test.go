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

// generate runs greedy generation for each prompt, all in one batch per step.
func generate(t testing.TB, g *Generator, ps []string, n int) []string {
	t.Helper()
	m := g.Model()
	type seq struct {
		pos     int
		idx     int
		sampler *Sampler
		dec     *TextDecoder
		out     strings.Builder
		done    bool
	}
	seqs := make([]*seq, len(ps))
	for i, p := range ps {
		toks, err := m.Tokenize(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := g.NewSampler(Sampling{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		seqs[i] = &seq{sampler: s, dec: m.NewTextDecoder(), pos: len(toks)}
		if seqs[i].idx, err = g.Add(i, 0, toks, true); err != nil {
			t.Fatal(err)
		}
	}
	for step := 0; step < n; step++ {
		if err := g.Decode(); err != nil {
			t.Fatal(err)
		}
		live := 0
		for i, s := range seqs {
			if s.done {
				continue
			}
			tok := g.Sample(s.sampler, s.idx)
			if m.IsEOG(tok) {
				s.done = true
				continue
			}
			s.out.WriteString(s.dec.Add(tok))
			var err error
			if s.idx, err = g.Add(i, s.pos, []Token{tok}, true); err != nil {
				t.Fatal(err)
			}
			s.pos++
			live++
		}
		if live == 0 {
			break
		}
	}
	g.Decode() // flush the last queued tokens
	out := make([]string, len(seqs))
	for i, s := range seqs {
		out[i] = s.out.String() + s.dec.Flush()
		g.Forget(i)
	}
	return out
}

func TestGreedyDeterministicAloneAndBatched(t *testing.T) {
	chat, _ := testModels(t)
	g, err := NewGenerator(chat, GeneratorParams{Sequences: 8, CtxSize: 8 * 256, BatchSize: 512, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const n = 60
	batched := generate(t, g, prompts, n)
	again := generate(t, g, prompts, n)
	for i, p := range prompts {
		alone := generate(t, g, []string{p}, n)[0]
		if alone == "" {
			t.Fatalf("prompt %q generated nothing", p)
		}
		if alone != batched[i] {
			t.Errorf("prompt %q: alone %q, batched %q", p, alone, batched[i])
		}
		if again[i] != batched[i] {
			t.Errorf("prompt %q: second batched run differs: %q vs %q", p, again[i], batched[i])
		}
	}
	if g.UsedPositions() != 0 {
		t.Errorf("KV memory holds %d positions after every sequence was forgotten", g.UsedPositions())
	}
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
		if got := chat.Detokenize(toks); got != s {
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
