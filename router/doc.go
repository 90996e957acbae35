// Package router decides, per request, where a generation runs: on the
// local engine (the batcher) or on a cloud upstream, and keeps the cloud
// path resilient (retries before the first token, a circuit breaker per
// upstream, a monthly budget).
//
// A Router serves one model id and implements llm.Generator; the gateway
// holds one per chat model. It consumes the local engine through the Local
// interface defined here (the batcher satisfies it through a small adapter
// over its Stats), and the upstreams through Upstream (*upstream.Client
// satisfies it).
//
// # Routing
//
// The decision is made before anything fails, from the wait the local
// engine predicts for a request arriving now, compared with the configured
// time-to-first-token SLO. Hysteresis keeps it from flapping: the router
// starts spilling when the predicted wait exceeds the SLO and goes back to
// local only when it has fallen below ReturnRatio×SLO; between the two it
// keeps doing what it did. The state is evaluated on every request, never
// on a timer. A full local queue, an *llm.OverloadedError or
// ErrLocalUnavailable from the local engine also send the request to the
// cloud. When the cloud cannot take it (every breaker open, the budget
// spent, every upstream failed) the request goes to the local engine after
// all, and its error is what the caller sees if that fails too.
//
// A request whose context carries PolicyLocalOnly never goes to the cloud:
// it runs locally or gets the local engine's overload error. A Router
// without a local engine is cloud-only.
//
// # Invariants
//
//   - Retries and switches happen only before the first token: an upstream
//     returns a stream only once text has arrived, so an error from its
//     Generate means nothing reached the client. Once a stream is
//     returned, the router never retries or switches; a failure after that
//     ends the stream with Result.Err set, as the upstream produced it.
//   - The returned stream's Route is "local" or "cloud:<name>", fixed
//     before the first token, and the Decision handed to Options.OnDecision
//     says why (a Reason, low-cardinality, for metrics and the conversation
//     log).
//   - Breakers are evaluated on every request: an open breaker admits
//     nothing until its cooldown has passed, then exactly one probe, whose
//     outcome closes or reopens it.
//   - A cloud stream's outcome (success or a mid-stream failure, and its
//     cost) is recorded before the stream the caller reads finishes, so
//     that anything reading the breaker or the spend after Result sees it.
package router
