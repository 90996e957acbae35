package chunk

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/infergate/infergate/index/extract"
)

// wordTok is a deterministic tokenizer for tests: a token per ten bytes
// of each whitespace-separated word (so a long word is several, and can
// only be cut by bytes), plus specials tokens around every text. With
// superadditive set, every tenth word costs an extra token, so that counts
// of pieces under-estimate their join, as real tokenizers sometimes do.
type wordTok struct {
	specials      int
	superadditive bool
	calls         *int
}

func (w wordTok) Tokenize(s string) ([]int32, error) {
	if w.calls != nil {
		*w.calls++
	}
	n := w.specials
	words := strings.Fields(s)
	for _, f := range words {
		n += (len(f) + 9) / 10
	}
	if w.superadditive {
		n += len(words) / 10
	}
	return make([]int32, n), nil
}

func doc(title string, text string, secs ...extract.Section) extract.Document {
	if secs == nil {
		secs = []extract.Section{{Start: 0, End: len(text)}}
	}
	return extract.Document{Title: title, Text: text, Sections: secs}
}

func md(t testing.TB, s string) extract.Document {
	t.Helper()
	d, err := extract.Extract(s, extract.FormatMarkdown)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkChunks asserts the package invariants for chunks of d.
func checkChunks(t testing.TB, d extract.Document, chunks []Chunk, tok Tokenizer, o Options) {
	t.Helper()
	o, _, err := o.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	// covered[i]: byte i of Text is in a chunk of the section it belongs to.
	covered := make([]bool, len(d.Text))
	si := 0
	prevStart, prevEnd := -1, -1
	for i, c := range chunks {
		if c.Start < 0 || c.End > len(d.Text) || c.Start >= c.End || c.Text != d.Text[c.Start:c.End] {
			t.Fatalf("chunk %d [%d,%d) %q does not match the text", i, c.Start, c.End, c.Text)
		}
		if strings.TrimSpace(c.Text) != c.Text {
			t.Fatalf("chunk %d not trimmed: %q", i, c.Text)
		}
		if c.Start < prevStart || c.End <= prevEnd || c.Start == prevStart {
			t.Fatalf("chunk %d [%d,%d) out of order after [%d,%d)", i, c.Start, c.End, prevStart, prevEnd)
		}
		prevStart, prevEnd = c.Start, c.End
		for si < len(d.Sections) && d.Sections[si].End < c.End {
			si++
		}
		if si == len(d.Sections) || c.Start < d.Sections[si].Start {
			t.Fatalf("chunk %d [%d,%d) is not inside one section", i, c.Start, c.End)
		}
		if !slices.Equal(c.Headings, d.Sections[si].Headings) {
			t.Fatalf("chunk %d headings %q, section's %q", i, c.Headings, d.Sections[si].Headings)
		}
		toks, _ := tok.Tokenize(c.EmbedText)
		if c.Tokens != len(toks) || c.Tokens <= 0 || c.Tokens > o.MaxTokens {
			t.Fatalf("chunk %d: Tokens %d, tokenizer says %d, MaxTokens %d", i, c.Tokens, len(toks), o.MaxTokens)
		}
		if !strings.HasSuffix(c.EmbedText, c.Text) {
			t.Fatalf("chunk %d: EmbedText %q does not end with the text", i, c.EmbedText)
		}
		for k := c.Start; k < c.End; k++ {
			covered[k] = true
		}
	}
	for _, s := range d.Sections {
		for k, r := range d.Text[s.Start:s.End] {
			k += s.Start
			if !unicode.IsSpace(r) && !covered[k] {
				t.Fatalf("%q at byte %d of section [%d,%d) is in no chunk", r, k, s.Start, s.End)
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     Options
		want   Options
		clamps []string
		err    bool
	}{
		{name: "defaults", in: Options{MaxTokens: 512}, want: Options{400, 64, 512}},
		{name: "default overlap shrinks quietly", in: Options{Tokens: 100, MaxTokens: 512}, want: Options{100, 49, 512}},
		{name: "no overlap", in: Options{Tokens: 100, Overlap: -1, MaxTokens: 512}, want: Options{100, 0, 512}},
		{name: "default tokens capped by a small model", in: Options{MaxTokens: 128}, want: Options{128, 63, 128}},
		{name: "tokens over MaxTokens", in: Options{Tokens: 600, Overlap: 10, MaxTokens: 512}, want: Options{512, 10, 512},
			clamps: []string{"Tokens clamped from 600 to 512: above MaxTokens"}},
		{name: "overlap too big", in: Options{Tokens: 100, Overlap: 50, MaxTokens: 512}, want: Options{100, 49, 512},
			clamps: []string{"Overlap clamped from 50 to 49: must be under Tokens/2"}},
		{name: "tiny tokens", in: Options{Tokens: 2, Overlap: -1, MaxTokens: 512}, want: Options{8, 0, 512},
			clamps: []string{"Tokens clamped from 2 to 8: too small to hold a few words"}},
		{name: "no MaxTokens", in: Options{}, err: true},
		{name: "negative tokens", in: Options{Tokens: -1, MaxTokens: 512}, err: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, clamps, err := c.in.Normalize()
			if (err != nil) != c.err || (err != nil && !errors.Is(err, ErrOptions)) {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			var cs []string
			for _, cl := range clamps {
				cs = append(cs, cl.String())
			}
			if got != c.want || !slices.Equal(cs, c.clamps) {
				t.Fatalf("got %+v %q, want %+v %q", got, cs, c.want, c.clamps)
			}
		})
	}
}

// w makes n distinct short words with a prefix: w("a", 3) = "a1 a2 a3".
func w(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(prefix)
		b.WriteByte(byte('0' + i%10))
	}
	return b.String()
}

func TestSplitPacking(t *testing.T) {
	tok := wordTok{}
	for _, c := range []struct {
		name  string
		doc   extract.Document
		o     Options
		texts []string
		embed []string // EmbedText of each chunk, when checked
	}{
		{
			name:  "short section is one chunk with its prefix",
			doc:   md(t, "# Refund policy\n\n## Refunds\n\n### Card payments\n\nFive days."),
			o:     Options{MaxTokens: 512},
			texts: []string{"Five days."},
			embed: []string{"Refund policy\nRefunds > Card payments\n\nFive days."},
		},
		{
			name:  "no title, no headings",
			doc:   doc("", "just text"),
			o:     Options{MaxTokens: 512},
			texts: []string{"just text"},
			embed: []string{"just text"},
		},
		{
			name:  "title, no headings",
			doc:   doc("Guide", "text"),
			o:     Options{MaxTokens: 512},
			embed: []string{"Guide\n\ntext"},
		},
		{
			name:  "sections are never merged",
			doc:   md(t, "# T\n\nintro\n\n## A\n\none\n\n## B\n\ntwo"),
			o:     Options{MaxTokens: 512},
			texts: []string{"intro", "one", "two"},
			embed: []string{"T\n\nintro", "T\nA\n\none", "T\nB\n\ntwo"},
		},
		{
			name:  "paragraphs packed greedily",
			doc:   doc("", w("A", 4)+"\n\n"+w("B", 4)+"\n\n"+w("C", 4)),
			o:     Options{Tokens: 10, Overlap: -1, MaxTokens: 64},
			texts: []string{w("A", 4) + "\n\n" + w("B", 4), w("C", 4)},
		},
		{
			name: "a blank line is preferred to a later sentence end",
			doc:  doc("", "A1 A2 A3. B1 B2 B3.\n\nC1 C2 C3. D1 D2 D3."),
			o:    Options{Tokens: 10, Overlap: -1, MaxTokens: 64},
			// Greedy would take "C1 C2 C3." too (9 tokens).
			texts: []string{"A1 A2 A3. B1 B2 B3.", "C1 C2 C3. D1 D2 D3."},
		},
		{
			name:  "a line break is preferred to a sentence end",
			doc:   doc("", "- A1 A2. B1 B2.\n- C1 C2. D1 D2. E1 E2."),
			o:     Options{Tokens: 10, Overlap: -1, MaxTokens: 64},
			texts: []string{"- A1 A2. B1 B2.", "- C1 C2. D1 D2. E1 E2."},
		},
		{
			name:  "the break must leave the chunk half full",
			doc:   doc("", "A1.\n\nB1 B2 B3 B4. C1 C2 C3 C4. D1 D2."),
			o:     Options{Tokens: 10, Overlap: -1, MaxTokens: 64},
			texts: []string{"A1.\n\nB1 B2 B3 B4. C1 C2 C3 C4.", "D1 D2."},
		},
		{
			name:  "lowercase after a stop is the same sentence",
			doc:   doc("", "Use e.g. the app. Then x2 x3 x4 x5 x6 x7."),
			o:     Options{Tokens: 10, Overlap: -1, MaxTokens: 64},
			texts: []string{"Use e.g. the app.", "Then x2 x3 x4 x5 x6 x7."},
		},
		{
			name:  "a long sentence is cut at words",
			doc:   doc("", w("a", 20)+"."),
			o:     Options{Tokens: 8, Overlap: -1, MaxTokens: 64},
			texts: []string{"a0 a1 a2 a3 a4 a5 a6 a7", "a8 a9 a0 a1 a2 a3 a4 a5", "a6 a7 a8 a9."},
		},
		{
			name:  "a huge word is cut at bytes",
			doc:   doc("", strings.Repeat("x", 200)),
			o:     Options{Tokens: 8, Overlap: -1, MaxTokens: 64},
			texts: []string{strings.Repeat("x", 80), strings.Repeat("x", 80), strings.Repeat("x", 40)},
		},
		{
			name:  "huge word cut at UTF-8 boundaries",
			doc:   doc("", strings.Repeat("é", 60)),
			o:     Options{Tokens: 8, Overlap: -1, MaxTokens: 64},
			texts: []string{strings.Repeat("é", 40), strings.Repeat("é", 20)},
		},
		{
			name:  "overlap: whole sentences from the tail",
			doc:   doc("", "A1 A2 A3. B1 B2 B3. C1 C2 C3. D1 D2 D3. E1 E2 E3."),
			o:     Options{Tokens: 10, Overlap: 4, MaxTokens: 64},
			texts: []string{"A1 A2 A3. B1 B2 B3. C1 C2 C3.", "C1 C2 C3. D1 D2 D3. E1 E2 E3."},
		},
		{
			name:  "overlap: the last words of a long sentence",
			doc:   doc("", "A1 A2 A3 A4 A5 A6. B1 B2 B3 B4 B5 B6. C1 C2 C3 C4 C5 C6."),
			o:     Options{Tokens: 14, Overlap: 4, MaxTokens: 64},
			texts: []string{"A1 A2 A3 A4 A5 A6. B1 B2 B3 B4 B5 B6.", "B3 B4 B5 B6. C1 C2 C3 C4 C5 C6."},
		},
		{
			name:  "no overlap across sections",
			doc:   md(t, "## A\n\nA1 A2 A3. B1 B2 B3. C1 C2 C3.\n\n## B\n\nD1 D2 D3."),
			o:     Options{Tokens: 10, Overlap: 4, MaxTokens: 64},
			texts: []string{"A1 A2 A3. B1 B2 B3. C1 C2 C3.", "D1 D2 D3."},
		},
		{
			name:  "prefix takes room from the target",
			doc:   md(t, "## "+w("h", 10)+"\n\n"+w("a", 12)+"."),
			o:     Options{Tokens: 12, Overlap: -1, MaxTokens: 24},
			texts: []string{"a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a0 a1."},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			chunks, _, err := Split(context.Background(), c.doc, tok, c.o)
			if err != nil {
				t.Fatal(err)
			}
			checkChunks(t, c.doc, chunks, tok, c.o)
			var texts, embeds []string
			for _, ch := range chunks {
				texts = append(texts, ch.Text)
				embeds = append(embeds, ch.EmbedText)
			}
			if c.texts != nil && !slices.Equal(texts, c.texts) {
				t.Errorf("texts\n%q\nwant\n%q", texts, c.texts)
			}
			if c.embed != nil && !slices.Equal(embeds, c.embed) {
				t.Errorf("EmbedText\n%q\nwant\n%q", embeds, c.embed)
			}
		})
	}
}

func TestClamps(t *testing.T) {
	d := md(t, "# T\n\n## "+w("h", 30)+"\n\n"+w("a", 40)+".")
	chunks, clamps, err := Split(context.Background(), d, wordTok{specials: 2}, Options{Tokens: 60, Overlap: 25, MaxTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, d, chunks, wordTok{specials: 2}, Options{Tokens: 60, Overlap: 25, MaxTokens: 64})
	var got []string
	for _, c := range clamps {
		got = append(got, c.Option)
	}
	if want := []string{"Headings", "Tokens", "Overlap"}; !slices.Equal(got, want) {
		t.Fatalf("clamps %v, want %v", clamps, want)
	}
	// The prefix is cut to a quarter of MaxTokens, 16 tokens: "T" and 15 words.
	if p, _, _ := strings.Cut(chunks[0].EmbedText, "\n\n"); p != "T\n"+w("h", 15) {
		t.Errorf("prefix %q", p)
	}
}

// TestSuperadditive: where the pieces' counts under-estimate the whole,
// the check after packing must still keep every chunk under MaxTokens.
func TestSuperadditive(t *testing.T) {
	tok := wordTok{specials: 2, superadditive: true}
	var b strings.Builder
	for i := range 200 {
		b.WriteString(w(string(rune('a'+i%26)), 1+i%7))
		b.WriteString(". ")
		if i%13 == 0 {
			b.WriteString("\n\n")
		}
	}
	d := doc("Title", b.String())
	for _, o := range []Options{{Tokens: 60, Overlap: 10, MaxTokens: 64}, {Tokens: 16, Overlap: 4, MaxTokens: 20}} {
		chunks, _, err := Split(context.Background(), d, tok, o)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, d, chunks, tok, o)
	}
}

// TestLinear: tokenizer calls grow with the text, not its square.
func TestLinear(t *testing.T) {
	var calls int
	tok := wordTok{calls: &calls}
	count := func(n int) int {
		calls = 0
		text := strings.Repeat(w("w", 9)+". ", n) + strings.Repeat("z", 50*n)
		d := doc("", text)
		chunks, _, err := Split(context.Background(), d, tok, Options{MaxTokens: 64})
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, d, chunks, tok, Options{MaxTokens: 64})
		return calls
	}
	small, big := count(1000), count(10000)
	if big > 12*small {
		t.Fatalf("%d calls for 10x the text of %d calls", big, small)
	}
}

