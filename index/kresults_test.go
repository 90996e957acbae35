package index

import (
	"context"
	"fmt"
	"testing"
)

// TestKResults: a search returns k results whenever k match, with
// selective filters, with grouping by document over documents of many
// chunks, and in every mode. The query's words are in every document, so
// that BM25 matches them all too.
func TestKResults(t *testing.T) {
	kb := openKB(t, t.TempDir())
	ctx := context.Background()
	if _, err := kb.CreateCollection(ctx, CollectionSpec{Name: "kb", Chunk: ChunkParams{Tokens: 24, Overlap: 4}}); err != nil {
		t.Fatal(err)
	}
	var docs []DocumentInput
	for i := range 30 {
		d := synthDoc(i, 1)
		d.Metadata.Extra = map[string]string{"product": fmt.Sprintf("p%d", i%10)}
		docs = append(docs, d)
	}
	res := mustUpsert(t, kb, "kb", docs)
	if res[0].Chunks < 3 {
		t.Fatalf("documents have %d chunks; the test needs several per document", res[0].Chunks)
	}
	for _, tc := range []struct {
		name string
		q    Query
		want int
	}{
		{"grouped", Query{Text: "customers account page", K: 10, GroupByDocument: true}, 10},
		{"grouped, all documents", Query{Text: "customers account page", K: 30, GroupByDocument: true}, 30},
		{"grouped, more than exist", Query{Text: "customers account page", K: 50, GroupByDocument: true}, 30},
		{"filter on a free key (3 documents)", Query{Text: "customers account page", K: 10, Filter: &Filter{Equals: map[string]string{"product": "p7"}}, GroupByDocument: true}, 3},
		{"filter, chunks", Query{Text: "customers account page", K: 5, Filter: &Filter{Equals: map[string]string{"product": "p7"}}}, 5},
		{"tags all", Query{Text: "customers account page", K: 4, Filter: &Filter{TagsAll: []string{"passwords", "v1"}}, GroupByDocument: true}, 4},
		{"no match", Query{Text: "customers account page", K: 5, Filter: &Filter{Category: []string{"nothing"}}}, 0},
	} {
		for _, mode := range []Mode{ModeHybrid, ModeVector, ModeLexical} {
			q := tc.q
			q.Mode = mode
			hits, err := kb.Search(ctx, "kb", q)
			if err != nil {
				t.Fatalf("%s/%s: %v", tc.name, mode, err)
			}
			if len(hits) != tc.want {
				t.Errorf("%s/%s: %d hits, want %d", tc.name, mode, len(hits), tc.want)
			}
			seen := map[string]bool{}
			for _, h := range hits {
				if q.GroupByDocument && seen[h.DocumentID] {
					t.Errorf("%s/%s: %s twice with grouping", tc.name, mode, h.DocumentID)
				}
				seen[h.DocumentID] = true
				if q.Filter != nil && !q.Filter.Match(&h.Metadata) {
					t.Errorf("%s/%s: %s does not pass the filter", tc.name, mode, h.DocumentID)
				}
			}
		}
	}
}
