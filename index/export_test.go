package index

import (
	"testing"

	"github.com/infergate/infergate/batcher"
)

// Hooks for the benchmarks of package index_test, which serve the
// knowledge base over HTTP through the gateway (an import this package's
// own tests cannot make: the gateway imports it).

// PopulateSynthetic writes BenchmarkScale100k's synthetic collection (docs
// documents of per chunks) into a knowledge base in dir.
func PopulateSynthetic(tb testing.TB, dir, name string, docs, per int) {
	kb := openKB(tb, dir)
	populate(tb, kb, name, docs, per)
	kb.close(tb)
}

// SharedEmbedder is the package tests' MiniLM batcher.
func SharedEmbedder(tb testing.TB) *batcher.Batcher { return embedder(tb) }

// Percentile is the p-quantile of v.
func Percentile(v []float64, p float64) float64 { return percentile(v, p) }
