package chunk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/infergate/infergate/index/extract"
)

// Tokenizer is the embedding model's tokenizer, special tokens included,
// exactly as the embedder will see the text. The batcher and
// inference.Model satisfy it.
type Tokenizer interface {
	Tokenize(text string) ([]int32, error)
}

// Defaults for the zero Options fields.
const (
	DefaultTokens  = 400
	DefaultOverlap = 64
)

// MinMaxTokens is the smallest MaxTokens accepted: below it a title, a
// heading path and a few words of text cannot share one input.
const MinMaxTokens = 16

// minTokens is the smallest chunk target: a chunk must hold at least a few
// words (and any one character, which byte-level tokenizers may spell in
// four tokens).
const minTokens = 8

// Options size the chunks.
type Options struct {
	// Tokens is the target size of a chunk's text, overlap included;
	// 0: DefaultTokens.
	Tokens int
	// Overlap is how many tokens from the end of a chunk the next chunk of
	// the same section repeats, so that a passage cut in two is whole in
	// one of them; 0: DefaultOverlap (less where Tokens is small),
	// negative: none. It must be under Tokens/2.
	Overlap int
	// MaxTokens is the hard cap on an embedded text's tokens: the embedding
	// model's context (512 for MiniLM). Required.
	MaxTokens int
}

// Clamp is an option Split could not honour as given, for the caller to log.
type Clamp struct {
	Option string // "Tokens", "Overlap" or "Headings" (the title and heading prefix)
	Asked  int    // what was asked for (for Headings, the prefix's tokens)
	Used   int    // what was used; for a per-section clamp, the smallest
	Reason string
}

// String is the clamp as a log line.
func (c Clamp) String() string {
	return fmt.Sprintf("%s clamped from %d to %d: %s", c.Option, c.Asked, c.Used, c.Reason)
}

// Chunk is one embedded passage of a document.
type Chunk struct {
	Text       string   // doc.Text[Start:End]
	Start, End int      // byte offsets into extract.Document.Text
	Headings   []string // heading path of the chunk's section
	// EmbedText is what gets embedded: the title and heading path give
	// the passage the context a reader would have,
	// "Refund policy\nRefunds > Card payments\n\n<text>".
	EmbedText string
	Tokens    int // tokens of EmbedText, special tokens included; never above MaxTokens
}

// Errors Split returns, wrapped with the reason.
var (
	// ErrOptions: Options that cannot be made sense of (no MaxTokens).
	ErrOptions = errors.New("chunk: invalid options")
	// ErrDocument: sections outside the text or out of order.
	ErrDocument = errors.New("chunk: invalid document")
	// ErrTooLong is returned where one character with its prefix is still
	// over MaxTokens, which no real tokenizer does.
	ErrTooLong = errors.New("chunk: text cannot be cut to fit MaxTokens")
)

// Normalize fills in defaults and clamps what cannot be honoured whatever
// the document: Tokens above MaxTokens, Overlap at or above Tokens/2. Split
// clamps further per section, where the title and heading path take room.
func (o Options) Normalize() (Options, []Clamp, error) {
	var clamps []Clamp
	if o.MaxTokens < MinMaxTokens {
		return o, nil, fmt.Errorf("%w: MaxTokens %d is under %d", ErrOptions, o.MaxTokens, MinMaxTokens)
	}
	switch {
	case o.Tokens < 0:
		return o, nil, fmt.Errorf("%w: Tokens %d is negative", ErrOptions, o.Tokens)
	case o.Tokens == 0:
		o.Tokens = min(DefaultTokens, o.MaxTokens)
	case o.Tokens > o.MaxTokens:
		clamps = append(clamps, Clamp{"Tokens", o.Tokens, o.MaxTokens, "above MaxTokens"})
		o.Tokens = o.MaxTokens
	case o.Tokens < minTokens:
		clamps = append(clamps, Clamp{"Tokens", o.Tokens, minTokens, "too small to hold a few words"})
		o.Tokens = minTokens
	}
	limit := (o.Tokens - 1) / 2
	switch {
	case o.Overlap < 0:
		o.Overlap = 0
	case o.Overlap == 0:
		o.Overlap = min(DefaultOverlap, limit)
	case o.Overlap > limit:
		clamps = append(clamps, Clamp{"Overlap", o.Overlap, limit, "must be under Tokens/2"})
		o.Overlap = limit
	}
	return o, clamps, nil
}

