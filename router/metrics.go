package router

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/infergate/infergate/upstream"
)

// Metrics are the routers' Prometheus series. One Metrics serves every
// Router of a server (Options.Metrics); it is a prometheus.Collector that
// the server registers on its own registry, so nothing is registered
// globally. Breaker states and the budget are read at scrape time, so they
// are exact when Prometheus looks and cost nothing between scrapes.
//
// Labels stay bounded by the configuration: model and upstream names,
// the Reason constants, upstream.ErrorKind, and for per-key spend the
// names of the keys that have a budget of their own.
type Metrics struct {
	requests *prometheus.CounterVec   // model, route, reason
	sent     *prometheus.CounterVec   // upstream
	errors   *prometheus.CounterVec   // upstream, kind
	ttft     *prometheus.HistogramVec // upstream
	e2e      *prometheus.HistogramVec // upstream
	clouds   []Cloud
	budget   *Budget
}

// routeNone is the route label of a request that got no stream.
const routeNone = "none"

// Cloud latencies run from a few hundred milliseconds (a small model's
// first token) to minutes (a long answer).
var (
	ttftBuckets = []float64{.05, .1, .2, .3, .4, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60}
	e2eBuckets  = []float64{.1, .25, .5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600}
)

var (
	descBreaker = prometheus.NewDesc("infergate_upstream_breaker_state",
		"Circuit breaker of each upstream: 1 for the state it is in (closed, open, half-open), 0 for the others.",
		[]string{"upstream", "state"}, nil)
	descSpend = prometheus.NewDesc("infergate_cloud_spend_usd",
		"Cloud spend settled this calendar month (UTC), all keys together, from the upstreams' reported usage at the configured prices.",
		nil, nil)
	descReserved = prometheus.NewDesc("infergate_cloud_spend_reserved_usd",
		"Worst-case cost reserved against the budget by the cloud requests in flight.", nil, nil)
	descBudget = prometheus.NewDesc("infergate_cloud_budget_usd",
		"The overall monthly cloud budget; 0: none.", nil, nil)
	descKeySpend = prometheus.NewDesc("infergate_cloud_key_spend_usd",
		"Cloud spend settled this calendar month by each API key with a monthly budget of its own.", []string{"key"}, nil)
	descKeyBudget = prometheus.NewDesc("infergate_cloud_key_budget_usd",
		"The monthly cloud budget of each API key that has one.", []string{"key"}, nil)
)

// NewMetrics returns the series of routers over clouds and budget: the
// breaker states reported are those of clouds' Breakers (share them with
// the Routers), the spend budget's (nil: none reported).
func NewMetrics(clouds []Cloud, budget *Budget) *Metrics {
	hist := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "infergate", Name: name, Help: help, Buckets: buckets,
			NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160,
		}, []string{"upstream"})
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "infergate", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		requests: counter("router_requests_total",
			"Generations routed, by model, route taken (local, cloud:<upstream>, none when no route could take it) and reason: why it spilled to the cloud (slo, queue_full, local_unavailable, cloud_only), why it stayed local (within_slo, local_only), or why the cloud could not take it (breaker_open, budget, cloud_failed, no_upstream).",
			"model", "route", "reason"),
		sent: counter("upstream_requests_total",
			"Requests sent to each upstream, retries included.", "upstream"),
		errors: counter("upstream_errors_total",
			"Failed upstream requests, before or after the first token, by upstream and kind (rate_limited, server, timeout_first_token, stalled, malformed, connection, auth, client, unsupported).",
			"upstream", "kind"),
		ttft: hist("upstream_time_to_first_token_seconds",
			"Time from sending a request to an upstream to its first text, for the attempt that succeeded.", ttftBuckets),
		e2e: hist("upstream_request_duration_seconds",
			"Time from sending a request to an upstream to the end of its stream, for streams that completed.", e2eBuckets),
		budget: budget,
	}
	for _, c := range clouds {
		if c.Upstream == nil {
			continue
		}
		name := c.Upstream.Name()
		m.sent.WithLabelValues(name)
		m.ttft.WithLabelValues(name)
		m.e2e.WithLabelValues(name)
		if c.Breaker != nil {
			m.clouds = append(m.clouds, c)
		}
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range []prometheus.Collector{m.requests, m.sent, m.errors, m.ttft, m.e2e} {
		c.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{descBreaker, descSpend, descReserved, descBudget, descKeySpend, descKeyBudget} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range []prometheus.Collector{m.requests, m.sent, m.errors, m.ttft, m.e2e} {
		c.Collect(ch)
	}
	for _, c := range m.clouds {
		now := c.Breaker.State()
		for _, s := range []State{Closed, Open, HalfOpen} {
			v := 0.0
			if s == now {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, v, c.Upstream.Name(), s.String())
		}
	}
	if m.budget == nil {
		return
	}
	st := m.budget.Status()
	ch <- prometheus.MustNewConstMetric(descSpend, prometheus.GaugeValue, st.SpentUSD)
	ch <- prometheus.MustNewConstMetric(descReserved, prometheus.GaugeValue, st.ReservedUSD)
	ch <- prometheus.MustNewConstMetric(descBudget, prometheus.GaugeValue, st.LimitUSD)
	for name, k := range st.Keys {
		ch <- prometheus.MustNewConstMetric(descKeySpend, prometheus.GaugeValue, k.SpentUSD, name)
		ch <- prometheus.MustNewConstMetric(descKeyBudget, prometheus.GaugeValue, k.LimitUSD, name)
	}
}

// The recording methods below do nothing on a nil *Metrics, so that a
// Router without metrics needs no checks.

func (m *Metrics) decided(d Decision) {
	if m == nil {
		return
	}
	route := d.Route
	if route == "" {
		route = routeNone
	}
	m.requests.WithLabelValues(d.Model, route, string(d.Reason)).Inc()
}

func (m *Metrics) attempted(name string) {
	if m != nil {
		m.sent.WithLabelValues(name).Inc()
	}
}

// failed counts an upstream failure; the caller's cancellation is not one.
func (m *Metrics) failed(name string, err error) {
	if m == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	kind := "other"
	var ue *upstream.Error
	if errors.As(err, &ue) {
		kind = string(ue.Kind)
	}
	m.errors.WithLabelValues(name, kind).Inc()
}

func (m *Metrics) firstToken(name string, d time.Duration) {
	if m != nil {
		m.ttft.WithLabelValues(name).Observe(d.Seconds())
	}
}

func (m *Metrics) completed(name string, d time.Duration) {
	if m != nil {
		m.e2e.WithLabelValues(name).Observe(d.Seconds())
	}
}
