package llm

import (
	"fmt"
	"time"
)

// Message is one turn of a chat conversation, already flattened to text.
type Message struct {
	Role    string // RoleSystem, RoleUser or RoleAssistant
	Content string
}

// Message roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Sampling holds the per-request sampler settings. Zero values mean
// "the engine's default" except Temperature, where 0 means greedy.
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
	// ResponseFormat is the client's OpenAI response_format object as sent
	// (JSON), empty for none. The local engine enforces it through Grammar,
	// which the gateway derives from it; a cloud API that enforces
	// response_format itself is given this instead, as it cannot run GBNF.
	ResponseFormat string
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
	FinishStop          = "stop"           // end of generation or a stop string
	FinishLength        = "length"         // MaxTokens or the context is exhausted
	FinishContentFilter = "content_filter" // a cloud model refused or was filtered
	FinishCancel        = "cancelled"      // the request's context was cancelled
)

// Routes name where a generation ran. A cloud route is RouteCloudPrefix
// followed by the upstream's configured name; CloudRoute builds one.
const (
	RouteLocal       = "local"
	RouteCloudPrefix = "cloud:"
)

// CloudRoute returns the route of a generation served by the named upstream.
func CloudRoute(upstream string) string { return RouteCloudPrefix + upstream }

// Delta is a piece of generated text ready to send to a client. Text never
// ends inside a UTF-8 sequence or inside a possible stop string.
type Delta struct {
	Text   string
	Tokens int // tokens this delta accounts for
}

// Result is the outcome of a finished generation.
type Result struct {
	FinishReason string
	// Usage, as OpenAI reports it: PromptTokens includes CachedTokens.
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int // prompt tokens reused from a (prefix or cloud) cache
	QueueWait        time.Duration
	TimeToFirstToken time.Duration
	// Route is where the generation ran (RouteLocal, CloudRoute(name)); the
	// stream fills it in from its own route when the producer leaves it
	// empty.
	Route string
	// Model is the model that ran as its runner names it (for a cloud
	// route, the upstream's model id); empty when it is the requested one.
	Model string
	Err   error // set when the generation failed; see the package doc
}

// TotalTokens is the prompt and completion tokens together.
func (r Result) TotalTokens() int { return r.PromptTokens + r.CompletionTokens }

// EmbedRequest asks for one embedding per input.
type EmbedRequest struct {
	Texts    []string
	Tokens   [][]int32 // alternative to Texts
	Truncate bool      // cut inputs longer than the context instead of refusing
	Priority Priority  // who waits on the result
}

// Priority orders embedding work that shares one model. A live query (a
// search, a chat turn's retrieval) has someone waiting on it; a bulk
// ingestion has a progress bar. An embedder serves every waiting
// interactive input before the next bulk one, and admits bulk work by
// back-pressure (the call blocks) rather than by refusing it, so that a
// large ingestion neither starves queries nor fills the queue they need.
type Priority uint8

const (
	PriorityInteractive Priority = iota // the zero value: a caller is waiting
	PriorityBulk                        // ingestion: throughput matters, latency does not
)

// EmbedResult holds L2-normalised vectors in input order.
type EmbedResult struct {
	Vectors      [][]float32
	PromptTokens int
}

// OverloadedError is returned when a generator cannot take the request now:
// its admission queue is full or the predicted wait exceeds its maximum.
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
