package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/infergate/infergate/batcher"
)

// metrics are the gateway's Prometheus series. Each Server has its own
// registry, so several servers (tests, a router in front of two gateways)
// never share or clash over global state.
type metrics struct {
	reg *prometheus.Registry

	ttft      *prometheus.HistogramVec // model, route, status_class
	itl       *prometheus.HistogramVec // model, route, status_class
	e2e       *prometheus.HistogramVec // endpoint, model, route, status_class
	queueWait *prometheus.HistogramVec // model, route, status_class

	requests         *prometheus.CounterVec // endpoint, model, route, status_class
	promptTokens     *prometheus.CounterVec // model, route
	completionTokens *prometheus.CounterVec // model, route
	cachedTokens     *prometheus.CounterVec // model, route
	errors           *prometheus.CounterVec // type, code
	overloaded       *prometheus.CounterVec // model
	rateLimited      *prometheus.CounterVec // limit
	disconnects      *prometheus.CounterVec // model
	connsDropped     prometheus.Counter
	inflight         prometheus.Gauge
	streams          prometheus.Gauge
}

// Latency buckets: TTFT and end-to-end run from milliseconds (embeddings,
// cache hits) to minutes (long generations behind a queue); inter-token
// latency is tens of milliseconds on GPU and up to a second on a busy CPU.
var (
	ttftBuckets  = []float64{.005, .01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60}
	itlBuckets   = []float64{.001, .0025, .005, .0075, .01, .015, .02, .03, .04, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2.5}
	e2eBuckets   = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600}
	queueBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

func newMetrics(models []*model) *metrics {
	reg := prometheus.NewRegistry()
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "infergate",
			Name:      name,
			Help:      help,
			Buckets:   buckets,
			// Also a native histogram, for servers that scrape them:
			// finer resolution at no extra series.
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: 0,
		}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "infergate", Name: name, Help: help}, labels)
	}
	lbl := []string{"model", "route", "status_class"}
	m := &metrics{
		reg:       reg,
		ttft:      hist("time_to_first_token_seconds", "Time from receiving a generation request to its first generated token, seen by the gateway.", ttftBuckets, lbl...),
		itl:       hist("inter_token_latency_seconds", "Time between consecutive generated tokens of one generation.", itlBuckets, lbl...),
		e2e:       hist("request_duration_seconds", "End-to-end time of an inference request, until its last byte is written.", e2eBuckets, append([]string{"endpoint"}, lbl...)...),
		queueWait: hist("queue_wait_seconds", "Time a generation waited in the scheduler's admission queue for a slot.", queueBuckets, lbl...),

		requests:         counter("requests_total", "Inference requests by endpoint, model, route and status class.", append([]string{"endpoint"}, lbl...)...),
		promptTokens:     counter("prompt_tokens_total", "Prompt tokens processed.", "model", "route"),
		completionTokens: counter("completion_tokens_total", "Tokens generated.", "model", "route"),
		cachedTokens:     counter("cached_prompt_tokens_total", "Prompt tokens served from the prefix cache.", "model", "route"),
		errors:           counter("errors_total", "Error responses by error type and code.", "type", "code"),
		overloaded:       counter("overload_refusals_total", "Requests refused because the model's queue was full.", "model"),
		rateLimited:      counter("rate_limited_total", "Requests refused by a per-key rate limit, by limit (requests, tokens).", "limit"),
		disconnects:      counter("client_disconnects_total", "Streams whose client went away before the end; their generation was cancelled.", "model"),
		connsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "infergate", Name: "connections_dropped_total",
			Help: "Connections over the connection limits closed without a reply, because as many refusals as allowed were already being written.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "infergate", Name: "http_requests_in_flight",
			Help: "HTTP requests being handled, streams included.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "infergate", Name: "streams_active",
			Help: "Server-sent-event streams being written.",
		}),
	}
	reg.MustRegister(m.ttft, m.itl, m.e2e, m.queueWait, m.requests, m.promptTokens,
		m.completionTokens, m.cachedTokens, m.errors, m.overloaded, m.rateLimited, m.disconnects,
		m.connsDropped, m.inflight, m.streams,
		&statsCollector{models: models},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func statusClass(status int) string {
	switch {
	case status < 200:
		return "1xx"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	default:
		return "5xx"
	}
}

// statsCollector reads every model's scheduler snapshot at scrape time, so
// the gauges are exact at the moment Prometheus looks and cost nothing
// between scrapes.
type statsCollector struct {
	models []*model
}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("infergate_"+name, help, []string{"model", "kind"}, nil)
}

