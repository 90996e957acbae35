package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/infergate/infergate/index/lexical"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/store"
)

// Mode chooses how a search ranks chunks.
type Mode string

// The search modes.
const (
	ModeHybrid  Mode = "hybrid"  // vector and lexical ranks fused (RRF): the default
	ModeVector  Mode = "vector"  // cosine similarity of embeddings
	ModeLexical Mode = "lexical" // BM25
)

// RRFK is the reciprocal-rank-fusion constant: a chunk's fused score is
// the sum over the rankings that hold it (vector, BM25 and, when the query
// holds identifiers or names, exact matches of them; see exactTerms) of
// 1/(RRFK + rank). 60 is the
// value of Cormack et al., which peers (Elasticsearch, Qdrant) keep.
const RRFK = 60

// Query is one search.
type Query struct {
	Text   string    // the query; required for lexical and hybrid
	Vector []float32 // instead of Text, for vector search with an embedding of the caller's
	K      int       // results, 1..MaxK; 0: 10
	Mode   Mode      // "": hybrid with Text, vector with Vector
	Filter *Filter
	// MinScore drops results scoring below it, in the mode's score: cosine
	// similarity for vector, BM25 for lexical, the fused score for hybrid.
	MinScore float64
	// Ef is the graph search's candidate width; 0: the index default.
	Ef int
	// GroupByDocument keeps only each document's best chunk.
	GroupByDocument bool
}

// Hit is one search result.
type Hit struct {
	DocumentID string   `json:"document_id"`
	ChunkID    uint64   `json:"chunk_id"`
	Score      float64  `json:"score"`
	Text       string   `json:"text"`
	Metadata   Metadata `json:"metadata"`
	Heading    []string `json:"heading"`
	Start      int      `json:"start"`
	End        int      `json:"end"`
	// VectorRank and LexicalRank are the chunk's 1-based ranks in the two
	// rankings a hybrid search fused (0: not in that ranking), with the
	// scores there, so a caller can see why a result came back.
	VectorRank  int `json:"vector_rank,omitempty"`
	LexicalRank int `json:"lexical_rank,omitempty"`
	// ExactRank is the chunk's rank among those holding an identifier of
	// the query verbatim (an order number, an error code), a third ranking
	// a hybrid search fuses, so that the passage a user quoted from is
	// never outvoted by paraphrases of the rest of the question.
	ExactRank    int     `json:"exact_rank,omitempty"`
	VectorScore  float64 `json:"vector_score,omitempty"`
	LexicalScore float64 `json:"lexical_score,omitempty"`
}

// candidates is how deep each ranking goes before fusion or grouping: RRF
// needs more than k from each side, or a chunk ranked k+1 in both loses to
// one ranked k in one.
func candidates(k int) int { return max(2*k, 50) }

// Search runs q over a collection and returns up to q.K hits, best first.
// Whenever K chunks (K documents, when grouping) pass the filter and the
// score threshold, K come back.
func (kb *KB) Search(ctx context.Context, coll string, q Query) ([]Hit, error) {
	c, err := kb.get(coll)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := c.checkQuery(&q); err != nil {
		return nil, err
	}
	hits, err := c.search(ctx, q)
	if err != nil {
		return nil, err
	}
	kb.metrics.searchSeconds.WithLabelValues(string(q.Mode)).Observe(time.Since(start).Seconds())
	return hits, nil
}

func (c *collection) checkQuery(q *Query) error {
	q.K = cmp.Or(q.K, 10)
	q.Text = strings.TrimSpace(q.Text)
	if q.Mode == "" {
		q.Mode = ModeHybrid
		if q.Text == "" && len(q.Vector) > 0 {
			q.Mode = ModeVector
		}
	}
	switch {
	case q.K < 1 || q.K > MaxK:
		return badField("k", "%d is outside [1, %d]", q.K, MaxK)
	case q.Ef < 0 || q.Ef > 4096:
		return badField("ef", "%d is outside [0, 4096]", q.Ef)
	case q.Mode != ModeHybrid && q.Mode != ModeVector && q.Mode != ModeLexical:
		return badField("mode", "%q is not one of hybrid, vector, lexical", q.Mode)
	case q.Text != "" && len(q.Vector) > 0:
		return badField("vector", `give "query" or "vector", not both`)
	case q.Text == "" && len(q.Vector) == 0:
		return badField("query", "a search needs a query")
	case len(q.Vector) > 0 && q.Mode != ModeVector:
		return badField("vector", "a vector can only be searched in vector mode; %s search needs query text", q.Mode)
	case len(q.Vector) > 0 && len(q.Vector) != c.rec.Dim:
		return badField("vector", "has %d dimensions; collection %s has %d", len(q.Vector), c.rec.Name, c.rec.Dim)
	case math.IsNaN(q.MinScore) || math.IsInf(q.MinScore, 0):
		return badField("min_score", "must be a finite number")
	}
	for i, f := range q.Vector {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return badField(fmt.Sprintf("vector[%d]", i), "must be a finite number")
		}
	}
	return nil
}

