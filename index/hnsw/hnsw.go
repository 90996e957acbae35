package hnsw

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Metric selects how distances are measured. Every metric is turned into a
// distance where smaller means closer, so one search loop serves all three.
type Metric uint8

const (
	// Cosine distance, 1 - cos(a, b), in [0, 2]. Vectors are normalised when
	// added and queries when searched, so the kernel is a plain dot product.
	Cosine Metric = iota
	// Dot is the negated inner product, for embeddings trained for maximum
	// inner-product search; it is not a metric, and recall is usually lower.
	Dot
	// L2 is the squared Euclidean distance: squaring preserves the order and
	// saves a square root per comparison.
	L2
)

// String names the metric as configuration files and benchmark output spell it.
func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case Dot:
		return "dot"
	case L2:
		return "l2"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// Defaults applied by New to zero Config fields, chosen on 100,000
// normalised 384-dimension vectors (see cmd/hnswbench). M=16 with
// efConstruction=200 (hnswlib's usual setting) needs the fewest distance
// evaluations per query at recall 0.95 to 0.98 but reaches only 0.896 at
// ef=10 (as hnswlib did in the issue); M=24 with efConstruction=128 reaches
// 0.916 there and 0.9995 at ef=40 (medians, BENCHMARK.md) and builds in
// about the same CPU time. EfSearch=64 favours recall: the knowledge base
// cannot cite what it did not retrieve.
const (
	DefaultM              = 24
	DefaultEfConstruction = 128
	DefaultEfSearch       = 64
)

// Limits that keep a snapshot header (or a careless config) from asking for
// absurd allocations; real embeddings are far below them.
const (
	maxDim      = 1 << 16
	maxM        = 256
	maxLevelCap = 31
	maxNodes    = 1<<31 - 1
)

// Config describes an index. Dim is required; zero values elsewhere pick
// the defaults above.
type Config struct {
	// Dim is the number of components of every vector.
	Dim int
	// Metric is the distance; the zero value is Cosine.
	Metric Metric
	// M is the number of links a node gets on insertion at every level;
	// level 0 keeps up to 2*M, as the paper recommends.
	M int
	// EfConstruction is the candidate-list width used while inserting:
	// higher builds a better graph, more slowly.
	EfConstruction int
	// EfSearch is used when Search is called with ef <= 0.
	EfSearch int
	// Quantize stores vectors as int8 codes with one scale per vector: 4x
	// less vector memory, approximate distances during traversal. The final
	// candidates are re-ranked exactly when Source is set.
	Quantize bool
	// Source returns the original vector for a key, for exact re-ranking of a
	// quantised index (the knowledge base reads it from its store). Ignored
	// when Quantize is false.
	Source VectorSource
	// Seed makes level assignment reproducible; zero picks a random seed.
	Seed uint64
}

// VectorSource writes the stored vector for key into dst (len(dst) == Dim)
// and reports whether it knew the key. It may be called from many searches
// at once.
type VectorSource func(key uint64, dst []float32) bool

// Result is one search hit.
type Result struct {
	// Key is the caller's id for the vector.
	Key uint64
	// Distance is in the index's metric: smaller is closer.
	Distance float32
}

// Errors returned by the index. Snapshot errors wrap ErrCorrupt or
// ErrVersion; either means "rebuild from the store of record".
var (
	ErrDimension     = errors.New("hnsw: vector length does not match the index dimension")
	ErrInvalidVector = errors.New("hnsw: vector contains NaN or Inf")
	ErrConfig        = errors.New("hnsw: invalid config")
	ErrFull          = errors.New("hnsw: index is full")
	ErrCorrupt       = errors.New("hnsw: snapshot is corrupt")
	ErrVersion       = errors.New("hnsw: unsupported snapshot version")
)

// Node states, kept in the low byte of a node's meta word; the level sits in
// the next byte. One atomic word lets a reader learn both at once.
const (
	stateUnused  = 0
	stateLive    = 1
	stateFree    = 2 // unlinked from the graph; the slot awaits reuse
	stateDeleted = 3 // a tombstone: still in the graph, never in results
)

const (
	noNode  = ^uint32(0)
	noEntry = ^uint64(0)
	// lockStripes spreads per-node write locks over a fixed array: a mutex per
	// node would cost 8 bytes each, and inserters rarely touch the same stripe.
	lockStripes = 1024
)