// Break strengths: where a chunk may end, best first. A cut prefers the
// strongest break that still leaves the chunk at least half full.
const (
	brkByte = iota
	brkWord
	brkSentence
	brkLine
	brkPara
	brkEnd
)

// atom is the unit of packing: a sentence, or a part of one too long for a
// chunk, with its token count measured once on its own.
type atom struct {
	start, end int // offsets in doc.Text, trimmed
	brk        int // strength of the break before it
	tok        int // content tokens (special tokens not counted)
}

// splitter is the state of one Split call.
type splitter struct {
	ctx   context.Context
	text  string
	tok   Tokenizer
	o     Options
	base  int // special tokens Tokenize adds to any text
	join  int // tokens a join between two pieces can add
	calls int

	clamps map[string]*Clamp
	order  []string
}

// Split cuts doc into chunks whose EmbedText fits the embedding model. It
// returns the chunks in document order and the options it had to clamp.
func Split(ctx context.Context, doc extract.Document, tok Tokenizer, o Options) ([]Chunk, []Clamp, error) {
	o, static, err := o.Normalize()
	if err != nil {
		return nil, nil, err
	}
	prev := 0
	for i, s := range doc.Sections {
		if s.Start < prev || s.End < s.Start || s.End > len(doc.Text) {
			return nil, static, fmt.Errorf("%w: section %d [%d,%d) out of order or outside the text (%d bytes)", ErrDocument, i, s.Start, s.End, len(doc.Text))
		}
		prev = s.End
	}
	sp := &splitter{ctx: ctx, text: doc.Text, tok: tok, o: o, clamps: map[string]*Clamp{}}
	if err := sp.probe(); err != nil {
		return nil, static, err
	}
	var out []Chunk
	for _, s := range doc.Sections {
		start, end := extract.TrimSpan(doc.Text, s.Start, s.End)
		if start >= end {
			continue
		}
		if out, err = sp.section(out, doc.Title, s.Headings, start, end); err != nil {
			return nil, sp.report(static), err
		}
	}
	return out, sp.report(static), nil
}

// count returns the content tokens of s: its tokens less the special ones.
func (sp *splitter) count(s string) (int, error) {
	sp.calls++
	if sp.calls%64 == 0 {
		if err := sp.ctx.Err(); err != nil {
			return 0, err
		}
	}
	t, err := sp.tok.Tokenize(s)
	if err != nil {
		return 0, fmt.Errorf("chunk: tokenize: %w", err)
	}
	return len(t) - sp.base, nil
}

// probe measures what the tokenizer adds to every text (BOS, CLS/SEP) and
// what joining two pieces with a space or a blank line adds, so that
// packing estimates a chunk from its pieces' counts without tokenizing it
// again and again as it grows.
func (sp *splitter) probe() error {
	t, err := sp.tok.Tokenize("")
	if err != nil {
		return fmt.Errorf("chunk: tokenize: %w", err)
	}
	sp.base = len(t)
	a, err := sp.count("word")
	if err != nil {
		return err
	}
	for _, sep := range []string{" ", "\n", "\n\n"} {
		j, err := sp.count("word" + sep + "word")
		if err != nil {
			return err
		}
		sp.join = max(sp.join, j-2*a)
	}
	return nil
}

func (sp *splitter) clamp(option string, asked, used int, reason string) {
	if c, ok := sp.clamps[option]; ok {
		c.Used = min(c.Used, used)
		return
	}
	sp.clamps[option] = &Clamp{option, asked, used, reason}
	sp.order = append(sp.order, option)
}

