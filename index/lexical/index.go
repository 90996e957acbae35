package lexical

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Params are BM25's two constants. The zero Params means the defaults.
type Params struct {
	// K1 is how fast repeating a term stops adding score (default 1.2, at
	// most 100).
	K1 float64
	// B is how much a long document is penalised, from 0 (not at all) to 1
	// (default 0.75).
	B float64
}

// Hit is one search result.
type Hit struct {
	// ID is the id the document was added under.
	ID uint64
	// Score is its BM25 score for the query: comparable within one search,
	// and between indexes holding the same documents with the same Params.
	Score float32
}

const (
	// deadBit in a document's length marks a tombstone. It sits where the
	// scorer already reads, so skipping dead postings costs no extra load.
	deadBit = 1 << 31
	noOrd   = ^uint32(0)
	// smallPostings: lists shorter than this many bytes (nearly all terms:
	// identifiers and rare words) share arena blocks after a compaction or a
	// Load instead of costing an allocation each.
	smallPostings = 64
	arenaBlock    = 1 << 20
)

// term is one term's postings: for each document containing it, in
// ordinal order, uvarint(gap<<1 | tf==1) and, when tf > 1, uvarint(tf).
// gap is the ordinal minus the previous one (the first ordinal itself).
type term struct {
	post []byte
	n    uint32 // postings, tombstones included
	last uint32 // ordinal of the last posting
}

// Index is a BM25 index over documents with uint64 ids. It is safe for
// concurrent use; see the package documentation for what waits for what.
type Index struct {
	k1, b float64

	// wmu serialises writers. mu guards the fields below against them:
	// writers hold both while they change anything, searches hold mu's read
	// lock, and a compaction holds wmu alone while it works.
	wmu   sync.Mutex
	mu    sync.RWMutex
	dict  map[string]uint32 // term → index in terms
	terms []term
	ids   []uint64          // ordinal → id
	lens  []uint32          // ordinal → document length in terms, | deadBit
	ords  map[uint64]uint32 // live id → ordinal
	total uint64            // sum of the live lengths
	dead  int               // tombstoned ordinals
	gen   uint64            // compactions so far: term ids change at each

	scratch sync.Pool // *searchScratch
}

// maxK1 bounds K1. Usual values are 0.5 to 3; far above, BM25 is plain
// tf·idf, and a huge K1 would overflow the float32 scores to NaN.
const maxK1 = 100

// New returns an empty index. It panics if p is not valid BM25: K1 within
// [0, 100], B within [0, 1].
func New(p Params) *Index {
	if p == (Params{}) {
		p = Params{K1: 1.2, B: 0.75}
	}
	if err := p.check(); err != nil {
		panic("lexical: " + err.Error())
	}
	return &Index{k1: p.K1, b: p.B, dict: map[string]uint32{}, ords: map[uint64]uint32{}}
}

func (p Params) check() error {
	if !(p.K1 >= 0 && p.K1 <= maxK1) || !(p.B >= 0 && p.B <= 1) {
		return fmt.Errorf("invalid BM25 params K1=%v B=%v", p.K1, p.B)
	}
	return nil
}

// Params returns the index's BM25 constants.
func (x *Index) Params() Params { return Params{K1: x.k1, B: x.b} }

// Contains reports whether id is indexed.
func (x *Index) Contains(id uint64) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.ords[id]
	return ok
}

// AppendIDs appends every indexed id, in no particular order: the
// knowledge base reconciles a loaded snapshot with its store through it.
func (x *Index) AppendIDs(dst []uint64) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	dst = slices.Grow(dst, len(x.ords))
	for id := range x.ords {
		dst = append(dst, id)
	}
	return dst
}

// DocFreq returns the number of live documents that hold term, spelled as
// Analyze spells it (0 for a term never indexed).
func (x *Index) DocFreq(term string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	tid, ok := x.dict[term]
	if !ok {
		return 0
	}
	t := &x.terms[tid]
	if x.dead > 0 {
		return int(x.liveDF(t.post))
	}
	return int(t.n)
}

