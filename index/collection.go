package index

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infergate/infergate/index/hnsw"
	"github.com/infergate/infergate/index/lexical"
	"github.com/infergate/infergate/internal/atomicfile"
	"github.com/infergate/infergate/store"
)

// collection is one collection in memory. The store holds its truth; the
// graph, the lexical index and the maps below are derived from it and
// rebuilt or reconciled at open.
//
// Invariants:
//   - A chunk id is visible (in chunks) only once its records are durable
//     and its vector is in graph and its text in lex: searches filter on
//     visibility, so a half-applied write is never returned.
//   - Writes to one collection are serialised by wmu, from assigning chunk
//     ids to applying them in memory, so ids are applied in increasing order
//     and memory matches the store after every write.
type collection struct {
	kb  *KB
	rec collectionRecord // NextID guarded by wmu
	emb Embedder         // nil when the model is not served

	graph *hnsw.Index
	lex   *lexical.Index

	wmu sync.Mutex

	mu     sync.RWMutex         // guards docs and chunks
	docs   map[string]*docEntry // by document id
	chunks map[uint64]*docEntry // visible chunk id -> its document

	bytes   atomic.Int64 // document content
	deleted atomic.Bool

	// opened is what the last open found, for logs and tests.
	opened openStats

	snapMu    sync.Mutex   // one snapshot at a time
	snapAt    atomic.Int64 // unix nanos of the last snapshot written or loaded; 0: never
	changes   atomic.Uint64
	snapshot0 atomic.Uint64 // changes at the last snapshot
}

// openStats is how a collection was loaded.
type openStats struct {
	graphSnapshot, lexicalSnapshot  bool
	replayed, rebuilt, lexicalAdded int
}

// docEntry is what searches need of a document; immutable once published
// (an update publishes a new entry).
type docEntry struct {
	id       string
	meta     Metadata
	hash     string
	first    uint64 // chunk ids are first .. first+n-1
	n        int
	tokens   int
	size     int
	format   string
	created  time.Time
	modified time.Time
}

func (kb *KB) newCollection(rec collectionRecord) (*collection, error) {
	g, err := hnsw.New(hnsw.Config{Dim: rec.Dim, Metric: hnsw.Cosine, M: rec.HNSW.M, EfConstruction: rec.HNSW.EfConstruction})
	if err != nil {
		return nil, badField("hnsw", "%v", err)
	}
	return &collection{kb: kb, rec: rec, emb: kb.cfg.Embedders[rec.Model], graph: g, lex: lexical.New(lexical.Params{}),
		docs: make(map[string]*docEntry), chunks: make(map[uint64]*docEntry)}, nil
}

// Snapshot files: the graph and the lexical index of one generation of a
// collection.
const (
	graphExt   = ".hnsw"
	lexicalExt = ".bm25"
)

func (c *collection) snapshotPath(dir, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%016x%s", c.rec.Name, c.rec.Generation, ext))
}

