package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/store"
)

func synthDoc(i int, version int) DocumentInput {
	topics := []string{"refunds", "shipping", "passwords", "invoices", "sync errors", "storage quota"}
	t := topics[i%len(topics)]
	return DocumentInput{
		ID: fmt.Sprintf("doc-%04d", i),
		Markdown: fmt.Sprintf("# About %s %d\n\nThis article (revision %d) explains %s for case ORD-2026-%05d.\n\n## Details\n\n"+
			"Customers asking about %s (revision %d) should check their account page first. Error E%d means the request was refused.\n",
			t, i, version, t, i, t, version, 1000+i),
		Metadata: Metadata{Title: fmt.Sprintf("About %s %d", t, i), Category: []string{"billing", "shipping", "account"}[i%3],
			Tags: []string{t, fmt.Sprintf("v%d", version)}, Updated: time.Date(2026, 1, 1+i%28, 0, 0, 0, 0, time.UTC)},
	}
}

func searchAll(tb testing.TB, kb *testKB, coll string, queries []string) [][]Hit {
	tb.Helper()
	var out [][]Hit
	for _, q := range queries {
		for _, mode := range []Mode{ModeHybrid, ModeVector, ModeLexical} {
			h, err := kb.Search(context.Background(), coll, Query{Text: q, K: 10, Mode: mode})
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, h)
		}
	}
	return out
}

func sameHits(tb testing.TB, what string, a, b [][]Hit) {
	tb.Helper()
	for i := range a {
		if len(a[i]) != len(b[i]) {
			tb.Fatalf("%s: search %d: %d hits, then %d", what, i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			x, y := a[i][j], b[i][j]
			if x.ChunkID != y.ChunkID || x.DocumentID != y.DocumentID || x.Text != y.Text || math.Abs(x.Score-y.Score) > 1e-5 {
				tb.Fatalf("%s: search %d hit %d: %s/%d %.6f, then %s/%d %.6f", what, i, j, x.DocumentID, x.ChunkID, x.Score, y.DocumentID, y.ChunkID, y.Score)
			}
		}
	}
}

// TestRestart: ingest, close, open: identical results, nothing embedded
// again, both indexes loaded from their snapshots. Then damaged and
// missing snapshots: the same results from a rebuild.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	kb := openKB(t, dir)
	docs, _ := supportCorpus(t)
	mustCreate(t, kb, "support")
	start := time.Now()
	mustUpsert(t, kb, "support", docs)
	ingest := time.Since(start)
	queries := []string{"how do I get a refund for my annual plan", "error 0x80070005", "SKU-88213-BLK", "change my password"}
	before := searchAll(t, kb, "support", queries)
	kb.close(t)

	start = time.Now()
	kb = openKB(t, dir)
	reopen := time.Since(start)
	t.Logf("ingest %v, reopen from snapshots %v", ingest, reopen)
	if n := kb.emb.bulk.Load(); n != 0 {
		t.Errorf("reopening embedded %d chunks", n)
	}
	// What makes a restart fast: both indexes come from their snapshots,
	// with nothing to replay (the timing itself is BenchmarkScale100k's).
	if c, _ := kb.get("support"); !c.opened.graphSnapshot || !c.opened.lexicalSnapshot || c.opened.replayed != 0 || c.opened.lexicalAdded != 0 {
		t.Errorf("reopen after a clean close: %+v, want everything from the snapshots", c.opened)
	}
	sameHits(t, "after restart", before, searchAll(t, kb, "support", queries))
	res, err := kb.Upsert(context.Background(), "support", docs[:5])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != StatusUnchanged || r.Embedded != 0 {
			t.Errorf("re-upserting an unchanged document after restart: %+v", r)
		}
	}
	kb.close(t)

	// A flipped byte in the graph snapshot, a torn lexical one.
	snaps, _ := filepath.Glob(filepath.Join(dir, "index", "support-*"))
	if len(snaps) != 2 {
		t.Fatalf("snapshot files %v, want a graph and a lexical one", snaps)
	}
	for _, f := range snaps {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, graphExt) {
			b[len(b)/2] ^= 0x40
		} else {
			b = b[:len(b)/3]
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kb = openKB(t, dir)
	sameHits(t, "after rebuilding from damaged snapshots", before, searchAll(t, kb, "support", queries))
	kb.close(t)
	for _, f := range snaps {
		os.Remove(f)
	}
	kb = openKB(t, dir)
	sameHits(t, "after rebuilding without snapshots", before, searchAll(t, kb, "support", queries))
	if n := kb.emb.bulk.Load(); n != 0 {
		t.Errorf("rebuilding embedded %d chunks: vectors come from the store", n)
	}
}

