package index

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/internal/testenv"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/models"
	"github.com/infergate/infergate/store"
)

const modelID = "all-MiniLM-L6-v2-Q4_K_M"

var (
	embOnce sync.Once
	embB    *batcher.Batcher
	embErr  error
)

// embedder is the real MiniLM model behind the real batcher, shared by
// the package's tests (loading it takes a second).
func embedder(tb testing.TB) *batcher.Batcher {
	tb.Helper()
	embOnce.Do(func() {
		var path string
		if path, embErr = models.TestModelPath(models.MiniLMModel); embErr != nil {
			return
		}
		embB, embErr = batcher.New(batcher.Config{ID: modelID, ModelPath: path, Embedding: true, Parallel: 8, Threads: 1, QueueLen: 64})
	})
	if embErr != nil {
		testenv.Missing(tb, "embedding model: %v", embErr)
	}
	return embB
}

// counting wraps the real embedder to count what it is asked to embed.
type counting struct {
	*batcher.Batcher
	bulk, interactive atomic.Int64
}

func (c *counting) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error) {
	if req.Priority == llm.PriorityBulk {
		c.bulk.Add(int64(len(req.Texts)))
	} else {
		c.interactive.Add(int64(len(req.Texts)))
	}
	return c.Batcher.Embed(ctx, req)
}

type testKB struct {
	*KB
	st  *store.Store
	dir string
	emb *counting
}

// openKB opens a knowledge base on a real Pebble store in dir.
func openKB(tb testing.TB, dir string) *testKB {
	tb.Helper()
	emb := &counting{Batcher: embedder(tb)}
	st, err := store.Open(context.Background(), filepath.Join(dir, "store"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := Open(context.Background(), Config{Store: st, Dir: filepath.Join(dir, "index"),
		Embedders: map[string]Embedder{modelID: emb}, SnapshotInterval: -1})
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	t := &testKB{KB: kb, st: st, dir: dir, emb: emb}
	tb.Cleanup(func() { t.close(tb) })
	return t
}

func (t *testKB) close(tb testing.TB) {
	if t.KB == nil {
		return
	}
	if err := t.KB.Close(); err != nil {
		tb.Error(err)
	}
	if err := t.st.Close(); err != nil {
		tb.Error(err)
	}
	t.KB = nil
}

type labelled struct {
	Query    string   `json:"query"`
	Kind     string   `json:"kind"`
	Relevant []string `json:"relevant"`
}

func supportCorpus(tb testing.TB) ([]DocumentInput, []labelled) {
	tb.Helper()
	f, err := os.Open("testdata/support/corpus.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var docs []DocumentInput
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var d DocumentInput
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			tb.Fatal(err)
		}
		docs = append(docs, d)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile("testdata/support/queries.json")
	if err != nil {
		tb.Fatal(err)
	}
	var qs []labelled
	if err := json.Unmarshal(b, &qs); err != nil {
		tb.Fatal(err)
	}
	return docs, qs
}

func mustCreate(tb testing.TB, kb *testKB, name string) {
	tb.Helper()
	if _, err := kb.CreateCollection(context.Background(), CollectionSpec{Name: name}); err != nil {
		tb.Fatal(err)
	}
}

func mustUpsert(tb testing.TB, kb *testKB, coll string, docs []DocumentInput) []UpsertResult {
	tb.Helper()
	var out []UpsertResult
	for start := 0; start < len(docs); start += 32 {
		res, err := kb.Upsert(context.Background(), coll, docs[start:min(start+32, len(docs))])
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, res...)
	}
	return out
}