// ranked is one ranking's entry.
type ranked struct {
	id    uint64
	score float64
}

func (c *collection) search(ctx context.Context, q Query) ([]Hit, error) {
	var vec []float32
	if q.Mode != ModeLexical {
		vec = q.Vector
		if vec == nil {
			emb, err := c.embedder()
			if err != nil {
				return nil, err
			}
			r, err := emb.Embed(ctx, llm.EmbedRequest{Texts: []string{q.Text}, Truncate: true})
			if err != nil {
				return nil, fmt.Errorf("index: embedding the query: %w", err)
			}
			vec = r.Vectors[0]
			if len(vec) != c.rec.Dim {
				return nil, fmt.Errorf("index: model %s returned %d dimensions, collection %s has %d", c.rec.Model, len(vec), c.rec.Name, c.rec.Dim)
			}
		}
	}
	// Searches read the maps through the filter while the walk runs;
	// writers hold mu only to swap entries, so this read lock is short.
	c.mu.RLock()
	defer c.mu.RUnlock()
	accept := func(id uint64) bool {
		e := c.chunks[id]
		return e != nil && (q.Filter.Empty() || q.Filter.Match(&e.meta))
	}
	if q.Filter.Empty() {
		accept = func(id uint64) bool { return c.chunks[id] != nil }
	}
	depth := q.K
	if q.Mode == ModeHybrid {
		depth = candidates(q.K)
	} else if q.GroupByDocument {
		depth = candidates(q.K)
	}
	var idents []string
	if q.Mode == ModeHybrid {
		idents = c.exactTerms(q.Text)
	}
	for {
		var vr, lr, xr []ranked
		if vec != nil {
			res, err := c.graph.Search(vec, depth, q.Ef, accept)
			if err != nil {
				return nil, badField("vector", "%v", err)
			}
			for _, r := range res {
				vr = append(vr, ranked{r.Key, 1 - float64(r.Distance)})
			}
		}
		if q.Mode != ModeVector {
			for _, h := range c.lex.Search(q.Text, depth, accept) {
				lr = append(lr, ranked{h.ID, float64(h.Score)})
			}
		}
		for _, h := range c.lex.SearchTerms(idents, depth, accept) {
			xr = append(xr, ranked{h.ID, float64(h.Score)})
		}
		hits := c.rank(q, vr, lr, xr)
		// Grouping can leave fewer than K documents from depth chunks
		// while more exist: go deeper until K come back or the rankings
		// ran dry.
		exhausted := len(vr) < depth && len(lr) < depth
		if len(hits) >= q.K || exhausted || depth >= len(c.chunks) {
			if len(hits) > q.K {
				hits = hits[:q.K]
			}
			return c.fill(ctx, hits)
		}
		depth *= 4
	}
}

// exactTerms are the query's terms that an exact match ranks: its
// identifiers, and its names: a word that one chunk alone holds, together
// with the query words on either side of it. In a support corpus such a
// run is a command ("acme auth refresh"), a product or a setting: BM25
// weighs the rare word high, but in the fusion it is one vote among two
// and the embedding, which does not know the name, outvotes it; the exact
// ranking gives it the second vote an identifier gets. The neighbours must
// be in that chunk too, so that a rare word used in passing ("hole" in "a
// security hole") does not promote the one passage that happens to use it.
func (c *collection) exactTerms(text string) []string {
	terms := lexical.Analyze(text)
	var out []string
	for i, t := range terms {
		// Analyze follows an identifier with its parts, which its exact
		// match already covers.
		if slices.ContainsFunc(out, func(o string) bool { return strings.Contains(o, t) }) {
			continue
		}
		if lexical.IsIdentifier(t) || c.isName(terms, i) {
			out = append(out, t)
		}
	}
	return out
}

// isName reports whether terms[i] is held by exactly one chunk, which also
// holds the terms before and after it in the query (it needs at least one).
func (c *collection) isName(terms []string, i int) bool {
	if c.lex.DocFreq(terms[i]) != 1 || len(terms) < 2 {
		return false
	}
	hits := c.lex.SearchTerms(terms[i:i+1], 1, nil)
	if len(hits) != 1 {
		return false
	}
	only := hits[0].ID
	holds := func(j int) bool {
		return j < 0 || j >= len(terms) ||
			len(c.lex.SearchTerms(terms[j:j+1], 1, func(id uint64) bool { return id == only })) == 1
	}
	return holds(i-1) && holds(i+1)
}