// Len returns the number of documents indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.ords)
}

// docTerms is one analysed document: its distinct terms with their
// frequencies, and its length.
type docTerms struct {
	an    analyzer
	arena []byte
	seen  map[string]int32 // term (a view into arena) → index in uniq
	uniq  []termFreq
	tids  []uint32 // uniq's term ids, noOrd where not (yet) known
	dl    uint32
}

type termFreq struct {
	term string
	tf   uint32
}

// testHookAdd, when set by a test, runs between an Add's lookups and its
// write lock: where a compaction can renumber the terms it looked up.
var testHookAdd func()

var docPool = sync.Pool{New: func() any { return &docTerms{seen: map[string]int32{}} }}

func (d *docTerms) add(t []byte) {
	if d.dl >= maxDocTerms {
		return
	}
	d.dl++
	if i, ok := d.seen[string(t)]; ok {
		d.uniq[i].tf++
		return
	}
	off := len(d.arena)
	d.arena = append(d.arena, t...)
	// A view, not a copy: arena bytes are only appended to until the next
	// document resets both arena and seen, and a grown arena leaves the old
	// bytes in place for the views that point there. Add clones a term
	// before the dictionary keeps it.
	key := unsafe.String(&d.arena[off], len(t))
	d.seen[key] = int32(len(d.uniq))
	d.uniq = append(d.uniq, termFreq{key, 1})
}

func analyzeDoc(text string) *docTerms {
	d := docPool.Get().(*docTerms)
	d.arena, d.uniq, d.dl = d.arena[:0], d.uniq[:0], 0
	clear(d.seen)
	d.an.run(text, d.add)
	return d
}

func (d *docTerms) release() {
	// One huge document must not pin its buffers in the pool for good.
	if cap(d.arena) > 1<<20 || len(d.seen) > 1<<14 {
		return
	}
	docPool.Put(d)
}

// Add indexes text under id, replacing what id had before. The text is
// analysed before any lock is taken, and known terms are looked up under
// the read lock, so Adds overlap each other and searches, which wait only
// while new terms and postings are appended.
func (x *Index) Add(id uint64, text string) {
	d := analyzeDoc(text)
	defer d.release()
	// The lookups are most of an Add's dictionary work (cache misses in a
	// large map); the ids they find stay valid until a compaction, which
	// gen tells.
	x.mu.RLock()
	gen := x.gen
	d.tids = d.tids[:0]
	for _, tf := range d.uniq {
		tid, ok := x.dict[tf.term]
		if !ok {
			tid = noOrd
		}
		d.tids = append(d.tids, tid)
	}
	x.mu.RUnlock()
	if testHookAdd != nil {
		testHookAdd()
	}
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if len(x.ids) >= math.MaxUint32-1 {
		x.compact()
	}
	x.mu.Lock()
	if x.gen != gen {
		for i := range d.tids {
			d.tids[i] = noOrd
		}
	}
	if o, ok := x.ords[id]; ok {
		x.kill(o)
	}
	o := uint32(len(x.ids))
	x.ids = append(x.ids, id)
	x.lens = append(x.lens, d.dl)
	x.ords[id] = o
	x.total += uint64(d.dl)
	for i, tf := range d.uniq {
		tid := d.tids[i]
		if tid == noOrd {
			var ok bool
			if tid, ok = x.dict[tf.term]; !ok {
				tid = uint32(len(x.terms))
				x.dict[strings.Clone(tf.term)] = tid
				x.terms = append(x.terms, term{})
			}
		}
		t := &x.terms[tid]
		t.post = appendPosting(t.post, o-t.last, tf.tf)
		t.last = o
		t.n++
	}
	x.mu.Unlock()
	x.maybeCompact()
}