func TestErrors(t *testing.T) {
	d := doc("", "some text")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Split(ctx, d, wordTok{}, Options{MaxTokens: 64}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, _, err := Split(context.Background(), d, wordTok{}, Options{}); !errors.Is(err, ErrOptions) {
		t.Errorf("no MaxTokens: %v", err)
	}
	bad := doc("", "text", extract.Section{Start: 2, End: 9})
	if _, _, err := Split(context.Background(), bad, wordTok{}, Options{MaxTokens: 64}); !errors.Is(err, ErrDocument) {
		t.Errorf("bad section: %v", err)
	}
	boom := errors.New("boom")
	if _, _, err := Split(context.Background(), d, failTok{boom}, Options{MaxTokens: 64}); !errors.Is(err, boom) {
		t.Errorf("tokenizer error: %v", err)
	}
	// A tokenizer that spends MaxTokens on one character cannot be honoured.
	if _, _, err := Split(context.Background(), doc("", "x"), greedyTok{}, Options{MaxTokens: 16}); !errors.Is(err, ErrTooLong) {
		t.Errorf("impossible tokenizer: %v", err)
	}
	// Empty sections give no chunks and no error.
	if c, _, err := Split(context.Background(), doc("", "  ", extract.Section{Start: 0, End: 2}), wordTok{}, Options{MaxTokens: 64}); err != nil || len(c) != 0 {
		t.Errorf("blank section: %v %v", c, err)
	}
}

type failTok struct{ err error }

func (f failTok) Tokenize(string) ([]int32, error) { return nil, f.err }

// greedyTok spends 100 tokens on any non-empty text.
type greedyTok struct{}

func (greedyTok) Tokenize(s string) ([]int32, error) {
	if s == "" {
		return nil, nil
	}
	return make([]int32, 100), nil
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"# T\n\nSome text. More text.\n\n## S\n\n- a\n- b\n\n" + strings.Repeat("x", 300),
		strings.Repeat("word ", 200), "a. b. c.\n\nd e f g h i j k.", "```\n# x\n```\n" + strings.Repeat("é", 100),
	} {
		f.Add(s, uint16(20), int16(5), uint16(32), false)
		f.Add(s, uint16(0), int16(0), uint16(16), true)
	}
	f.Fuzz(func(t *testing.T, s string, tokens uint16, overlap int16, maxTokens uint16, super bool) {
		d, err := extract.Extract(s, extract.FormatMarkdown)
		if err != nil {
			return
		}
		o := Options{Tokens: int(tokens % 600), Overlap: int(overlap % 300), MaxTokens: MinMaxTokens + int(maxTokens%600)}
		tok := wordTok{specials: int(tokens % 3), superadditive: super}
		chunks, _, err := Split(context.Background(), d, tok, o)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, d, chunks, tok, o)
	})
}
