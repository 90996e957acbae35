package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/router"
)

// Stream is one generation's output as the gateway consumes it: read
// Deltas until it is closed, then Result. *llm.Stream, which the batcher
// and the cloud clients produce, satisfies it.
type Stream interface {
	Deltas() <-chan llm.Delta
	Result() llm.Result
}

// Routed is implemented by streams that know where they ran ("local",
// "cloud"); the gateway reports it in X-Infergate-Route and in metrics.
// Streams that do not implement it ran locally.
type Routed interface {
	Route() string
}

// Generator runs text generations. Cancelling the context given to
// Generate stops the generation.
type Generator interface {
	Generate(ctx context.Context, req llm.Request) (Stream, error)
	Stats() batcher.Stats
}

// Embedder computes embeddings.
type Embedder interface {
	Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error)
	Stats() batcher.Stats
}

// RoutedEmbedder is implemented by embedders that may compute elsewhere
// than locally (RouterEmbedder): EmbedRouted also says where, which the
// gateway reports in X-Infergate-Route and in metrics. Embedders that do
// not implement it ran locally.
type RoutedEmbedder interface {
	EmbedRouted(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, string, error)
}

// embedRouted runs req on e and says where it ran.
func embedRouted(ctx context.Context, e Embedder, req llm.EmbedRequest) (llm.EmbedResult, string, error) {
	if re, ok := e.(RoutedEmbedder); ok {
		return re.EmbedRouted(ctx, req)
	}
	res, err := e.Embed(ctx, req)
	return res, llm.RouteLocal, err
}

// HeaderRoutePolicy is the request header that restricts where a
// generation or an embedding may run: "local-only" keeps it off cloud APIs.
const HeaderRoutePolicy = "X-Infergate-Route-Policy"

// routePolicy reads the request's route policy; on a bad value it fails
// the request with a 400 and reports false. A key configured local-only
// is local-only whatever the header says.
func routePolicy(r *request) (router.Policy, bool) {
	policy, err := router.ParsePolicy(string(r.ctx.Request.Header.Peek(HeaderRoutePolicy)))
	if err != nil {
		r.fail(badRequest(HeaderRoutePolicy, "invalid_value", "Invalid "+HeaderRoutePolicy+": want local-only or any."))
		return policy, false
	}
	if r.who != nil && r.who.localOnly {
		policy = router.PolicyLocalOnly
	}
	return policy, true
}

// RouterGenerator adapts a router to Generator. Stats are the local
// engine's when the model has one, and zero for a cloud-only model.
type RouterGenerator struct {
	R     *router.Router
	Local *batcher.Batcher // nil: cloud-only
}

// Generate implements Generator; the stream's Route says where it ran.
func (g RouterGenerator) Generate(ctx context.Context, req llm.Request) (Stream, error) {
	return asStream(g.R.Generate(ctx, req))
}

// Stats implements Generator.
func (g RouterGenerator) Stats() batcher.Stats {
	if g.Local == nil {
		return batcher.Stats{}
	}
	return g.Local.Stats()
}

// RouterEmbedder adapts an embedding router to Embedder: the local
// embedding model, spilling to an upstream declared to compute it
// identically. Stats are the local engine's.
type RouterEmbedder struct {
	R     *router.EmbedRouter
	Local *batcher.Batcher
}

// Embed implements Embedder.
func (e RouterEmbedder) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error) {
	res, _, err := e.R.Embed(ctx, req)
	return res, err
}

// EmbedRouted implements RoutedEmbedder.
func (e RouterEmbedder) EmbedRouted(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, string, error) {
	return e.R.Embed(ctx, req)
}

// Stats implements Embedder.
func (e RouterEmbedder) Stats() batcher.Stats { return e.Local.Stats() }

// Local adapts a scheduler to Generator and Embedder. Its Generate returns
// the scheduler's *llm.Stream as a Stream; the adapter exists because
// Go interfaces need the exact result type.
type Local struct{ B *batcher.Batcher }

// Generate implements Generator.
func (l Local) Generate(ctx context.Context, req llm.Request) (Stream, error) {
	return asStream(l.B.Generate(ctx, req))
}

// asStream hands a producer's *llm.Stream on as a Stream: on error a nil
// interface, not an interface holding a nil *llm.Stream (which is not nil).
func asStream(st *llm.Stream, err error) (Stream, error) {
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Embed implements Embedder.
func (l Local) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error) {
	return l.B.Embed(ctx, req)
}

// Stats implements Generator and Embedder.
func (l Local) Stats() batcher.Stats { return l.B.Stats() }

// ModelKind says which endpoints a model serves.
type ModelKind string

// Model kinds.
const (
	KindChat      ModelKind = "chat"      // /v1/chat/completions and /v1/completions
	KindEmbedding ModelKind = "embedding" // /v1/embeddings
)

// Model is one served model: what /v1/models reports and what requests
// naming it are sent to.
type Model struct {
	// ID is the name clients put in "model".
	ID string
	// Aliases are further names accepted in "model" (not listed).
	Aliases []string
	Kind    ModelKind
	// OwnedBy and Created are reported by /v1/models; Created is usually
	// the model file's modification time.
	OwnedBy string
	Created time.Time
	// ContextLength is the context one request may use, in tokens; 0 if
	// unknown.
	ContextLength int
	// Dimensions is the embedding size; 0 if unknown, in which case the
	// gateway learns it from the first embedding.
	Dimensions int
	// Path is the model file, reported to admins only.
	Path string
	// VocabSize bounds the token ids a request may send; 0 if unknown
	// (the scheduler checks them then).
	VocabSize int

	Generator Generator // for KindChat
	Embedder  Embedder  // for KindEmbedding
}

// model is a served model with the gateway's own state about it.
type model struct {
	Model
	dims atomic.Int64 // embedding size, learned from the first result if not configured
	fp   string       // system_fingerprint
}

// fingerprint is the system_fingerprint reported with completions: it
// changes when the model or the server version does, which is what
// OpenAI's field tells clients.
func fingerprint(id, version string) string {
	h := sha256.Sum256([]byte(id + "\x00" + version))
	return "fp_" + hex.EncodeToString(h[:5])
}

// stats returns the model's scheduler snapshot.
func (m *Model) stats() batcher.Stats {
	if m.Kind == KindEmbedding {
		return m.Embedder.Stats()
	}
	return m.Generator.Stats()
}

// checkTokens refuses token ids outside the vocabulary with a 400 naming
// the first bad one, rather than letting the engine fail the request.
func (m *model) checkTokens(tokens []int32, param string) *APIError {
	if m.VocabSize <= 0 {
		return nil
	}
	for i, t := range tokens {
		if int(t) >= m.VocabSize {
			return errValue(indexParam(param, i), "token id %d is outside the model's vocabulary of %d tokens.", t, m.VocabSize)
		}
	}
	return nil
}
