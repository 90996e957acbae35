package index

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/store"
)

// Embedder is what the knowledge base needs from an embedding model: the
// batcher's embedding path satisfies it, so ingestion and live queries
// share one model through one coalescing scheduler (ingestion asks with
// llm.PriorityBulk, queries with llm.PriorityInteractive).
type Embedder interface {
	Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error)
	// Tokenize is the model's own tokenizer, which chunking counts with.
	Tokenize(text string) ([]int32, error)
	// MaxEmbedTokens is the longest input the model embeds whole.
	MaxEmbedTokens() int
}

// Defaults for zero Config and collection fields.
const (
	DefaultChunkTokens      = 400
	DefaultChunkOverlap     = 64
	DefaultSnapshotInterval = 5 * time.Minute
	// MaxDocumentsPerUpsert and MaxDocumentBytes bound one Upsert, so that
	// one request cannot hold the collection's writer for minutes.
	MaxDocumentsPerUpsert = 256
	MaxDocumentBytes      = 8 << 20
	// MaxK is the most results one search returns.
	MaxK = 100
)

// Config configures Open.
type Config struct {
	// Store is the store of record.
	Store Store
	// Dir holds the HNSW snapshots (the serve command uses
	// <data-dir>/index). Created if missing.
	Dir string
	// Embedders are the embedding models by id.
	Embedders map[string]Embedder
	// DefaultModel is used by collections created without a model; empty
	// means the only embedder, when there is exactly one.
	DefaultModel string
	// SnapshotInterval is how often changed collections' graphs are
	// snapshotted; 0 is DefaultSnapshotInterval, negative only at Close.
	SnapshotInterval time.Duration
	Logger           *slog.Logger
}