// load rebuilds a collection from the store: documents, the graph (from its
// snapshot when there is a sound one), the lexical index.
func (kb *KB) load(ctx context.Context, rec collectionRecord) (*collection, error) {
	start := time.Now()
	c, err := kb.newCollection(rec)
	if err != nil {
		return nil, err
	}
	if c.emb == nil {
		kb.log.Warn("embedding model not served: the collection answers lexical searches only", "collection", rec.Name, "model", rec.Model)
	}
	name := rec.Name
	err = kb.st.Walk(ctx, store.PrefixRange(store.DocumentsPrefix(name)), nil, 0, func(_, v []byte) error {
		var d documentRecord
		if err := decodeJSON(v, &d, "document"); err != nil {
			return err
		}
		e := entryOf(&d)
		c.docs[d.ID] = e
		for i := range e.n {
			c.chunks[e.first+uint64(i)] = e
		}
		c.bytes.Add(int64(e.size))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("documents: %w", err)
	}
	tDocs := time.Since(start)
	loaded, replayed, rebuilt, err := c.loadGraph(ctx)
	if err != nil {
		return nil, err
	}
	tGraph := time.Since(start) - tDocs
	lexLoaded, lexAdded, err := c.loadLexical(ctx)
	if err != nil {
		return nil, err
	}
	c.opened = openStats{graphSnapshot: loaded, lexicalSnapshot: lexLoaded, replayed: replayed, rebuilt: rebuilt, lexicalAdded: lexAdded}
	if kb.cfg.Dir != "" && len(c.chunks) > 0 && (!loaded || !lexLoaded || 10*(replayed+lexAdded) > len(c.chunks)) {
		// A rebuilt index, or one that replayed much, is snapshotted at
		// once: the next start is fast, and a damaged or unsafe file does
		// not stay on disk.
		if err := c.snapshot(kb.cfg.Dir, true); err != nil {
			kb.log.Error("snapshot after rebuild failed", "collection", name, "err", err)
		}
	}
	kb.log.Info("collection loaded", "collection", name, "documents", len(c.docs), "chunks", len(c.chunks),
		"graph_from_snapshot", loaded, "vectors_replayed", replayed, "vectors_rebuilt", rebuilt,
		"lexical_from_snapshot", lexLoaded, "lexical_added", lexAdded,
		"documents_seconds", tDocs.Seconds(), "graph_seconds", tGraph.Seconds(),
		"lexical_seconds", (time.Since(start) - tDocs - tGraph).Seconds(), "seconds", time.Since(start).Seconds())
	return c, nil
}

func entryOf(d *documentRecord) *docEntry {
	return &docEntry{id: d.ID, meta: d.Metadata, hash: d.Hash, first: d.FirstChunk, n: d.Chunks, tokens: d.Tokens,
		size: len(d.Content), format: d.Format, created: d.Created, modified: d.Modified}
}

// loadGraph loads the snapshot and reconciles it with the store: keys the
// store no longer holds are deleted, vectors it lacks are added. Without a
// usable snapshot every vector is added.
func (c *collection) loadGraph(ctx context.Context) (loaded bool, replayed, rebuilt int, err error) {
	dir := c.kb.cfg.Dir
	if dir != "" {
		g, lerr := loadSnapshot(c.snapshotPath(dir, graphExt), hnsw.Load)
		switch {
		case lerr == nil && g.Config().Dim == c.rec.Dim && !holdsUncommitted(g.AppendKeys(nil), c.rec.NextID):
			c.graph, loaded = g, true
			c.snapAt.Store(time.Now().UnixNano())
		case lerr == nil && g.Config().Dim == c.rec.Dim:
			// A write whose commit failed reached the graph before a
			// snapshot: its ids, never committed, may be given to other
			// vectors later. Rebuild, and replace the file at once.
			c.kb.log.Warn("snapshot holds uncommitted vectors; rebuilding the graph from the store", "collection", c.rec.Name)
			c.changes.Add(1)
		case lerr == nil:
			c.kb.log.Warn("snapshot has the wrong dimension; rebuilding from the store", "collection", c.rec.Name)
		case errors.Is(lerr, os.ErrNotExist):
			if len(c.chunks) > 0 {
				c.kb.log.Info("no snapshot; rebuilding the graph from the store", "collection", c.rec.Name)
			}
		default:
			// hnsw.ErrCorrupt, ErrVersion, a read error: the store has it all.
			c.kb.log.Warn("snapshot unusable; rebuilding the graph from the store", "collection", c.rec.Name, "err", lerr)
		}
	}
	var missing []uint64
	if loaded {
		for _, k := range c.graph.AppendKeys(nil) {
			if c.chunks[k] == nil {
				c.graph.Delete(k)
			}
		}
		for id := range c.chunks {
			if !c.graph.Contains(id) {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return loaded, 0, 0, nil
		}
	}
	// Replay: scan the stored vectors (all of them without a snapshot; with
	// one, only those it lacks, which are the ones after its highest id
	// unless a crash interleaved) and add them from several goroutines.
	want := func(id uint64) bool { return c.chunks[id] != nil && (!loaded || !c.graph.Contains(id)) }
	type item struct {
		id  uint64
		vec []float32
	}
	work := make(chan item, 256)
	var wg sync.WaitGroup
	var addErr atomic.Pointer[error]
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for it := range work {
				if err := c.graph.Add(it.id, it.vec); err != nil {
					addErr.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	n := 0
	err = c.kb.st.Walk(ctx, store.PrefixRange(store.VectorsPrefix(c.rec.Name)), nil, 0, func(k, v []byte) error {
		_, id, err := store.ParseVectorKey(k)
		if err != nil {
			return err
		}
		if !want(id) {
			return nil
		}
		vec := make([]float32, c.rec.Dim)
		if err := decodeVector(v, vec); err != nil {
			return err
		}
		work <- item{id, vec}
		n++
		return nil
	})
	close(work)
	wg.Wait()
	if err != nil {
		return loaded, 0, 0, fmt.Errorf("vectors: %w", err)
	}
	if p := addErr.Load(); p != nil {
		return loaded, 0, 0, fmt.Errorf("vectors: %w", *p)
	}
	if c.graph.Len() != len(c.chunks) {
		return loaded, 0, 0, fmt.Errorf("%w: %d chunks but %d vectors", errRecord, len(c.chunks), c.graph.Len())
	}
	if n > 0 {
		c.changes.Add(1) // the snapshot on disk lacks these
	}
	if loaded {
		return loaded, n, 0, nil
	}
	return loaded, 0, n, nil
}

// holdsUncommitted reports whether a snapshot holds an id at or above the
// collection's next id: one assigned by a write that was never committed.
func holdsUncommitted(ids []uint64, next uint64) bool {
	return slices.ContainsFunc(ids, func(id uint64) bool { return id >= next })
}

func loadSnapshot[T any](path string, load func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return load(bufio.NewReaderSize(f, 1<<20))
}

// loadLexical loads the lexical snapshot and reconciles it with the store
// as loadGraph does; without a usable one it analyses every stored chunk
// again (about 25 times slower at 100,000 chunks: index/lexical's
// BenchmarkLoad against BenchmarkBuild).
func (c *collection) loadLexical(ctx context.Context) (loaded bool, added int, err error) {
	if dir := c.kb.cfg.Dir; dir != "" {
		x, lerr := loadSnapshot(c.snapshotPath(dir, lexicalExt), lexical.Load)
		switch {
		case lerr == nil && !holdsUncommitted(x.AppendIDs(nil), c.rec.NextID):
			c.lex, loaded = x, true
		case lerr == nil:
			c.kb.log.Warn("lexical snapshot holds uncommitted chunks; rebuilding it from the store", "collection", c.rec.Name)
			c.changes.Add(1)
		case errors.Is(lerr, os.ErrNotExist):
		default:
			c.kb.log.Warn("lexical snapshot unusable; rebuilding it from the store", "collection", c.rec.Name, "err", lerr)
		}
	}
	if loaded {
		for _, id := range c.lex.AppendIDs(nil) {
			if c.chunks[id] == nil {
				c.lex.Delete(id)
			}
		}
		for id, e := range c.chunks {
			if c.lex.Contains(id) {
				continue
			}
			v, err := c.kb.st.Get(ctx, store.ChunkKey(c.rec.Name, e.id, uint32(id-e.first)))
			if err != nil {
				return loaded, added, fmt.Errorf("chunk %d of %s: %w", id, e.id, err)
			}
			ch, err := decodeChunk(v)
			if err != nil {
				return loaded, added, err
			}
			c.lex.Add(id, lexicalText(e.meta.Title, ch.Headings, ch.Text))
			added++
		}
		if added > 0 {
			c.changes.Add(1)
		}
		return loaded, added, nil
	}
	err = c.kb.st.Walk(ctx, store.PrefixRange(store.ChunksPrefix(c.rec.Name)), nil, 0, func(_, v []byte) error {
		ch, err := decodeChunk(v)
		if err != nil {
			return err
		}
		e := c.chunks[ch.ID]
		if e == nil {
			return fmt.Errorf("%w: chunk %d belongs to no document", errRecord, ch.ID)
		}
		c.lex.Add(ch.ID, lexicalText(e.meta.Title, ch.Headings, ch.Text))
		added++
		return nil
	})
	if err != nil {
		return loaded, added, fmt.Errorf("chunks: %w", err)
	}
	if added > 0 {
		c.changes.Add(1)
	}
	return loaded, added, nil
}

// snapshot writes the graph when it changed since the last one (always
// when force) to dir.
func (c *collection) snapshot(dir string, force bool) error {
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	ch := c.changes.Load()
	if !force && ch == c.snapshot0.Load() && c.snapAt.Load() != 0 {
		return nil
	}
	if c.deleted.Load() {
		return nil
	}
	start := time.Now()
	// Both files are each consistent in themselves; they need not be with
	// each other or with the store, since loading reconciles each with it.
	if err := c.graph.SaveFile(c.snapshotPath(dir, graphExt)); err != nil {
		return fmt.Errorf("snapshot of %s: %w", c.rec.Name, err)
	}
	if err := atomicfile.Write(c.snapshotPath(dir, lexicalExt), c.lex.WriteTo); err != nil {
		return fmt.Errorf("lexical snapshot of %s: %w", c.rec.Name, err)
	}
	if dir == c.kb.cfg.Dir {
		c.snapshot0.Store(ch)
		c.snapAt.Store(time.Now().UnixNano())
	}
	c.kb.log.Debug("snapshot written", "collection", c.rec.Name, "vectors", c.graph.Len(), "seconds", time.Since(start).Seconds())
	return nil
}

func (c *collection) info() CollectionInfo {
	c.mu.RLock()
	docs, chunks := len(c.docs), len(c.chunks)
	c.mu.RUnlock()
	age := time.Duration(-1)
	if at := c.snapAt.Load(); at != 0 {
		age = time.Since(time.Unix(0, at))
	}
	h := c.graph.Config()
	return CollectionInfo{Name: c.rec.Name, EmbeddingModel: c.rec.Model, Dimensions: c.rec.Dim, Chunk: c.rec.Chunk,
		HNSW: HNSWParams{M: h.M, EfConstruction: h.EfConstruction}, Documents: docs, Chunks: chunks,
		Bytes: c.bytes.Load(), Created: c.rec.Created, ModelAvailable: c.emb != nil, SnapshotAge: age}
}

// embedder returns the collection's model or ErrModelUnavailable.
func (c *collection) embedder() (Embedder, error) {
	if c.emb == nil {
		return nil, fmt.Errorf("collection %s: model %s: %w", c.rec.Name, c.rec.Model, ErrModelUnavailable)
	}
	return c.emb, nil
}