func (sp *splitter) report(static []Clamp) []Clamp {
	out := static
	for _, k := range sp.order {
		out = append(out, *sp.clamps[k])
	}
	return out
}

// prefix is the text put before every chunk of a section: the title, and
// the heading path without its first heading where that repeats the title
// (a Markdown document's h1 usually is its title).
func prefix(title string, headings []string) string {
	title = strings.TrimSpace(title)
	if len(headings) > 0 && strings.TrimSpace(headings[0]) == title {
		headings = headings[1:]
	}
	path := strings.Join(headings, " > ")
	switch {
	case title == "":
		return path
	case path == "":
		return title
	}
	return title + "\n" + path
}

func embedText(prefix, text string) string {
	if prefix == "" {
		return text
	}
	return prefix + "\n\n" + text
}

// section chunks the body text[start:end] of one section.
func (sp *splitter) section(out []Chunk, title string, headings []string, start, end int) ([]Chunk, error) {
	if err := sp.ctx.Err(); err != nil {
		return out, err
	}
	pre, preTok, err := sp.sectionPrefix(prefix(title, headings))
	if err != nil {
		return out, err
	}
	margin := max(2, sp.o.MaxTokens/64)
	t := min(sp.o.Tokens, sp.o.MaxTokens-sp.base-preTok-margin)
	if t < minTokens/2 {
		return out, fmt.Errorf("%w: MaxTokens %d leaves %d tokens for text after the prefix", ErrTooLong, sp.o.MaxTokens, t)
	}
	if t < sp.o.Tokens {
		sp.clamp("Tokens", sp.o.Tokens, t, "above MaxTokens less the title and heading prefix")
	}
	ov := sp.o.Overlap
	if limit := (t - 1) / 2; ov > limit {
		sp.clamp("Overlap", sp.o.Overlap, limit, "must be under Tokens/2 (Tokens clamped for the prefix)")
		ov = limit
	}
	sec := &section{sp: sp, pre: pre, headings: headings, t: t, ov: ov}

	// Most sections of a knowledge base are short: try the whole body
	// first where it is likely to fit (English runs 4 to 5 bytes a token),
	// which costs one tokenization; a miss costs one more.
	if end-start <= 4*t {
		c, err := sec.chunk(start, end)
		if err != nil {
			return out, err
		}
		if c.Tokens <= sp.o.MaxTokens && c.Tokens-sp.base-preTok <= t {
			return append(out, c), nil
		}
	}
	atoms, err := sec.atomize(start, end)
	if err != nil {
		return out, err
	}
	sec.atoms = atoms
	return sec.pack(out)
}

// sectionPrefix measures a section's prefix and, where it would take more
// than a quarter of MaxTokens (a pathological heading), truncates it.
func (sp *splitter) sectionPrefix(pre string) (string, int, error) {
	if pre == "" {
		return "", 0, nil
	}
	n, err := sp.count(pre + "\n\n")
	if err != nil {
		return "", 0, err
	}
	limit := sp.o.MaxTokens / 4
	if n <= limit {
		return pre, n, nil
	}
	// The longest rune-aligned head of the prefix that fits, by bisection.
	lo, hi, best, bestN := 0, len(pre), "", 0
	for lo < hi {
		mid := (lo + hi + 1) / 2
		for mid > 0 && mid < len(pre) && !utf8.RuneStart(pre[mid]) {
			mid--
		}
		if mid <= lo {
			break
		}
		k, err := sp.count(pre[:mid] + "\n\n")
		if err != nil {
			return "", 0, err
		}
		if k <= limit {
			lo, best, bestN = mid, pre[:mid], k
		} else {
			hi = mid - 1
		}
	}
	best = strings.TrimRightFunc(best, unicode.IsSpace)
	sp.clamp("Headings", n, bestN, "title and heading path truncated to a quarter of MaxTokens")
	return best, bestN, nil
}