// block is one slab of nodes. Blocks never move once created, so a reader
// holding a node id can reach its data without a lock; only the directory
// of blocks is replaced (atomically) when the index grows.
type block struct {
	vecs  []float32 // dim per node, unquantised
	codes []int8    // dim per node, quantised
	qp    []float32 // 2 per node, quantised: scale and squared norm
	links []uint32  // level-0 lists: count, then up to m0 ids; atomic access
	upOff []uint32  // where the node's lists above level 0 start in the upper arena
	keys  []uint64
	meta  []uint32 // state | level<<8; atomic access
}

// Index is an HNSW graph over float32 vectors keyed by uint64.
type Index struct {
	cfg      Config
	dim      int
	m, m0    int // link caps above level 0 and at level 0
	s0, s1   int // list strides: count + ids
	vecLines int // cache lines per stored vector, for prefetching
	efC      int
	efSearch int
	mult     float64
	quant    bool
	// exactBelow is the scan threshold (see the constant); tests lower it to
	// exercise the graph on small data.
	exactBelow int

	// Block geometry: the first blocks double from 16 nodes up to 1<<shift,
	// so a tiny collection costs kilobytes, and a large one wastes at most
	// one block.
	shift     uint32
	geoBlocks uint32

	// addMu lets many inserters in (read side) and keeps WriteTo (write side)
	// from seeing a half-linked node. mu lets searches and new-key inserts run
	// together (read side) and gives Delete, key replacement and slot reuse
	// exclusivity (write side). Order: addMu before mu before allocMu.
	addMu sync.RWMutex
	mu    sync.RWMutex
	// allocMu guards keys, free, dead, rng and block growth.
	allocMu sync.Mutex
	// epMu serialises inserts that raise the top level, the one place where
	// two inserters would otherwise race to replace the entry point.
	epMu  sync.Mutex
	locks [lockStripes]sync.Mutex

	dir    atomic.Pointer[[]*block]
	upper  atomic.Pointer[[][]uint32] // arena chunks for lists above level 0
	upNext uint32                     // next free arena offset; allocMu
	next   atomic.Uint32              // ids handed out so far
	live   atomic.Int64
	entry  atomic.Uint64 // level<<32 | id, or noEntry

	keys   map[uint64]uint32
	free   []uint32 // slots ready for reuse
	dead   []uint32 // tombstones awaiting consolidate
	rng    *rand.Rand
	source atomic.Pointer[VectorSource]
	// saving counts snapshots being written. While it is non-zero Add takes
	// fresh ids instead of freed slots: a snapshot reads the keys and vectors
	// of existing slots without a lock, and reuse is the only thing that
	// rewrites them.
	saving atomic.Int32

	pool sync.Pool
}

// New returns an empty index.
func New(cfg Config) (*Index, error) {
	if cfg.Dim <= 0 || cfg.Dim > maxDim {
		return nil, fmt.Errorf("%w: Dim %d not in [1, %d]", ErrConfig, cfg.Dim, maxDim)
	}
	if cfg.Metric > L2 {
		return nil, fmt.Errorf("%w: unknown metric %d", ErrConfig, cfg.Metric)
	}
	if cfg.M == 0 {
		cfg.M = DefaultM
	}
	if cfg.M < 2 || cfg.M > maxM {
		return nil, fmt.Errorf("%w: M %d not in [2, %d]", ErrConfig, cfg.M, maxM)
	}
	if cfg.EfConstruction <= 0 {
		cfg.EfConstruction = DefaultEfConstruction
	}
	if cfg.EfConstruction < cfg.M {
		cfg.EfConstruction = cfg.M
	}
	if cfg.EfSearch <= 0 {
		cfg.EfSearch = DefaultEfSearch
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1
	}
	return newIndex(cfg), nil
}

