package batcher

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/infergate/infergate/inference"
	"github.com/infergate/infergate/llm"
)

// embedJob is one Embed call's inputs, already tokenized. A bulk job is
// embedded a decode's worth of inputs at a time, its vectors gathered in
// vecs until next reaches len(inputs); an interactive job goes whole into
// the first decode that has room.
type embedJob struct {
	ctx    context.Context
	inputs [][]inference.Token
	done   chan embedDone
	bulk   bool
	vecs   [][]float32
	next   int
}

type embedDone struct {
	vecs [][]float32
	err  error
}

// Embed embeds every input, coalesced with other requests' inputs into
// shared decodes. An input longer than the model's context is cut when
// req.Truncate is set and refused with *llm.PromptTooLongError otherwise.
// Interactive requests are admitted through the queue (and refused with
// *llm.OverloadedError when it is full); bulk requests wait for room
// instead, and are served only after every waiting interactive input.
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

// MaxEmbedTokens is the longest input Embed accepts without truncation,
// in the model's tokens; zero for a generation model.
func (b *Batcher) MaxEmbedTokens() int {
	if b.emb == nil {
		return 0
	}
	return b.emb.MaxTokens()
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
	j := &embedJob{ctx: ctx, inputs: inputs, done: make(chan embedDone, 1)}
	if req.Priority == llm.PriorityBulk {
		// Back-pressure, not refusal: the bulk queue is short, and a full
		// one means the ingester is already ahead of the model. Close
		// cannot finish while we hold life, but the scheduler keeps taking
		// bulk jobs until quit, so this send always ends.
		j.bulk, j.vecs = true, make([][]float32, len(inputs))
		select {
		case b.bjobs <- j:
			return j, total, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	if err := b.admit(); err != nil {
		return nil, 0, err
	}
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

// embedQueue is what runEmbed holds between decodes: interactive jobs in
// arrival order, and bulk jobs in arrival order, the head partly embedded.
type embedQueue struct {
	live []*embedJob
	bulk []*embedJob
}

func (q *embedQueue) empty() bool { return len(q.live) == 0 && len(q.bulk) == 0 }

func (q *embedQueue) add(j *embedJob) {
	if j.bulk {
		q.bulk = append(q.bulk, j)
	} else {
		q.live = append(q.live, j)
	}
}

// runEmbed coalesces waiting embedding jobs into decodes of up to the
// context's sequences and tokens. Interactive jobs always go first; bulk
// inputs are embedded in small decodes only when no interactive job
// waits (see planEmbed).
func (b *Batcher) runEmbed() {
	defer close(b.exited)
	runtime.LockOSThread() // as runGenerate
	defer runtime.UnlockOSThread()
	maxSeqs, maxTokens := b.emb.MaxInputs(), b.emb.MaxTokens()
	var q embedQueue
	for {
		if q.empty() {
			select {
			case j := <-b.ejobs:
				q.add(j)
			case j := <-b.bjobs:
				q.add(j)
			case <-b.quit:
				b.failEmbeds(&q)
				return
			}
		}
	drain:
		for {
			select {
			case j := <-b.ejobs:
				q.add(j)
			case j := <-b.bjobs:
				q.add(j)
			case <-b.quit:
				b.failEmbeds(&q)
				return
			default:
				break drain
			}
		}
		b.dropCancelled(&q)
		if q.empty() {
			continue
		}
		batch, live, parts, tokens := b.planEmbed(&q, maxSeqs, maxTokens)
		b.running.Add(int64(len(live) + len(parts)))
		start := time.Now()
		vecs, err := b.emb.Embed(batch)
		b.stepNanos.Add(int64(time.Since(start)))
		b.recordService(time.Since(start))
		b.steps.Add(1)
		b.batchTokens.Add(uint64(tokens))
		b.promptTokens.Add(uint64(tokens))
		// Counters first, so that Stats read after a reply is current.
		b.running.Add(-int64(len(live) + len(parts)))
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
		for _, p := range parts {
			j := p.job
			if err != nil {
				j.done <- embedDone{err: err}
				q.bulk = slices.DeleteFunc(q.bulk, func(x *embedJob) bool { return x == j })
				continue
			}
			copy(j.vecs[j.next:], vecs[off:off+p.n])
			off += p.n
			j.next += p.n
			if j.next == len(j.inputs) {
				j.done <- embedDone{vecs: j.vecs}
				q.bulk = slices.DeleteFunc(q.bulk, func(x *embedJob) bool { return x == j })
			}
		}
	}
}

// bulkPart is the inputs one decode takes from a bulk job: n of them,
// starting at the job's next.
type bulkPart struct {
	job *embedJob
	n   int
}

// planEmbed chooses one decode's inputs: every waiting interactive job
// while there is room (the first one even when it alone is larger than a
// decode, which the embedder then splits); only when there is none, bulk
// inputs in order, up to a quarter of a decode's tokens (or one input, if
// larger). A query's decode is then as small as the query, and a query
// arriving during an ingestion waits for at most one small bulk decode:
// BenchmarkQueryDuringIngest in index/ measures it.
func (b *Batcher) planEmbed(q *embedQueue, maxSeqs, maxTokens int) (batch [][]inference.Token, live []*embedJob, parts []bulkPart, tokens int) {
	seqs := 0
	for len(q.live) > 0 {
		j := q.live[0]
		n := 0
		for _, in := range j.inputs {
			n += len(in)
		}
		if len(live) > 0 && (seqs+len(j.inputs) > maxSeqs || tokens+n > maxTokens) {
			break
		}
		live = append(live, j)
		batch = append(batch, j.inputs...)
		seqs += len(j.inputs)
		tokens += n
		q.live = q.live[1:]
	}
	if len(live) > 0 {
		return batch, live, nil, tokens
	}
	budget := max(maxTokens/bulkShare, 1)
	for _, j := range q.bulk {
		n := 0
		for j.next+n < len(j.inputs) && seqs < maxSeqs && (seqs == 0 || tokens+len(j.inputs[j.next+n]) <= budget) {
			in := j.inputs[j.next+n]
			batch = append(batch, in)
			tokens += len(in)
			seqs++
			n++
		}
		if n > 0 {
			parts = append(parts, bulkPart{job: j, n: n})
		}
		if seqs >= maxSeqs || tokens >= budget || j.next+n < len(j.inputs) {
			break
		}
	}
	return batch, live, parts, tokens
}

// bulkShare divides a decode's token capacity for bulk-only decodes:
// smaller decodes bound a query's wait, and an encoder's cost is close to
// linear in tokens, so throughput barely changes.
const bulkShare = 4

// dropCancelled finishes the jobs whose callers have gone.
func (b *Batcher) dropCancelled(q *embedQueue) {
	q.live = slices.DeleteFunc(q.live, func(j *embedJob) bool {
		if j.ctx.Err() == nil {
			return false
		}
		b.release()
		j.done <- embedDone{err: j.ctx.Err()}
		return true
	})
	q.bulk = slices.DeleteFunc(q.bulk, func(j *embedJob) bool {
		if j.ctx.Err() == nil {
			return false
		}
		j.done <- embedDone{err: j.ctx.Err()}
		return true
	})
}

func (b *Batcher) failEmbeds(q *embedQueue) {
	fail := func(j *embedJob) {
		if !j.bulk {
			b.release()
		}
		j.done <- embedDone{err: ErrClosed}
	}
	for _, j := range q.live {
		fail(j)
	}
	for _, j := range q.bulk {
		fail(j)
	}
	for {
		select {
		case j := <-b.ejobs:
			fail(j)
		case j := <-b.bjobs:
			fail(j)
		default:
			return
		}
	}
}