// Delete removes id and reports whether it was indexed.
func (x *Index) Delete(id uint64) bool {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.mu.Lock()
	o, ok := x.ords[id]
	if ok {
		x.kill(o)
		delete(x.ords, id)
	}
	x.mu.Unlock()
	x.maybeCompact()
	return ok
}

// kill tombstones ordinal o; the caller updates ords.
func (x *Index) kill(o uint32) {
	x.total -= uint64(x.lens[o])
	x.lens[o] |= deadBit
	x.dead++
}

// maybeCompact compacts once a quarter of the ordinals are tombstones: the
// cost, one pass over all postings, is then spread over at least a quarter
// of the index's worth of deletes, and searches never walk more than a
// third more postings than a fresh index would. Called with wmu held.
func (x *Index) maybeCompact() {
	if x.dead > 0 && x.dead*4 >= len(x.ids) {
		x.compact()
	}
}

// Compact removes every tombstone now: postings of deleted documents, terms
// no live document has, and the gaps in the ordinals. Writes call it
// themselves when tombstones pile up (that write then takes as long as the
// compaction, and other writes wait for it; searches do not); a caller may
// also call it at a quiet moment, or before WriteTo for a smaller snapshot.
func (x *Index) Compact() {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if x.dead > 0 {
		x.compact()
	}
}

// compact rebuilds the index without its tombstones. It runs with wmu held
// and mu free: no writer can change what it reads, searches read the same
// structures alongside it, and it takes mu only to swap in what it built.
func (x *Index) compact() {
	remap := make([]uint32, len(x.ids))
	live := len(x.ids) - x.dead
	ids := make([]uint64, 0, live)
	lens := make([]uint32, 0, live)
	for o, l := range x.lens {
		if l&deadBit != 0 {
			remap[o] = noOrd
			continue
		}
		remap[o] = uint32(len(ids))
		ids = append(ids, x.ids[o])
		lens = append(lens, l)
	}
	terms := make([]term, 0, len(x.terms))
	newTID := make([]uint32, len(x.terms))
	var buf []byte
	var pk packer
	for tid := range x.terms {
		p := x.terms[tid].post
		buf = buf[:0]
		var nt term
		var doc uint32
		for i := 0; i < len(p); {
			var gap, tf uint32
			gap, tf, i = nextPosting(p, i)
			doc += gap
			if nd := remap[doc]; nd != noOrd {
				buf = appendPosting(buf, nd-nt.last, tf)
				nt.last = nd
				nt.n++
			}
		}
		if nt.n == 0 {
			newTID[tid] = noOrd
			continue
		}
		nt.post = pk.copy(buf)
		newTID[tid] = uint32(len(terms))
		terms = append(terms, nt)
	}
	dict := make(map[string]uint32, len(terms))
	for s, tid := range x.dict {
		if n := newTID[tid]; n != noOrd {
			dict[s] = n
		}
	}
	ords := make(map[uint64]uint32, len(ids))
	for o, id := range ids {
		ords[id] = uint32(o)
	}
	x.mu.Lock()
	x.ids, x.lens, x.terms, x.dict, x.ords, x.dead = ids, lens, terms, dict, ords, 0
	x.gen++
	x.mu.Unlock()
}

// packer hands out exact-capacity copies of posting lists: small ones from
// shared blocks, large ones as allocations of their own. Exact capacity
// makes a later append reallocate rather than overwrite a neighbour.
type packer struct{ block []byte }

func (p *packer) copy(b []byte) []byte {
	n := len(b)
	if n >= smallPostings {
		return append(make([]byte, 0, n), b...)
	}
	if cap(p.block)-len(p.block) < n {
		p.block = make([]byte, 0, arenaBlock)
	}
	off := len(p.block)
	p.block = append(p.block, b...)
	return p.block[off : off+n : off+n]
}

