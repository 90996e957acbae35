// Package batcher is infergate's continuous-batching scheduler. One
// goroutine owns a llama.cpp context shared by N sequences (slots); every
// step it decodes one batch holding the next token of every generating
// sequence plus chunks of newly admitted prompts, so many conversations
// share each pass over the weights.
//
// Requests are tokenized on the caller's goroutine, admitted through a
// bounded FIFO queue, matched to the slot whose KV cells already hold the
// longest prefix of their prompt (or share that prefix from another slot),
// and stream text back through a llm.Stream. Embedding models get the same
// treatment with a simpler loop: inputs from concurrent requests are
// coalesced into one decode.
package batcher

import (
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infergate/infergate/inference"
	"github.com/infergate/infergate/llm"
)

// Defaults for zero Config fields.
const (
	DefaultParallel     = 16
	DefaultBatchSize    = 512
	DefaultPrefillChunk = 256
	DefaultLongPrefill  = 256
	defaultSeqCtx       = 4096
)

// Batcher serves one model: generation when the model generates text,
// embeddings when it is an embedding model.
type Batcher struct {
	cfg   Config
	id    string
	model *inference.Model
	log   *slog.Logger

	gen    *inference.Generator // generation models
	seqCtx int                  // most positions one sequence may hold
	emb    *inference.Embedder  // embedding models

	jobs   chan *job
	ejobs  chan *embedJob        // interactive, admitted through admit
	bjobs  chan *embedJob        // bulk (llm.PriorityBulk): back-pressure, no admission
	ctl    chan func(*scheduler) // runs on the scheduler goroutine
	quit   chan struct{}
	exited chan struct{}

	closeOnce sync.Once
	closed    atomic.Bool
	// life is held for reading while a caller's goroutine uses the model
	// (tokenizing), and for writing by Close, so the model is never freed
	// under a tokenizer.
	life sync.RWMutex

	// admitted counts requests submitted and not yet finished; it bounds
	// the queue without a lock on the submit path.
	admitted atomic.Int64
	running  atomic.Int64
	kvUsed   atomic.Int64

	// avgService is an EWMA of request service time in nanoseconds, for
	// the predicted-wait estimate the router uses; avgFirstToken one of
	// the time from a slot's start to the first token (prefill, mostly),
	// which a request pays on top of its wait.
	avgService, avgFirstToken atomic.Int64
	// ttftErr tracks a high quantile of the ratio of first tokens' actual
	// to predicted times, so that PredictedTTFT is an estimate the SLO can
	// be held to rather than an average half the requests exceed.
	ttftErr quantile

	steps, batchTokens, promptTokens, genTokens atomic.Uint64
	prefixHits, prefixTokens, refused           atomic.Uint64
	stepNanos                                   atomic.Int64
}

// New loads the model and starts the scheduler goroutine.
func New(cfg Config) (*Batcher, error) {
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.PrefillChunk <= 0 {
		cfg.PrefillChunk = DefaultPrefillChunk
	}
	if cfg.Threads <= 0 {
		// Physical cores, as llama.cpp's own tools pick: hyper-threads
		// share the vector units, and threads beyond the free cores
		// spin-wait at every sync point.
		cfg.Threads = max(1, runtime.NumCPU()/2)
	}
	if cfg.BatchSize < cfg.Parallel {
		return nil, fmt.Errorf("batch size %d is smaller than the %d parallel sequences it must hold", cfg.BatchSize, cfg.Parallel)
	}
	if cfg.LongPrefill == 0 {
		cfg.LongPrefill = DefaultLongPrefill
	} else if cfg.LongPrefill < 0 {
		cfg.LongPrefill = 0
	}
	if cfg.PrefillStepFactor <= 1 {
		cfg.PrefillStepFactor = 2
	}
	fa, err := flashAttention(cfg.FlashAttention, cfg.GPULayers, cfg.CacheType)
	if err != nil {
		return nil, err
	}
	if cfg.QueueLen < 0 {
		cfg.QueueLen = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := inference.Load(cfg.ModelPath, inference.Options{GPULayers: cfg.GPULayers, ChatTemplate: cfg.ChatTemplate})
	if err != nil {
		return nil, err
	}
	id := cfg.ID
	if id == "" {
		id = strings.TrimSuffix(filepath.Base(cfg.ModelPath), filepath.Ext(cfg.ModelPath))
	}
	b := &Batcher{
		cfg:    cfg,
		id:     id,
		model:  m,
		log:    cfg.Logger.With("model", id),
		jobs:   make(chan *job, cfg.Parallel+cfg.QueueLen),
		ejobs:  make(chan *embedJob, cfg.Parallel+cfg.QueueLen),
		bjobs:  make(chan *embedJob, cfg.Parallel),
		ctl:    make(chan func(*scheduler)),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	info := m.Info()
	switch {
	case cfg.Embedding || info.Embedding:
		b.emb, err = inference.NewEmbedder(m, inference.EmbedderParams{
			Sequences: cfg.Parallel, BatchSize: min(cfg.BatchSize*4, info.ContextTrain), Threads: cfg.Threads,
		})
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("model %s: %w", id, err)
		}
		go b.runEmbed()
	default:
		ctxSize := cfg.CtxSize
		if ctxSize <= 0 {
			ctxSize = cfg.Parallel * min(info.ContextTrain, defaultSeqCtx)
		}
		b.gen, err = inference.NewGenerator(m, inference.GeneratorParams{
			Sequences: cfg.Parallel, CtxSize: ctxSize, BatchSize: cfg.BatchSize, Threads: cfg.Threads,
			FlashAttention: fa, CacheType: cfg.CacheType,
		})
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("model %s: %w", id, err)
		}
		// Each sequence has its own KV stream of an equal share of the
		// cells, so sequences never run out of memory mid-generation.
		b.seqCtx = b.gen.SeqCtx()
		go b.runGenerate()
	}
	b.log.Info("model loaded", "arch", info.Architecture, "params", info.Params,
		"slots", cfg.Parallel, "seq_ctx", b.seqCtx, "embedding", b.emb != nil)
	return b, nil
}