// TestReplayAfterSnapshot: writes after the last snapshot (upserts and
// deletes) are reconciled at open.
func TestReplayAfterSnapshot(t *testing.T) {
	dir := t.TempDir()
	kb := openKB(t, dir)
	mustCreate(t, kb, "kb")
	var docs []DocumentInput
	for i := range 30 {
		docs = append(docs, synthDoc(i, 1))
	}
	mustUpsert(t, kb, "kb", docs)
	if err := kb.SnapshotAll(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustUpsert(t, kb, "kb", []DocumentInput{synthDoc(3, 2), synthDoc(31, 1), synthDoc(32, 1)})
	for _, id := range []string{"doc-0004", "doc-0031"} {
		if err := kb.DeleteDocument(ctx, "kb", id); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{"refunds revision 2", "ORD-2026-00004", "E1031", "storage quota 32"}
	before := searchAll(t, kb, "kb", queries)
	infoBefore, _ := kb.Collection("kb")
	// Simulate a crash after the writes: the snapshot on disk is the old
	// one, since Close is not called (the store is closed, synced writes
	// are all there).
	kb.KB.mu.Lock()
	kb.KB.closed = true
	kb.KB.mu.Unlock()
	close(kb.KB.stop)
	if err := kb.st.Close(); err != nil {
		t.Fatal(err)
	}
	kb.KB = nil
	kb = openKB(t, dir)
	if c, _ := kb.get("kb"); !c.opened.graphSnapshot || c.opened.replayed == 0 || c.opened.lexicalAdded == 0 {
		t.Fatalf("reopening after writes past the snapshot: %+v, want both snapshots loaded and the new chunks replayed", c.opened)
	}
	sameHits(t, "after replay", before, searchAll(t, kb, "kb", queries))
	info, _ := kb.Collection("kb")
	if info.Documents != infoBefore.Documents || info.Chunks != infoBefore.Chunks {
		t.Errorf("after replay: %d documents %d chunks, want %d %d", info.Documents, info.Chunks, infoBefore.Documents, infoBefore.Chunks)
	}
	for _, id := range []string{"doc-0004", "doc-0031"} {
		if _, err := kb.GetDocument(ctx, "kb", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted %s after replay: %v", id, err)
		}
	}
	// The replayed state reached the snapshots at Close: nothing to
	// replay at the next open.
	kb.close(t)
	kb = openKB(t, dir)
	if c, _ := kb.get("kb"); !c.opened.graphSnapshot || !c.opened.lexicalSnapshot || c.opened.replayed != 0 || c.opened.lexicalAdded != 0 {
		t.Fatalf("second reopen: %+v, want everything from the snapshots", c.opened)
	}
	h, err := kb.Search(ctx, "kb", Query{Text: "ORD-2026-00004", K: 5, Mode: ModeLexical})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range h {
		if x.DocumentID == "doc-0004" {
			t.Errorf("a deleted document is searchable after replay")
		}
	}
}

// TestUpsertSemantics: created, unchanged (nothing embedded), metadata-only
// updates (nothing embedded), content updates (old chunks gone).
func TestUpsertSemantics(t *testing.T) {
	kb := openKB(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, kb, "kb")
	d := synthDoc(1, 1)
	res := mustUpsert(t, kb, "kb", []DocumentInput{d})
	if res[0].Status != StatusCreated || res[0].Chunks == 0 || res[0].Embedded != res[0].Chunks {
		t.Fatalf("create: %+v", res[0])
	}
	n0 := kb.emb.bulk.Load()
	if res := mustUpsert(t, kb, "kb", []DocumentInput{d}); res[0].Status != StatusUnchanged || kb.emb.bulk.Load() != n0 {
		t.Fatalf("unchanged: %+v, %d embedded", res[0], kb.emb.bulk.Load()-n0)
	}
	d.Metadata.Category = "security"
	if res := mustUpsert(t, kb, "kb", []DocumentInput{d}); res[0].Status != StatusUpdated || res[0].Embedded != 0 || kb.emb.bulk.Load() != n0 {
		t.Fatalf("metadata only: %+v, %d embedded", res[0], kb.emb.bulk.Load()-n0)
	}
	hits, err := kb.Search(ctx, "kb", Query{Text: "refunds", K: 5, Filter: &Filter{Category: []string{"security"}}})
	if err != nil || len(hits) == 0 || hits[0].Metadata.Category != "security" {
		t.Fatalf("filter on the new category: %v %v", hits, err)
	}
	d2 := synthDoc(1, 2)
	d2.Markdown = "# Totally different\n\nNow this explains the warranty of backup drives, model SKU-1234-RED.\n"
	if res := mustUpsert(t, kb, "kb", []DocumentInput{d2}); res[0].Status != StatusUpdated || res[0].Embedded == 0 {
		t.Fatalf("content change: %+v", res[0])
	}
	hits, err = kb.Search(ctx, "kb", Query{Text: "ORD-2026-00001", K: 5, Mode: ModeLexical})
	if err != nil || len(hits) != 0 {
		t.Fatalf("old content still searchable: %v %v", hits, err)
	}
	hits, err = kb.Search(ctx, "kb", Query{Text: "SKU-1234-RED", K: 5})
	if err != nil || len(hits) == 0 || hits[0].DocumentID != d2.ID || !strings.Contains(hits[0].Text, "SKU-1234-RED") || hits[0].ExactRank != 1 {
		t.Fatalf("new content: %+v %v", hits, err)
	}
	got, err := kb.GetDocument(ctx, "kb", d2.ID)
	if err != nil || got.Content != d2.Markdown || got.Format != "markdown" || got.Chunks == 0 {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Chunk records of the old version are gone from the store.
	n := 0
	if err := kb.KB.st.Walk(ctx, store.PrefixRange(store.ChunksPrefix("kb")), nil, 0, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != got.Chunks {
		t.Errorf("%d chunk records stored, the document has %d chunks", n, got.Chunks)
	}
}