// appendPosting appends one posting; see term.
func appendPosting(b []byte, gap, tf uint32) []byte {
	if tf == 1 {
		return appendUvarint(b, uint64(gap)<<1|1)
	}
	return appendUvarint(appendUvarint(b, uint64(gap)<<1), uint64(tf))
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// uvarintTail finishes a uvarint whose first byte, v, had its high bit set.
// Postings in memory are well formed (Load checks a snapshot's), so there
// are no bounds or overflow checks beyond Go's own.
// nextPosting decodes the posting at p[i] (see term): the ordinal gap, the
// term frequency, and where the next posting starts. scoreTerm, the one hot
// loop over postings, spells the same decoding out inline.
func nextPosting(p []byte, i int) (gap, tf uint32, next int) {
	v := uint64(p[i])
	i++
	if v >= 0x80 {
		v, i = uvarintTail(p, i, v)
	}
	tf = 1
	if v&1 == 0 {
		t := uint64(p[i])
		i++
		if t >= 0x80 {
			t, i = uvarintTail(p, i, t)
		}
		tf = uint32(t)
	}
	return uint32(v >> 1), tf, i
}

func uvarintTail(b []byte, i int, v uint64) (uint64, int) {
	v &= 0x7f
	for shift := uint(7); ; shift += 7 {
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i
		}
	}
}

// searchScratch is one search's working memory, reused through the index's
// pool: acc holds a score per ordinal and is all zeros between searches
// (the selection loop clears what scoring touched).
type searchScratch struct {
	an      analyzer
	acc     []float32
	touched []uint32
	q       []qterm
	heap    []Hit
}

type qterm struct {
	tid uint32
	pos int32 // first position in the query
	qtf int32 // occurrences in the query
}

// Search returns the k best documents for query by BM25, best first, equal
// scores by ascending id. It is exhaustive: every document holding any of
// the query's terms is scored, so k hits come back whenever k such
// documents pass filter. filter (nil: accept all) is called with the index
// read-locked, only for documents good enough to enter the top k; it must
// not call the index.
func (x *Index) Search(query string, k int, filter func(id uint64) bool) []Hit {
	return x.search(query, nil, k, filter)
}

// SearchTerms is Search for a query given as terms, as Analyze spells
// them, each matched exactly: a search for the whole identifier
// "ord-2024-00817" alone, without the parts Analyze would add.
func (x *Index) SearchTerms(terms []string, k int, filter func(id uint64) bool) []Hit {
	if len(terms) == 0 {
		return nil
	}
	return x.search("", terms, k, filter)
}

func (x *Index) search(query string, terms []string, k int, filter func(id uint64) bool) []Hit {
	if k <= 0 {
		return nil
	}
	s, _ := x.scratch.Get().(*searchScratch)
	if s == nil {
		s = &searchScratch{}
	}
	done := false
	defer func() {
		// A panicking filter leaves acc dirty: drop the scratch then.
		if done {
			x.scratch.Put(s)
		}
	}()

	x.mu.RLock()
	defer x.mu.RUnlock()
	n := len(x.ords)
	if n == 0 {
		done = true
		return nil
	}
	s.q = s.q[:0]
	pos := int32(0)
	add := func(t []byte) {
		if tid, ok := x.dict[string(t)]; ok {
			s.q = append(s.q, qterm{tid: tid, pos: pos, qtf: 1})
		}
		pos++
	}
	if terms != nil {
		for _, t := range terms {
			add([]byte(t))
		}
	} else {
		s.an.run(query, add)
	}
	s.q = dedupQuery(s.q)

	if len(s.acc) < len(x.ids) {
		s.acc = make([]float32, len(x.ids)+len(x.ids)/4)
	}
	acc, touched := s.acc[:len(x.ids)], s.touched[:0]
	avgdl := float64(x.total) / float64(n)
	c0 := float32(x.k1 * (1 - x.b))
	c1 := float32(x.k1 * x.b / avgdl)
	for _, q := range s.q {
		t := &x.terms[q.tid]
		df := t.n
		if x.dead > 0 {
			df = x.liveDF(t.post)
		}
		if df == 0 {
			continue
		}
		// Lucene's IDF, positive however common the term: a document with
		// any query term scores above zero, so acc == 0 means "untouched".
		idf := math.Log1p((float64(n) - float64(df) + 0.5) / (float64(df) + 0.5))
		w := float32(idf * (x.k1 + 1) * float64(q.qtf))
		touched = scoreTerm(t.post, x.lens, acc, touched, w, c0, c1)
	}

	h := s.heap[:0]
	for _, o := range touched {
		sc := acc[o]
		acc[o] = 0
		if len(h) == k {
			if sc < h[0].Score {
				continue
			}
			if id := x.ids[o]; sc == h[0].Score && id > h[0].ID {
				continue
			}
		}
		id := x.ids[o]
		if filter != nil && !filter(id) {
			continue
		}
		if len(h) < k {
			h = heapPush(h, Hit{id, sc})
		} else {
			h[0] = Hit{id, sc}
			heapDown(h, 0)
		}
	}
	var out []Hit
	if len(h) > 0 {
		out = make([]Hit, len(h))
	}
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = h[0]
		h[0] = h[len(h)-1]
		h = h[:len(h)-1]
		heapDown(h, 0)
	}
	s.touched, s.heap = touched[:0], h[:0]
	done = true
	return out
}