func flashAttention(mode string, gpuLayers int, cacheType string) (*bool, error) {
	on, off := true, false
	if cacheType != "" && !slices.Contains(inference.CacheTypes(), cacheType) {
		return nil, fmt.Errorf("KV cache type %q: want one of %s", cacheType, strings.Join(inference.CacheTypes(), ", "))
	}
	// llama.cpp reads quantized values only in its flash-attention kernel.
	quantized := inference.CacheTypeQuantized(cacheType)
	switch mode {
	case "on":
		return &on, nil
	case "off":
		if quantized {
			return nil, fmt.Errorf("KV cache type %s needs flash attention: use flash attention on or auto, or an f16/f32 cache", cacheType)
		}
		return &off, nil
	case "", "auto":
		if quantized {
			return &on, nil
		}
		if gpuLayers == 0 {
			return &off, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("flash attention %q: want on, off or auto", mode)
}

// ModelID is the id the model is served under.
func (b *Batcher) ModelID() string { return b.id }

// Info describes the loaded model.
func (b *Batcher) Info() inference.Info { return b.model.Info() }

// Embedding reports whether this batcher serves embeddings.
func (b *Batcher) Embedding() bool { return b.emb != nil }

// SeqCtx is the longest prompt plus completion one request may have.
func (b *Batcher) SeqCtx() int {
	if b.emb != nil {
		return b.emb.MaxTokens()
	}
	return b.seqCtx
}

// Close stops the scheduler, ends every stream with ErrClosed and frees the
// model.
func (b *Batcher) Close() error {
	b.closeOnce.Do(func() {
		b.life.Lock()
		b.closed.Store(true)
		b.life.Unlock()
		close(b.quit)
		<-b.exited
		if b.gen != nil {
			b.gen.Close()
		}
		if b.emb != nil {
			b.emb.Close()
		}
		b.model.Close()
	})
	return nil
}

// Stats returns a snapshot of the scheduler.
func (b *Batcher) Stats() Stats {
	admitted := int(b.admitted.Load())
	running := int(b.running.Load())
	s := Stats{
		Slots:           b.cfg.Parallel,
		Running:         running,
		Waiting:         max(admitted-running, 0),
		KVUsed:          int(b.kvUsed.Load()),
		Steps:           b.steps.Load(),
		StepSeconds:     time.Duration(b.stepNanos.Load()).Seconds(),
		BatchTokens:     b.batchTokens.Load(),
		PromptTokens:    b.promptTokens.Load(),
		GeneratedTokens: b.genTokens.Load(),
		PrefixHits:      b.prefixHits.Load(),
		PrefixHitTokens: b.prefixTokens.Load(),
		Refused:         b.refused.Load(),
	}
	if b.gen != nil {
		s.KVSize = b.gen.CtxSize()
	}
	s.PredictedWait = b.predictWait(admitted)
	return s
}

// PredictedWait is what a request arriving now would wait for a slot: the
// router compares it with the time-to-first-token SLO before anything
// fails.
func (b *Batcher) PredictedWait() time.Duration { return b.predictWait(int(b.admitted.Load())) }

// PredictedTTFT is the time to first token a request arriving now would
// see, as an upper estimate: its predicted wait for a slot plus the recent
// time from a slot's start to its first token, scaled by how much such
// predictions fell short recently at their 99th percentile. The router
// compares this with the SLO: with the wait alone, a request admitted just
// under the SLO would miss it by its prefill, and with the mean alone, by
// the noise of a busy machine. The correction is a ratio, not an added
// error, so that an empty queue predicts a short wait again even when no
// request has come to correct an estimate learnt under overload (a router
// that spills everything sends none).
func (b *Batcher) PredictedTTFT() time.Duration {
	return time.Duration(float64(b.predictTTFT()) * max(1, b.ttftErr.value()))
}

// predictTTFT is PredictedTTFT before the correction.
func (b *Batcher) predictTTFT() time.Duration {
	return b.PredictedWait() + time.Duration(b.avgFirstToken.Load())
}

// QueueFull reports whether a request arriving now would be refused for
// want of room: every slot busy and the queue behind them full.
func (b *Batcher) QueueFull() bool {
	return b.admitted.Load() >= int64(b.cfg.Parallel+b.cfg.QueueLen)
}

// predictWait estimates how long a request arriving now waits for a slot:
// the requests ahead of it beyond the free slots, served Parallel at a time
// at the recent average service time.
func (b *Batcher) predictWait(admitted int) time.Duration {
	ahead := admitted - b.cfg.Parallel + 1
	if ahead <= 0 {
		return 0
	}
	avg := time.Duration(b.avgService.Load())
	return time.Duration(float64(avg) * float64(ahead) / float64(b.cfg.Parallel))
}

func (b *Batcher) recordService(d time.Duration) { recordEWMA(&b.avgService, d) }

// ttftErrQuantile is the quantile of the prediction's shortfall that
// PredictedTTFT corrects for, and ttftErrStep the speed of its estimate:
// a ratio 0.2 higher for each first token later than the estimate, so that
// it follows a change of load within a few dozen requests.
const (
	ttftErrQuantile = 0.99
	ttftErrStep     = 0.2
)

// quantile follows a quantile of a stream of numbers by stochastic
// approximation: each observation above the estimate raises it by
// q·step, each one at or below lowers it by (1−q)·step, which balances
// where a share q of observations lies below. It needs no history, and
// lost updates under contention only slow it down.
type quantile struct{ bits atomic.Uint64 }

func (q *quantile) value() float64 { return math.Float64frombits(q.bits.Load()) }

func (q *quantile) observe(x float64) {
	v := q.value()
	if x > v {
		v += ttftErrQuantile * ttftErrStep
	} else {
		v -= (1 - ttftErrQuantile) * ttftErrStep
	}
	q.bits.Store(math.Float64bits(v))
}

// recordEWMA folds d into the average a, with weight 1/8: smooth, yet it
// follows load changes in a few dozen requests. Lost updates under
// contention only delay that.
func recordEWMA(a *atomic.Int64, d time.Duration) {
	old := a.Load()
	if old == 0 {
		a.Store(int64(d))
		return
	}
	a.Store(old + (int64(d)-old)/8)
}

// admit reserves a place in the queue or refuses with a retry hint.
func (b *Batcher) admit() error {
	if b.closed.Load() {
		return ErrClosed
	}
	limit := int64(b.cfg.Parallel + b.cfg.QueueLen)
	n := b.admitted.Add(1)
	overloaded := n > limit
	if !overloaded && b.cfg.MaxQueueWait > 0 {
		overloaded = b.predictWait(int(n)-1) > b.cfg.MaxQueueWait
	}
	if overloaded {
		b.admitted.Add(-1)
		b.refused.Add(1)
		retry := b.predictWait(int(limit))
		if retry < time.Second {
			retry = time.Second
		}
		return &llm.OverloadedError{RetryAfter: retry}
	}
	return nil
}

func (b *Batcher) release() { b.admitted.Add(-1) }

// enter guards a caller's use of the model against Close; exit ends it.
func (b *Batcher) enter() error {
	b.life.RLock()
	if b.closed.Load() {
		b.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (b *Batcher) exit() { b.life.RUnlock() }
