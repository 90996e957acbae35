// Package llm is the vocabulary of a generation: the request, the deltas of
// text it produces, its result and the stream that carries them, and the
// Generator and Embedder interfaces. Everything that generates (the local
// batcher, the cloud clients in upstream, the router in front of both)
// produces an *llm.Stream; the gateway and the bot consume one without
// knowing which ran. The package imports nothing of infergate's, so that
// every other package can depend on it.
//
// # Streams
//
// A Stream has two sides. The producer calls Push for each piece of text and
// then Finish exactly once; it never blocks, however slow the reader, because
// pushed text is appended to a buffer that a per-stream goroutine hands to
// the reader, coalescing whatever piled up meanwhile. The consumer ranges
// over Deltas until the channel is closed and then calls Result.
//
// Invariants, which producers must keep and consumers may rely on:
//
//   - Every stream ends with exactly one Finish. A second Finish, or a Push
//     after Finish, is a programming error and panics.
//   - Deltas is closed only after Finish, and every byte pushed before
//     Finish is delivered before it is closed, unless the stream's context
//     was cancelled (the reader is gone, so the rest is dropped).
//   - A Result with Err set means the generation failed and the client must
//     see an error (an error response, or an error event on a stream that
//     has already sent text), never a clean end: not a finish_reason, not a
//     [DONE]. Err decides; FinishReason is then informative only.
//   - FinishCancel without Err means the generation stopped because its
//     context was cancelled; nobody is normally left to tell.
//   - The Tokens of a stream's deltas add up to the tokens generated as far
//     as the producer can tell; a local producer counts exactly, a cloud one
//     estimates per chunk. Result's usage fields are the authority for
//     accounting and cost.
//   - Route is fixed when the stream is created, so a server can report it
//     (X-Infergate-Route) before the first token.
package llm
