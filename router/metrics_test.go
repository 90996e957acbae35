package router

import (
	"bufio"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// scrape reads reg as Prometheus does, over its HTTP handler, and returns
// each sample by its name and labels as exposed, e.g.
// infergate_router_requests_total{model="m",reason="slo",route="cloud:a"}.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// Requests through a router with a local engine and two fake upstreams,
// one failing, move the series as they should: decisions by route and
// reason, attempts and errors by upstream and kind, latencies of the
// attempts that succeeded, breaker states and the month's spend.
func TestMetricsScraped(t *testing.T) {
	bad := newCloud(t, rateLimited, cutMidStream)
	good := newCloud(t)
	clouds := []Cloud{
		{Upstream: bad.client(t, "bad"), Breaker: NewBreaker(BreakerConfig{FailureThreshold: 2, Cooldown: time.Hour}, nil)},
		{Upstream: good.client(t, "good"), Breaker: NewBreaker(BreakerConfig{}, nil)},
	}
	budget := newBudget(t, 100, nil)
	m := NewMetrics(clouds, budget)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	local := &fakeLocal{}
	r, err := New("m", Config{TTFTSLO: 100 * time.Millisecond, Retry: RetryConfig{MaxAttempts: 1}}, Options{
		Local: local, Clouds: clouds, Budget: budget, Metrics: m, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(wait time.Duration) {
		local.set(wait, false, nil)
		st, err := r.Generate(t.Context(), chat)
		if err != nil {
			t.Fatal(err)
		}
		read(st)
	}
	before := scrape(t, reg)
	run(0)           // local, within the SLO
	run(time.Second) // bad: 429 (not retried, one attempt); good answers
	run(time.Second) // bad: cut after its first token, its second failure in a row, which opens its breaker
	run(time.Second) // bad's breaker is open; good answers

	got := scrape(t, reg)
	want := map[string]float64{
		`infergate_router_requests_total{model="m",reason="within_slo",route="local"}`: 1,
		`infergate_router_requests_total{model="m",reason="slo",route="cloud:good"}`:   2,
		`infergate_router_requests_total{model="m",reason="slo",route="cloud:bad"}`:    1,
		`infergate_upstream_requests_total{upstream="bad"}`:                            2,
		`infergate_upstream_requests_total{upstream="good"}`:                           2,
		`infergate_upstream_errors_total{kind="rate_limited",upstream="bad"}`:          1,
		`infergate_upstream_errors_total{kind="connection",upstream="bad"}`:            1,
		`infergate_upstream_time_to_first_token_seconds_count{upstream="bad"}`:         1,
		`infergate_upstream_time_to_first_token_seconds_count{upstream="good"}`:        2,
		`infergate_upstream_request_duration_seconds_count{upstream="bad"}`:            0,
		`infergate_upstream_request_duration_seconds_count{upstream="good"}`:           2,
		`infergate_upstream_breaker_state{state="open",upstream="bad"}`:                1,
		`infergate_upstream_breaker_state{state="closed",upstream="bad"}`:              0,
		`infergate_upstream_breaker_state{state="closed",upstream="good"}`:             1,
		`infergate_cloud_budget_usd`:                                                   100,
		`infergate_cloud_spend_reserved_usd`:                                           0,
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (scraped: %v), want %v", name, g, ok, v)
		}
	}
	if before[`infergate_upstream_requests_total{upstream="good"}`] != 0 ||
		before[`infergate_upstream_breaker_state{state="closed",upstream="bad"}`] != 1 {
		t.Error("series were not at their start before the requests")
	}
	// good's two streams are billed their 1,000,000 prompt tokens at $1 per
	// million; the cut one its prompt bound, as its usage never came.
	if s := got["infergate_cloud_spend_usd"]; s < 2 || s > 2.01 || s != budget.Spent() {
		t.Errorf("spend %v, budget says %v", s, budget.Spent())
	}
	for name := range got {
		if strings.HasPrefix(name, "infergate_cloud_key_") {
			t.Errorf("%s: no key has a budget of its own", name)
		}
	}
}

// Per-key spend is exposed only for keys with a budget of their own, so
// that its label stays bounded by the configuration.
func TestMetricsKeySpend(t *testing.T) {
	budget := newBudget(t, 0, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewMetrics(nil, budget))
	for _, k := range []Key{{Name: "capped", MonthlyBudgetUSD: 5}, {Name: "open"}} {
		res, err := budget.Reserve(WithKey(t.Context(), k), 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Settle(t.Context(), 0.75); err != nil {
			t.Fatal(err)
		}
	}
	got := scrape(t, reg)
	if got[`infergate_cloud_key_spend_usd{key="capped"}`] != 0.75 || got[`infergate_cloud_key_budget_usd{key="capped"}`] != 5 ||
		got["infergate_cloud_spend_usd"] != 1.5 {
		t.Errorf("scraped %v", got)
	}
	if _, ok := got[`infergate_cloud_key_spend_usd{key="open"}`]; ok {
		t.Error("a key without a budget has a series")
	}
}