func newIndex(cfg Config) *Index {
	x := &Index{
		cfg:        cfg,
		dim:        cfg.Dim,
		m:          cfg.M,
		m0:         2 * cfg.M,
		efC:        cfg.EfConstruction,
		efSearch:   cfg.EfSearch,
		mult:       1 / math.Log(float64(cfg.M)),
		quant:      cfg.Quantize,
		exactBelow: exactBelow,
		keys:       make(map[uint64]uint32),
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	x.s0 = x.m0 + 1
	if cfg.Quantize {
		x.vecLines = (cfg.Dim + 63) / 64
	} else {
		x.vecLines = (cfg.Dim*4 + 63) / 64
	}
	x.s1 = x.m + 1
	// Aim for up to 8 MiB of vectors per full block: a block must span
	// whole 2 MiB huge pages to get any (see adviseHugePages), and one of
	// this size always spans at least two; the last block's slack is a few
	// percent of a large index. Small indexes never reach full blocks.
	shift := uint32(4)
	for shift < 16 && (uint64(1)<<(shift+1))*uint64(cfg.Dim)*4 <= 8<<20 {
		shift++
	}
	x.shift = shift
	x.geoBlocks = shift - 3
	empty := []*block{}
	x.dir.Store(&empty)
	noChunks := [][]uint32{}
	x.upper.Store(&noChunks)
	x.entry.Store(noEntry)
	if cfg.Source != nil {
		src := cfg.Source
		x.source.Store(&src)
	}
	x.cfg.Source = nil
	x.pool.New = func() any { return x.newSearcher() }
	return x
}

// Config returns the configuration in effect, defaults filled in.
func (x *Index) Config() Config {
	c := x.cfg
	if p := x.source.Load(); p != nil {
		c.Source = *p
	}
	return c
}

// SetSource sets where a quantised index fetches exact vectors for
// re-ranking; a loaded snapshot cannot carry a function, so the caller sets
// it again after Load.
func (x *Index) SetSource(src VectorSource) {
	if src == nil {
		x.source.Store(nil)
		return
	}
	x.source.Store(&src)
}

// Len returns the number of live vectors.
func (x *Index) Len() int { return int(x.live.Load()) }

// Contains reports whether key is in the index.
func (x *Index) Contains(key uint64) bool {
	x.allocMu.Lock()
	_, ok := x.keys[key]
	x.allocMu.Unlock()
	return ok
}

// --- node storage -------------------------------------------------------

// loc maps a node id to its block and offset in that block.
func (x *Index) loc(id uint32) (b, off uint32) {
	if id < 1<<x.shift {
		if id < 16 {
			return 0, id
		}
		b = uint32(bits.Len32(id)) - 4
		return b, id - 1<<(b+3)
	}
	return x.geoBlocks - 1 + id>>x.shift, id & (1<<x.shift - 1)
}

// blockCap is the number of nodes block b holds.
func (x *Index) blockCap(b uint32) int {
	switch {
	case b == 0:
		return 16
	case b < x.geoBlocks:
		return 1 << (b + 3)
	}
	return 1 << x.shift
}

func (x *Index) newBlock(b uint32) *block {
	n := x.blockCap(b)
	blk := &block{
		links: make([]uint32, n*x.s0), // advised below
		upOff: make([]uint32, n),
		keys:  make([]uint64, n),
		meta:  make([]uint32, n),
	}
	adviseHugePages(blk.links)
	if x.quant {
		blk.codes = make([]int8, n*x.dim)
		adviseHugePages(blk.codes)
		blk.qp = make([]float32, 2*n)
	} else {
		blk.vecs = x.newVecs(b)
	}
	return blk
}

// newVecs allocates the vector slab of block b.
func (x *Index) newVecs(b uint32) []float32 {
	v := make([]float32, x.blockCap(b)*x.dim)
	adviseHugePages(v)
	return v
}

// node returns the block and offset of id.
func (x *Index) node(id uint32) (*block, uint32) {
	b, off := x.loc(id)
	return (*x.dir.Load())[b], off
}

// allocID hands out the next fresh id, growing the directory when the id
// starts a new block. Called with allocMu held.
func (x *Index) allocID() (uint32, error) {
	id := x.next.Load()
	if id >= maxNodes {
		return 0, ErrFull
	}
	b, _ := x.loc(id)
	dir := *x.dir.Load()
	if int(b) >= len(dir) {
		nd := make([]*block, len(dir)+1, len(dir)+1)
		copy(nd, dir)
		nd[b] = x.newBlock(b)
		x.dir.Store(&nd)
	}
	x.next.Store(id + 1)
	return id, nil
}

func (x *Index) meta(id uint32) uint32 {
	blk, off := x.node(id)
	return atomic.LoadUint32(&blk.meta[off])
}

func (x *Index) isLive(id uint32) bool { return x.meta(id)&0xff == stateLive }

func (x *Index) levelOf(id uint32) int { return int(x.meta(id) >> 8 & 0xff) }

func (x *Index) keyOf(id uint32) uint64 {
	blk, off := x.node(id)
	return blk.keys[off]
}

// linkSlot returns id's list at level l: element 0 is the count, then the
// ids. It returns nil when id has no such level, which happens when a stale
// link from before a slot was reused points at a node that is now lower.
func (x *Index) linkSlot(id uint32, l int) []uint32 {
	blk, off := x.node(id)
	if l == 0 {
		o := int(off) * x.s0
		return blk.links[o : o+x.s0 : o+x.s0]
	}
	if int(atomic.LoadUint32(&blk.meta[off])>>8) < l {
		return nil
	}
	o := blk.upOff[off] + uint32((l-1)*x.s1)
	c := (*x.upper.Load())[o>>upperShift]
	p := int(o & (upperChunk - 1))
	return c[p : p+x.s1 : p+x.s1]
}

// Lists above level 0 belong to about 1/M of the nodes, so they live in a
// shared arena of fixed chunks rather than in per-node slices: a block
// stores one uint32 offset per node instead of a 24-byte slice header. A
// node's lists are contiguous within one chunk; chunks never move, so
// readers need no lock.
const (
	upperShift = 16
	upperChunk = 1 << upperShift // uint32s per chunk; > maxLevelCap*(maxM+1)
)

// allocUpper reserves room for a node's lists on levels 1..level and
// returns its arena offset. Called with allocMu held, or during Load.
func (x *Index) allocUpper(level int) uint32 {
	n := uint32(level * x.s1)
	chunks := *x.upper.Load()
	if len(chunks) == 0 || x.upNext&(upperChunk-1)+n > upperChunk || x.upNext>>upperShift >= uint32(len(chunks)) {
		if len(chunks) > 0 {
			x.upNext = uint32(len(chunks)) << upperShift
		}
		nc := make([][]uint32, len(chunks)+1)
		copy(nc, chunks)
		nc[len(chunks)] = make([]uint32, upperChunk)
		x.upper.Store(&nc)
	}
	o := x.upNext
	x.upNext += n
	return o
}

// upperFor picks the arena room for id at a new level: a reused slot keeps
// its old room when that is big enough. Rooms given up are not recycled
// until the index is saved and loaded again, which writes them compactly.
// Called with allocMu held.
func (x *Index) upperFor(id uint32, level int) uint32 {
	if level == 0 {
		return noNode
	}
	blk, off := x.node(id)
	m := atomic.LoadUint32(&blk.meta[off])
	if m&0xff != stateUnused && int(m>>8) >= level {
		return blk.upOff[off]
	}
	return x.allocUpper(level)
}

// maxLinks is the cap of a list at level l.
func (x *Index) maxLinks(l int) int {
	if l == 0 {
		return x.m0
	}
	return x.m
}

// linkCount reads a list's count, clamped so that a count written for a
// longer list (never expected, but cheap to guard) cannot index past it.
func linkCount(ls []uint32) int {
	c := int(atomic.LoadUint32(&ls[0]))
	if c > len(ls)-1 {
		c = len(ls) - 1
	}
	return c
}

// writeLinks replaces a list. Ids go first and the count last, so a reader
// racing with the write sees either list's ids, all valid nodes.
func writeLinks(ls []uint32, items []item) {
	for i, it := range items {
		atomic.StoreUint32(&ls[1+i], it.id)
	}
	atomic.StoreUint32(&ls[0], uint32(len(items)))
}

// setVector stores the prepared (normalised for cosine) vector of id.
func (x *Index) setVector(blk *block, off uint32, v []float32) {
	o := int(off) * x.dim
	if x.quant {
		blk.qp[2*off], blk.qp[2*off+1] = quantize(v, blk.codes[o:o+x.dim])
		return
	}
	copy(blk.vecs[o:o+x.dim], v)
}

// initNode writes everything a reader may look at before the node becomes
// visible: the meta word is stored last, atomically, and publishes the rest.
// up is the node's arena room from upperFor.
func (x *Index) initNode(id uint32, key uint64, level int, up uint32, v []float32) {
	blk, off := x.node(id)
	x.setVector(blk, off, v)
	blk.keys[off] = key
	atomic.StoreUint32(&blk.links[int(off)*x.s0], 0)
	blk.upOff[off] = up
	if level > 0 {
		c := (*x.upper.Load())[up>>upperShift]
		p := int(up & (upperChunk - 1))
		for l := 0; l < level; l++ {
			atomic.StoreUint32(&c[p+l*x.s1], 0)
		}
	}
	atomic.StoreUint32(&blk.meta[off], stateLive|uint32(level)<<8)
	x.live.Add(1)
}

// randomLevel draws the paper's exponentially decaying level,
// floor(-ln(U) * mL) with mL = 1/ln(M). Called with allocMu held.
func (x *Index) randomLevel() int {
	l := int(-math.Log(1-x.rng.Float64()) * x.mult)
	if l > maxLevelCap {
		l = maxLevelCap
	}
	return l
}

func packEntry(id uint32, level int) uint64 { return uint64(level)<<32 | uint64(id) }

// --- public operations --------------------------------------------------

// checkVector validates a caller's vector; NaN or Inf would poison every
// comparison that touches the node, so they are rejected up front.
func (x *Index) checkVector(v []float32) error {
	if len(v) != x.dim {
		return fmt.Errorf("%w: got %d, want %d", ErrDimension, len(v), x.dim)
	}
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return ErrInvalidVector
		}
	}
	return nil
}

