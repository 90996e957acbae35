package hnsw

import (
	"math"
	"slices"
	"sync/atomic"
	"unsafe"
)

// prefetchAhead is how many distances ahead the search loop pulls a whole
// vector into cache. Measured on the 100k x 384 set, one search thread:
// first-lines prefetch of all neighbours alone gave about 9.1k q/s at
// ef=20; adding whole-vector prefetch two ahead and prefetching the list of
// each new candidate gave about 10.4k (medians of 15 interleaved runs).
const prefetchAhead = 2

// item is a node with its distance to whatever the current query is.
type item struct {
	d  float32
	id uint32
}

func cmpItem(a, b item) int {
	switch {
	case a.d < b.d:
		return -1
	case a.d > b.d:
		return 1
	}
	return int(a.id) - int(b.id)
}

// minHeap and maxHeap are hand-rolled because container/heap's interface
// calls cost more than the comparisons they order.
type minHeap []item

func (h *minHeap) push(it item) {
	s := append(*h, it)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].d <= it.d {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = it
	*h = s
}

func (h *minHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && s[c+1].d < s[c].d {
			c++
		}
		if last.d <= s[c].d {
			break
		}
		s[i] = s[c]
		i = c
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

type maxHeap []item

// replaceTop swaps the largest element for it and restores the order: the
// bounded top-k step of a scan.
func (h maxHeap) replaceTop(it item) {
	n := len(h)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].d > h[c].d {
			c++
		}
		if it.d >= h[c].d {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = it
}

func (h *maxHeap) push(it item) {
	s := append(*h, it)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].d >= it.d {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = it
	*h = s
}

func (h *maxHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && s[c+1].d > s[c].d {
			c++
		}
		if last.d >= s[c].d {
			break
		}
		s[i] = s[c]
		i = c
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

// searcher is the per-goroutine scratch of one search or insert, pooled so
// that steady-state searches allocate nothing.
type searcher struct {
	// marks holds, per node id, the epoch in which it was last visited; a new
	// search bumps the epoch instead of clearing the array.
	marks []uint16
	epoch uint16

	q   []float32 // the prepared query: normalised for cosine
	qn2 float32   // |q|^2, for quantised L2
	tmp []float32 // a dequantised node or a re-ranked exact vector

	cand minHeap
	res  maxHeap
	w    []item // a layer's result, ascending
	nb   []item // neighbour-list rebuilds
	ids  []uint32
	refs []ref
}

// ref is a located node: what the search loop needs to compute a distance
// and test the result filter without locating it again.
type ref struct {
	blk *block
	off uint32
	id  uint32
}

func (x *Index) newSearcher() any {
	return &searcher{
		q:   make([]float32, x.dim),
		tmp: make([]float32, x.dim),
	}
}

func (x *Index) getSearcher() *searcher { return x.pool.Get().(*searcher) }

// newEpoch starts a visited set for up to n nodes in O(1); the array is
// cleared only when the 16-bit epoch wraps, every 65535 searches.
func (sc *searcher) newEpoch(n uint32) {
	if int(n) > len(sc.marks) {
		sc.grow(n)
	}
	sc.epoch++
	if sc.epoch == 0 {
		clear(sc.marks)
		sc.epoch = 1
	}
}

func (sc *searcher) grow(n uint32) {
	c := int(n) + int(n)/4 + 64
	m := make([]uint16, c)
	copy(m, sc.marks)
	sc.marks = m
}

// visit marks id and reports whether it was already marked. Ids handed out
// after the search started (by a concurrent insert) grow the array.
func (sc *searcher) visit(id uint32) bool {
	if int(id) >= len(sc.marks) {
		sc.grow(id + 1)
	}
	if sc.marks[id] == sc.epoch {
		return true
	}
	sc.marks[id] = sc.epoch
	return false
}

// prepare copies a caller's vector into the searcher in the form distances
// are computed against.
func (x *Index) prepare(sc *searcher, v []float32) {
	copy(sc.q, v)
	if x.cfg.Metric == Cosine {
		normalize(sc.q)
	}
	sc.qn2 = 0
	if x.quant && x.cfg.Metric == L2 {
		sc.qn2 = dotKernel(sc.q, sc.q)
	}
}

// dist is the distance from a prepared query (q, qn2) to node id. For a
// quantised index it is the asymmetric distance: float query, int8 node.
func (x *Index) dist(q []float32, qn2 float32, id uint32) float32 {
	blk, off := x.node(id)
	return x.distAt(q, qn2, blk, off)
}

// distAt is dist for a node already located. q must hold x.dim elements,
// and off is inside blk by construction, so the kernels get raw pointers.
func (x *Index) distAt(q []float32, qn2 float32, blk *block, off uint32) float32 {
	qp := unsafe.Pointer(unsafe.SliceData(q))
	if x.quant {
		p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(blk.codes)), int(off)*x.dim)
		d := dotI8P(qp, p, x.dim) * blk.qp[2*off]
		switch x.cfg.Metric {
		case Cosine:
			return 1 - d
		case Dot:
			return -d
		}
		return qn2 - 2*d + blk.qp[2*off+1]
	}
	p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(blk.vecs)), int(off)*x.dim*4)
	switch x.cfg.Metric {
	case Cosine:
		return 1 - dotP(qp, p, x.dim)
	case Dot:
		return -dotP(qp, p, x.dim)
	}
	return l2P(qp, p, x.dim)
}

