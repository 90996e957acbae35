package index

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the knowledge base's Prometheus series. They belong to one
// KB (nothing is registered globally): the server registers Collector on
// its registry.
type metrics struct {
	kb            *KB
	searchSeconds *prometheus.HistogramVec // mode
	upsertSeconds *prometheus.HistogramVec // collection
	documents     *prometheus.CounterVec   // collection, status
	embedded      *prometheus.CounterVec   // collection
	deleted       *prometheus.CounterVec   // collection
}

var (
	descDocuments   = prometheus.NewDesc("infergate_kb_documents", "Documents in a knowledge-base collection.", []string{"collection"}, nil)
	descChunks      = prometheus.NewDesc("infergate_kb_chunks", "Chunks (embedded passages) in a collection.", []string{"collection"}, nil)
	descBytes       = prometheus.NewDesc("infergate_kb_content_bytes", "Bytes of document content in a collection.", []string{"collection"}, nil)
	descSnapshotAge = prometheus.NewDesc("infergate_kb_snapshot_age_seconds", "Time since the collection's vector graph was last snapshotted or loaded from a snapshot; -1 if never.", []string{"collection"}, nil)
)

func newMetrics(kb *KB) *metrics {
	return &metrics{
		kb: kb,
		searchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "infergate", Name: "kb_search_duration_seconds",
			Help:    "Knowledge-base search latency by mode, query embedding included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"mode"}),
		upsertSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "infergate", Name: "kb_upsert_duration_seconds",
			Help:    "Time to upsert one request's documents: extraction, chunking, embedding, the synced write.",
			Buckets: []float64{.005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"collection"}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "infergate", Name: "kb_documents_upserted_total",
			Help: "Documents upserted, by outcome (created, updated, unchanged).",
		}, []string{"collection", "status"}),
		embedded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "infergate", Name: "kb_chunks_embedded_total",
			Help: "Chunks embedded and written by upserts: its rate is the ingestion rate.",
		}, []string{"collection"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "infergate", Name: "kb_documents_deleted_total",
			Help: "Documents deleted.",
		}, []string{"collection"}),
	}
}

func (m *metrics) observeUpsert(coll string, res []UpsertResult, d time.Duration) {
	m.upsertSeconds.WithLabelValues(coll).Observe(d.Seconds())
	n := 0
	for _, r := range res {
		m.documents.WithLabelValues(coll, string(r.Status)).Inc()
		n += r.Embedded
	}
	m.embedded.WithLabelValues(coll).Add(float64(n))
}

// Collector returns the knowledge base's metrics, for a Prometheus
// registry: per-collection sizes and snapshot age read at scrape time,
// search and upsert latencies, ingestion counters.
func (kb *KB) Collector() prometheus.Collector { return kb.metrics }

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDocuments
	ch <- descChunks
	ch <- descBytes
	ch <- descSnapshotAge
	m.searchSeconds.Describe(ch)
	m.upsertSeconds.Describe(ch)
	m.documents.Describe(ch)
	m.embedded.Describe(ch)
	m.deleted.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, info := range m.kb.Collections() {
		ch <- prometheus.MustNewConstMetric(descDocuments, prometheus.GaugeValue, float64(info.Documents), info.Name)
		ch <- prometheus.MustNewConstMetric(descChunks, prometheus.GaugeValue, float64(info.Chunks), info.Name)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(info.Bytes), info.Name)
		age := -1.0
		if info.SnapshotAge >= 0 {
			age = info.SnapshotAge.Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descSnapshotAge, prometheus.GaugeValue, age, info.Name)
	}
	m.searchSeconds.Collect(ch)
	m.upsertSeconds.Collect(ch)
	m.documents.Collect(ch)
	m.embedded.Collect(ch)
	m.deleted.Collect(ch)
}