// Add inserts vec under key, replacing any vector the key had. The index
// keeps its own copy of vec. Adds of new keys run concurrently with each
// other and with searches; replacing a key or reusing a deleted slot takes
// the index exclusively for the duration of that insert. While WriteTo is
// writing, Adds take fresh ids rather than freed slots.
func (x *Index) Add(key uint64, vec []float32) error {
	if err := x.checkVector(vec); err != nil {
		return err
	}
	sc := x.getSearcher()
	defer x.pool.Put(sc)
	x.prepare(sc, vec)

	x.addMu.RLock()
	defer x.addMu.RUnlock()

	// Fast path: a new key and no hole to fill (or none that may be filled
	// now). The id is reserved under allocMu; the graph work runs under the
	// shared lock only. x.saving cannot rise while addMu is read-locked
	// (takeCut raises it under the write lock), so reuse stays a safe answer
	// for the slow path below too.
	x.mu.RLock()
	x.allocMu.Lock()
	reuse := x.saving.Load() == 0
	if _, exists := x.keys[key]; !exists && (len(x.free) == 0 || !reuse) {
		id, err := x.allocID()
		if err != nil {
			x.allocMu.Unlock()
			x.mu.RUnlock()
			return err
		}
		x.keys[key] = id
		level := x.randomLevel()
		up := x.upperFor(id, level)
		x.allocMu.Unlock()
		x.initNode(id, key, level, up, sc.q)
		x.insert(sc, id, level)
		x.mu.RUnlock()
		return nil
	}
	x.allocMu.Unlock()
	x.mu.RUnlock()

	// Slow path: stale links may still lead searches to the slot being
	// rewritten, so nobody else may be reading it.
	x.mu.Lock()
	defer x.mu.Unlock()
	x.allocMu.Lock()
	defer x.allocMu.Unlock()
	if old, exists := x.keys[key]; exists {
		delete(x.keys, key)
		x.removeNode(sc, old)
	}
	var id uint32
	if n := len(x.free); n > 0 && reuse {
		id = x.free[n-1]
		x.free = x.free[:n-1]
	} else {
		var err error
		if id, err = x.allocID(); err != nil {
			return err
		}
	}
	x.keys[key] = id
	level := x.randomLevel()
	x.initNode(id, key, level, x.upperFor(id, level), sc.q)
	x.insert(sc, id, level)
	return nil
}

