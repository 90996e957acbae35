package inference

import (
	"errors"
	"fmt"
	"sync"

	llama "github.com/infergate/infergate/cgo"
	"github.com/infergate/infergate/grammar"
)

// GeneratorParams sizes a Generator.
type GeneratorParams struct {
	Sequences int // sequences decoded together (slots)
	CtxSize   int // KV cells, split evenly into one stream per sequence; 0: Sequences × the model's training length
	BatchSize int // most tokens per Decode; 0: 512
	Threads   int // 0: llama.cpp's default
	// FlashAttention: nil lets llama.cpp decide (on where supported).
	FlashAttention *bool
	// CacheType is the element type of the KV cells, keys and values (see
	// CacheTypes); "": f16.
	CacheType string
}

// CacheTypes lists the KV cache element types a Generator accepts.
func CacheTypes() []string { return llama.CacheTypes() }

// CacheTypeQuantized reports whether a KV cache type is block-quantized:
// llama.cpp then needs flash attention for the values.
func CacheTypeQuantized(name string) bool { return llama.CacheTypeQuantized(name) }

// Generator decodes batches for many sequences over one llama.cpp context.
// A step is: Add tokens for any number of sequences, Decode once, then
// Sample each sequence's next token from its output. It is owned by one
// goroutine (the scheduler).
type Generator struct {
	model *Model
	ctx   *llama.Context
	batch *llama.Batch
	seqs  int
	ids   [1]int // reused sequence-id slice: Add is on the hot path

	// checked holds grammars that passed grammar.Check: a service sends
	// the same few (json_object, a bot's schema) with every request, and
	// the schema compiler has just checked them too. NewSampler is called
	// from many request goroutines.
	checkedMu sync.Mutex
	checked   map[string]struct{}
}

// maxCheckedGrammars bounds the memory of the cache of checked grammars; a
// full cache starts again.
const maxCheckedGrammars = 256

// ErrNoKVSpace: the batch did not fit the free KV cells; nothing was
// decoded. Free sequences or decode fewer tokens.
var ErrNoKVSpace = llama.ErrNoKVSlot

// NewGenerator creates a context for p.Sequences parallel sequences.
func NewGenerator(m *Model, p GeneratorParams) (*Generator, error) {
	if !m.info.HasDecoder {
		return nil, fmt.Errorf("model %s (%s) cannot generate text", m.info.Path, m.info.Architecture)
	}
	if p.Sequences < 1 {
		p.Sequences = 1
	}
	if max := llama.MaxParallelSequences(); p.Sequences > max {
		return nil, fmt.Errorf("%d sequences requested, llama.cpp supports at most %d", p.Sequences, max)
	}
	if p.BatchSize <= 0 {
		p.BatchSize = 512
	}
	if p.CtxSize <= 0 {
		p.CtxSize = p.Sequences * m.info.ContextTrain
	}
	ctx, err := llama.NewContext(m.m, llama.ContextParams{
		NCtx:           p.CtxSize,
		NBatch:         p.BatchSize,
		NUBatch:        p.BatchSize,
		NSeqMax:        p.Sequences,
		Threads:        p.Threads,
		FlashAttention: p.FlashAttention,
		CacheTypeK:     p.CacheType,
		CacheTypeV:     p.CacheType,
	})
	if err != nil {
		return nil, err
	}
	return &Generator{model: m, ctx: ctx, batch: llama.NewBatch(ctx.NBatch(), 1), seqs: p.Sequences}, nil
}

// Close frees the context and batch.
func (g *Generator) Close() {
	g.batch.Close()
	g.ctx.Close()
}

// Model is the generator's model.
func (g *Generator) Model() *Model { return g.model }

// Sequences is the number of sequences.
func (g *Generator) Sequences() int { return g.seqs }

// CtxSize is the number of KV cells shared by all sequences.
func (g *Generator) CtxSize() int { return g.ctx.NCtx() }

// SeqCtx is the most positions one sequence may hold: its KV stream.
func (g *Generator) SeqCtx() int { return g.ctx.NCtxSeq() }

// BatchSize is the most tokens one Decode takes.
func (g *Generator) BatchSize() int { return g.batch.Cap() }

// Pending is the number of tokens added since the last Decode.
func (g *Generator) Pending() int { return g.batch.Len() }

