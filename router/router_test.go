package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/upstream"
	"gopkg.in/yaml.v3"
)

// harness is a Router under test with what it did recorded.
type harness struct {
	r      *Router
	sleeps *sleeps
	clock  *clock
	budget *Budget

	mu        sync.Mutex
	decisions []Decision
}

func newHarness(t *testing.T, cfg Config, local Local, ups ...Upstream) *harness {
	t.Helper()
	h := &harness{sleeps: &sleeps{}, clock: newClock()}
	budget, err := NewBudget(t.Context(), BudgetOptions{MonthlyUSD: cfg.MonthlyBudgetUSD, Now: h.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h.budget = budget
	var clouds []Cloud
	for _, u := range ups {
		clouds = append(clouds, Cloud{Upstream: u})
	}
	if cfg.TTFTSLO == 0 {
		cfg.TTFTSLO = 100 * time.Millisecond
	}
	opts := Options{
		Local: local, Clouds: clouds, Budget: h.budget, Logger: quiet, Now: h.clock.Now,
		Sleep: h.sleeps.sleep, Jitter: func() float64 { return 0.5 },
		OnDecision: func(d Decision) {
			h.mu.Lock()
			h.decisions = append(h.decisions, d)
			h.mu.Unlock()
		},
	}
	if l, ok := local.(*fakeLocal); ok && l == nil {
		opts.Local = nil // a typed nil is no engine
	}
	r, err := New("m", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

func (h *harness) last(t *testing.T) Decision {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.decisions) == 0 {
		t.Fatal("no decision recorded")
	}
	return h.decisions[len(h.decisions)-1]
}

// generate runs one request and reads its stream to the end.
func (h *harness) generate(t *testing.T, ctx context.Context) (string, llm.Result, Decision, error) {
	t.Helper()
	st, err := h.r.Generate(ctx, chat)
	d := h.last(t)
	if err != nil {
		return "", llm.Result{}, d, err
	}
	if st.Route() != d.Route {
		t.Errorf("stream route %q, decision route %q", st.Route(), d.Route)
	}
	text, res := read(st)
	return text, res, d, nil
}

// The predicted wait decides, with hysteresis: spill above the SLO (100ms),
// return only below 0.8×SLO (80ms), evaluated on every request.
func TestRoutingHysteresis(t *testing.T) {
	c := newCloud(t)
	local := &fakeLocal{}
	h := newHarness(t, Config{}, local, c.client(t, "openai"))
	steps := []struct {
		wait   time.Duration
		route  string
		reason Reason
	}{
		{50 * time.Millisecond, "local", ReasonWithinSLO},
		{100 * time.Millisecond, "local", ReasonWithinSLO}, // at the SLO is within it
		{120 * time.Millisecond, "cloud:openai", ReasonSLO},
		{90 * time.Millisecond, "cloud:openai", ReasonSLO}, // below the SLO, above the return threshold
		{80 * time.Millisecond, "cloud:openai", ReasonSLO},
		{79 * time.Millisecond, "local", ReasonWithinSLO},
		{95 * time.Millisecond, "local", ReasonWithinSLO}, // back below the SLO: no flap
		{101 * time.Millisecond, "cloud:openai", ReasonSLO},
	}
	for i, s := range steps {
		local.set(s.wait, false, nil)
		text, res, d, err := h.generate(t, t.Context())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if d.Route != s.route || d.Reason != s.reason || d.PredictedTTFT != s.wait {
			t.Errorf("step %d (wait %v): %s/%s, want %s/%s", i, s.wait, d.Route, d.Reason, s.route, s.reason)
		}
		want := "local"
		if s.route != "local" {
			want = "Hello"
		}
		if text != want || res.Err != nil || res.Route != s.route {
			t.Errorf("step %d: %q, %+v", i, text, res)
		}
	}
}

// The local engine's other signals send a request to the cloud without
// touching the hysteresis.
func TestRoutingLocalSignals(t *testing.T) {
	tests := []struct {
		name   string
		full   bool
		err    error
		reason Reason
		local  int // local Generate calls
	}{
		{"queue full", true, nil, ReasonQueueFull, 0},
		{"overloaded", false, &llm.OverloadedError{RetryAfter: time.Second}, ReasonQueueFull, 1},
		{"unavailable", false, fmt.Errorf("engine: %w", ErrLocalUnavailable), ReasonLocalUnavailable, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			local := &fakeLocal{}
			local.set(0, tc.full, tc.err)
			h := newHarness(t, Config{}, local, c.client(t, "openai"))
			text, _, d, err := h.generate(t, t.Context())
			if err != nil || text != "Hello" || d.Route != "cloud:openai" || d.Reason != tc.reason {
				t.Errorf("%q %v: %+v", text, err, d)
			}
			if local.generated() != tc.local || h.r.Spilling() {
				t.Errorf("local calls %d, spilling %v", local.generated(), h.r.Spilling())
			}
		})
	}
}

// A request the local engine refuses as the client's mistake is not
// spilled: the cloud would refuse it too.
func TestRequestErrorNotSpilled(t *testing.T) {
	c := newCloud(t)
	local := &fakeLocal{}
	bad := &llm.PromptTooLongError{Tokens: 9000, Limit: 4096}
	local.set(0, false, bad)
	h := newHarness(t, Config{}, local, c.client(t, "openai"))
	if _, _, _, err := h.generate(t, t.Context()); !errors.Is(err, bad) {
		t.Fatalf("err %v", err)
	}
	if c.requests() != 0 {
		t.Error("the cloud was asked")
	}
}

// local-only forbids the cloud: the request runs locally however long the
// wait, and gets the local overload error when the queue is full.
func TestLocalOnlyPolicy(t *testing.T) {
	c := newCloud(t)
	local := &fakeLocal{}
	h := newHarness(t, Config{}, local, c.client(t, "openai"))
	ctx := WithPolicy(t.Context(), PolicyLocalOnly)

	local.set(time.Hour, false, nil)
	text, _, d, err := h.generate(t, ctx)
	if err != nil || text != "local" || d.Route != "local" || d.Reason != ReasonLocalOnly {
		t.Errorf("long wait: %q %v %+v", text, err, d)
	}

	over := &llm.OverloadedError{RetryAfter: 2 * time.Second}
	local.set(time.Hour, true, over)
	_, _, d, err = h.generate(t, ctx)
	var got *llm.OverloadedError
	if !errors.As(err, &got) || got.RetryAfter != 2*time.Second || d.Route != "" || d.Reason != ReasonLocalOnly {
		t.Errorf("overloaded: %v %+v", err, d)
	}
	if c.requests() != 0 {
		t.Errorf("the cloud got %d requests", c.requests())
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{"", PolicyAny, false}, {"local-only", PolicyLocalOnly, false}, {" Local-Only ", PolicyLocalOnly, false},
		{"cloud-only", PolicyAny, true},
	}
	for _, tc := range tests {
		got, err := ParsePolicy(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParsePolicy(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// A model without a local engine runs in the cloud only, and a local-only
// request for it has no route.
func TestCloudOnly(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, Config{}, (*fakeLocal)(nil), c.client(t, "openai"))
	text, res, d, err := h.generate(t, t.Context())
	if err != nil || text != "Hello" || d.Route != "cloud:openai" || d.Reason != ReasonCloudOnly {
		t.Fatalf("%q %v %+v", text, err, d)
	}
	if res.PromptTokens != 1000000 || res.CompletionTokens != 2 || res.FinishReason != llm.FinishStop {
		t.Errorf("result %+v", res)
	}

	_, _, d, err = h.generate(t, WithPolicy(t.Context(), PolicyLocalOnly))
	if !errors.Is(err, ErrNoRoute) || d.Reason != ReasonLocalOnly {
		t.Errorf("local-only: %v %+v", err, d)
	}

	if _, err := New("other", Config{}, Options{Clouds: []Cloud{{Upstream: c.client(t, "x")}}}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("a model nothing serves: %v", err)
	}
}

// A 429 is retried after the upstream's Retry-After (7ms, longer than the
// 1ms backoff), and the retry's success is the answer.
func TestRetryOn429ThenSuccess(t *testing.T) {
	c := newCloud(t, rateLimited, ok)
	h := newHarness(t, Config{Retry: RetryConfig{BaseBackoff: time.Millisecond}}, (*fakeLocal)(nil), c.client(t, "openai"))
	text, res, d, err := h.generate(t, t.Context())
	if err != nil || text != "Hello" || res.Err != nil {
		t.Fatalf("%q %v %+v", text, err, res)
	}
	if d.CloudAttempts != 2 || c.requests() != 2 {
		t.Errorf("attempts %d, requests %d, want 2", d.CloudAttempts, c.requests())
	}
	if got := h.sleeps.got(); len(got) != 1 || got[0] != 7*time.Millisecond {
		t.Errorf("backoffs %v, want [7ms]", got)
	}
}

// Backoff doubles per attempt from BaseBackoff, capped, jittered into the
// upper half.
func TestBackoff(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, Config{Retry: RetryConfig{BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}},
		(*fakeLocal)(nil), c.client(t, "openai"))
	for attempt, want := range []time.Duration{75, 150, 300, 600, 750, 750} {
		if got := h.r.backoff(attempt); got != want*time.Millisecond {
			t.Errorf("attempt %d: %v, want %v", attempt, got, want*time.Millisecond)
		}
	}
}

// Retries exhausted on one upstream, the next takes the request; with all
// of them failing, local rules apply.
func TestFailover(t *testing.T) {
	t.Run("next upstream", func(t *testing.T) {
		bad, good := newCloud(t, serverError), newCloud(t)
		h := newHarness(t, Config{Retry: RetryConfig{MaxAttempts: 2}}, (*fakeLocal)(nil),
			bad.client(t, "a"), good.client(t, "b"))
		text, _, d, err := h.generate(t, t.Context())
		if err != nil || text != "Hello" || d.Route != "cloud:b" || d.CloudAttempts != 3 {
			t.Errorf("%q %v %+v", text, err, d)
		}
		if bad.requests() != 2 || len(h.sleeps.got()) != 1 {
			t.Errorf("bad upstream got %d requests, %d backoffs", bad.requests(), len(h.sleeps.got()))
		}
	})
	t.Run("local after the cloud", func(t *testing.T) {
		bad := newCloud(t, serverError)
		local := &fakeLocal{}
		local.set(time.Second, false, nil)
		h := newHarness(t, Config{}, local, bad.client(t, "a"))
		text, _, d, err := h.generate(t, t.Context())
		if err != nil || text != "local" || d.Route != "local" || d.Reason != ReasonCloudFailed {
			t.Errorf("%q %v %+v", text, err, d)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		bad := newCloud(t, serverError)
		local := &fakeLocal{}
		local.set(0, true, &llm.OverloadedError{RetryAfter: time.Second})
		h := newHarness(t, Config{}, local, bad.client(t, "a"))
		_, _, d, err := h.generate(t, t.Context())
		var over *llm.OverloadedError
		var ue *upstream.Error
		if !errors.Is(err, ErrNoRoute) || !errors.As(err, &over) || !errors.As(err, &ue) || ue.Status != 500 {
			t.Errorf("err %v", err)
		}
		if d.Reason != ReasonCloudFailed || d.Route != "" || d.Err == nil {
			t.Errorf("decision %+v", d)
		}
	})
}

// A stream cut after its first token is never retried or switched: the
// caller's stream ends with the upstream's error, and the breaker counts
// the failure.
func TestNoRetryAfterFirstToken(t *testing.T) {
	c, spare := newCloud(t, cutMidStream, ok), newCloud(t)
	local := &fakeLocal{}
	local.set(time.Second, false, nil)
	h := newHarness(t, Config{Breaker: BreakerConfig{FailureThreshold: 1}}, local,
		c.client(t, "a"), spare.client(t, "b"))
	text, res, d, err := h.generate(t, t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ue *upstream.Error
	if !errors.As(res.Err, &ue) || !ue.TokensSent || !errors.Is(res.Err, upstream.ErrStreamCut) {
		t.Fatalf("result err %v, want a cut after tokens", res.Err)
	}
	if text != "Hel" || d.Route != "cloud:a" || d.CloudAttempts != 1 {
		t.Errorf("%q %+v", text, d)
	}
	if c.requests() != 1 || spare.requests() != 0 || local.generated() != 0 || len(h.sleeps.got()) != 0 {
		t.Errorf("requests %d/%d, local %d, backoffs %v", c.requests(), spare.requests(), local.generated(), h.sleeps.got())
	}
	// The outcome was recorded before the stream finished.
	if s := h.r.clouds[0].Breaker.State(); s != Open {
		t.Errorf("breaker %v after the cut, want open", s)
	}
}

// Breaker integration: failures open it, requests then skip the upstream
// without sending, and after the cooldown one probe closes it again.
func TestBreakerInRouter(t *testing.T) {
	c := newCloud(t, serverError, serverError, ok)
	local := &fakeLocal{}
	local.set(time.Second, false, nil)
	h := newHarness(t, Config{
		Retry:   RetryConfig{MaxAttempts: 1},
		Breaker: BreakerConfig{FailureThreshold: 2, Cooldown: time.Minute},
	}, local, c.client(t, "a"))

	for i, want := range []Reason{ReasonCloudFailed, ReasonCloudFailed, ReasonBreakerOpen, ReasonBreakerOpen} {
		_, _, d, err := h.generate(t, t.Context())
		if err != nil || d.Route != "local" || d.Reason != want {
			t.Errorf("request %d: %v %+v, want local/%s", i, err, d, want)
		}
	}
	if c.requests() != 2 {
		t.Errorf("%d requests reached the upstream, want 2", c.requests())
	}
	h.clock.advance(time.Minute)
	_, _, d, err := h.generate(t, t.Context())
	if err != nil || d.Route != "cloud:a" {
		t.Errorf("probe: %v %+v", err, d)
	}
	if s := h.r.clouds[0].Breaker.State(); s != Closed {
		t.Errorf("after the probe: %v", s)
	}
}

// Spend is recorded from the upstream's usage and price; at the budget the
// cloud is not used.
func TestBudget(t *testing.T) {
	c := newCloud(t)
	local := &fakeLocal{}
	local.set(time.Second, false, nil)
	h := newHarness(t, Config{MonthlyBudgetUSD: 1.5}, local, c.client(t, "a"))
	for i, want := range []string{"cloud:a", "local"} {
		// Each cloud reply is 1,000,000 input tokens at $1 per million.
		_, _, d, err := h.generate(t, t.Context())
		if err != nil || d.Route != want {
			t.Errorf("request %d: %v %+v, want %s", i, err, d, want)
		}
		if i == 0 {
			_, _, d, _ = h.generate(t, t.Context())
			if d.Route != "cloud:a" {
				t.Errorf("second request under budget: %+v", d)
			}
		}
	}
	if d := h.last(t); d.Reason != ReasonBudget {
		t.Errorf("reason %s", d.Reason)
	}
	if got := h.budget.Spent(); got < 2 || got > 2.01 {
		t.Errorf("spent %v, want 2", got)
	}
	h.clock.advance(31 * 24 * time.Hour) // a new month
	if got := h.budget.Spent(); got != 0 {
		t.Errorf("spent %v in a new month", got)
	}
}

// A cancelled request is not retried, does not fall back, and does not
// count against the breaker.
func TestCancelled(t *testing.T) {
	c := newCloud(t, rateLimited)
	local := &fakeLocal{}
	local.set(time.Second, false, nil)
	h := newHarness(t, Config{Breaker: BreakerConfig{FailureThreshold: 1}}, local, c.client(t, "a"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, _, err := h.generate(t, ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if local.generated() != 0 || h.r.clouds[0].Breaker.State() != Closed {
		t.Errorf("local %d, breaker %v", local.generated(), h.r.clouds[0].Breaker.State())
	}
}

func TestConfigYAML(t *testing.T) {
	var doc struct {
		Routing Config `yaml:"routing"`
	}
	src := "routing:\n  ttft_slo: 800ms\n  monthly_budget_usd: 200\n  breaker: {failure_threshold: 3, cooldown: 10s}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	got := doc.Routing
	if got.TTFTSLO != 800*time.Millisecond || got.MonthlyBudgetUSD != 200 ||
		got.Breaker.FailureThreshold != 3 || got.Breaker.Cooldown != 10*time.Second {
		t.Errorf("%+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []Config{{TTFTSLO: -1}, {ReturnRatio: 1.5}, {MonthlyBudgetUSD: -1}, {Breaker: BreakerConfig{FailureRatio: 2}}} {
		if err := bad.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// A Retry-After longer than MaxRetryAfter is not waited out: the next
// upstream takes the request at once.
func TestLongRetryAfterFailsOver(t *testing.T) {
	limited, good := newCloud(t, rateLimited), newCloud(t)
	h := newHarness(t, Config{Retry: RetryConfig{MaxRetryAfter: 5 * time.Millisecond}}, (*fakeLocal)(nil),
		limited.client(t, "a"), good.client(t, "b"))
	_, _, d, err := h.generate(t, t.Context())
	if err != nil || d.Route != "cloud:b" || limited.requests() != 1 || len(h.sleeps.got()) != 0 {
		t.Errorf("%v %+v, %d requests to a, backoffs %v", err, d, limited.requests(), h.sleeps.got())
	}
}

// Many requests at once, the predicted wait moving under them: every one
// gets a complete stream from one route or the other (run with -race).
func TestConcurrentRequests(t *testing.T) {
	c := newCloud(t)
	local := &fakeLocal{}
	h := newHarness(t, Config{}, local, c.client(t, "a"))
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			if i%4 == 0 {
				local.set(time.Duration(i)*5*time.Millisecond, false, nil)
			}
			st, err := h.r.Generate(t.Context(), chat)
			if err != nil {
				t.Error(err)
				return
			}
			text, res := read(st)
			switch {
			case res.Err != nil:
				t.Error(res.Err)
			case st.Route() == "local" && text != "local", st.Route() == "cloud:a" && text != "Hello":
				t.Errorf("route %s: %q", st.Route(), text)
			}
		})
	}
	wg.Wait()
	if b := h.r.clouds[0].Breaker.State(); b != Closed {
		t.Errorf("breaker %v", b)
	}
}

// The budget is reserved before a request is sent: with the local engine
// over its SLO and 20 requests in flight at once, exactly the 5 whose
// worst case fits go to the cloud and the rest stay local, although
// nothing has been settled yet. Checking spend alone would send all 20.
func TestBudgetReservedBeforeSend(t *testing.T) {
	c := newCloud(t, held)
	cl := c.client(t, "a", func(cfg *upstream.Config) { cfg.PricePerMTok = upstream.Price{Input: 1, Output: 1} })
	req := chat
	req.MaxTokens = 1000
	p, n := cl.MaxUsage(req)
	worst := cl.Cost(llm.Result{PromptTokens: p, CompletionTokens: n})
	local := &fakeLocal{}
	local.set(time.Second, false, nil)
	h := newHarness(t, Config{MonthlyBudgetUSD: 5.5 * worst}, local, cl)

	const requests = 20
	streams := make(chan *llm.Stream, requests)
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			st, err := h.r.Generate(t.Context(), req)
			if err != nil {
				t.Error(err)
				return
			}
			streams <- st
		})
	}
	wg.Wait()
	close(streams)
	routes := map[string]int{}
	h.mu.Lock()
	for _, d := range h.decisions {
		routes[d.Route+"/"+string(d.Reason)]++
	}
	h.mu.Unlock()
	if routes["cloud:a/slo"] != 5 || routes["local/budget"] != requests-5 || c.requests() != 5 {
		t.Errorf("routes %v, %d sent to the cloud; want 5 cloud/slo and 15 local/budget", routes, c.requests())
	}
	if got := h.budget.Status().ReservedUSD; got < 4.99*worst || got > 5.01*worst {
		t.Errorf("reserved $%g while the streams run, want 5 × $%g", got, worst)
	}
	close(c.hold)
	for st := range streams {
		if text, res := read(st); res.Err != nil || (st.Route() == "cloud:a" && text != "Hello") {
			t.Errorf("%s: %q %v", st.Route(), text, res.Err)
		}
	}
	// Settled to the usage reported: 1,000,000 prompt and 2 completion
	// tokens at $1 per million each.
	st := h.budget.Status()
	if want := 5 * 1.000002; st.ReservedUSD != 0 || st.SpentUSD < want-1e-9 || st.SpentUSD > want+1e-9 {
		t.Errorf("after the streams: %+v, want $%g spent", st, want)
	}
}

// A key at its own limit stays local while another key still gets the
// cloud; a failure before the first token gives the reservation back.
func TestBudgetPerKeyInRouter(t *testing.T) {
	c := newCloud(t)
	local := &fakeLocal{}
	local.set(time.Second, false, nil)
	h := newHarness(t, Config{}, local, c.client(t, "a"))
	capped := WithKey(t.Context(), Key{Name: "capped", MonthlyBudgetUSD: 0.5})
	free := WithKey(t.Context(), Key{Name: "free"})
	for i, step := range []struct {
		ctx    context.Context
		route  string
		reason Reason
	}{
		{capped, "cloud:a", ReasonSLO}, // $1 spent: over its $0.5 from now on
		{capped, "local", ReasonBudget},
		{free, "cloud:a", ReasonSLO},
		{free, "cloud:a", ReasonSLO},
	} {
		_, _, d, err := h.generate(t, step.ctx)
		if err != nil || d.Route != step.route || d.Reason != step.reason {
			t.Errorf("step %d: %v %+v, want %s/%s", i, err, d, step.route, step.reason)
		}
	}
	if h.budget.SpentBy("capped") != 1 || h.budget.SpentBy("free") != 2 || h.budget.Spent() != 3 {
		t.Errorf("spent capped %v, free %v, all %v", h.budget.SpentBy("capped"), h.budget.SpentBy("free"), h.budget.Spent())
	}

	failing := newCloud(t, serverError)
	h = newHarness(t, Config{Retry: RetryConfig{MaxAttempts: 1}}, local, failing.client(t, "a"))
	if _, _, d, err := h.generate(t, free); err != nil || d.Reason != ReasonCloudFailed {
		t.Errorf("failing cloud: %v %+v", err, d)
	}
	if st := h.budget.Status(); st.SpentUSD != 0 || st.ReservedUSD != 0 {
		t.Errorf("after a failure before the first token: %+v", st)
	}
}

// A cloud-only model whose budget is spent has no route: the caller gets
// ErrNoRoute (the gateway's 503), not an internal error.
func TestBudgetCloudOnlyNoRoute(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, Config{MonthlyBudgetUSD: 0.5}, (*fakeLocal)(nil), c.client(t, "a"))
	if _, _, _, err := h.generate(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	_, _, d, err := h.generate(t, t.Context())
	if !errors.Is(err, ErrNoRoute) || !errors.Is(err, ErrBudgetExhausted) || d.Reason != ReasonBudget || c.requests() != 1 {
		t.Errorf("%v %+v, %d requests sent", err, d, c.requests())
	}
}
