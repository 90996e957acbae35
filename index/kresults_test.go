package index

import (
	"context"
	"fmt"
	"strings"
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

// TestChunkOverlap: the default overlap repeats text between a section's
// chunks; NoOverlap repeats none.
func TestChunkOverlap(t *testing.T) {
	kb := openKB(t, t.TempDir())
	ctx := context.Background()
	doc := DocumentInput{ID: "long", Markdown: "# Policy\n\n" + strings.Repeat("Refunds are prorated to the day for annual plans. Monthly plans are not refunded. ", 12)}
	for _, tc := range []struct {
		name    string
		overlap int
		want    bool
	}{{"default", 0, true}, {"none", NoOverlap, false}} {
		info, err := kb.CreateCollection(ctx, CollectionSpec{Name: tc.name, Chunk: ChunkParams{Tokens: 48, Overlap: tc.overlap}})
		if err != nil {
			t.Fatal(err)
		}
		if (info.Chunk.Overlap > 0) != tc.want {
			t.Fatalf("%s: collection overlap %d", tc.name, info.Chunk.Overlap)
		}
		mustUpsert(t, kb, tc.name, []DocumentInput{doc})
		hits, err := kb.Search(ctx, tc.name, Query{Text: "refunds", K: 20, Mode: ModeLexical})
		if err != nil || len(hits) < 3 {
			t.Fatalf("%s: %d chunks, %v", tc.name, len(hits), err)
		}
		overlaps := false
		for _, a := range hits {
			for _, b := range hits {
				if a.ChunkID != b.ChunkID && a.Start < b.Start && b.Start < a.End {
					overlaps = true
				}
			}
		}
		if overlaps != tc.want {
			t.Errorf("%s: chunks overlap %v, want %v", tc.name, overlaps, tc.want)
		}
	}
}