// vecAddr is where node off's stored vector starts, for prefetching.
func (x *Index) vecAddr(blk *block, off uint32) unsafe.Pointer {
	if x.quant {
		return unsafe.Add(unsafe.Pointer(unsafe.SliceData(blk.codes)), int(off)*x.dim)
	}
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(blk.vecs)), int(off)*x.dim*4)
}

// nodeQuery returns node id's vector as a query. Unquantised vectors are
// used in place; quantised ones are decoded into buf.
func (x *Index) nodeQuery(id uint32, buf []float32) ([]float32, float32) {
	blk, off := x.node(id)
	o := int(off) * x.dim
	if !x.quant {
		return blk.vecs[o : o+x.dim : o+x.dim], 0
	}
	s := blk.qp[2*off]
	for i, c := range blk.codes[o : o+x.dim] {
		buf[i] = float32(c) * s
	}
	return buf, blk.qp[2*off+1]
}

// greedy is SEARCH-LAYER with ef=1 (Algorithm 2 as used by Algorithm 5 above
// the insertion level): move to the closest neighbour until none is closer.
func (x *Index) greedy(sc *searcher, cur uint32, curD float32, l int) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		ls := x.linkSlot(cur, l)
		if ls == nil {
			break
		}
		n := linkCount(ls)
		// Same prefetching as searchLayer: all neighbours are evaluated, so
		// their vectors can all be requested before the first is used.
		refs := sc.refs[:0]
		for i := 1; i <= n; i++ {
			nb := atomic.LoadUint32(&ls[i])
			blk, off := x.node(nb)
			if int(atomic.LoadUint32(&blk.meta[off])>>8) < l {
				continue // a stale link to a reused slot that is now lower
			}
			prefetch(x.vecAddr(blk, off))
			refs = append(refs, ref{blk, off, nb})
		}
		sc.refs = refs
		for j, r := range refs {
			if j+prefetchAhead < len(refs) {
				r2 := refs[j+prefetchAhead]
				prefetchLines(x.vecAddr(r2.blk, r2.off), x.vecLines)
			}
			if d := x.distAt(sc.q, sc.qn2, r.blk, r.off); d < curD {
				cur, curD, changed = r.id, d, true
			}
		}
	}
	return cur, curD
}

