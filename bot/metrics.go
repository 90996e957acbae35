package bot

import "github.com/prometheus/client_golang/prometheus"

// Guardrail reasons (the reason label of infergate_bot_guardrail_total).
const (
	guardPromptLeak      = "prompt_leak"
	guardInvalidCitation = "invalid_citation"
)

// Metrics are the bots' Prometheus series, labelled by bot (and by a
// low-cardinality reason); one Metrics serves every bot of a process and
// is registered once. Nothing is registered globally.
//
// Containment is resolved{reason="contained"} over conversations; the
// unanswered rate is unanswered over answers plus unanswered.
type Metrics struct {
	conversations *prometheus.CounterVec   // bot
	answers       *prometheus.CounterVec   // bot: model answers sent
	unanswered    *prometheus.CounterVec   // bot, reason: gate reasons
	handoffs      *prometheus.CounterVec   // bot, reason
	guardrail     *prometheus.CounterVec   // bot, reason
	feedbackUp    *prometheus.CounterVec   // bot
	feedbackDown  *prometheus.CounterVec   // bot
	resolved      *prometheus.CounterVec   // bot, reason: contained, handed_off
	csat          *prometheus.HistogramVec // bot
	ttft          *prometheus.HistogramVec // bot
	latency       *prometheus.HistogramVec // bot
}

// NewMetrics returns unregistered metrics for the bots of a process.
func NewMetrics() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "infergate", Subsystem: "bot", Name: name, Help: help}, labels)
	}
	seconds := []float64{.05, .1, .25, .5, 1, 2, 4, 8, 16, 32}
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "infergate", Subsystem: "bot", Name: name, Help: help, Buckets: buckets}, []string{"bot"})
	}
	return &Metrics{
		conversations: counter("conversations_total", "Conversations started.", "bot"),
		answers:       counter("answers_total", "Turns answered by the model from the knowledge base.", "bot"),
		unanswered:    counter("unanswered_total", "Questions the answerability gate stopped before generation, by gate reason.", "bot", "reason"),
		handoffs:      counter("handoffs_total", "Conversations handed to a human, by reason.", "bot", "reason"),
		guardrail:     counter("guardrail_total", "Answers changed by the output check (prompt_leak: refused; invalid_citation: references removed).", "bot", "reason"),
		feedbackUp:    counter("feedback_positive_total", "Answers rated up.", "bot"),
		feedbackDown:  counter("feedback_negative_total", "Answers rated down.", "bot"),
		resolved:      counter("resolved_total", "Conversations resolved: contained (never handed off) or handed_off.", "bot", "reason"),
		csat:          histogram("csat", "Customer satisfaction scores (1–5) given at resolution.", []float64{1, 2, 3, 4, 5}),
		ttft:          histogram("ttft_seconds", "Time from the customer's message to the first answer text released.", seconds),
		latency:       histogram("turn_seconds", "Time from the customer's message to the turn logged.", seconds),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.conversations, m.answers, m.unanswered, m.handoffs, m.guardrail,
		m.feedbackUp, m.feedbackDown, m.resolved, m.csat, m.ttft, m.latency}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}
