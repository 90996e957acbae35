package llama

import (
	"errors"
	"strings"
	"testing"

	"github.com/infergate/infergate/models"
)

func loadStories(t *testing.T) *Model {
	t.Helper()
	path, err := models.TestModelPath(models.StoriesModel)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(path, ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// decodePrompt creates a context with p and decodes text into sequence 0,
// with the logits of its last token; it returns the context (closed when
// the test ends) and the prompt's tokens.
func decodePrompt(t *testing.T, m *Model, p ContextParams, text string) (*Context, []Token) {
	t.Helper()
	c, err := NewContext(m, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	b := NewBatch(p.NBatch, 1)
	defer b.Close()
	toks, err := m.Tokenize(text, true, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if _, err := b.Add(tok, i, []int{0}, i == len(toks)-1); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Decode(b); err != nil {
		t.Fatal(err)
	}
	return c, toks
}

func TestApplyChatTemplate(t *testing.T) {
	msgs := []ChatMessage{{Role: "system", Content: "Be kind."}, {Role: "user", Content: "Hello"}}
	cases := []struct {
		tmpl, want string
		addAss     bool
	}{
		{"chatml", "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", true},
		{"chatml", "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n", false},
		{"llama3", "<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", true},
	}
	for _, c := range cases {
		got, err := ApplyChatTemplate(c.tmpl, msgs, c.addAss)
		if err != nil {
			t.Fatalf("%s: %v", c.tmpl, err)
		}
		if got != c.want {
			t.Errorf("%s add_ass=%v:\n got %q\nwant %q", c.tmpl, c.addAss, got, c.want)
		}
	}
	if _, err := ApplyChatTemplate("{{ no such template }}", msgs, true); err != ErrUnknownTemplate {
		t.Errorf("unknown template: got %v", err)
	}
	// A long conversation outgrows the first buffer guess.
	long := []ChatMessage{{Role: "user", Content: strings.Repeat("word ", 5000)}}
	got, err := ApplyChatTemplate("chatml", long, true)
	if err != nil || !strings.HasSuffix(got, "<|im_start|>assistant\n") || len(got) < 25000 {
		t.Errorf("long conversation: %v, %d bytes", err, len(got))
	}
}

func TestTokenizeSpecialHandling(t *testing.T) {
	m := loadStories(t)
	plain, err := m.Tokenize("Hello", false, false)
	if err != nil || len(plain) == 0 {
		t.Fatalf("tokenize: %v %v", plain, err)
	}
	withBOS, err := m.Tokenize("Hello", true, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(withBOS) != len(plain)+1 || withBOS[0] != m.BOS() {
		t.Errorf("addSpecial should prepend BOS %d: %v vs %v", m.BOS(), withBOS, plain)
	}
	empty, err := m.Tokenize("", false, false)
	if err != nil || len(empty) != 0 {
		t.Errorf("empty text: %v %v", empty, err)
	}
	// Long input takes the retry path with an exact-size buffer.
	long := strings.Repeat("The cat sat on the mat. ", 2000)
	toks, err := m.Tokenize(long, false, false)
	if err != nil || len(toks) < 1000 {
		t.Fatalf("long text: %d tokens, %v", len(toks), err)
	}
	if got, err := m.Detokenize(toks, false, false); err != nil || got != long {
		t.Errorf("long round trip differs (%d vs %d bytes)", len(got), len(long))
	}
}

func TestBatchLimits(t *testing.T) {
	b := NewBatch(2, 2)
	defer b.Close()
	if _, err := b.Add(1, 0, []int{0}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(1, 0, []int{0, 1, 2}, false); err == nil {
		t.Error("three sequence ids accepted by a batch made for two")
	}
	if _, err := b.Add(1, 0, nil, false); err == nil {
		t.Error("a token with no sequence accepted")
	}
	if i, err := b.Add(2, 1, []int{0, 1}, true); err != nil || i != 1 {
		t.Errorf("second token: index %d, %v", i, err)
	}
	if _, err := b.Add(3, 2, []int{0}, false); err == nil {
		t.Error("a full batch accepted a third token")
	}
	b.Clear()
	if b.Len() != 0 {
		t.Errorf("cleared batch holds %d tokens", b.Len())
	}
}

func TestLoadModelErrors(t *testing.T) {
	if _, err := LoadModel(t.TempDir()+"/missing.gguf", ModelParams{}); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestContextMemoryOps(t *testing.T) {
	m := loadStories(t)
	c, toks := decodePrompt(t, m, ContextParams{NCtx: 512, NBatch: 64, NSeqMax: 2, Threads: 1}, "Once upon a time there was")
	if got := c.SeqPosMax(0); got != len(toks)-1 {
		t.Errorf("pos max %d, want %d", got, len(toks)-1)
	}
	if l := c.Logits(len(toks) - 1); len(l) != m.VocabSize() {
		t.Errorf("logits of %d floats, want %d", len(l), m.VocabSize())
	}
	c.SeqCopy(0, 1, -1, -1)
	if !c.SeqRemove(1, 3, -1) || c.SeqPosMax(1) != 2 {
		t.Errorf("after copy and trim seq 1 holds up to %d", c.SeqPosMax(1))
	}
	c.SeqRemove(0, 0, -1)
	if c.SeqPosMax(0) != -1 {
		t.Errorf("removed sequence still holds position %d", c.SeqPosMax(0))
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("partial copy across KV streams did not panic in Go (llama.cpp would abort)")
			}
		}()
		c.SeqCopy(1, 0, 0, 2)
	}()
}

// TestSamplerSurvivesDeadGrammar drives the two grammar failures that end
// the process when llama.cpp's calls are made bare: a grammar that admits
// no token of the vocabulary (the draw asserts over all -inf candidates, or
// accept throws for the forced pick), and accepting a token the grammar
// forbids. Through the shim each is an error wrapping ErrSample and the
// process lives on.
func TestSamplerSurvivesDeadGrammar(t *testing.T) {
	m := loadStories(t)
	c, toks := decodePrompt(t, m, ContextParams{NCtx: 128, NBatch: 64, NSeqMax: 1, Threads: 1}, "Once upon a time")
	out := len(toks) - 1
	for _, temp := range []float32{0, 0.8} {
		// Token 9999 is beyond the 512-token vocabulary: nothing matches.
		s, err := NewSampler(m, SamplerParams{Grammar: "root ::= <[9999]>", Temperature: temp, Seed: 1})
		if err != nil {
			t.Fatalf("temperature %g: %v", temp, err)
		}
		if tok, err := s.Sample(c, out); !errors.Is(err, ErrSample) {
			t.Errorf("temperature %g: sampling under a grammar that admits nothing gave %d, %v", temp, tok, err)
		}
		s.Close()
	}
	s, err := NewSampler(m, SamplerParams{Grammar: `root ::= "a"`})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Accept(m.EOS()); !errors.Is(err, ErrSample) {
		t.Errorf("accepting end of generation before the grammar is complete: %v, want ErrSample (llama.cpp aborts)", err)
	}
	// The refusal changed nothing: the grammar still leads to "a".
	tok, err := s.Sample(c, out)
	if err != nil || string(m.AppendPiece(nil, tok, false)) != "a" {
		t.Errorf("after the refused accept: %q, %v; want \"a\"", m.AppendPiece(nil, tok, false), err)
	}
	if _, err := NewSampler(m, SamplerParams{Grammar: "root ::= ("}); !errors.As(err, new(*GrammarError)) {
		t.Errorf("unparsable grammar: %v, want a *GrammarError", err)
	}
}
