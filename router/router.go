package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/upstream"
)

// Local is the local engine as the router consumes it; *batcher.Batcher
// satisfies it.
type Local interface {
	// Generate runs req locally; it fails with *llm.OverloadedError when
	// the engine cannot take the request now and with an error wrapping
	// ErrLocalUnavailable when the engine cannot run at all.
	Generate(ctx context.Context, req llm.Request) (*llm.Stream, error)
	// PredictedTTFT is the time to first token a request arriving now
	// would see: its wait for a slot and its prefill.
	PredictedTTFT() time.Duration
	// QueueFull reports that a request now would be refused.
	QueueFull() bool
}

// Upstream is a cloud API as the router consumes it; *upstream.Client
// satisfies it. Generate must keep upstream's contract: it returns a stream
// only once text has arrived (or the generation ended without any), so an
// error from it means nothing reached the client.
type Upstream interface {
	Name() string
	Serves(model string) bool
	Generate(ctx context.Context, model string, req llm.Request) (*llm.Stream, error)
	// Cost is what a generation of the Result's usage costs, in US dollars.
	Cost(llm.Result) float64
	// MaxUsage bounds the usage req can be billed for, for the budget's
	// reservation before it is sent.
	MaxUsage(req llm.Request) (promptTokens, completionTokens int)
}

var _ Upstream = (*upstream.Client)(nil)

// Cloud is one upstream with its breaker. Routers of several models that
// use the same upstream should share its Breaker, as its health is the
// upstream's, not a model's; nil: the Router makes one of its own.
type Cloud struct {
	Upstream Upstream
	Breaker  *Breaker
}

// Errors of the router.
var (
	// ErrLocalUnavailable is wrapped by a Local's error when the engine
	// cannot run (not loaded, shutting down): the request goes to the cloud.
	ErrLocalUnavailable = errors.New("router: local engine unavailable")
	// ErrNoRoute: neither the local engine nor any upstream could take the
	// request, or the policy forbids the only route there is.
	ErrNoRoute = errors.New("router: no route can serve the request")
	// ErrBreakerOpen: the upstream's breaker refused the request.
	ErrBreakerOpen = errors.New("circuit breaker open")
	// ErrBudgetExhausted: this month's cloud budget, overall or the key's,
	// cannot cover the request (*BudgetError says which).
	ErrBudgetExhausted = errors.New("router: monthly cloud budget exhausted")
)

// NoRouteError is returned when the local engine and the cloud both failed
// to take a request. It unwraps to both causes, so that errors.As finds the
// local engine's *llm.OverloadedError (the gateway's 429 with Retry-After)
// and errors.Is finds ErrNoRoute.
type NoRouteError struct {
	Local error // the local engine's refusal
	Cloud error // why the cloud could not take it
}

func (e *NoRouteError) Error() string {
	return fmt.Sprintf("router: no route: local: %v; cloud: %v", e.Local, e.Cloud)
}

func (e *NoRouteError) Unwrap() []error { return []error{ErrNoRoute, e.Local, e.Cloud} }

// Policy restricts where a request may run.
type Policy int

// Policies.
const (
	// PolicyAny lets the router choose.
	PolicyAny Policy = iota
	// PolicyLocalOnly forbids the cloud (X-Infergate-Route-Policy:
	// local-only, or a per-key setting): data that must stay on the
	// premises.
	PolicyLocalOnly
)

// ParsePolicy parses X-Infergate-Route-Policy's value; empty is PolicyAny.
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "any":
		return PolicyAny, nil
	case "local-only":
		return PolicyLocalOnly, nil
	}
	return PolicyAny, fmt.Errorf("router: unknown route policy %q, want local-only", s)
}

type policyKey struct{}

// WithPolicy returns ctx carrying p for the router; llm.Request is the
// generation's vocabulary and knows nothing of routes, so the gateway sets
// the policy on the request's context.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

