package index

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/infergate/infergate/index/chunk"
	"github.com/infergate/infergate/index/extract"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/store"
)

// DocumentInput is one document to upsert: an id, its content in exactly
// one of three formats, and its metadata.
type DocumentInput struct {
	ID       string   `json:"id"`
	Text     string   `json:"text,omitempty"`
	Markdown string   `json:"markdown,omitempty"`
	HTML     string   `json:"html,omitempty"`
	Metadata Metadata `json:"metadata"`
}

// UpsertStatus says what an upsert did to one document.
type UpsertStatus string

// The upsert outcomes.
const (
	StatusCreated   UpsertStatus = "created"
	StatusUpdated   UpsertStatus = "updated"   // content or metadata changed
	StatusUnchanged UpsertStatus = "unchanged" // same content and metadata: nothing written
)

// UpsertResult is the outcome for one document.
type UpsertResult struct {
	ID     string       `json:"id"`
	Status UpsertStatus `json:"status"`
	Chunks int          `json:"chunks"`
	// Embedded is how many chunks were embedded for this request: 0 for an
	// unchanged document or one whose metadata alone changed.
	Embedded int `json:"embedded"`
}

// Document is a stored document.
type Document struct {
	ID       string    `json:"id"`
	Format   string    `json:"format"`
	Content  string    `json:"content,omitempty"`
	Metadata Metadata  `json:"metadata"`
	Chunks   int       `json:"chunks"`
	Tokens   int       `json:"tokens"`
	Bytes    int       `json:"bytes"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
}

// DocumentPage is one page of a listing.
type DocumentPage struct {
	Documents []Document `json:"data"`
	// Next is the cursor of the following page; "" on the last one.
	Next string `json:"next_cursor,omitempty"`
}

const maxIDBytes = 512

// Embedding work is sent to the model in groups small enough that several
// are in flight (so the scheduler always has the next one) and large
// enough to amortise a round trip.
const (
	embedGroup    = 16
	embedInFlight = 4
)

// prepared is one input made ready outside the collection's write lock.
type prepared struct {
	in      *DocumentInput
	field   string // "documents[i]"
	format  extract.Format
	content string
	hash    string
	title   string
	prev    *docEntry // the entry seen while preparing; nil if none
	chunks  []chunk.Chunk
	vecs    [][]float32
	ready   bool // chunks and vecs hold this content's chunks
}

// Upsert creates or replaces documents. Each is validated, extracted and
// chunked, and its chunks are embedded (with bulk priority) unless its
// content is unchanged; then every change of the request is written in one
// synced, atomic write, and only then becomes visible to searches. A
// *RequestError or *TooLargeError means nothing was written.
func (kb *KB) Upsert(ctx context.Context, coll string, docs []DocumentInput) ([]UpsertResult, error) {
	c, err := kb.get(coll)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	switch {
	case len(docs) == 0:
		return nil, badField("documents", "no documents")
	case len(docs) > MaxDocumentsPerUpsert:
		return nil, &TooLargeError{Field: "documents", What: fmt.Sprintf("%d documents", len(docs)), Limit: MaxDocumentsPerUpsert}
	}
	ps := make([]*prepared, len(docs))
	seen := make(map[string]int, len(docs))
	for i := range docs {
		p, err := c.check(&docs[i], fmt.Sprintf("documents[%d]", i))
		if err != nil {
			return nil, err
		}
		if j, dup := seen[p.in.ID]; dup {
			return nil, badField(p.field+".id", "%q is also documents[%d]", p.in.ID, j)
		}
		seen[p.in.ID] = i
		ps[i] = p
	}
	for attempt := 0; ; attempt++ {
		if err := c.ready(ctx, ps); err != nil {
			return nil, err
		}
		res, retry, err := c.commitUpsert(ctx, ps)
		if err != nil {
			return nil, err
		}
		if !retry {
			kb.metrics.observeUpsert(coll, res, time.Since(start))
			return res, nil
		}
		// Another writer changed a document this request had found
		// unchanged; it now needs chunks after all. Rare, so a retry.
		if attempt >= 3 {
			return nil, fmt.Errorf("index: upsert into %s kept conflicting with concurrent writes", coll)
		}
	}
}

// check validates one input and computes its hash.
func (c *collection) check(in *DocumentInput, field string) (*prepared, error) {
	if err := checkID(in.ID); err != nil {
		return nil, &RequestError{Field: field + ".id", Err: err}
	}
	p := &prepared{in: in, field: field}
	n := 0
	for _, f := range []struct {
		s      string
		format extract.Format
	}{{in.Text, extract.FormatText}, {in.Markdown, extract.FormatMarkdown}, {in.HTML, extract.FormatHTML}} {
		if f.s != "" {
			n++
			p.content, p.format = f.s, f.format
		}
	}
	switch {
	case n == 0:
		return nil, badField(field, `the document is empty: give its content in one of "text", "markdown" or "html"`)
	case n > 1:
		return nil, badField(field, `give the content in exactly one of "text", "markdown" or "html"`)
	case len(p.content) > MaxDocumentBytes:
		return nil, &TooLargeError{Field: field + "." + p.format.String(), What: fmt.Sprintf("%d bytes", len(p.content)), Limit: MaxDocumentBytes}
	}
	h := sha256.New()
	// What the embeddings depend on: the model, the chunking, the content
	// and the title (embedded with every chunk). Other metadata changes
	// rewrite the document record only.
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\x00%s\x00", c.rec.Model, c.rec.Chunk.Tokens, c.rec.Chunk.Overlap, p.format, in.Metadata.Title)
	h.Write([]byte(p.content))
	p.hash = hex.EncodeToString(h.Sum(nil))
	return p, nil
}

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("a document needs an id")
	case len(id) > maxIDBytes:
		return fmt.Errorf("is %d bytes, at most %d are allowed", len(id), maxIDBytes)
	case !utf8.ValidString(id):
		return errors.New("is not valid UTF-8")
	case strings.ContainsFunc(id, unicode.IsControl):
		return errors.New("contains control characters")
	}
	return nil
}

// ready chunks and embeds every input whose content differs from the
// stored document's, outside the write lock.
func (c *collection) ready(ctx context.Context, ps []*prepared) error {
	var texts []string
	var need []*prepared
	c.mu.RLock()
	for _, p := range ps {
		p.prev = c.docs[p.in.ID]
	}
	c.mu.RUnlock()
	var emb Embedder
	for _, p := range ps {
		if p.ready || p.prev != nil && p.prev.hash == p.hash {
			continue
		}
		if emb == nil {
			var err error
			if emb, err = c.embedder(); err != nil {
				return err
			}
		}
		doc, err := extract.Extract(p.content, p.format)
		if err != nil {
			return &RequestError{Field: p.field + "." + p.format.String(), Err: err}
		}
		p.title = p.in.Metadata.Title
		if p.title == "" {
			p.title = doc.Title
		}
		doc.Title = p.title
		chunks, clamps, err := chunk.Split(ctx, doc, emb, chunk.Options{
			Tokens: c.rec.Chunk.Tokens, Overlap: chunkOverlap(c.rec.Chunk.Overlap), MaxTokens: emb.MaxEmbedTokens()})
		if err != nil {
			if errors.Is(err, chunk.ErrDocument) {
				return &RequestError{Field: p.field, Err: err}
			}
			return fmt.Errorf("index: chunking %s: %w", p.field, err)
		}
		if len(chunks) == 0 {
			return badField(p.field+"."+p.format.String(), "the document has no text to index")
		}
		for _, cl := range clamps {
			c.kb.log.Debug("chunking clamped", "collection", c.rec.Name, "document", p.in.ID, "clamp", cl.String())
		}
		p.chunks = chunks
		for _, ch := range chunks {
			texts = append(texts, ch.EmbedText)
		}
		need = append(need, p)
	}
	if len(texts) == 0 {
		return nil
	}
	vecs, err := embedBulk(ctx, emb, texts)
	if err != nil {
		return err
	}
	for _, p := range need {
		p.vecs, vecs = vecs[:len(p.chunks)], vecs[len(p.chunks):]
		for i, v := range p.vecs {
			if len(v) != c.rec.Dim {
				return fmt.Errorf("index: model %s returned %d dimensions for %s chunk %d, the collection has %d",
					c.rec.Model, len(v), p.field, i, c.rec.Dim)
			}
		}
		p.ready = true
	}
	return nil
}

// chunkOverlap is the collection's overlap as chunk.Options spells it: a
// recorded zero is none, which chunk.Options writes as a negative number.
func chunkOverlap(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// embedBulk embeds texts in groups, several in flight, with bulk priority.
func embedBulk(ctx context.Context, emb Embedder, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, embedInFlight)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for start := 0; start < len(texts); start += embedGroup {
		end := min(start+embedGroup, len(texts))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := emb.Embed(ctx, llm.EmbedRequest{Texts: texts[start:end], Priority: llm.PriorityBulk})
			if err == nil && len(r.Vectors) != end-start {
				err = fmt.Errorf("index: embedder returned %d vectors for %d texts", len(r.Vectors), end-start)
			}
			if err != nil {
				once.Do(func() { first = err; cancel() })
				return
			}
			copy(out[start:end], r.Vectors)
		})
	}
	wg.Wait()
	if first != nil {
		return nil, fmt.Errorf("index: embedding: %w", first)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// change is one document's part of a committed upsert, for applying it in
// memory.
type change struct {
	old, new *docEntry
	p        *prepared
	reindex  bool // new chunks (else the same chunks under new metadata)
}

// commitUpsert writes the prepared documents under the write lock. retry
// is set, with nothing written, when a document changed since it was
// prepared in a way that needs chunks the request did not make.
func (c *collection) commitUpsert(ctx context.Context, ps []*prepared) (res []UpsertResult, retry bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.deleted.Load() {
		return nil, false, &NotFoundError{Kind: "collection", Name: c.rec.Name}
	}
	now := time.Now().UTC()
	var w store.Write
	var changes []change
	next := c.rec.NextID
	res = make([]UpsertResult, len(ps))
	c.mu.RLock()
	cur := make([]*docEntry, len(ps))
	for i, p := range ps {
		cur[i] = c.docs[p.in.ID]
	}
	c.mu.RUnlock()
	for i, p := range ps {
		old := cur[i]
		res[i].ID = p.in.ID
		switch {
		case old != nil && old.hash == p.hash && reflect.DeepEqual(old.meta, p.in.Metadata):
			res[i].Status, res[i].Chunks = StatusUnchanged, old.n
			continue
		case old != nil && old.hash == p.hash:
			// Same chunks, new metadata: only the document record changes.
			e := *old
			e.meta, e.modified = p.in.Metadata, now
			w.Set(store.DocumentKey(c.rec.Name, p.in.ID), mustJSON(e.record(p.content)))
			changes = append(changes, change{old: old, new: &e, p: p})
			res[i].Status, res[i].Chunks = StatusUpdated, e.n
			continue
		case !p.ready:
			return nil, true, nil
		}
		e := &docEntry{id: p.in.ID, meta: p.in.Metadata, hash: p.hash, first: next, n: len(p.chunks),
			size: len(p.content), format: p.format.String(), created: now, modified: now}
		res[i].Status = StatusCreated
		if old != nil {
			e.created = old.created
			res[i].Status = StatusUpdated
			w.DeleteRange(store.PrefixRange(store.DocumentChunksPrefix(c.rec.Name, old.id)))
			for id := old.first; id < old.first+uint64(old.n); id++ {
				w.Delete(store.VectorKey(c.rec.Name, id))
			}
		}
		for j, ch := range p.chunks {
			id := next + uint64(j)
			e.tokens += ch.Tokens
			rec := chunkRecord{ID: id, Start: ch.Start, End: ch.End, Tokens: ch.Tokens, Headings: ch.Headings, Text: ch.Text}
			w.Set(store.ChunkKey(c.rec.Name, p.in.ID, uint32(j)), rec.encode())
			w.Set(store.VectorKey(c.rec.Name, id), encodeVector(p.vecs[j]))
		}
		next += uint64(len(p.chunks))
		w.Set(store.DocumentKey(c.rec.Name, p.in.ID), mustJSON(e.record(p.content)))
		changes = append(changes, change{old: old, new: e, p: p, reindex: true})
		res[i].Chunks, res[i].Embedded = e.n, e.n
	}
	if len(changes) == 0 {
		return res, false, nil
	}
	rec := c.rec
	rec.NextID = next
	w.Set(store.CollectionKey(c.rec.Name), mustJSON(rec))
	err = c.apply(changes, func() error { return c.kb.st.Apply(ctx, &w) })
	// Ids that reached the graph are spent even when the commit failed: a
	// snapshot may have caught them, and an id must never name two vectors.
	c.rec.NextID = next
	if err != nil {
		return nil, false, err
	}
	return res, false, nil
}

// apply commits changes and makes them visible. New chunks enter the graph
// and the lexical index first (invisible: no entry maps them yet); then,
// holding the maps exclusively, the write is committed and the maps are
// swapped, so no search ever pairs an entry of one version with records of
// another (searches read chunk records while holding the maps shared); the
// old chunks then leave the graph and the lexical index. A failed commit
// takes the new chunks out again and changes nothing.
func (c *collection) apply(changes []change, commit func() error) error {
	type add struct {
		id   uint64
		vec  []float32
		text string
	}
	var adds []add
	for _, ch := range changes {
		if !ch.reindex {
			continue
		}
		for j, k := range ch.p.chunks {
			adds = append(adds, add{ch.new.first + uint64(j), ch.p.vecs[j], lexicalText(ch.new.meta.Title, k.Headings, k.Text)})
		}
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(adds)/8))
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Go(func() {
			for i := wk; i < len(adds); i += workers {
				a := adds[i]
				// The vector was checked before the commit (the model's
				// own, of the collection's dimension), so Add cannot refuse
				// it; a failure here is a bug worth a loud log.
				if err := c.graph.Add(a.id, a.vec); err != nil {
					c.kb.log.Error("graph refused a stored vector", "collection", c.rec.Name, "chunk", a.id, "err", err)
				}
				c.lex.Add(a.id, a.text)
			}
		})
	}
	wg.Wait()
	var retired []uint64
	c.mu.Lock()
	if err := commit(); err != nil {
		c.mu.Unlock()
		for _, a := range adds {
			c.graph.Delete(a.id)
			c.lex.Delete(a.id)
		}
		return err
	}
	for _, ch := range changes {
		c.docs[ch.new.id] = ch.new
		if ch.old != nil {
			c.bytes.Add(-int64(ch.old.size))
			if ch.reindex {
				for id := ch.old.first; id < ch.old.first+uint64(ch.old.n); id++ {
					delete(c.chunks, id)
					retired = append(retired, id)
				}
			}
		}
		c.bytes.Add(int64(ch.new.size))
		for id := ch.new.first; id < ch.new.first+uint64(ch.new.n); id++ {
			c.chunks[id] = ch.new
		}
	}
	c.mu.Unlock()
	c.retire(retired)
	return nil
}

func (c *collection) retire(ids []uint64) {
	for _, id := range ids {
		c.graph.Delete(id)
		c.lex.Delete(id)
	}
	c.changes.Add(1)
}

func (e *docEntry) record(content string) documentRecord {
	return documentRecord{V: documentRecordVersion, ID: e.id, Format: e.format, Content: content, Metadata: e.meta,
		Hash: e.hash, FirstChunk: e.first, Chunks: e.n, Tokens: e.tokens, Created: e.created, Modified: e.modified}
}

// lexicalText is what BM25 indexes for a chunk: like the embedded text,
// the title and headings count as words of the passage.
func lexicalText(title string, headings []string, text string) string {
	var b strings.Builder
	b.Grow(len(title) + len(text) + 64)
	b.WriteString(title)
	for _, h := range headings {
		b.WriteByte('\n')
		b.WriteString(h)
	}
	b.WriteString("\n\n")
	b.WriteString(text)
	return b.String()
}

// DeleteDocument removes a document, its chunks and vectors, atomically.
func (kb *KB) DeleteDocument(ctx context.Context, coll, id string) error {
	c, err := kb.get(coll)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.deleted.Load() {
		return &NotFoundError{Kind: "collection", Name: coll}
	}
	c.mu.RLock()
	old := c.docs[id]
	c.mu.RUnlock()
	if old == nil {
		return &NotFoundError{Kind: "document", Name: id}
	}
	var w store.Write
	w.DeleteRange(store.PrefixRange(store.DocumentChunksPrefix(coll, id)))
	for cid := old.first; cid < old.first+uint64(old.n); cid++ {
		w.Delete(store.VectorKey(coll, cid))
	}
	w.Delete(store.DocumentKey(coll, id))
	var retired []uint64
	c.mu.Lock() // as in apply: no search reads records while they change
	if err := kb.st.Apply(ctx, &w); err != nil {
		c.mu.Unlock()
		return err
	}
	delete(c.docs, id)
	for cid := old.first; cid < old.first+uint64(old.n); cid++ {
		delete(c.chunks, cid)
		retired = append(retired, cid)
	}
	c.mu.Unlock()
	c.bytes.Add(-int64(old.size))
	c.retire(retired)
	kb.metrics.deleted.WithLabelValues(coll).Inc()
	return nil
}

// GetDocument returns a stored document with its content.
func (kb *KB) GetDocument(ctx context.Context, coll, id string) (Document, error) {
	if _, err := kb.get(coll); err != nil {
		return Document{}, err
	}
	v, err := kb.st.Get(ctx, store.DocumentKey(coll, id))
	if errors.Is(err, store.ErrNotFound) {
		return Document{}, &NotFoundError{Kind: "document", Name: id}
	}
	if err != nil {
		return Document{}, err
	}
	var d documentRecord
	if err := decodeJSON(v, &d, "document"); err != nil {
		return Document{}, err
	}
	return documentOf(&d, true), nil
}

func documentOf(d *documentRecord, content bool) Document {
	out := Document{ID: d.ID, Format: d.Format, Metadata: d.Metadata, Chunks: d.Chunks, Tokens: d.Tokens,
		Bytes: len(d.Content), Created: d.Created, Modified: d.Modified}
	if content {
		out.Content = d.Content
	}
	return out
}

// MaxListLimit is the largest page ListDocuments returns.
const MaxListLimit = 1000

// ListDocuments lists documents in id order, without their content, limit
// at a time (0: 100), after the cursor of the previous page.
func (kb *KB) ListDocuments(ctx context.Context, coll, cursor string, limit int) (DocumentPage, error) {
	if _, err := kb.get(coll); err != nil {
		return DocumentPage{}, err
	}
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > MaxListLimit:
		return DocumentPage{}, badField("limit", "%d is outside [1, %d]", limit, MaxListLimit)
	}
	var after []byte
	if cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return DocumentPage{}, badField("cursor", "is not a cursor this server returned")
		}
		after = store.DocumentKey(coll, string(id))
	}
	var page DocumentPage
	err := kb.st.Walk(ctx, store.PrefixRange(store.DocumentsPrefix(coll)), after, limit+1, func(_, v []byte) error {
		var d documentRecord
		if err := decodeJSON(v, &d, "document"); err != nil {
			return err
		}
		page.Documents = append(page.Documents, documentOf(&d, false))
		return nil
	})
	if err != nil {
		return DocumentPage{}, err
	}
	if len(page.Documents) > limit {
		page.Documents = page.Documents[:limit]
		page.Next = base64.RawURLEncoding.EncodeToString([]byte(page.Documents[limit-1].ID))
	}
	return page, nil
}
