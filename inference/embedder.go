package inference

import (
	"fmt"
	"math"

	llama "github.com/infergate/infergate/cgo"
)

// EmbedderParams sizes an Embedder.
type EmbedderParams struct {
	Sequences int // inputs embedded together in one decode; 0: 16
	BatchSize int // most tokens per decode, and so per input; 0: the model's training length
	Threads   int
}

// Embedder turns token sequences into L2-normalised vectors with the model's
// pooling. Several inputs share one decode, each its own sequence. Owned by
// one goroutine.
type Embedder struct {
	model *Model
	ctx   *llama.Context
	batch *llama.Batch
	seqs  int
	mean  bool // the model does not pool: average token states here
	ids   [1]int
}

// NewEmbedder creates an embedding context.
func NewEmbedder(m *Model, p EmbedderParams) (*Embedder, error) {
	if p.Sequences <= 0 {
		p.Sequences = 16
	}
	if p.BatchSize <= 0 {
		p.BatchSize = m.info.ContextTrain
	}
	// Non-causal models (BERT) must see a whole input in one physical batch,
	// so the physical batch is the logical one.
	ctx, err := llama.NewContext(m.m, llama.ContextParams{
		NCtx:       p.BatchSize,
		NBatch:     p.BatchSize,
		NUBatch:    p.BatchSize,
		NSeqMax:    p.Sequences,
		Threads:    p.Threads,
		Embeddings: true,
		// Inputs are decoded together and the memory cleared after each
		// decode: one buffer is simplest and nothing is kept.
		UnifiedKV: true,
		Pooling:   llama.PoolingDefault,
	})
	if err != nil {
		return nil, err
	}
	e := &Embedder{model: m, ctx: ctx, batch: llama.NewBatch(p.BatchSize, 1), seqs: p.Sequences}
	e.mean = ctx.PoolingType() == llama.PoolingNone
	return e, nil
}

// Close frees the context.
func (e *Embedder) Close() {
	e.batch.Close()
	e.ctx.Close()
}

// MaxTokens is the longest input accepted.
func (e *Embedder) MaxTokens() int { return e.batch.Cap() }

// MaxInputs is the most inputs one Embed call decodes at once.
func (e *Embedder) MaxInputs() int { return e.seqs }

// Dim is the vector size.
func (e *Embedder) Dim() int { return e.model.info.EmbeddingSize }

// Embed returns one vector per input. Inputs are packed into as few decodes
// as the batch and sequence limits allow. An input longer than MaxTokens is
// an error: callers truncate beforehand when they want truncation.
func (e *Embedder) Embed(inputs [][]Token) ([][]float32, error) {
	for i, in := range inputs {
		if len(in) == 0 {
			return nil, fmt.Errorf("input %d is empty", i)
		}
		if len(in) > e.MaxTokens() {
			return nil, fmt.Errorf("input %d is %d tokens, the embedding model takes at most %d", i, len(in), e.MaxTokens())
		}
	}
	out := make([][]float32, len(inputs))
	for start := 0; start < len(inputs); {
		end, tokens := start, 0
		for end < len(inputs) && end-start < e.seqs && tokens+len(inputs[end]) <= e.batch.Cap() {
			tokens += len(inputs[end])
			end++
		}
		if err := e.decode(inputs[start:end], out[start:end]); err != nil {
			return nil, err
		}
		start = end
	}
	return out, nil
}

func (e *Embedder) decode(inputs [][]Token, out [][]float32) error {
	e.batch.Clear()
	e.ctx.MemoryClear()
	firsts := make([]int, len(inputs))
	for s, in := range inputs {
		e.ids[0] = s
		firsts[s] = e.batch.Len()
		for p, t := range in {
			if _, err := e.batch.Add(t, p, e.ids[:], e.mean || p == len(in)-1); err != nil {
				return err
			}
		}
	}
	if err := e.ctx.Decode(e.batch); err != nil {
		return fmt.Errorf("embedding decode: %w", err)
	}
	for s, in := range inputs {
		var v []float32
		if e.mean {
			v = make([]float32, e.Dim())
			var tmp []float32
			for i := range in {
				tmp = e.ctx.TokenEmbedding(tmp, firsts[s]+i)
				for j := range v {
					v[j] += tmp[j]
				}
			}
		} else {
			v = e.ctx.SequenceEmbedding(nil, s)
		}
		if v == nil {
			return fmt.Errorf("llama.cpp returned no embedding for input %d", s)
		}
		normalize(v)
		out[s] = v
	}
	return nil
}

func normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}
