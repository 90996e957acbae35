package chunk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/infergate/infergate/index/extract"
	"github.com/infergate/infergate/inference"
	"github.com/infergate/infergate/internal/testenv"
	"github.com/infergate/infergate/models"
)

var (
	minilmOnce sync.Once
	minilm     *inference.Model
	minilmErr  error
)

// miniLM loads the real embedding model once: its WordPiece tokenizer is
// what the chunks must fit. Without models/cache (make models) the test is
// skipped, or fails under CI.
func miniLM(tb testing.TB) *inference.Model {
	tb.Helper()
	path, err := models.TestModelPath(models.MiniLMModel)
	if err != nil {
		testenv.Missing(tb, "test model missing: %v", err)
	}
	minilmOnce.Do(func() { minilm, minilmErr = inference.Load(path, inference.Options{}) })
	if minilmErr != nil {
		tb.Fatal(minilmErr)
	}
	return minilm
}

// countingTok counts tokenizer calls and bytes, to show the work is linear.
type countingTok struct {
	Tokenizer
	calls, bytes int
}

func (c *countingTok) Tokenize(s string) ([]int32, error) {
	c.calls++
	c.bytes += len(s)
	return c.Tokenizer.Tokenize(s)
}

var vocabulary = strings.Fields(`refund payment card order delivery account password reset invoice
subscription plan upgrade downgrade cancel billing address shipping return warranty device login
two-factor authentication email notification settings profile support ticket agent response time
the a an of to in for on with by from and or but not is are was be can will may should must our your
customer business day days week month hours within after before during please contact team help`)

// sampleMarkdown writes a deterministic help-centre document of about
// size bytes: nested headings, paragraphs, lists, tables, code, and the
// awkward cases (a long URL, CJK, emoji, a minified line, a huge table).
func sampleMarkdown(size int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	sentence := func() {
		n := 4 + r.IntN(22)
		for i := range n {
			w := vocabulary[r.IntN(len(vocabulary))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(w)
			if i > 0 && i < n-1 && r.IntN(12) == 0 {
				b.WriteByte(',')
			}
		}
		b.WriteString([]string{". ", ". ", "? ", "! "}[r.IntN(4)])
	}
	b.WriteString("---\ntitle: Help centre\n---\n# Help centre\n\n")
	for sec := 0; b.Len() < size; sec++ {
		level := 2 + r.IntN(3)
		fmt.Fprintf(&b, "%s %s %s %d\n\n", strings.Repeat("#", level),
			strings.ToUpper(vocabulary[r.IntN(len(vocabulary))]), vocabulary[r.IntN(len(vocabulary))], sec)
		for p := range 1 + r.IntN(6) {
			switch r.IntN(12) {
			case 0:
				for i := range 2 + r.IntN(8) {
					fmt.Fprintf(&b, "%d. ", i+1)
					sentence()
					b.WriteByte('\n')
				}
			case 1:
				b.WriteString("| Plan | Price | Notes |\n|---|---|---|\n")
				for range 2 + r.IntN(60) {
					fmt.Fprintf(&b, "| %s | %d EUR | %s %s |\n", vocabulary[r.IntN(len(vocabulary))], r.IntN(100), vocabulary[r.IntN(len(vocabulary))], vocabulary[r.IntN(len(vocabulary))])
				}
			case 2:
				b.WriteString("```sh\n# not a heading\ncurl -s https://api.example.com/v1/orders?id=42 | jq .\n```\n")
			case 3:
				if p == 0 {
					b.WriteString("See https://example.com/" + strings.Repeat("very-long-path-segment/", 40) + "index.html for details. ")
				}
				b.WriteString("退款将在五个工作日内退回到您的卡上。如有疑问，请联系我们的客服团队。🙂 ")
				sentence()
			case 4:
				if r.IntN(8) == 0 {
					b.WriteString(strings.Repeat("function(a,b){return a+b};var_x=", 150))
				}
				sentence()
			default:
				for range 1 + r.IntN(12) {
					sentence()
				}
			}
			b.WriteString("\n\n")
		}
	}
	return b.String()
}

func TestMiniLM(t *testing.T) {
	m := miniLM(t)
	for _, c := range []struct {
		name string
		size int
		o    Options
	}{
		{"defaults", 100_000, Options{MaxTokens: 512}},
		{"tokens at the cap", 50_000, Options{Tokens: 512, Overlap: 100, MaxTokens: 512}},
		{"small model context", 30_000, Options{Tokens: 60, Overlap: 16, MaxTokens: 64}},
		{"tiny", 10_000, Options{Tokens: 8, Overlap: -1, MaxTokens: 16}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := extract.Extract(sampleMarkdown(c.size, uint64(c.size)), extract.FormatMarkdown)
			if err != nil {
				t.Fatal(err)
			}
			tok := &countingTok{Tokenizer: m}
			chunks, clamps, err := Split(context.Background(), d, tok, c.o)
			if err != nil {
				t.Fatal(err)
			}
			calls, bytes := tok.calls, tok.bytes
			checkChunks(t, d, chunks, m, c.o)
			total := 0
			for _, ch := range chunks {
				total += ch.Tokens
			}
			t.Logf("%d bytes: %d chunks, %.0f tokens each on average; %d tokenizer calls over %.1fx the text; clamps %v",
				len(d.Text), len(chunks), float64(total)/float64(len(chunks)), calls, float64(bytes)/float64(len(d.Text)), clamps)
			if bytes > 4*len(d.Text) {
				t.Errorf("tokenized %d bytes for a %d-byte text", bytes, len(d.Text))
			}
			if chunks[0].Headings[0] != "Help centre" || !strings.HasPrefix(chunks[0].EmbedText, "Help centre\n") {
				t.Errorf("first chunk %q under %q", chunks[0].EmbedText, chunks[0].Headings)
			}
		})
	}
}