// searchLayer is the paper's SEARCH-LAYER (Algorithm 2) at level l from one
// entry point, returning up to ef nodes ascending in sc.w. Every reachable
// node is traversed, but only live nodes accepted by filter enter the
// result, so deleted slots and filtered-out keys still act as bridges.
// budget, when positive, bounds the number of distance evaluations; ok is
// false when it ran out, i.e. the traversal was becoming a full scan.
func (x *Index) searchLayer(sc *searcher, ep uint32, epD float32, ef, l int, filter func(uint64) bool, budget int) (w []item, ok bool) {
	sc.newEpoch(x.next.Load())
	sc.visit(ep)
	sc.cand = sc.cand[:0]
	sc.res = sc.res[:0]
	sc.cand.push(item{epD, ep})
	if x.accept(ep, filter) {
		sc.res.push(item{epD, ep})
	}
	bound := float32(math.Inf(1))
	if len(sc.res) >= ef {
		bound = sc.res[0].d
	}
	evals := 0
	dir := *x.dir.Load()
	for len(sc.cand) > 0 {
		c := sc.cand.pop()
		if c.d > bound {
			break
		}
		ls := x.linkSlot(c.id, l)
		if ls == nil {
			continue
		}
		// Collect the unvisited neighbours first and prefetch the start of
		// their vectors, so that many cache misses are in flight at once
		// instead of one per distance: at 384 dimensions the search is bound
		// by memory latency, not by arithmetic.
		refs := sc.refs[:0]
		n := linkCount(ls)
		for i := 1; i <= n; i++ {
			nb := atomic.LoadUint32(&ls[i])
			if sc.visit(nb) {
				continue
			}
			b, off := x.loc(nb)
			if int(b) >= len(dir) {
				dir = *x.dir.Load() // a block added since the search began
			}
			blk := dir[b]
			if l > 0 && int(atomic.LoadUint32(&blk.meta[off])>>8) < l {
				continue // a stale link to a reused slot that is now lower
			}
			prefetch(x.vecAddr(blk, off))
			refs = append(refs, ref{blk, off, nb})
		}
		sc.refs = refs
		evals += len(refs)
		for j, r := range refs {
			if j+prefetchAhead < len(refs) {
				r2 := refs[j+prefetchAhead]
				prefetchLines(x.vecAddr(r2.blk, r2.off), x.vecLines)
			}
			d := x.distAt(sc.q, sc.qn2, r.blk, r.off)
			if d < bound || len(sc.res) < ef {
				sc.cand.push(item{d, r.id})
				// It may be expanded soon: start fetching its list.
				prefetch1(unsafe.Pointer(&r.blk.links[int(r.off)*x.s0]))
				if atomic.LoadUint32(&r.blk.meta[r.off])&0xff == stateLive && (filter == nil || filter(r.blk.keys[r.off])) {
					sc.res.push(item{d, r.id})
					if len(sc.res) > ef {
						sc.res.pop()
					}
					if len(sc.res) >= ef {
						bound = sc.res[0].d
					}
				}
			}
		}
		if budget > 0 && evals > budget {
			return nil, false
		}
	}
	sc.w = sc.w[:0]
	for len(sc.res) > 0 {
		sc.w = append(sc.w, sc.res.pop())
	}
	slices.Reverse(sc.w)
	return sc.w, true
}

// accept says whether a node may be returned: live, and passing the filter.
func (x *Index) accept(id uint32, filter func(uint64) bool) bool {
	blk, off := x.node(id)
	if atomic.LoadUint32(&blk.meta[off])&0xff != stateLive {
		return false
	}
	return filter == nil || filter(blk.keys[off])
}

