// Package upstream is infergate's client for cloud APIs: OpenAI-compatible
// servers (/chat/completions, /completions, /embeddings) and Anthropic's
// Messages API (/messages), streamed or not. It translates an llm.Request
// into the API's request and the API's answer into an *llm.Stream whose
// route is cloud:<name>, so that the router can put a cloud model where a
// local one would have run and the gateway cannot tell but by the route.
//
// One Client serves one configured upstream (Config, filled from the
// --config YAML's upstreams list); Client.Model binds it to a model id as
// an llm.Generator and llm.Embedder.
//
// # Translation
//
// Messages, max_tokens, temperature, top_p, stop and seed map to the API's
// fields where it has them: OpenAI has no top_k, Anthropic no seed, no
// penalties and a temperature range of 0–1 (higher is clamped); system
// messages become Anthropic's top-level system prompt; Anthropic requires
// max_tokens, so Config.MaxTokens stands in for "no limit". Finish reasons
// map to llm's (end_turn and stop_sequence: stop; max_tokens: length;
// refusal and content_filter: content_filter), and usage to OpenAI's terms
// (Anthropic's prompt is input plus cache writes plus cache reads; cached
// tokens are cache reads). A request that needs what the API cannot do (a
// GBNF grammar, token ids, a raw prompt on Anthropic) fails with
// KindUnsupported before anything is sent.
//
// # Failures
//
// Every failure is an *Error whose Kind, Retryable, TokensSent and
// RetryAfter tell the router what it may do. Generate returns only after
// the first text has arrived, so a failure before it is Generate's error
// and nothing has reached the client: the router may retry or go elsewhere.
// After it, a stream that is cut (the body ends before [DONE] or
// message_stop), stalls past IdleTimeout, sends a malformed chunk or an
// error event ends with Result.Err set, never with a clean finish: the
// client's stream must end with an error event.
//
// The timeouts are the upstream's own: ConnectTimeout for the connection,
// FirstTokenTimeout from sending to the first text, IdleTimeout between
// pieces of text (Anthropic's pings do not count), RequestTimeout for a
// request that is not streamed. Cancelling the caller's context closes the
// upstream request. MaxConcurrency caps the requests in flight; a request
// over it waits for a slot for as long as its context allows.
//
// Retries, the circuit breaker, routing and budgets are the router's: this
// package does one attempt and reports what happened, with the usage and
// Price that a budget needs.
package upstream
