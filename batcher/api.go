package batcher

import (
	"errors"
	"log/slog"
	"time"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("batcher: closed")

// Config sets up one Batcher: one model, one llama.cpp context shared by
// Parallel sequences.
type Config struct {
	ID           string // model id; empty: the file name without .gguf
	ModelPath    string
	Embedding    bool   // serve embeddings instead of generation
	ChatTemplate string // overrides the model's template; empty: model's, else ChatML
	Parallel     int    // sequences (slots) sharing the context
	CtxSize      int    // total KV cells, split evenly among slots
	BatchSize    int    // tokens decoded per step (n_batch)
	// PrefillChunk caps the prompt tokens added to a step while other
	// sequences are generating, so a long prompt is spread over several
	// steps instead of stalling their tokens (chunked prefill). Within the
	// cap the chunk adapts so that a step with prefill takes at most
	// PrefillStepFactor times a step without. With no sequence generating,
	// prompts use the whole BatchSize.
	PrefillChunk      int
	PrefillStepFactor float64 // 0: 2
	// LongPrefill is the prompt length (tokens left to decode) above which
	// a prompt is chunked; shorter ones are decoded whole in the next step
	// so that their first token is not delayed. 0: 256; negative: chunk all.
	LongPrefill int
	// FlashAttention: "on", "off", or "" / "auto": off on CPU, where
	// llama.cpp's kernel was measured 3× slower for prompts, llama.cpp's
	// choice when layers are offloaded to a GPU.
	FlashAttention string
	// CacheType is the element type of the KV cells (inference.CacheTypes):
	// "" or "f16" as llama.cpp; "q8_0" halves the cache's memory (it needs
	// flash attention, which auto then turns on); "f32" doubles it but
	// spares the CPU a conversion per cell, which pays off for small models.
	CacheType    string
	Threads      int
	GPULayers    int
	QueueLen     int           // waiting requests beyond the slots; more are refused
	MaxQueueWait time.Duration // refuse when the predicted wait exceeds it; 0: no limit
	Logger       *slog.Logger
}

// Stats is a snapshot of the scheduler for metrics and routing. Counters
// are cumulative since start.
type Stats struct {
	Slots         int
	Running       int
	Waiting       int
	KVUsed        int
	KVSize        int
	PredictedWait time.Duration // what a request arriving now would wait for a slot

	Steps           uint64
	StepSeconds     float64
	BatchTokens     uint64 // tokens decoded over all steps
	PromptTokens    uint64
	GeneratedTokens uint64
	PrefixHits      uint64
	PrefixHitTokens uint64
	Refused         uint64
}