// PolicyFrom returns the policy ctx carries, PolicyAny if none.
func PolicyFrom(ctx context.Context) Policy {
	p, _ := ctx.Value(policyKey{}).(Policy)
	return p
}

// Reason says why a request took its route; a low-cardinality label.
type Reason string

// Reasons for a route. The first group explains a local route, the second
// a cloud route, the third why a request meant for the cloud ran locally
// (or failed).
const (
	ReasonWithinSLO Reason = "within_slo" // the predicted local TTFT is within the SLO
	ReasonLocalOnly Reason = "local_only" // the request forbids the cloud

	ReasonSLO              Reason = "slo"               // the predicted local TTFT would break the SLO
	ReasonQueueFull        Reason = "queue_full"        // the local queue is full, or the engine refused
	ReasonLocalUnavailable Reason = "local_unavailable" // the local engine cannot run
	ReasonCloudOnly        Reason = "cloud_only"        // the model has no local engine

	ReasonBreakerOpen Reason = "breaker_open" // every upstream's breaker refused
	ReasonBudget      Reason = "budget"       // the monthly budget, overall or the key's, cannot cover it
	ReasonCloudFailed Reason = "cloud_failed" // the upstreams failed before the first token
	ReasonNoUpstream  Reason = "no_upstream"  // no upstream serves the model
)

// Decision is what the router did with one request, for metrics and the
// conversation log.
type Decision struct {
	Model     string
	RequestID string
	// Route is the returned stream's route, "" when Generate failed.
	Route         string
	Reason        Reason
	PredictedTTFT time.Duration // the local engine's, when it was asked
	CloudAttempts int           // requests sent to upstreams, retries included
	Err           error         // Generate's error
}

// Options are a Router's dependencies.
type Options struct {
	// Local is the local engine; nil: the model is cloud-only.
	Local Local
	// Clouds are the upstreams in order of preference; those that do not
	// serve the model are left out.
	Clouds []Cloud
	// Budget enforces the monthly spend limits. Share one between the
	// Routers of a server: the limits are the server's and the keys', and
	// its overall limit is the one it was made with. Nil: a Budget of the
	// Router's own, in memory, limited to Config.MonthlyBudgetUSD.
	Budget *Budget
	// Metrics records the Router's series; share one between the Routers
	// of a server. Nil: none.
	Metrics *Metrics
	// OnDecision, when set, is called with every request's Decision before
	// Generate returns.
	OnDecision func(Decision)
	Logger     *slog.Logger     // nil: slog.Default()
	Now        func() time.Time // the breakers' clock (and an own Budget's); nil: time.Now
	// Sleep waits out a backoff; nil: a timer that ctx can cut short.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1); nil: math/rand/v2.
	Jitter func() float64
}

// Router routes one model's generations; it implements llm.Generator and
// is safe for concurrent use.
type Router struct {
	model  string
	cfg    Config
	local  Local
	clouds []Cloud
	budget *Budget
	stats  *Metrics
	onDec  func(Decision)
	log    *slog.Logger
	sleep  func(context.Context, time.Duration) error
	jitter func() float64

	returnBelow time.Duration

	mu       sync.Mutex
	spilling bool
}

var _ llm.Generator = (*Router)(nil)