// rank fuses or orders the rankings, applies min_score and grouping.
func (c *collection) rank(q Query, vr, lr, xr []ranked) []Hit {
	var hits []Hit
	switch q.Mode {
	case ModeVector:
		for i, r := range vr {
			hits = append(hits, Hit{ChunkID: r.id, Score: r.score, VectorRank: i + 1, VectorScore: r.score})
		}
	case ModeLexical:
		for i, r := range lr {
			hits = append(hits, Hit{ChunkID: r.id, Score: r.score, LexicalRank: i + 1, LexicalScore: r.score})
		}
	default:
		if q.GroupByDocument {
			// Fuse documents, not chunks: each ranking keeps a document's
			// best chunk only, so a document's ranks are not diluted by its
			// own other chunks ranked above it.
			canon := map[*docEntry]uint64{}
			vr, lr, xr = c.bestPerDocument(vr, canon), c.bestPerDocument(lr, canon), c.bestPerDocument(xr, canon)
		}
		byID := make(map[uint64]*Hit, len(vr)+len(lr))
		get := func(id uint64) *Hit {
			h := byID[id]
			if h == nil {
				h = &Hit{ChunkID: id}
				byID[id] = h
			}
			return h
		}
		for i, r := range vr {
			h := get(r.id)
			h.VectorRank, h.VectorScore = i+1, r.score
			h.Score += 1 / float64(RRFK+i+1)
		}
		for i, r := range lr {
			h := get(r.id)
			h.LexicalRank, h.LexicalScore = i+1, r.score
			h.Score += 1 / float64(RRFK+i+1)
		}
		for i, r := range xr {
			h := get(r.id)
			h.ExactRank = i + 1
			h.Score += 1 / float64(RRFK+i+1)
		}
		for _, h := range byID {
			hits = append(hits, *h)
		}
		slices.SortFunc(hits, func(a, b Hit) int {
			if c := cmp.Compare(b.Score, a.Score); c != 0 {
				return c
			}
			// Equal fused scores: the better single rank first, then the id,
			// so that results are deterministic.
			if c := cmp.Compare(bestRank(a), bestRank(b)); c != 0 {
				return c
			}
			return cmp.Compare(a.ChunkID, b.ChunkID)
		})
	}
	out := hits[:0]
	var seen map[*docEntry]bool
	if q.GroupByDocument {
		seen = make(map[*docEntry]bool, len(hits))
	}
	for _, h := range hits {
		if h.Score < q.MinScore {
			continue
		}
		e := c.chunks[h.ChunkID]
		if q.GroupByDocument {
			if seen[e] {
				continue
			}
			seen[e] = true
		}
		h.DocumentID, h.Metadata = e.id, e.meta
		out = append(out, h)
	}
	return out
}

// bestPerDocument keeps the first (best) entry of each document, under the
// document's canonical chunk: the first chunk any ranking gave it, so that
// the rankings fuse on the same id.
func (c *collection) bestPerDocument(r []ranked, canon map[*docEntry]uint64) []ranked {
	seen := make(map[*docEntry]bool, len(r))
	out := make([]ranked, 0, len(r))
	for _, e := range r {
		d := c.chunks[e.id]
		if seen[d] {
			continue
		}
		seen[d] = true
		id, ok := canon[d]
		if !ok {
			id = e.id
			canon[d] = id
		}
		out = append(out, ranked{id, e.score})
	}
	return out
}

func bestRank(h Hit) int {
	r := math.MaxInt
	if h.VectorRank > 0 {
		r = h.VectorRank
	}
	if h.LexicalRank > 0 {
		r = min(r, h.LexicalRank)
	}
	if h.ExactRank > 0 {
		r = min(r, h.ExactRank)
	}
	return r
}

// fill reads the hits' chunk records: text, headings, offsets.
func (c *collection) fill(ctx context.Context, hits []Hit) ([]Hit, error) {
	for i := range hits {
		h := &hits[i]
		e := c.chunks[h.ChunkID]
		v, err := c.kb.st.Get(ctx, store.ChunkKey(c.rec.Name, e.id, uint32(h.ChunkID-e.first)))
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("%w: chunk %d of %s has no record", errRecord, h.ChunkID, e.id)
			}
			return nil, err
		}
		rec, err := decodeChunk(v)
		if err != nil {
			return nil, err
		}
		h.Text, h.Heading, h.Start, h.End = rec.Text, rec.Headings, rec.Start, rec.End
	}
	return hits, nil
}
