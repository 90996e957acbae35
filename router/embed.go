package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/upstream"
)

// LocalEmbedder is the local embedding engine as the EmbedRouter consumes
// it; *batcher.Batcher satisfies it.
type LocalEmbedder interface {
	// Embed fails with *llm.OverloadedError when the engine cannot take
	// the request now, and with batcher.ErrClosed or an error wrapping
	// ErrLocalUnavailable when it cannot run at all.
	Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error)
	// QueueFull reports that a request now would be refused.
	QueueFull() bool
}

// EmbedUpstream is a cloud API that computes embeddings; *upstream.Client
// satisfies it.
type EmbedUpstream interface {
	Name() string
	// ServesEmbeddings reports whether the operator declared that the
	// upstream computes model's vectors identically (embedding_models).
	ServesEmbeddings(model string) bool
	Embed(ctx context.Context, model string, req llm.EmbedRequest) (llm.EmbedResult, error)
}

var (
	_ LocalEmbedder = (*batcher.Batcher)(nil)
	_ EmbedUpstream = (*upstream.Client)(nil)
)

// Reasons of an embedding's route, beside the generation's that apply
// (ReasonLocalOnly, ReasonQueueFull, ReasonLocalUnavailable,
// ReasonCloudFailed, ReasonBreakerOpen).
const (
	ReasonLocalFree   Reason = "local_free"   // the local engine had room
	ReasonBulk        Reason = "bulk"         // an ingestion: it waits for the local engine
	ReasonNotPortable Reason = "not_portable" // token ids or truncation: only the local model reads them alike
)

// EmbedOptions are an EmbedRouter's dependencies.
type EmbedOptions struct {
	// Local is the local embedding engine; required, since an upstream
	// is only ever a stand-in for it.
	Local LocalEmbedder
	// Clouds are the upstreams in order of preference, as the generation
	// Routers get them, so that the breakers are shared: an upstream's
	// health is one whatever it computes. Those whose Upstream is not an
	// EmbedUpstream declared to serve the model are left out.
	Clouds []Cloud
	// Breaker configures the breakers of Clouds that come without one.
	Breaker BreakerConfig
	Logger  *slog.Logger     // nil: slog.Default()
	Now     func() time.Time // own breakers' clock; nil: time.Now
}

// embedCloud is an upstream that may take the model's embeddings.
type embedCloud struct {
	up      EmbedUpstream
	breaker *Breaker
}

// EmbedRouter routes one local embedding model's requests. Embeddings go
// to an upstream only when the operator declared it to compute the
// identical model, since the vectors of one collection must all come from
// one model; and only when the local engine cannot take the request now
// (its queue is full, it refuses for overload, or it is not running),
// since a local embedding is free and its latency is a fraction of a
// cloud round trip's. Unlike a generation there is no SLO to predict
// against: an embedding's service time is short, so the full queue is the
// signal. Safe for concurrent use.
//
// Some requests stay local whatever the load: those whose context carries
// PolicyLocalOnly; bulk ingestion (llm.PriorityBulk), which waits for room
// by design and would otherwise spend money to get ahead of itself; token
// ids, which are the local tokenizer's; and truncation requests, since an
// upstream cuts a long input by its own rules and the vector would differ.
//
// An upstream is tried once, through its breaker: a spilled request was
// spilled for want of local room, and the local engine, asked again, is a
// better next step than a backoff.
type EmbedRouter struct {
	model  string
	local  LocalEmbedder
	clouds []embedCloud
	log    *slog.Logger
}

// NewEmbedRouter returns the router of the local embedding model model.
func NewEmbedRouter(model string, opts EmbedOptions) (*EmbedRouter, error) {
	if opts.Local == nil {
		return nil, fmt.Errorf("%w: embedding model %q has no local engine", ErrConfig, model)
	}
	if err := (Config{Breaker: opts.Breaker}).Validate(); err != nil {
		return nil, err
	}
	e := &EmbedRouter{model: model, local: opts.Local, log: opts.Logger}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With(slog.String("model", model))
	for _, c := range opts.Clouds {
		up, ok := c.Upstream.(EmbedUpstream)
		if !ok || !up.ServesEmbeddings(model) {
			continue
		}
		if c.Breaker == nil {
			c.Breaker = NewBreaker(opts.Breaker.withDefaults(), opts.Now)
		}
		e.clouds = append(e.clouds, embedCloud{up: up, breaker: c.Breaker})
	}
	return e, nil
}

