package handoff

import (
	"context"
	"time"

	"github.com/infergate/infergate/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Delivery outcomes, the values of the outcome label.
const (
	outcomeDelivered = "delivered" // the target accepted the ticket
	outcomeRetry     = "retry"     // a retryable failure; the ticket stays pending
	outcomePermanent = "permanent" // the target refused the ticket for good: failed
	outcomeExpired   = "expired"   // the give-up time passed: failed
)

// backlogTimeout bounds the scrape-time count of pending tickets.
const backlogTimeout = 5 * time.Second

var descBacklog = prometheus.NewDesc("infergate_handoff_backlog",
	"Handoff tickets pending delivery (the outbox's due index), counted at scrape time.", nil, nil)

// metrics are the deliverer's Prometheus series; nothing is registered
// globally.
type metrics struct {
	st         Store
	deliveries *prometheus.CounterVec   // target, outcome
	delay      *prometheus.HistogramVec // target
}

func newMetrics(st Store) *metrics {
	return &metrics{
		st: st,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "infergate", Name: "handoff_deliveries_total",
			Help: "Handoff delivery attempts by target and outcome (delivered, retry, permanent, expired); permanent and expired tickets are kept as failed.",
		}, []string{"target", "outcome"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "infergate", Name: "handoff_delivery_delay_seconds",
			Help:    "Time from a handoff to its delivery, retries included.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400},
		}, []string{"target"}),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBacklog
	m.deliveries.Describe(ch)
	m.delay.Describe(ch)
}

// Collect implements prometheus.Collector. The backlog is counted from the
// store rather than kept in memory, because tickets are enqueued by other
// packages' writes; a count that fails is left out of the scrape.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	n := 0
	err := m.st.Walk(ctx, store.PrefixRange(store.SectionPrefix(store.KindOutbox, store.SectionDue)), nil, 0,
		func(_, _ []byte) error { n++; return nil })
	if err == nil {
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(n))
	}
	m.deliveries.Collect(ch)
	m.delay.Collect(ch)
}
