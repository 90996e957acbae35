package llm

import "context"

// Generator runs text generations. Generate either returns an error (the
// request was not started, or failed before any text) or a stream that ends
// with a Result; cancelling ctx stops the generation, and the stream then
// finishes with FinishCancel.
type Generator interface {
	Generate(ctx context.Context, req Request) (*Stream, error)
}

// Embedder computes embeddings.
type Embedder interface {
	Embed(ctx context.Context, req EmbedRequest) (EmbedResult, error)
}