// dedupQuery merges repeated query terms into one with a count, keeping
// first-appearance order: a document's score is then summed in an order
// that depends on the query alone, not on term ids, so two indexes holding
// the same documents give bit-identical scores.
func dedupQuery(q []qterm) []qterm {
	if len(q) < 2 {
		return q
	}
	slices.SortFunc(q, func(a, b qterm) int {
		if a.tid != b.tid {
			return int(int64(a.tid) - int64(b.tid))
		}
		return int(a.pos - b.pos)
	})
	w := 0
	for _, t := range q {
		if w > 0 && q[w-1].tid == t.tid {
			q[w-1].qtf++
			continue
		}
		q[w] = t
		w++
	}
	q = q[:w]
	slices.SortFunc(q, func(a, b qterm) int { return int(a.pos - b.pos) })
	return q
}

// liveDF counts a term's postings in live documents, so that IDF is exact
// while tombstones wait for compaction.
func (x *Index) liveDF(p []byte) uint32 {
	var doc, df uint32
	for i := 0; i < len(p); {
		var gap uint32
		gap, _, i = nextPosting(p, i)
		doc += gap
		if x.lens[doc]&deadBit == 0 {
			df++
		}
	}
	return df
}

// scoreTerm adds one term's BM25 contribution to every live document in its
// postings: w·tf / (tf + c0 + c1·dl), with w = IDF·(k1+1)·qtf,
// c0 = k1·(1−b) and c1 = k1·b/avgdl. It allocates nothing but touched's
// growth, which the pool keeps.
func scoreTerm(p []byte, lens []uint32, acc []float32, touched []uint32, w, c0, c1 float32) []uint32 {
	var doc uint32
	for i := 0; i < len(p); {
		v := uint64(p[i])
		i++
		if v >= 0x80 {
			v, i = uvarintTail(p, i, v)
		}
		doc += uint32(v >> 1)
		tf := float32(1)
		if v&1 == 0 {
			t := uint64(p[i])
			i++
			if t >= 0x80 {
				t, i = uvarintTail(p, i, t)
			}
			tf = float32(t)
		}
		dl := lens[doc]
		if dl&deadBit != 0 {
			continue
		}
		a := acc[doc]
		if a == 0 {
			touched = append(touched, doc)
		}
		acc[doc] = a + w*tf/(tf+c0+c1*float32(dl))
	}
	return touched
}

// worse orders the heap: its root is the worst hit kept so far.
func worse(a, b Hit) bool {
	return a.Score < b.Score || a.Score == b.Score && a.ID > b.ID
}

func heapPush(h []Hit, e Hit) []Hit {
	h = append(h, e)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !worse(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapDown(h []Hit, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && worse(h[r], h[l]) {
			m = r
		}
		if !worse(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
