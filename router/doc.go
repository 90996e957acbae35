// Package router decides, per request, where a generation runs: on the
// local engine (the batcher) or on a cloud upstream, and keeps the cloud
// path resilient (retries before the first token, a circuit breaker per
// upstream, monthly budgets overall and per API key).
//
// A Router serves one model id and implements llm.Generator; the gateway
// holds one per chat model. It consumes the local engine through the Local
// interface defined here (the batcher satisfies it through a small adapter
// over its Stats), and the upstreams through Upstream (*upstream.Client
// satisfies it).
//
// # Routing
//
// The decision is made before anything fails, from the time to first token
// the local engine predicts for a request arriving now (its wait for a slot
// plus its recent prefill time: the wait alone would let the queue grow
// until every local request missed the SLO by its prefill), compared with
// the configured time-to-first-token SLO. Hysteresis keeps it from
// flapping: the router starts spilling when the prediction exceeds the SLO
// and goes back to
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
// # Budgets
//
// A Budget, shared by the Routers of a server, caps cloud spend per
// calendar month (UTC), overall and per API key (the Key the gateway puts
// on the context with WithKey). It is enforced before a request is sent:
// the request reserves its worst-case cost on the upstream it is about to
// try (upstream.Client.MaxUsage at the upstream's prices), and a
// reservation that would take spent plus reserved past a limit is refused,
// so concurrent requests cannot overspend together; the request then goes
// to the next upstream or, failing all, runs under local rules
// (ReasonBudget). A failure before the first token releases the
// reservation; the end of the stream settles it to the cost of the usage
// the upstream reported (a prompt it did not report is charged at its
// bound, a short completion count at the tokens streamed).
//
// With a Ledger (the store, under --data-dir) the month's spend, overall
// and per key, is one record, "router.spend/YYYY-MM", written synced at
// every settle before the stream's Result is delivered (concurrent settles
// share one write), so a restart, even after SIGKILL, loses only the
// generations still in flight, whose Result nobody has seen. Without one
// the spend is kept in memory and a restart resets it.
//
// # Metrics
//
// Metrics, shared by the Routers of a server and registered on its
// registry, counts decisions by model, route and reason, upstream attempts
// and errors by kind, observes upstream time to first token and duration,
// and reports breaker states and the month's spend at scrape time.
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
//   - A cloud request holds a reservation from before it is sent until its
//     stream ends: spent plus reserved never exceeds a limit (except by
//     what an OpenAI-compatible upstream generates past the completion
//     estimate of a request that sets no max_tokens; see MaxUsage).
package router