// AppendKeys appends every live key, in no particular order. The knowledge
// base reconciles a loaded snapshot with its store through it: a key the
// store no longer holds was deleted after the snapshot was written.
func (x *Index) AppendKeys(dst []uint64) []uint64 {
	x.allocMu.Lock()
	defer x.allocMu.Unlock()
	dst = slices.Grow(dst, len(x.keys))
	for k := range x.keys {
		dst = append(dst, k)
	}
	return dst
}

// Delete removes key and reports whether it was present. The key leaves
// search results at once; its node stays in the graph as a bridge until
// deletes reach 2% of the index, when one pass re-links every list that
// pointed at the deleted nodes and their slots become free for later Adds.
func (x *Index) Delete(key uint64) bool {
	sc := x.getSearcher()
	defer x.pool.Put(sc)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.allocMu.Lock()
	defer x.allocMu.Unlock()
	id, ok := x.keys[key]
	if !ok {
		return false
	}
	delete(x.keys, key)
	x.removeNode(sc, id)
	return true
}

// Search returns up to k nearest live vectors to q, closest first. ef is the
// candidate-list width (raised to k; <= 0 means Config.EfSearch): higher is
// more accurate and slower. filter, when not nil, is evaluated during the
// traversal and only keys it accepts are returned; very selective filters
// switch to an exact scan, so a filter that accepts few keys still gets its
// true nearest neighbours.
func (x *Index) Search(q []float32, k, ef int, filter func(key uint64) bool) ([]Result, error) {
	return x.AppendSearch(nil, q, k, ef, filter)
}

// AppendSearch is Search appending to dst, so that a caller that reuses its
// result slice makes searches allocation-free.
func (x *Index) AppendSearch(dst []Result, q []float32, k, ef int, filter func(key uint64) bool) ([]Result, error) {
	if err := x.checkVector(q); err != nil {
		return dst, err
	}
	if k <= 0 {
		return dst, nil
	}
	if ef <= 0 {
		ef = x.efSearch
	}
	if ef < k {
		ef = k
	}
	sc := x.getSearcher()
	defer x.pool.Put(sc)
	x.prepare(sc, q)

	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.search(sc, dst, k, ef, filter), nil
}
