package index

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/infergate/infergate/llm"
)

// fifo is the baseline for BenchmarkQueryDuringIngest: the real embedder,
// with every request sent at interactive priority, as if the batcher had
// no priorities (one FIFO queue).
type fifo struct{ *counting }

func (f fifo) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error) {
	req.Priority = llm.PriorityInteractive
	return f.counting.Embed(ctx, req)
}

// BenchmarkQueryDuringIngest measures a hybrid search (its query embedded
// by the real model) with the model idle, during a bulk ingestion into
// another collection, and during the same ingestion without priorities;
// interleaved rounds, medians of each condition's p50.
//
//	go test -run '^$' -bench QueryDuringIngest -benchtime 1x ./index/
func BenchmarkQueryDuringIngest(b *testing.B) {
	kb := openKB(b, b.TempDir())
	docs, qs := supportCorpus(b)
	mustCreate(b, kb, "support")
	mustUpsert(b, kb, "support", docs[:8])
	ctx := context.Background()
	queries := func() []float64 {
		var lat []float64
		for _, q := range qs[:16] {
			s := time.Now()
			if _, err := kb.Search(ctx, "support", Query{Text: q.Query, K: 5}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(s).Seconds()*1e3)
		}
		return lat
	}
	// ingest fills a fresh collection with the corpus until cancelled.
	ingest := func(ctx context.Context, name string, emb Embedder) chan struct{} {
		c, err := kb.get(name)
		if err != nil {
			b.Fatal(err)
		}
		c.emb = emb
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i += 4 {
				batch := make([]DocumentInput, 0, 4)
				for j := range 4 {
					d := docs[(i+j)%len(docs)]
					d.ID = fmt.Sprintf("%s-%d", d.ID, i+j)
					batch = append(batch, d)
				}
				if _, err := kb.Upsert(ctx, name, batch); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
					b.Error(err)
					return
				}
			}
		}()
		// Let the ingestion reach the model before measuring.
		time.Sleep(2 * time.Second)
		return done
	}
	var idle, prio, base []float64
	for r := 0; r < max(b.N, 3); r++ {
		idle = append(idle, median(queries()))
		for ci, cond := range []struct {
			emb Embedder
			out *[]float64
		}{{kb.emb, &prio}, {fifo{kb.emb}, &base}} {
			name := fmt.Sprintf("bulk-%d-%d", r, ci)
			mustCreate(b, kb, name)
			cctx, cancel := context.WithCancel(ctx)
			done := ingest(cctx, name, cond.emb)
			*cond.out = append(*cond.out, median(queries()))
			cancel()
			<-done
		}
	}
	b.ReportMetric(median(idle), "idle-p50-ms")
	b.ReportMetric(median(prio), "ingesting-p50-ms")
	b.ReportMetric(median(base), "ingesting-fifo-p50-ms")
	b.Logf("per-round p50 ms: idle %v, during ingestion %v, during ingestion without priorities %v", idle, prio, base)
}
