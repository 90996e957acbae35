// Package hnsw is infergate's vector index: a Hierarchical Navigable Small
// World graph written from Malkov & Yashunin, "Efficient and robust
// approximate nearest neighbor search using Hierarchical Navigable Small
// World graphs" (2016/2018), Algorithms 1 to 5, with the neighbour-selection
// heuristic (Algorithm 4) used both for a new node's links and for shrinking
// a full neighbour list.
//
// The knowledge base keeps one Index per collection, keyed by uint64 chunk
// ids. Inside, nodes are dense uint32 ids: vectors sit in contiguous slabs,
// level-0 neighbour lists in flat uint32 slabs beside them, and the key map
// is consulted only when a key enters (Add, Delete) or leaves (results).
// Slabs come in blocks that never move, so readers need no lock to reach a
// node, and a small collection costs kilobytes rather than a full block.
//
// Searching: Search walks the graph with a candidate list of width ef. A
// filter is evaluated during the walk: rejected nodes still carry the walk
// but never enter the results. When a sample says the filter accepts too few
// keys for the walk to pay off, or the walk has done a scan's worth of work,
// the search scans every vector instead, so selective filters still get
// their exact nearest neighbours. Indexes of a few hundred vectors are
// always scanned.
//
// Deleting: a deleted node leaves the results at once and stays in the graph
// as a tombstone, a bridge for searches. When tombstones reach 2% of the
// index, one pass re-links every list that pointed at them (candidates come
// from the tombstones' own links, chosen with the heuristic) and their slots
// become free for reuse by later Adds.
//
// Concurrency: any number of Search calls run together with each other and
// with Add calls for new keys (insertions link nodes under striped per-node
// locks and publish neighbour ids with atomic stores, so readers never see a
// torn id). Delete and an Add that replaces a key or fills a freed slot
// exclude the operations that would change what they rely on. WriteTo
// holds writers off only while it copies the neighbour lists and node
// states, then writes outside every lock; until it is done, Adds take fresh
// ids instead of freed slots, so the vectors and keys it reads in place
// stay as they were.
//
// Quantisation: with Config.Quantize, vectors are stored as int8 codes with
// one scale per vector (4x less vector memory; the graph walk computes
// float-query-by-int8-code distances), and the final candidates are
// re-ranked with exact vectors fetched through Config.Source.
//
// Persistence: WriteTo writes a versioned snapshot with a CRC-32C over the
// header and over the body; Load reads it straight back into the slabs
// without re-inserting anything. Any damage (a flipped byte, a torn tail)
// makes Load return an error wrapping ErrCorrupt, the caller's cue to
// rebuild the index from the store of record; the header's checksum is
// verified before its version is read, so damage is never mistaken for a
// newer format (ErrVersion). SaveFile replaces a snapshot file crash-safely:
// temporary file in the same directory, fsync, rename, fsync of the
// directory.
//
// Distance kernels are Go assembly (AVX-512 or AVX2 with FMA, chosen at
// start-up) with a portable Go fallback, also used under the purego build
// tag. They were measured against github.com/viterin/vek, the other
// candidate (BenchmarkKernels, BenchmarkAsmVariants; medians of 3, 384
// dimensions, in-cache): dot product 13.0 ns AVX-512, 17.1 ns AVX2, 20.0 ns
// vek, 135 ns Go; squared L2 14.7, 18.0, 22.0 (vek's Distance, squared) and
// 135 ns. In a search the kernels mostly wait on memory, which is why the
// search loop prefetches.
package hnsw