// selectNeighbors is the paper's SELECT-NEIGHBORS-HEURISTIC (Algorithm 4)
// without the optional extension and pruned-link filling: walking the
// candidates closest first, keep one only if it is closer to the base than
// to every neighbour already kept. That keeps links pointing in different
// directions, which is what lets greedy search cross between clusters.
// cands must be ascending; the result reuses its storage. Like hnswlib, a
// list shorter than m is kept whole: there is nothing to prune for.
func (x *Index) selectNeighbors(sc *searcher, cands []item, m int) []item {
	if len(cands) < m {
		return cands
	}
	out := cands[:0]
	for i := 0; i < len(cands) && len(out) < m; i++ {
		c := cands[i]
		qv, qn2 := x.nodeQuery(c.id, sc.tmp)
		good := true
		for _, s := range out {
			if x.dist(qv, qn2, s.id) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

// insert links a node whose data initNode has written: Algorithm 1.
func (x *Index) insert(sc *searcher, id uint32, level int) {
	ep := x.entry.Load()
	raise := false
	if ep == noEntry || level > int(ep>>32) {
		// This node may become the entry point; hold epMu so that a
		// concurrent raise cannot be lost, and re-read under it.
		x.epMu.Lock()
		ep = x.entry.Load()
		if ep == noEntry || level > int(ep>>32) {
			raise = true
		} else {
			x.epMu.Unlock()
		}
	}
	if ep == noEntry {
		x.entry.Store(packEntry(id, level))
		x.epMu.Unlock()
		return
	}
	cur, top := uint32(ep), int(ep>>32)
	curD := x.dist(sc.q, sc.qn2, cur)
	for l := top; l > level; l-- {
		cur, curD = x.greedy(sc, cur, curD, l)
	}
	for l := min(top, level); l >= 0; l-- {
		w, _ := x.searchLayer(sc, cur, curD, x.efC, l, nil, 0)
		if len(w) == 0 {
			continue
		}
		cur, curD = w[0].id, w[0].d
		sel := x.selectNeighbors(sc, w, x.m)
		sc.ids = sc.ids[:0]
		for _, s := range sel {
			if s.id != id {
				sc.ids = append(sc.ids, s.id)
			}
		}
		x.setLinks(sc, id, l, sel)
		for _, nb := range sc.ids {
			x.addLink(sc, nb, l, id)
		}
	}
	if raise {
		x.entry.Store(packEntry(id, level))
		x.epMu.Unlock()
	}
}

// setLinks gives the new node id its list at level l. A concurrent inserter
// that found id early may already have linked to it, so existing entries
// are merged rather than overwritten.
func (x *Index) setLinks(sc *searcher, id uint32, l int, sel []item) {
	mu := &x.locks[id%lockStripes]
	mu.Lock()
	defer mu.Unlock()
	ls := x.linkSlot(id, l)
	if ls == nil {
		return
	}
	have := linkCount(ls)
	buf := sc.nb[:0]
	for _, s := range sel {
		if s.id != id {
			buf = append(buf, s)
		}
	}
	for i := 1; i <= have; i++ {
		o := ls[i]
		if o == id || containsID(buf, o) {
			continue
		}
		buf = append(buf, item{x.dist(sc.q, sc.qn2, o), o})
	}
	if max := x.maxLinks(l); len(buf) > max {
		slices.SortFunc(buf, cmpItem)
		buf = x.selectNeighbors(sc, buf, max)
	}
	writeLinks(ls, buf)
	sc.nb = buf[:0]
}

func containsID(items []item, id uint32) bool {
	for _, it := range items {
		if it.id == id {
			return true
		}
	}
	return false
}

// addLink adds the back link n -> id at level l, shrinking n's list with the
// heuristic when it is full (the paper's reverse-connection step).
func (x *Index) addLink(sc *searcher, n uint32, l int, id uint32) {
	mu := &x.locks[n%lockStripes]
	mu.Lock()
	defer mu.Unlock()
	ls := x.linkSlot(n, l)
	if ls == nil {
		return
	}
	have := linkCount(ls)
	for i := 1; i <= have; i++ {
		if ls[i] == id {
			return
		}
	}
	if have < x.maxLinks(l) {
		atomic.StoreUint32(&ls[1+have], id)
		atomic.StoreUint32(&ls[0], uint32(have+1))
		return
	}
	qv, qn2 := x.nodeQuery(n, sc.tmp)
	buf := append(sc.nb[:0], item{x.dist(qv, qn2, id), id})
	for i := 1; i <= have; i++ {
		o := ls[i]
		if o != n && x.isLive(o) {
			buf = append(buf, item{x.dist(qv, qn2, o), o})
		}
	}
	slices.SortFunc(buf, cmpItem)
	buf = x.selectNeighbors(sc, buf, x.maxLinks(l))
	writeLinks(ls, buf)
	sc.nb = buf[:0]
}

// removeNode turns id into a tombstone: it leaves the results at once but
// stays in the graph, links intact, as a bridge for searches. Tombstones
// are cleared in batches by consolidate. Repairing at every delete would
// miss the one-way links into the node (lists keep no back-pointers), and
// reusing its slot with those links still in place would leave edges to
// a stranger and strand nodes only it pointed to; measured on delete and
// re-insert cycles, recall fell from 1.00 to about 0.93 that way.
// Caller holds mu and allocMu exclusively.
func (x *Index) removeNode(sc *searcher, id uint32) {
	blk, off := x.node(id)
	m := atomic.LoadUint32(&blk.meta[off])
	atomic.StoreUint32(&blk.meta[off], stateDeleted|m&^0xff)
	x.dead = append(x.dead, id)
	x.live.Add(-1)
	if uint32(x.entry.Load()) == id {
		x.pickEntry()
	}
	if len(x.dead) >= max(minConsolidate, int(x.live.Load())/consolidateDiv) {
		x.consolidate(sc)
	}
}

// Tombstones are consolidated once they reach 1/consolidateDiv of the live
// nodes (at least minConsolidate), so the full pass over all lists costs
// each delete a small, bounded share.
const (
	minConsolidate = 32
	consolidateDiv = 50
)

// consolidate removes every tombstone from the graph in one pass over all
// lists (the batch delete of FreshDiskANN): a live node that links to
// tombstones replaces them with candidates from the tombstones' own links
// and keeps the heuristic's pick of those and its other links. Afterwards
// nothing live points at the old nodes, so their slots are free for reuse.
// Caller holds mu and allocMu exclusively.
func (x *Index) consolidate(sc *searcher) {
	if len(x.dead) == 0 {
		return
	}
	n := x.next.Load()
	dead := make([]uint64, (n+63)/64)
	for _, id := range x.dead {
		dead[id/64] |= 1 << (id % 64)
	}
	isDead := func(id uint32) bool { return dead[id/64]&(1<<(id%64)) != 0 }
	for id := uint32(0); id < n; id++ {
		blk, off := x.node(id)
		m := blk.meta[off]
		if m&0xff != stateLive {
			continue
		}
		for l := 0; l <= int(m>>8); l++ {
			ls := x.linkSlot(id, l)
			cnt := linkCount(ls)
			hit := false
			for _, nb := range ls[1 : 1+cnt] {
				if isDead(nb) {
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
			sc.newEpoch(n)
			sc.visit(id)
			qv, qn2 := x.nodeQuery(id, sc.tmp)
			buf := sc.nb[:0]
			add := func(o uint32) {
				if sc.visit(o) || isDead(o) || !x.isLive(o) {
					return
				}
				buf = append(buf, item{x.dist(qv, qn2, o), o})
			}
			for _, nb := range ls[1 : 1+cnt] {
				if !isDead(nb) {
					add(nb)
					continue
				}
				if dl := x.linkSlot(nb, l); dl != nil {
					for _, o := range dl[1 : 1+linkCount(dl)] {
						add(o)
					}
				}
			}
			slices.SortFunc(buf, cmpItem)
			buf = x.selectNeighbors(sc, buf, x.maxLinks(l))
			writeLinks(ls, buf)
			sc.nb = buf[:0]
		}
	}
	for _, id := range x.dead {
		blk, off := x.node(id)
		atomic.StoreUint32(&blk.meta[off], stateFree|blk.meta[off]&^0xff)
		x.free = append(x.free, id)
	}
	x.dead = x.dead[:0]
}

// pickEntry finds a new entry point after the old one was deleted: the live
// node with the highest level. A linear pass over the meta words is cheap
// next to the repair work of a delete, and it happens rarely.
func (x *Index) pickEntry() {
	best, bestLevel := noNode, -1
	n := x.next.Load()
	for id := uint32(0); id < n; id++ {
		m := x.meta(id)
		if m&0xff != stateLive {
			continue
		}
		if lv := int(m >> 8 & 0xff); lv > bestLevel {
			best, bestLevel = id, lv
		}
	}
	if best == noNode {
		x.entry.Store(noEntry)
		return
	}
	x.entry.Store(packEntry(best, bestLevel))
}

// --- search -------------------------------------------------------------

// exactBelow is the vector-component count under which a search scans
// every vector instead of walking the graph: a few hundred vectors scan in
// microseconds and the answer is exact.
const exactBelow = 1 << 17

// search runs one query. Called with mu read-locked.
func (x *Index) search(sc *searcher, dst []Result, k, ef int, filter func(uint64) bool) []Result {
	live := int(x.live.Load())
	if live == 0 {
		return dst
	}
	if live*x.dim <= x.exactBelow || (filter != nil && x.selective(filter, ef, live)) {
		return x.scan(sc, dst, k, ef, filter)
	}
	ep := x.entry.Load()
	if ep == noEntry {
		return dst
	}
	cur, top := uint32(ep), int(ep>>32)
	curD := x.dist(sc.q, sc.qn2, cur)
	for l := top; l > 0; l-- {
		cur, curD = x.greedy(sc, cur, curD, l)
	}
	budget := 0
	if filter != nil {
		// A filtered walk that has evaluated as many distances as there are
		// vectors is doing a scan's work without a scan's guarantee.
		budget = live
	}
	w, ok := x.searchLayer(sc, cur, curD, ef, 0, filter, budget)
	if !ok {
		return x.scan(sc, dst, k, ef, filter)
	}
	return x.finish(sc, dst, w, k)
}

// selective estimates, from a sample, whether filter accepts so few keys
// that walking the graph would cost more than scanning. The walk needs about
// ef/s expansions for acceptance rate s, each evaluating up to 2M
// neighbours; a scan evaluates the filter on every node but computes only
// s*live distances. So scan when fewer than about 2*ef*2M keys match.
func (x *Index) selective(filter func(uint64) bool, ef, live int) bool {
	const samples = 256
	n := x.next.Load()
	step := n / samples
	if step == 0 {
		step = 1
	}
	seen, pass := 0, 0
	for id := uint32(0); id < n && seen < samples; id += step {
		blk, off := x.node(id)
		if atomic.LoadUint32(&blk.meta[off])&0xff != stateLive {
			continue
		}
		seen++
		if filter(blk.keys[off]) {
			pass++
		}
	}
	if seen == 0 {
		return true
	}
	est := pass * live / seen
	return est < 2*ef*x.m0
}

// scan is the exact search: every live node that passes the filter.
func (x *Index) scan(sc *searcher, dst []Result, k, ef int, filter func(uint64) bool) []Result {
	keep := k
	if x.quant && x.source.Load() != nil {
		keep = ef // re-rank as many as a graph search would
	}
	sc.res = sc.res[:0]
	n := x.next.Load()
	for id := uint32(0); id < n; id++ {
		if !x.accept(id, filter) {
			continue
		}
		d := x.dist(sc.q, sc.qn2, id)
		if len(sc.res) < keep {
			sc.res.push(item{d, id})
		} else if d < sc.res[0].d {
			sc.res.replaceTop(item{d, id})
		}
	}
	sc.w = sc.w[:0]
	for len(sc.res) > 0 {
		sc.w = append(sc.w, sc.res.pop())
	}
	slices.Reverse(sc.w)
	return x.finish(sc, dst, sc.w, k)
}

// finish re-ranks a quantised result with exact vectors when a source is
// set, then appends the best k to dst.
func (x *Index) finish(sc *searcher, dst []Result, w []item, k int) []Result {
	if x.quant {
		if p := x.source.Load(); p != nil {
			src := *p
			for i := range w {
				if !src(x.keyOf(w[i].id), sc.tmp) {
					continue
				}
				w[i].d = x.exactDist(sc, sc.tmp)
			}
			slices.SortFunc(w, cmpItem)
		}
	}
	if len(w) > k {
		w = w[:k]
	}
	for _, it := range w {
		dst = append(dst, Result{Key: x.keyOf(it.id), Distance: it.d})
	}
	return dst
}

// exactDist is the float distance from the prepared query to v (which it
// may normalise in place).
func (x *Index) exactDist(sc *searcher, v []float32) float32 {
	switch x.cfg.Metric {
	case Cosine:
		normalize(v)
		return 1 - dotKernel(sc.q, v)
	case Dot:
		return -dotKernel(sc.q, v)
	}
	return l2Kernel(sc.q, v)
}