var (
	descSlots        = desc("slots", "Sequences (slots) the scheduler runs at once.")
	descRunning      = desc("requests_running", "Requests holding a slot.")
	descWaiting      = desc("requests_waiting", "Requests queued for a slot.")
	descKVUsed       = desc("kv_cache_used_cells", "KV cache cells in use.")
	descKVSize       = desc("kv_cache_size_cells", "KV cache cells in total.")
	descKVUsage      = desc("kv_cache_usage_ratio", "Fraction of the KV cache in use (0-1).")
	descPrefixRatio  = desc("prefix_cache_hit_ratio", "Fraction of prompt tokens since start that the prefix cache served: reused / (reused + computed), 0-1.")
	descPredicted    = desc("predicted_queue_wait_seconds", "How long a request arriving now is predicted to wait for a slot.")
	descSteps        = desc("scheduler_steps_total", "Decode steps the scheduler ran.")
	descStepSeconds  = desc("scheduler_step_seconds_total", "Time spent in decode steps.")
	descBatchTokens  = desc("scheduler_batch_tokens_total", "Tokens decoded over all steps (prompt and generated).")
	descSchedPrompt  = desc("scheduler_prompt_tokens_total", "Prompt tokens the scheduler admitted.")
	descSchedGen     = desc("scheduler_generated_tokens_total", "Tokens the scheduler generated.")
	descPrefixHits   = desc("prefix_cache_hits_total", "Requests that reused a cached prefix.")
	descPrefixTokens = desc("prefix_cache_hit_tokens_total", "Prompt tokens reused from the prefix cache.")
	descRefused      = desc("scheduler_refused_total", "Requests the scheduler refused as overloaded.")
)

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSlots, descRunning, descWaiting, descKVUsed, descKVSize,
		descKVUsage, descPrefixRatio, descPredicted, descSteps, descStepSeconds, descBatchTokens,
		descSchedPrompt, descSchedGen, descPrefixHits, descPrefixTokens, descRefused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.models {
		st := m.stats()
		l := []string{m.ID, string(m.Kind)}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
		}
		count := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
		}
		gauge(descSlots, float64(st.Slots))
		gauge(descRunning, float64(st.Running))
		gauge(descWaiting, float64(st.Waiting))
		gauge(descKVUsed, float64(st.KVUsed))
		gauge(descKVSize, float64(st.KVSize))
		gauge(descKVUsage, ratio(float64(st.KVUsed), float64(st.KVSize)))
		gauge(descPrefixRatio, prefixHitRatio(st))
		gauge(descPredicted, st.PredictedWait.Seconds())
		count(descSteps, float64(st.Steps))
		count(descStepSeconds, st.StepSeconds)
		count(descBatchTokens, float64(st.BatchTokens))
		count(descSchedPrompt, float64(st.PromptTokens))
		count(descSchedGen, float64(st.GeneratedTokens))
		count(descPrefixHits, float64(st.PrefixHits))
		count(descPrefixTokens, float64(st.PrefixHitTokens))
		count(descRefused, float64(st.Refused))
	}
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// prefixHitRatio is the fraction of prompt tokens, since start, that the
// prefix cache served. The scheduler counts the two parts apart: tokens
// reused from the cache (PrefixHitTokens) and prompt tokens it computed
// (PromptTokens), so the whole is their sum.
func prefixHitRatio(st batcher.Stats) float64 {
	return ratio(float64(st.PrefixHitTokens), float64(st.PrefixHitTokens+st.PromptTokens))
}

// errorCodeLabel bounds the code label to the codes the gateway itself
// produces, so a backend error cannot mint new series.
func errorCodeLabel(code string) string {
	if code == "" {
		return "none"
	}
	if len(code) > 40 {
		return "other"
	}
	return code
}