// Add queues tokens of seq at positions pos, pos+1, ... for the next Decode.
// With output, the last token's logits are computed and its batch index is
// returned for Sample; otherwise the index is -1.
func (g *Generator) Add(seq, pos int, tokens []Token, output bool) (int, error) {
	if seq < 0 || seq >= g.seqs {
		return -1, fmt.Errorf("sequence %d out of range [0,%d)", seq, g.seqs)
	}
	if g.batch.Len()+len(tokens) > g.batch.Cap() {
		return -1, fmt.Errorf("batch holds %d tokens, %d queued, %d more asked", g.batch.Cap(), g.batch.Len(), len(tokens))
	}
	g.ids[0] = seq
	idx := -1
	n0 := g.batch.Len()
	for i, t := range tokens {
		last := output && i == len(tokens)-1
		j, err := g.batch.Add(t, pos+i, g.ids[:], last)
		if err != nil {
			g.batch.Truncate(n0) // all of tokens or none
			return -1, err
		}
		if last {
			idx = j
		}
	}
	return idx, nil
}

// DiscardPending drops the tokens added since the last Decode, so that a
// batch abandoned half-built does not leak into the next one.
func (g *Generator) DiscardPending() { g.batch.Clear() }

// Decode runs the queued tokens and empties the batch, whatever the outcome:
// on ErrNoKVSpace the KV memory is unchanged and the caller re-adds less.
func (g *Generator) Decode() error {
	defer g.batch.Clear()
	err := g.ctx.Decode(g.batch)
	if errors.Is(err, llama.ErrNoKVSlot) {
		return ErrNoKVSpace
	}
	return err
}

// Abort interrupts a Decode running on another goroutine.
func (g *Generator) Abort() { g.ctx.Abort() }

// Sample draws the next token from batch output idx with s, which also
// records it (penalties, grammar).
// An error means the sequence cannot go on (see llama.ErrSample).
func (g *Generator) Sample(s *Sampler, idx int) (Token, error) { return s.s.Sample(g.ctx, idx) }

// Logits is a view of batch output idx's logits, valid until the next Decode.
func (g *Generator) Logits(idx int) []float32 { return g.ctx.Logits(idx) }

// Forget drops every cell of seq.
func (g *Generator) Forget(seq int) { g.ctx.SeqRemove(seq, 0, -1) }

// Truncate keeps seq's first n positions and drops the rest. It reports
// false when the model cannot drop part of a sequence (recurrent models);
// the caller then forgets the whole sequence.
func (g *Generator) Truncate(seq, n int) bool { return g.ctx.SeqRemove(seq, n, -1) }

// Share makes dst hold src's first n positions without recomputing them.
// Each sequence has its own KV stream, so src's cells are copied (llama.cpp
// copies whole streams, on the next Decode) and dst is cut to n.
func (g *Generator) Share(src, dst, n int) {
	g.ctx.SeqRemove(dst, 0, -1)
	g.ctx.SeqCopy(src, dst, -1, -1)
	g.ctx.SeqRemove(dst, n, -1)
}

// SeqLen is the number of positions seq holds (its highest position + 1).
func (g *Generator) SeqLen(seq int) int { return g.ctx.SeqPosMax(seq) + 1 }

// UsedPositions sums the positions held over all sequences; zero means the
// KV memory is empty.
func (g *Generator) UsedPositions() int {
	n := 0
	for s := 0; s < g.seqs; s++ {
		if max := g.ctx.SeqPosMax(s); max >= 0 {
			n += max - g.ctx.SeqPosMin(s) + 1
		}
	}
	return n
}

// Sampling are a sequence's sampler settings; see llama.SamplerParams.
type Sampling = llama.SamplerParams

// Sampler is one sequence's sampler chain.
type Sampler struct{ s *llama.Sampler }

// NewSampler builds a sampler chain for the generator's model. A grammar
// is first checked in Go (grammar.Check) for what llama.cpp's grammar code
// cannot survive: a rule that reaches itself without consuming input (such
// as a repetition of something that can be empty) recurses until the stack
// overflows, which no C++ handler can catch.
func (g *Generator) NewSampler(p Sampling) (*Sampler, error) {
	if p.Grammar != "" {
		if err := g.checkGrammar(p.Grammar); err != nil {
			return nil, err
		}
	}
	s, err := llama.NewSampler(g.model.m, p)
	if err != nil {
		return nil, err
	}
	return &Sampler{s: s}, nil
}

// Accept records a token the sampler did not pick (for penalties and the
// grammar); a token the grammar forbids here is refused.
func (s *Sampler) Accept(t Token) error { return s.s.Accept(t) }

// Close frees the chain.
func (s *Sampler) Close() { s.s.Close() }

func (g *Generator) checkGrammar(src string) error {
	g.checkedMu.Lock()
	_, ok := g.checked[src]
	g.checkedMu.Unlock()
	if ok {
		return nil
	}
	if err := grammar.Check(src); err != nil {
		return err
	}
	g.checkedMu.Lock()
	if g.checked == nil || len(g.checked) >= maxCheckedGrammars {
		g.checked = make(map[string]struct{})
	}
	g.checked[src] = struct{}{}
	g.checkedMu.Unlock()
	return nil
}
