package batcher

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/infergate/infergate/inference"
	"github.com/infergate/infergate/llm"
)

// embedJob is one Embed call's inputs, already tokenized.
type embedJob struct {
	ctx    context.Context
	inputs [][]inference.Token
	done   chan embedDone
}

type embedDone struct {
	vecs [][]float32
	err  error
}

// Embed embeds every input, coalesced with other requests' inputs into
// shared decodes. An input longer than the model's context is cut when
// req.Truncate is set and refused with *llm.PromptTooLongError otherwise.
func (b *Batcher) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error) {
	if b.emb == nil {
		return llm.EmbedResult{}, fmt.Errorf("model %s generates text; it does not serve embeddings", b.id)
	}
	n := len(req.Texts)
	if len(req.Tokens) > 0 {
		n = len(req.Tokens)
	}
	if n == 0 {
		return llm.EmbedResult{}, &llm.RequestError{Field: llm.FieldInput, Err: errors.New("no input to embed")}
	}
	j, total, err := b.queueEmbed(ctx, req, n)
	if err != nil {
		return llm.EmbedResult{}, err
	}
	select {
	case d := <-j.done:
		if d.err != nil {
			return llm.EmbedResult{}, d.err
		}
		return llm.EmbedResult{Vectors: d.vecs, PromptTokens: total}, nil
	case <-ctx.Done():
		// The scheduler drops the job when it sees the cancellation, or
		// finishes it into the buffered channel; nothing waits on us.
		return llm.EmbedResult{}, ctx.Err()
	}
}

// queueEmbed tokenizes and queues the request, guarded against Close as
// Generate is.
func (b *Batcher) queueEmbed(ctx context.Context, req llm.EmbedRequest, n int) (*embedJob, int, error) {
	if err := b.enter(); err != nil {
		return nil, 0, err
	}
	defer b.exit()
	inputs, total, err := b.tokenizeEmbed(req, n)
	if err != nil {
		return nil, 0, err
	}
	if err := b.admit(); err != nil {
		return nil, 0, err
	}
	j := &embedJob{ctx: ctx, inputs: inputs, done: make(chan embedDone, 1)}
	b.ejobs <- j // room reserved by admit
	return j, total, nil
}

func (b *Batcher) tokenizeEmbed(req llm.EmbedRequest, n int) ([][]inference.Token, int, error) {
	limit := b.emb.MaxTokens()
	vocab := int32(b.model.Info().VocabSize)
	inputs := make([][]inference.Token, n)
	total := 0
	for i := range inputs {
		var toks []inference.Token
		if len(req.Tokens) > 0 {
			for _, t := range req.Tokens[i] {
				if t < 0 || t >= vocab {
					return nil, 0, &llm.RequestError{Field: llm.FieldInput,
						Err: fmt.Errorf("input %d: token %d is outside the vocabulary [0,%d)", i, t, vocab)}
				}
			}
			toks = req.Tokens[i]
		} else {
			var err error
			if toks, err = b.model.Tokenize(req.Texts[i]); err != nil {
				return nil, 0, &llm.RequestError{Field: llm.FieldInput, Err: fmt.Errorf("input %d: %w", i, err)}
			}
		}
		if len(toks) == 0 {
			return nil, 0, &llm.RequestError{Field: llm.FieldInput, Err: fmt.Errorf("input %d is empty", i)}
		}
		if len(toks) > limit {
			if !req.Truncate {
				return nil, 0, &llm.PromptTooLongError{Tokens: len(toks), Limit: limit}
			}
			toks = toks[:limit]
		}
		inputs[i] = toks
		total += len(toks)
	}
	return inputs, total, nil
}

// runEmbed coalesces waiting embedding jobs into decodes of up to the
// context's sequences and tokens.
func (b *Batcher) runEmbed() {
	defer close(b.exited)
	runtime.LockOSThread() // as runGenerate
	defer runtime.UnlockOSThread()
	maxSeqs, maxTokens := b.emb.MaxInputs(), b.emb.MaxTokens()
	var pending []*embedJob
	for {
		if len(pending) == 0 {
			select {
			case j := <-b.ejobs:
				pending = append(pending, j)
			case <-b.quit:
				b.failEmbeds(pending)
				return
			}
		}
		// Take what else is waiting, up to one decode's worth, so inputs
		// of concurrent requests share a pass over the model.
		seqs, tokens := 0, 0
		for _, j := range pending {
			seqs += len(j.inputs)
			for _, in := range j.inputs {
				tokens += len(in)
			}
		}
	gather:
		for seqs < maxSeqs && tokens < maxTokens {
			select {
			case j := <-b.ejobs:
				pending = append(pending, j)
				seqs += len(j.inputs)
				for _, in := range j.inputs {
					tokens += len(in)
				}
			case <-b.quit:
				b.failEmbeds(pending)
				return
			default:
				break gather
			}
		}
		var batch [][]inference.Token
		live := pending[:0]
		for _, j := range pending {
			if j.ctx.Err() != nil {
				b.release()
				j.done <- embedDone{err: j.ctx.Err()}
				continue
			}
			live = append(live, j)
			batch = append(batch, j.inputs...)
		}
		pending = nil
		if len(live) == 0 {
			continue
		}
		b.running.Add(int64(len(live)))
		start := time.Now()
		vecs, err := b.emb.Embed(batch)
		b.stepNanos.Add(int64(time.Since(start)))
		b.recordService(time.Since(start))
		b.steps.Add(1)
		b.batchTokens.Add(uint64(tokens))
		b.promptTokens.Add(uint64(tokens))
		// Counters first, so that Stats read after a reply is current.
		b.running.Add(-int64(len(live)))
		off := 0
		for _, j := range live {
			d := embedDone{err: err}
			if err == nil {
				d.vecs = vecs[off : off+len(j.inputs)]
			}
			off += len(j.inputs)
			b.release()
			j.done <- d
		}
	}
}

func (b *Batcher) failEmbeds(pending []*embedJob) {
	for _, j := range pending {
		b.release()
		j.done <- embedDone{err: ErrClosed}
	}
	for {
		select {
		case j := <-b.ejobs:
			b.release()
			j.done <- embedDone{err: ErrClosed}
		default:
			return
		}
	}
}