// KB is the knowledge base: the collections of one data directory. Its
// methods are safe for concurrent use.
type KB struct {
	cfg     Config
	st      Store
	log     *slog.Logger
	metrics *metrics

	mu    sync.RWMutex // guards colls
	colls map[string]*collection
	// ddl serialises creating and deleting collections, which write the
	// store outside mu.
	ddl sync.Mutex

	stop   chan struct{}
	done   chan struct{}
	closed bool
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// ValidName reports whether name may name a collection.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Open loads every collection: documents from the store, each graph from
// its snapshot (or rebuilt from the stored vectors when the snapshot is
// missing or damaged), reconciled with the store, and the lexical index
// rebuilt from the stored chunks.
func Open(ctx context.Context, cfg Config) (*KB, error) {
	if cfg.Store == nil {
		return nil, errors.New("index: Config.Store is required")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.SnapshotInterval = cmp.Or(cfg.SnapshotInterval, DefaultSnapshotInterval)
	if cfg.DefaultModel == "" && len(cfg.Embedders) == 1 {
		for id := range cfg.Embedders {
			cfg.DefaultModel = id
		}
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
	}
	kb := &KB{cfg: cfg, st: cfg.Store, log: cfg.Logger.With("component", "index"),
		colls: make(map[string]*collection), stop: make(chan struct{}), done: make(chan struct{})}
	kb.metrics = newMetrics(kb)
	var recs []collectionRecord
	err := kb.st.Walk(ctx, store.PrefixRange(store.KindPrefix(store.KindCollection)), nil, 0, func(_, v []byte) error {
		var r collectionRecord
		if err := decodeJSON(v, &r, "collection"); err != nil {
			return err
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index: reading collections: %w", err)
	}
	for _, r := range recs {
		c, err := kb.load(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("index: loading collection %s: %w", r.Name, err)
		}
		kb.colls[r.Name] = c
	}
	kb.removeStaleSnapshots()
	go kb.snapshotLoop()
	return kb, nil
}

// Close writes a snapshot of every changed collection and stops. The store
// is the caller's to close.
func (kb *KB) Close() error {
	kb.mu.Lock()
	if kb.closed {
		kb.mu.Unlock()
		return nil
	}
	kb.closed = true
	kb.mu.Unlock()
	close(kb.stop)
	<-kb.done
	return kb.SnapshotAll()
}

func (kb *KB) snapshotLoop() {
	defer close(kb.done)
	if kb.cfg.SnapshotInterval < 0 || kb.cfg.Dir == "" {
		<-kb.stop
		return
	}
	t := time.NewTicker(kb.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-kb.stop:
			return
		case <-t.C:
			if err := kb.SnapshotAll(); err != nil {
				kb.log.Error("snapshot failed", "err", err)
			}
		}
	}
}

// SnapshotAll snapshots every collection changed since its last snapshot.
func (kb *KB) SnapshotAll() error {
	if kb.cfg.Dir == "" {
		return nil
	}
	var errs []error
	for _, c := range kb.list() {
		if err := c.snapshot(kb.cfg.Dir, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (kb *KB) list() []*collection {
	kb.mu.RLock()
	defer kb.mu.RUnlock()
	out := slices.Collect(maps.Values(kb.colls))
	slices.SortFunc(out, func(a, b *collection) int { return cmp.Compare(a.rec.Name, b.rec.Name) })
	return out
}

func (kb *KB) get(name string) (*collection, error) {
	kb.mu.RLock()
	defer kb.mu.RUnlock()
	if kb.closed {
		return nil, ErrClosed
	}
	c, ok := kb.colls[name]
	if !ok {
		return nil, &NotFoundError{Kind: "collection", Name: name}
	}
	return c, nil
}

// NoOverlap asks CollectionSpec.Chunk.Overlap for chunks that repeat
// nothing of the previous one (zero means the default).
const NoOverlap = -1

// CollectionSpec is what creating a collection takes; zero fields get the
// defaults.
type CollectionSpec struct {
	Name           string      `json:"name"`
	EmbeddingModel string      `json:"embedding_model,omitempty"`
	Chunk          ChunkParams `json:"chunk"`
	HNSW           HNSWParams  `json:"hnsw"`
}

// CollectionInfo describes a collection.
type CollectionInfo struct {
	Name           string      `json:"name"`
	EmbeddingModel string      `json:"embedding_model"`
	Dimensions     int         `json:"dimensions"`
	Chunk          ChunkParams `json:"chunk"`
	HNSW           HNSWParams  `json:"hnsw"`
	Documents      int         `json:"documents"`
	Chunks         int         `json:"chunks"`
	Bytes          int64       `json:"bytes"` // document content
	Created        time.Time   `json:"created"`
	// ModelAvailable is false when this process does not serve the
	// collection's embedding model: only lexical search works then.
	ModelAvailable bool `json:"model_available"`
	// SnapshotAge is the time since the graph was last snapshotted (or
	// loaded from a snapshot); negative when it never was.
	SnapshotAge time.Duration `json:"-"`
}

// CreateCollection creates an empty collection. It fails with ErrExists
// when the name is taken and with *RequestError for an invalid spec.
func (kb *KB) CreateCollection(ctx context.Context, spec CollectionSpec) (CollectionInfo, error) {
	if !ValidName(spec.Name) {
		return CollectionInfo{}, badField("name", "%q is not a valid name: 1 to 64 of a-z, 0-9, _ and -", spec.Name)
	}
	model := cmp.Or(spec.EmbeddingModel, kb.cfg.DefaultModel)
	if model == "" {
		return CollectionInfo{}, badField("embedding_model", "no embedding model is served: start the server with one")
	}
	emb, ok := kb.cfg.Embedders[model]
	if !ok {
		return CollectionInfo{}, badField("embedding_model", "%q is not a served embedding model (served: %v)", model, slices.Sorted(maps.Keys(kb.cfg.Embedders)))
	}
	chunk, err := checkChunkParams(spec.Chunk, emb.MaxEmbedTokens())
	if err != nil {
		return CollectionInfo{}, err
	}
	hp, err := checkHNSWParams(spec.HNSW)
	if err != nil {
		return CollectionInfo{}, err
	}
	kb.ddl.Lock()
	defer kb.ddl.Unlock()
	if _, err := kb.get(spec.Name); err == nil {
		return CollectionInfo{}, fmt.Errorf("collection %q: %w", spec.Name, ErrExists)
	} else if errors.Is(err, ErrClosed) {
		return CollectionInfo{}, err
	}
	// The dimension comes from the model itself: one probe embedding.
	probe, err := emb.Embed(ctx, llm.EmbedRequest{Texts: []string{"dimension probe"}})
	if err != nil {
		return CollectionInfo{}, fmt.Errorf("index: probing %s for its dimension: %w", model, err)
	}
	var gen [8]byte
	_, _ = rand.Read(gen[:])
	rec := collectionRecord{V: collectionRecordVersion, Name: spec.Name, Model: model, Dim: len(probe.Vectors[0]),
		Chunk: chunk, HNSW: hp, Created: time.Now().UTC(), Generation: binary.LittleEndian.Uint64(gen[:])}
	c, err := kb.newCollection(rec)
	if err != nil {
		return CollectionInfo{}, err
	}
	var w store.Write
	// A leftover of an interrupted delete must not leak into the new one.
	for _, r := range store.CollectionRanges(spec.Name) {
		w.DeleteRange(r)
	}
	w.Set(store.CollectionKey(spec.Name), mustJSON(rec))
	if err := kb.st.Apply(ctx, &w); err != nil {
		return CollectionInfo{}, err
	}
	kb.mu.Lock()
	kb.colls[spec.Name] = c
	kb.mu.Unlock()
	kb.log.Info("collection created", "collection", spec.Name, "model", model, "dimensions", rec.Dim,
		"chunk_tokens", chunk.Tokens, "chunk_overlap", chunk.Overlap)
	return c.info(), nil
}

func checkChunkParams(p ChunkParams, maxTokens int) (ChunkParams, error) {
	p.Tokens = cmp.Or(p.Tokens, DefaultChunkTokens)
	switch {
	case p.Overlap == NoOverlap:
		p.Overlap = 0
	case p.Overlap == 0:
		p.Overlap = min(DefaultChunkOverlap, p.Tokens/4)
	}
	switch {
	case p.Tokens < 16 || p.Tokens > 8192:
		return p, badField("chunk.tokens", "%d is outside [16, 8192]", p.Tokens)
	case p.Overlap < 0 || p.Overlap >= p.Tokens/2:
		return p, badField("chunk.overlap", "%d must be at least 0 and less than half of chunk.tokens (%d)", p.Overlap, p.Tokens)
	}
	if maxTokens > 0 && p.Tokens > maxTokens {
		// Clamped, not refused: the operator asked for big chunks, the model
		// cannot take them; the collection records what it really uses.
		p.Tokens = maxTokens
		p.Overlap = min(p.Overlap, p.Tokens/2-1)
	}
	return p, nil
}

func checkHNSWParams(p HNSWParams) (HNSWParams, error) {
	switch {
	case p.M != 0 && (p.M < 4 || p.M > 128):
		return p, badField("hnsw.m", "%d is outside [4, 128]", p.M)
	case p.EfConstruction != 0 && (p.EfConstruction < 16 || p.EfConstruction > 2048):
		return p, badField("hnsw.ef_construction", "%d is outside [16, 2048]", p.EfConstruction)
	}
	return p, nil
}

// Collections describes every collection, by name.
func (kb *KB) Collections() []CollectionInfo {
	var out []CollectionInfo
	for _, c := range kb.list() {
		out = append(out, c.info())
	}
	return out
}

// Collection describes one collection.
func (kb *KB) Collection(name string) (CollectionInfo, error) {
	c, err := kb.get(name)
	if err != nil {
		return CollectionInfo{}, err
	}
	return c.info(), nil
}

// DeleteCollection removes a collection and everything in it, in one
// atomic write.
func (kb *KB) DeleteCollection(ctx context.Context, name string) error {
	kb.ddl.Lock()
	defer kb.ddl.Unlock()
	c, err := kb.get(name)
	if err != nil {
		return err
	}
	// Writers of this collection finish first; later ones find it gone.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var w store.Write
	for _, r := range store.CollectionRanges(name) {
		w.DeleteRange(r)
	}
	if err := kb.st.Apply(ctx, &w); err != nil {
		return err
	}
	c.deleted.Store(true)
	kb.mu.Lock()
	delete(kb.colls, name)
	kb.mu.Unlock()
	if kb.cfg.Dir != "" {
		_ = os.Remove(c.snapshotPath(kb.cfg.Dir, graphExt))
		_ = os.Remove(c.snapshotPath(kb.cfg.Dir, lexicalExt))
	}
	kb.log.Info("collection deleted", "collection", name)
	return nil
}

// removeStaleSnapshots deletes snapshot files of collections (or
// generations) that no longer exist.
func (kb *KB) removeStaleSnapshots() {
	if kb.cfg.Dir == "" {
		return
	}
	keep := map[string]bool{}
	for _, c := range kb.list() {
		keep[filepath.Base(c.snapshotPath(kb.cfg.Dir, graphExt))] = true
		keep[filepath.Base(c.snapshotPath(kb.cfg.Dir, lexicalExt))] = true
	}
	graphs, _ := filepath.Glob(filepath.Join(kb.cfg.Dir, "*"+graphExt+"*"))
	lexes, _ := filepath.Glob(filepath.Join(kb.cfg.Dir, "*"+lexicalExt+"*"))
	for _, f := range append(graphs, lexes...) {
		if !keep[filepath.Base(f)] {
			kb.log.Info("removing stale snapshot", "file", f)
			_ = os.Remove(f)
		}
	}
}

// Backup writes a consistent copy of the knowledge base into dest (which
// must not exist): dest/store, a checkpoint of the store, and dest/index,
// fresh graph snapshots. Restoring copies both into a data directory; the
// graphs are reconciled with the store at open, as after any restart.
// A failed backup removes what it wrote. A destination that exists is
// refused with an error wrapping ErrExists.
func (kb *KB) Backup(ctx context.Context, dest string) (err error) {
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("index: backup destination %s: %w", dest, ErrExists)
	}
	if err := os.MkdirAll(filepath.Join(dest, "index"), 0o755); err != nil {
		return fmt.Errorf("index: backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dest)
		}
	}()
	// Graphs first: anything written after them is in the checkpoint and
	// is replayed at open; the reverse order could leave a graph holding a
	// vector the checkpoint has not.
	for _, c := range kb.list() {
		if err := c.snapshot(filepath.Join(dest, "index"), true); err != nil {
			return fmt.Errorf("index: backup: %w", err)
		}
	}
	if err := kb.st.Checkpoint(ctx, filepath.Join(dest, "store")); err != nil {
		return fmt.Errorf("index: backup: %w", err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("index: encoding a record: %v", err)) // our own types always encode
	}
	return b
}
