package batcher

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Message is one turn of a chat conversation, already flattened to text.
type Message struct {
	Role    string // "system", "user", "assistant"
	Content string
}

// Sampling holds the per-request sampler settings. Zero values mean
// "llama.cpp default" except Temperature, where 0 means greedy.
type Sampling struct {
	Temperature      float32
	TopK             int
	TopP             float32 // 0 or 1 disables
	MinP             float32
	RepeatPenalty    float32 // 0 or 1 disables
	FrequencyPenalty float32
	PresencePenalty  float32
	Seed             uint32 // used when HasSeed
	HasSeed          bool
	Grammar          string // GBNF; empty for none
}

// Request is one generation. Exactly one of Messages, Prompt or PromptTokens
// is set: Messages go through the model's chat template.
type Request struct {
	ID           string // the caller's request id, for log lines
	Messages     []Message
	Prompt       string
	PromptTokens []int32
	MaxTokens    int // 0: until the context is full
	Stop         []string
	IgnoreEOS    bool // keep generating past end-of-generation tokens (load tests)
	Sampling     Sampling
}

// Finish reasons, as in OpenAI's API.
const (
	FinishStop   = "stop"   // EOS or a stop string
	FinishLength = "length" // MaxTokens or the context is exhausted
	FinishCancel = "cancelled"
)

// Delta is a piece of generated text ready to send to a client. Text never
// ends inside a UTF-8 sequence or inside a possible stop string.
type Delta struct {
	Text   string
	Tokens int // tokens this delta accounts for
}

// Result is the outcome of a finished generation.
type Result struct {
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int // prompt tokens reused from the prefix cache
	QueueWait        time.Duration
	TimeToFirstToken time.Duration
	Err              error // set when the generation failed mid-way
}

// EmbedRequest asks for one embedding per input.
type EmbedRequest struct {
	Texts    []string
	Tokens   [][]int32 // alternative to Texts
	Truncate bool      // cut inputs longer than the context instead of refusing
}

// EmbedResult holds L2-normalised vectors in input order.
type EmbedResult struct {
	Vectors      [][]float32
	PromptTokens int
}

// OverloadedError is returned when the admission queue is full or the
// predicted wait exceeds the configured maximum.
type OverloadedError struct{ RetryAfter time.Duration }

func (e *OverloadedError) Error() string {
	return fmt.Sprintf("server overloaded: admission queue full, retry after %s", e.RetryAfter)
}

// PromptTooLongError is returned up front for a prompt that cannot fit the
// per-sequence context.
type PromptTooLongError struct{ Tokens, Limit int }

func (e *PromptTooLongError) Error() string {
	return fmt.Sprintf("prompt is %d tokens, the context holds %d", e.Tokens, e.Limit)
}

// RequestError is a request the model cannot serve as given: the client's
// mistake, never the server's. Field names the part of the Request at fault.
type RequestError struct {
	Field string // one of the Field constants
	Err   error
}

// The parts of a Request that a RequestError names.
const (
	FieldPrompt   = "prompt"   // Prompt or PromptTokens
	FieldMessages = "messages" // Messages, or the chat template applied to them
	FieldGrammar  = "grammar"  // Sampling.Grammar
	FieldInput    = "input"    // EmbedRequest's texts or tokens
)

func (e *RequestError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *RequestError) Unwrap() error { return e.Err }

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
