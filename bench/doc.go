// Package bench is infergate's load generator: `infergate bench` drives any
// OpenAI-compatible server (infergate, llama-server, vLLM, Ollama) over
// HTTP and reports what operators need before launch and engineers need to
// compare changes. It talks HTTP only and imports no other infergate
// package, so it measures infergate exactly as it measures its peers.
//
// # Load
//
// A run is a sweep of levels. Closed loop (--concurrency 1,4,16,64): N
// sessions each send a request, wait for the reply, and send the next, so
// the offered load adapts to the server. Open loop (--rate 2,4,8): sessions
// start at gamma-distributed arrival times with mean gap 1/rate and shape
// --burstiness (1 is a Poisson process), whatever the server does; at most
// --max-inflight run at once, and arrivals delayed by that cap are reported
// as late starts. A level ends after --requests requests or --duration,
// then waits for the requests in flight (each bounded by --timeout).
//
// # Measures
//
// All latencies are taken on the client, from just before the request is
// written to the moment the relevant bytes were read:
//
//   - TTFT, time to first token: until the first SSE chunk carrying
//     content (text, content or reasoning). Without streaming the first
//     token arrives with the whole body, so TTFT is the end-to-end latency
//     and is not shown separately.
//   - TPOT, time per output token: (end-to-end − TTFT) / (output tokens − 1)
//     per request with at least two tokens.
//   - ITL, inter-token latency: the gaps between successive content chunks,
//     pooled over all requests. A server that packs several tokens into one
//     chunk shows fewer, longer gaps; TPOT is unaffected.
//   - E2E: until the end of the response ([DONE] for a stream).
//
// Distributions report mean, p50, p90 and p99 by linear interpolation, as
// NumPy and vLLM's benchmark compute them. Throughputs divide by the
// level's wall time from its first request to its last response.
//
// Token counts come from the server: every streamed request sets
// stream_options.include_usage, and usage.prompt_tokens and
// completion_tokens are used when present. Without usage the harness counts
// content chunks as output tokens (for a reply that is not streamed, four
// characters per token) and takes the prompt length it asked for (four
// characters per token for dataset text, system prompt and history); the
// report says how many requests had usage.
// Synthetic prompts are random common English words, about one token each
// on mainstream tokenizers, so prompts share no prefix; compare
// requested_input_tokens_mean with input_tokens_mean (which includes the
// chat template) in the JSON report to see how close they came.
//
// Errors are counted by kind: http_<status>, timeout (--timeout passed),
// connection (dial failure, reset), malformed (unparsable chunk, stream
// cut off without [DONE] or finish_reason) and api_error (an error object
// inside a 200 response or an SSE error event). Requests still in flight
// when the run is cancelled are counted as canceled and enter no figure.
//
// Goodput (--slo ttft=500ms,tpot=50ms,e2e=10s) is the rate of successful
// requests meeting every objective given. When the server names the route
// that served a request in the X-Infergate-Route response header, the
// share of each route and its TTFT are reported.
//
// # Reports
//
// A summary table (one column per level) goes to stdout; --json writes
// every figure with the parameters (never the API key or header values);
// --html writes a self-contained page with SVG plots of latency against
// throughput; --compare A.json B.json prints two runs side by side with
// B/A ratios, matching levels by label (c=16, rate=4).
//
// # Safety
//
// Targets must be loopback unless --allow-remote: the host is checked
// before the run, and every connection's peer address is checked again at
// dial time. Proxies from the environment are ignored and redirects are
// not followed. Every level is bounded in requests (at most 1,000,000) and
// every request in time.
//
// # A fake cloud
//
// `infergate bench fake-upstream` serves FakeCloud on loopback: a hosted
// OpenAI-compatible API with a first-token delay, jitter and decode speed
// of your choosing, speaking the exact wire format (streamed chunks, usage,
// errors, refusal of unknown parameters). It stands in for the cloud in
// the overload experiment (make overload, bench/overload.sh), where a real
// API cannot be reached and would not answer the same way twice.
//
// Knowledge-base search is not benchmarked yet: infergate has no search
// endpoint to call.
package bench
