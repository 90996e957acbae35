package index

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentSearchAndWrite runs searches in every mode while writers
// upsert new versions of documents and delete them; run under -race. At
// the end each document is at the version its last write left, and every
// search result ever seen was whole (text and metadata of one version).
func TestConcurrentSearchAndWrite(t *testing.T) {
	kb := openKB(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, kb, "kb")
	var docs []DocumentInput
	for i := range 12 {
		docs = append(docs, synthDoc(i, 1))
	}
	mustUpsert(t, kb, "kb", docs)

	const writers, rounds = 3, 6
	// Each writer owns four documents, so the final state is known.
	final := make([]int, 12) // version, 0 deleted
	var stop atomic.Bool
	var searches atomic.Int64
	var wg sync.WaitGroup
	for s := range 4 {
		wg.Go(func() {
			modes := []Mode{ModeHybrid, ModeVector, ModeLexical}
			for n := 0; !stop.Load(); n++ {
				q := Query{Text: fmt.Sprintf("ORD-2026-%05d refunds", n%12), K: 5, Mode: modes[(s+n)%3]}
				if n%2 == 0 {
					q.Filter = &Filter{Category: []string{"billing", "account"}}
				}
				hits, err := kb.Search(ctx, "kb", q)
				if err != nil {
					t.Error(err)
					return
				}
				for _, h := range hits {
					var v int
					fmt.Sscanf(h.Metadata.Tags[1], "v%d", &v)
					if !strings.Contains(h.Text, fmt.Sprintf("(revision %d)", v)) {
						t.Errorf("torn hit: %+v", h)
					}
					if q.Filter != nil && h.Metadata.Category == "shipping" {
						t.Errorf("filter let through %s", h.DocumentID)
					}
				}
				searches.Add(1)
			}
		})
	}
	var ww sync.WaitGroup
	for w := range writers {
		ww.Go(func() {
			for r := range rounds {
				for j := range 4 {
					i := 4*w + j
					if (r+j)%3 == 2 {
						err := kb.DeleteDocument(ctx, "kb", fmt.Sprintf("doc-%04d", i))
						if err != nil && !errors.Is(err, ErrNotFound) {
							t.Error(err)
						}
						final[i] = 0
						continue
					}
					v := 10*(r+1) + w
					if _, err := kb.Upsert(ctx, "kb", []DocumentInput{synthDoc(i, v)}); err != nil {
						t.Error(err)
					}
					final[i] = v
				}
			}
		})
	}
	ww.Wait()
	stop.Store(true)
	wg.Wait()
	t.Logf("%d searches during the writes", searches.Load())
	for i, v := range final {
		got := versionOf(t, kb, fmt.Sprintf("doc-%04d", i))
		if got != v {
			t.Errorf("doc %d at version %d, want %d: an update was lost", i, got, v)
		}
		hits, err := kb.Search(ctx, "kb", Query{Text: fmt.Sprintf("ORD-2026-%05d", i), K: 1, Mode: ModeLexical})
		if err != nil {
			t.Fatal(err)
		}
		if found := len(hits) == 1 && hits[0].DocumentID == fmt.Sprintf("doc-%04d", i); found != (v != 0) {
			t.Errorf("doc %d (version %d): searchable %v", i, v, found)
		}
	}
	info, _ := kb.Collection("kb")
	c, _ := kb.get("kb")
	if c.graph.Len() != info.Chunks || c.lex.Len() != info.Chunks {
		t.Errorf("graph %d, BM25 %d, chunks %d", c.graph.Len(), c.lex.Len(), info.Chunks)
	}
}