// New returns the router of model.
func New(model string, cfg Config, opts Options) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	r := &Router{
		model: model, cfg: cfg, local: opts.Local, budget: opts.Budget, stats: opts.Metrics, onDec: opts.OnDecision,
		log: opts.Logger, sleep: opts.Sleep, jitter: opts.Jitter,
		returnBelow: time.Duration(float64(cfg.TTFTSLO) * cfg.ReturnRatio),
	}
	for _, c := range opts.Clouds {
		if c.Upstream == nil || !c.Upstream.Serves(model) {
			continue
		}
		if c.Breaker == nil {
			c.Breaker = NewBreaker(cfg.Breaker, opts.Now)
		}
		r.clouds = append(r.clouds, c)
	}
	if r.local == nil && len(r.clouds) == 0 {
		return nil, fmt.Errorf("%w: model %q has no local engine and no upstream serves it", ErrNoRoute, model)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.budget == nil {
		b, err := NewBudget(context.Background(), BudgetOptions{MonthlyUSD: cfg.MonthlyBudgetUSD, Now: opts.Now, Logger: r.log})
		if err != nil {
			return nil, err
		}
		r.budget = b
	}
	r.log = r.log.With(slog.String("model", model))
	if r.sleep == nil {
		r.sleep = sleep
	}
	if r.jitter == nil {
		r.jitter = rand.Float64
	}
	return r, nil
}

// Spilling reports whether the router is sending requests to the cloud
// because of the predicted local TTFT (the hysteresis state).
func (r *Router) Spilling() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spilling
}

// Generate implements llm.Generator: it runs req where the policy in ctx,
// the local engine's predicted TTFT and the upstreams' health allow.
func (r *Router) Generate(ctx context.Context, req llm.Request) (*llm.Stream, error) {
	d := Decision{Model: r.model, RequestID: req.ID}
	st, err := r.route(ctx, req, &d)
	if st != nil {
		d.Route = st.Route()
	}
	d.Err = err
	r.log.LogAttrs(ctx, slog.LevelDebug, "routed", slog.String("request_id", req.ID),
		slog.String("route", d.Route), slog.String("reason", string(d.Reason)),
		slog.Duration("predicted_ttft", d.PredictedTTFT), slog.Int("cloud_attempts", d.CloudAttempts))
	r.stats.decided(d)
	if r.onDec != nil {
		r.onDec(d)
	}
	return st, err
}

func (r *Router) route(ctx context.Context, req llm.Request, d *Decision) (*llm.Stream, error) {
	policy := PolicyFrom(ctx)
	if r.local == nil {
		d.Reason = ReasonCloudOnly
		if policy == PolicyLocalOnly {
			d.Reason = ReasonLocalOnly
			return nil, fmt.Errorf("%w: model %q runs only in the cloud and the request forbids it", ErrNoRoute, r.model)
		}
		st, why, err := r.cloud(ctx, req, d)
		if err != nil && why != "" {
			d.Reason = why
			if why != ReasonCloudFailed {
				// Nothing was sent (breakers, budget): there is no route,
				// rather than an upstream's failure to report.
				err = fmt.Errorf("%w: model %q runs only in the cloud: %w", ErrNoRoute, r.model, err)
			}
		}
		return st, err
	}
	d.PredictedTTFT = r.local.PredictedTTFT()
	if policy == PolicyLocalOnly {
		d.Reason = ReasonLocalOnly
		return r.local.Generate(ctx, req)
	}
	// The hysteresis is updated whatever else decides, so that it follows
	// the prediction on every request.
	spill := r.updateSpill(d.PredictedTTFT)
	var want Reason
	var localErr error
	switch {
	case r.local.QueueFull():
		want = ReasonQueueFull
	case spill:
		want = ReasonSLO
	default:
		d.Reason = ReasonWithinSLO
		st, err := r.local.Generate(ctx, req)
		if err == nil {
			return st, nil
		}
		var over *llm.OverloadedError
		switch {
		case errors.As(err, &over):
			want = ReasonQueueFull
		case errors.Is(err, ErrLocalUnavailable):
			want = ReasonLocalUnavailable
		default:
			// The request's own fault, or its context: the cloud would
			// not do better.
			return nil, err
		}
		localErr = err
	}
	st, why, cloudErr := r.cloud(ctx, req, d)
	if cloudErr == nil {
		d.Reason = want
		return st, nil
	}
	if ctx.Err() != nil {
		return nil, cloudErr
	}
	d.Reason = why
	if localErr != nil {
		// The local engine has refused already; it is not asked twice.
		return nil, &NoRouteError{Local: localErr, Cloud: cloudErr}
	}
	// The cloud cannot take it: local rules apply, queueing or refusing.
	st, err := r.local.Generate(ctx, req)
	if err != nil {
		return nil, &NoRouteError{Local: err, Cloud: cloudErr}
	}
	return st, nil
}

