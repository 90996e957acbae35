package index

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/infergate/infergate/index/chunk"
	"github.com/infergate/infergate/index/extract"
)

// BenchmarkIngestVsEmbed measures ingestion end to end (extract, chunk,
// embed, synced write, graph and BM25 inserts) against the embedding
// model alone on the same chunk texts, sent the same way (groups of
// embedGroup, embedInFlight in flight, bulk priority), in interleaved
// rounds; it reports the medians and their ratio (the goal is >= 0.9).
//
//	go test -run '^$' -bench IngestVsEmbed -benchtime 1x ./index/
func BenchmarkIngestVsEmbed(b *testing.B) {
	emb := embedder(b)
	docs, _ := supportCorpus(b)
	var texts []string
	for _, d := range docs {
		content, f := d.Text, extract.FormatText
		if d.Markdown != "" {
			content, f = d.Markdown, extract.FormatMarkdown
		} else if d.HTML != "" {
			content, f = d.HTML, extract.FormatHTML
		}
		x, err := extract.Extract(content, f)
		if err != nil {
			b.Fatal(err)
		}
		if d.Metadata.Title != "" {
			x.Title = d.Metadata.Title
		}
		chunks, _, err := chunk.Split(context.Background(), x, emb, chunk.Options{Tokens: DefaultChunkTokens, Overlap: DefaultChunkOverlap, MaxTokens: emb.MaxEmbedTokens()})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range chunks {
			texts = append(texts, c.EmbedText)
		}
	}
	var embedRates, ingestRates []float64
	for i := 0; i < max(b.N, 3); i++ {
		start := time.Now()
		if _, err := embedBulk(context.Background(), emb, texts); err != nil {
			b.Fatal(err)
		}
		embedRates = append(embedRates, float64(len(texts))/time.Since(start).Seconds())

		kb := openKB(b, b.TempDir())
		name := fmt.Sprintf("r%d", i)
		mustCreate(b, kb, name)
		start = time.Now()
		n := 0
		for _, r := range mustUpsert(b, kb, name, docs) {
			n += r.Embedded
		}
		ingestRates = append(ingestRates, float64(n)/time.Since(start).Seconds())
		kb.close(b)
		runtime.GC()
	}
	e, g := median(embedRates), median(ingestRates)
	b.ReportMetric(e, "embed-chunks/s")
	b.ReportMetric(g, "ingest-chunks/s")
	b.ReportMetric(g/e, "ratio")
	b.Logf("%d chunks; embed only %v chunks/s, ingest %v chunks/s (rounds)", len(texts), embedRates, ingestRates)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[len(s)/2]
}
