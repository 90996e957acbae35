package batcher

import "context"

// Batcher is being written; these bodies are placeholders replaced by the
// real scheduler before anything lands.
type Batcher struct{}

// New loads the model and starts the scheduler goroutine.
func New(cfg Config) (*Batcher, error) { panic("not implemented") }

// Generate queues a generation and returns its stream.
func (b *Batcher) Generate(ctx context.Context, req Request) (*Stream, error) {
	panic("not implemented")
}

// Embed embeds every input, coalesced with other requests' inputs.
func (b *Batcher) Embed(ctx context.Context, req EmbedRequest) (EmbedResult, error) {
	panic("not implemented")
}

// Stats returns a snapshot of the scheduler.
func (b *Batcher) Stats() Stats { panic("not implemented") }

// ModelID is the id the model is served under.
func (b *Batcher) ModelID() string { panic("not implemented") }

// Close stops the scheduler, ends every stream and frees the model.
func (b *Batcher) Close() error { panic("not implemented") }