// updateSpill applies the hysteresis to wait and reports whether to spill.
func (r *Router) updateSpill(wait time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.spilling
	switch {
	case !r.spilling && wait > r.cfg.TTFTSLO:
		r.spilling = true
	case r.spilling && wait < r.returnBelow:
		r.spilling = false
	}
	if r.spilling != was {
		r.log.Info("predicted local TTFT crossed the SLO", slog.Bool("spilling", r.spilling),
			slog.Duration("predicted_ttft", wait), slog.Duration("ttft_slo", r.cfg.TTFTSLO))
	}
	return r.spilling
}

// cloud runs req on the first upstream that takes it. On failure, the
// Reason says why the cloud could not take the request: an upstream
// failed (cloud_failed), or else the budget refused it (budget), or else
// every breaker did (breaker_open).
func (r *Router) cloud(ctx context.Context, req llm.Request, d *Decision) (*llm.Stream, Reason, error) {
	if len(r.clouds) == 0 {
		return nil, ReasonNoUpstream, fmt.Errorf("%w: no upstream serves model %q", ErrNoRoute, r.model)
	}
	why := ReasonBreakerOpen
	var errs []error
	for _, c := range r.clouds {
		// The reservation comes before the breaker's Allow, which may hand
		// out the half-open probe: a probe must not be taken and then not
		// sent. Each upstream has its own prices, so its own worst case.
		b, err := r.reserve(ctx, c, req)
		if err != nil {
			if why == ReasonBreakerOpen {
				why = ReasonBudget
			}
			errs = append(errs, err)
			continue
		}
		st, tried, err := r.try(ctx, c, req, d, b)
		if err == nil {
			return st, "", nil
		}
		// Nothing was generated: the reservation goes back whole.
		b.res.Release()
		if ctx.Err() != nil {
			return nil, "", err
		}
		if tried {
			why = ReasonCloudFailed
		}
		errs = append(errs, err)
	}
	return nil, why, errors.Join(errs...)
}

// billing is what a cloud generation holds of the budget: its reservation,
// and the prompt bound that stands in for a prompt the upstream does not
// report.
type billing struct {
	res         *Reservation
	promptBound int
}

// reserve claims req's worst-case cost on c from the budget.
func (r *Router) reserve(ctx context.Context, c Cloud, req llm.Request) (billing, error) {
	prompt, completion := c.Upstream.MaxUsage(req)
	worst := c.Upstream.Cost(llm.Result{PromptTokens: prompt, CompletionTokens: completion})
	res, err := r.budget.Reserve(ctx, worst)
	if err != nil {
		return billing{}, fmt.Errorf("upstream %s: %w", c.Upstream.Name(), err)
	}
	return billing{res: res, promptBound: prompt}, nil
}

// billed is the usage to charge for a finished cloud generation: the
// usage the upstream reported, where a stream that was cut, or a server
// that ignores include_usage, left it short, raised to what is known to
// have been spent: the prompt bound for an unreported prompt, the tokens
// streamed for a short completion count.
func billed(res llm.Result, streamed, promptBound int) llm.Result {
	if res.PromptTokens == 0 {
		res.PromptTokens = promptBound
	}
	res.CompletionTokens = max(res.CompletionTokens, streamed)
	return res
}