// TestMiniLMAwkward: text the WordPiece tokenizer spells in many tokens
// per byte, or where the pieces' counts are furthest from the whole's.
func TestMiniLMAwkward(t *testing.T) {
	m := miniLM(t)
	for _, text := range []string{
		strings.Repeat("🙂", 3000),
		strings.Repeat("退款将在五个工作日内退回到您的卡上", 200),
		strings.Repeat("a.b,c;d:e!f?g", 700),
		strings.Repeat("x", 20000),
		strings.Repeat("Ünïcödé ", 2000),
		strings.Repeat("1234567890", 2000),
	} {
		d := doc("A title", text)
		for _, o := range []Options{{MaxTokens: 512}, {Tokens: 30, MaxTokens: 32}} {
			chunks, _, err := Split(context.Background(), d, m, o)
			if err != nil {
				t.Fatal(err)
			}
			checkChunks(t, d, chunks, m, o)
		}
	}
}

// BenchmarkSplitMiniLM chunks a 100 KB Markdown document with the real
// tokenizer; MB/s is the chunker's ingestion rate.
func BenchmarkSplitMiniLM(b *testing.B) {
	m := miniLM(b)
	d, err := extract.Extract(sampleMarkdown(100_000, 7), extract.FormatMarkdown)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(d.Text)))
	var n int
	for b.Loop() {
		chunks, _, err := Split(context.Background(), d, m, Options{MaxTokens: 512})
		if err != nil {
			b.Fatal(err)
		}
		n = len(chunks)
	}
	b.ReportMetric(float64(n), "chunks/op")
}

// BenchmarkTokenizeMiniLM is the floor: one tokenization of the whole text.
func BenchmarkTokenizeMiniLM(b *testing.B) {
	m := miniLM(b)
	text := sampleMarkdown(100_000, 7)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := m.Tokenize(text); err != nil {
			b.Fatal(err)
		}
	}
}