// Upstreams are the names of the upstreams that may take the model's
// embeddings, in order of preference.
func (e *EmbedRouter) Upstreams() []string {
	names := make([]string, len(e.clouds))
	for i, c := range e.clouds {
		names[i] = c.up.Name()
	}
	return names
}

// Embed computes req's embeddings where the policy in ctx and the local
// engine's load allow, and returns where they were computed:
// llm.RouteLocal or cloud:<name>. When neither can take the request, the
// error is a *NoRouteError holding both causes, so that the local
// engine's *llm.OverloadedError still reaches the client as a 429.
func (e *EmbedRouter) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, string, error) {
	res, route, why, err := e.route(ctx, req)
	e.log.LogAttrs(ctx, slog.LevelDebug, "embedding routed", slog.String("route", route),
		slog.String("reason", string(why)), slog.Int("inputs", len(req.Texts)+len(req.Tokens)), slog.Bool("failed", err != nil))
	return res, route, err
}

func (e *EmbedRouter) route(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, string, Reason, error) {
	stay := ReasonLocalFree
	switch {
	case PolicyFrom(ctx) == PolicyLocalOnly:
		stay = ReasonLocalOnly
	case req.Priority == llm.PriorityBulk:
		stay = ReasonBulk
	case len(req.Tokens) > 0 || req.Truncate:
		stay = ReasonNotPortable
	}
	if stay != ReasonLocalFree || len(e.clouds) == 0 {
		res, err := e.local.Embed(ctx, req)
		return res, llm.RouteLocal, stay, err
	}

	why := ReasonQueueFull
	var localErr error
	if !e.local.QueueFull() {
		res, err := e.local.Embed(ctx, req)
		var over *llm.OverloadedError
		switch {
		case err == nil:
			return res, llm.RouteLocal, ReasonLocalFree, nil
		case errors.As(err, &over):
		case errors.Is(err, ErrLocalUnavailable) || errors.Is(err, batcher.ErrClosed):
			why = ReasonLocalUnavailable
		default:
			// The request's own fault, or its context: the cloud
			// would not do better.
			return res, llm.RouteLocal, ReasonLocalFree, err
		}
		localErr = err
	}
	res, route, cloudWhy, cloudErr := e.cloud(ctx, req)
	if cloudErr == nil {
		return res, route, why, nil
	}
	if ctx.Err() != nil {
		return llm.EmbedResult{}, "", cloudWhy, cloudErr
	}
	if localErr != nil {
		// The local engine has refused already; it is not asked twice.
		return llm.EmbedResult{}, "", cloudWhy, &NoRouteError{Local: localErr, Cloud: cloudErr}
	}
	// The cloud cannot take it: local rules apply, queueing or refusing.
	res, err := e.local.Embed(ctx, req)
	if err != nil {
		return llm.EmbedResult{}, "", cloudWhy, &NoRouteError{Local: err, Cloud: cloudErr}
	}
	return res, llm.RouteLocal, cloudWhy, nil
}

// cloud sends req to the first upstream whose breaker admits it and that
// answers; on failure the Reason says why none did.
func (e *EmbedRouter) cloud(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, string, Reason, error) {
	why := ReasonBreakerOpen
	var errs []error
	for _, c := range e.clouds {
		ticket, ok := c.breaker.Allow()
		if !ok {
			errs = append(errs, fmt.Errorf("upstream %s: %w", c.up.Name(), ErrBreakerOpen))
			continue
		}
		why = ReasonCloudFailed
		res, err := c.up.Embed(ctx, e.model, req)
		if err == nil {
			ticket.Report(Success)
			return res, llm.CloudRoute(c.up.Name()), "", nil
		}
		outcome, _, _ := classify(err)
		ticket.Report(outcome)
		if ctx.Err() != nil {
			return llm.EmbedResult{}, "", why, err
		}
		errs = append(errs, err)
	}
	return llm.EmbedResult{}, "", why, errors.Join(errs...)
}