// try sends req to one upstream, retrying retryable failures with backoff.
// tried says a request was actually sent (rather than refused by the
// breaker).
func (r *Router) try(ctx context.Context, c Cloud, req llm.Request, d *Decision, b billing) (st *llm.Stream, tried bool, err error) {
	name := c.Upstream.Name()
	for attempt := 0; ; attempt++ {
		ticket, allowed := c.Breaker.Allow()
		if !allowed {
			if err == nil {
				err = fmt.Errorf("upstream %s: %w", name, ErrBreakerOpen)
			}
			return nil, tried, err
		}
		tried = true
		d.CloudAttempts++
		r.stats.attempted(name)
		sent := time.Now()
		st, err = c.Upstream.Generate(ctx, r.model, req)
		if err == nil {
			// Text has arrived: from here on, no retry and no switch.
			r.stats.firstToken(name, time.Since(sent))
			return r.watch(ctx, c, ticket, st, b, sent), true, nil
		}
		r.stats.failed(name, err)
		outcome, retry, after := classify(err)
		ticket.Report(outcome)
		if ctx.Err() != nil || !retry || attempt+1 >= r.cfg.Retry.MaxAttempts {
			return nil, tried, err
		}
		if after > r.cfg.Retry.MaxRetryAfter {
			// Waiting that long would break the SLO: better the next
			// upstream, or local.
			return nil, tried, err
		}
		if serr := r.sleep(ctx, max(after, r.backoff(attempt))); serr != nil {
			return nil, tried, fmt.Errorf("upstream %s: waiting to retry: %w", name, serr)
		}
	}
}

// backoff is the jittered exponential delay before retry attempt+1.
func (r *Router) backoff(attempt int) time.Duration {
	d := r.cfg.Retry.BaseBackoff << min(attempt, 30)
	if d <= 0 || d > r.cfg.Retry.MaxBackoff {
		d = r.cfg.Retry.MaxBackoff
	}
	return d/2 + time.Duration(r.jitter()*float64(d/2))
}

// classify says what a failure means for the breaker, whether it may be
// retried, and the upstream's Retry-After.
func classify(err error) (Outcome, bool, time.Duration) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Ignored, false, 0
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		return Failure, false, 0
	}
	switch ue.Kind {
	case upstream.KindClient, upstream.KindUnsupported:
		// This request's fault, not the upstream's health; another
		// upstream may still take it.
		return Ignored, false, 0
	}
	return Failure, ue.CanRetry(), ue.RetryAfter
}

// watch relays an upstream's stream to the caller and, before finishing
// it, reports its outcome to the breaker and settles its cost with the
// budget, so that whoever reads the Result sees both recorded and an
// acknowledged generation's cost is on disk (when the budget has a
// ledger). The breaker's report comes at the end of the stream, not its
// first token, so that a stream that is cut counts as the failure it is.
func (r *Router) watch(ctx context.Context, c Cloud, ticket Ticket, in *llm.Stream, b billing, sent time.Time) *llm.Stream {
	out := llm.NewStream(ctx, in.Route())
	name := c.Upstream.Name()
	go func() {
		streamed := 0
		for d := range in.Deltas() {
			streamed += d.Tokens
			out.Push(d.Text, d.Tokens)
		}
		res := in.Result()
		switch {
		case res.Err != nil:
			r.stats.failed(name, res.Err)
			o, _, _ := classify(res.Err)
			ticket.Report(o)
		case res.FinishReason == llm.FinishCancel:
			ticket.Report(Ignored)
		default:
			r.stats.completed(name, time.Since(sent))
			ticket.Report(Success)
		}
		// The upstream bills a cancelled or cut generation too, and the
		// spend must be recorded even though the caller may have gone.
		cost := c.Upstream.Cost(billed(res, streamed, b.promptBound))
		if err := b.res.Settle(context.WithoutCancel(ctx), cost); err != nil {
			r.log.LogAttrs(ctx, slog.LevelError, "cloud spend not persisted; it still counts until a restart",
				slog.String("upstream", name), slog.Float64("cost_usd", cost), slog.String("error", err.Error()))
		}
		out.Finish(res)
	}()
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
