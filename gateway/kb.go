package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/index"
)

// KB is the knowledge base the gateway serves under /v1/collections;
// *index.KB satisfies it. Every method that writes returns only once the
// write is durable.
type KB interface {
	CreateCollection(ctx context.Context, spec index.CollectionSpec) (index.CollectionInfo, error)
	Collections() []index.CollectionInfo
	Collection(name string) (index.CollectionInfo, error)
	DeleteCollection(ctx context.Context, name string) error
	Upsert(ctx context.Context, coll string, docs []index.DocumentInput) ([]index.UpsertResult, error)
	GetDocument(ctx context.Context, coll, id string) (index.Document, error)
	ListDocuments(ctx context.Context, coll, cursor string, limit int) (index.DocumentPage, error)
	DeleteDocument(ctx context.Context, coll, id string) error
	Search(ctx context.Context, coll string, q index.Query) ([]index.Hit, error)
	// Backup writes a consistent copy into dest, which must not exist.
	Backup(ctx context.Context, dest string) error
	// Collector is registered on the server's registry.
	Collector() prometheus.Collector
}

// TypeConflict is the error type of a 409: what the request would create
// exists already.
const TypeConflict = "conflict_error"

// kbPath is a knowledge-base path split into its parts:
// /v1/collections[/{coll}[/documents[/{id}]|/search]].
type kbPath struct {
	coll  string // "": the collections themselves
	sub   string // "", "documents" or "search"
	id    string // a document id, unescaped
	hasID bool
}

// parseKBPath splits a raw (still percent-encoded) path. Document ids may
// hold slashes (ingested files are named by their relative path), so the
// id is the whole rest of the path, sent escaped (%2F) or not. ok is false
// for a path that is no knowledge-base route.
func parseKBPath(raw string) (p kbPath, ok bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	raw = strings.TrimPrefix(raw, "/v1")
	rest, ok := strings.CutPrefix(raw, "/collections")
	if !ok {
		return p, false
	}
	if rest == "" || rest == "/" {
		return p, true
	}
	if rest[0] != '/' {
		return p, false
	}
	coll, rest, more := strings.Cut(rest[1:], "/")
	if p.coll, ok = unescape(coll); !ok || p.coll == "" || more && rest == "" {
		return p, false
	}
	sub, id, hasID := strings.Cut(rest, "/")
	switch {
	case sub == "" && !hasID:
	case sub == "search" && !hasID:
		p.sub = sub
	case sub == "documents":
		p.sub = sub
		if hasID {
			if p.id, ok = unescape(id); !ok || p.id == "" {
				return p, false
			}
			p.hasID = true
		}
	default:
		return p, false
	}
	return p, true
}

func unescape(s string) (string, bool) {
	u, err := url.PathUnescape(s)
	return u, err == nil
}

// isUpsert reports whether a request, from its method and raw path, is the
// one route that takes bodies up to Limits.MaxIngestBodyBytes.
func isUpsert(method string, p kbPath) bool {
	return method == fasthttp.MethodPost && p.sub == "documents" && !p.hasID
}

// bodyLimit is the largest body a request may send, decided from its head
// (fasthttp's HeaderReceived), so that a large body to any other route is
// refused before it is read.
func (s *Server) bodyLimit(h *fasthttp.RequestHeader) int {
	if s.cfg.KB == nil {
		return s.lim.MaxBodyBytes
	}
	uri := string(h.RequestURI())
	// The absolute form (GET http://host/path) that proxies send.
	if i := strings.Index(uri, "://"); i >= 0 {
		if j := strings.IndexByte(uri[i+3:], '/'); j >= 0 {
			uri = uri[i+3+j:]
		}
	}
	if p, ok := parseKBPath(uri); ok && isUpsert(string(h.Method()), p) {
		return s.lim.MaxIngestBodyBytes
	}
	return s.lim.MaxBodyBytes
}

// routeKB serves /v1/collections and below. Reads and searches need an API
// key, writes the admin key.
func (s *Server) routeKB(r *request) {
	raw := string(r.ctx.Request.URI().PathOriginal())
	p, ok := parseKBPath(raw)
	if !ok {
		r.fail(errRouteNotFound(r.method, r.path))
		return
	}
	// fasthttp admits bodies up to the larger of the two limits (and
	// usually refuses from the head already); the route decides, on the
	// same parse of the path the handlers use.
	limit := s.lim.MaxBodyBytes
	if isUpsert(r.method, p) {
		limit = s.lim.MaxIngestBodyBytes
	}
	if len(r.ctx.PostBody()) > limit {
		r.fail(errBodyTooLarge(limit))
		return
	}
	if s.closing.Load() {
		r.fail(errDraining())
		return
	}
	if p.coll != "" {
		r.logAttrs = append(r.logAttrs, slog.String("collection", p.coll))
	}
	method := r.method
	if method == fasthttp.MethodHead {
		method = fasthttp.MethodGet
	}
	// One table: the methods of each path, with their handler, guard and
	// metrics endpoint.
	type handler struct {
		admin    bool
		endpoint string
		h        func(*request, kbPath) string
	}
	var hs map[string]handler
	var allow string
	switch {
	case p.coll == "":
		hs = map[string]handler{
			fasthttp.MethodGet:  {false, "kb_collections", s.handleListCollections},
			fasthttp.MethodPost: {true, "kb_collections", s.handleCreateCollection},
		}
		allow = "GET, POST"
	case p.sub == "":
		hs = map[string]handler{
			fasthttp.MethodGet:    {false, "kb_collections", s.handleGetCollection},
			fasthttp.MethodDelete: {true, "kb_collections", s.handleDeleteCollection},
		}
		allow = "GET, DELETE"
	case p.sub == "search":
		hs = map[string]handler{fasthttp.MethodPost: {false, "kb_search", s.handleSearch}}
		allow = "POST"
	case !p.hasID:
		hs = map[string]handler{
			fasthttp.MethodGet:  {false, "kb_documents", s.handleListDocuments},
			fasthttp.MethodPost: {true, "kb_upsert", s.handleUpsert},
		}
		allow = "GET, POST"
	default:
		hs = map[string]handler{
			fasthttp.MethodGet:    {false, "kb_documents", s.handleGetDocument},
			fasthttp.MethodDelete: {true, "kb_documents", s.handleDeleteDocument},
		}
		allow = "GET, DELETE"
	}
	h, ok := hs[method]
	if !ok {
		r.fail(errMethod(r.method, r.path, allow))
		return
	}
	run := s.kbObserved(h.endpoint, func(r *request) string { return h.h(r, p) })
	if h.admin {
		s.withAdmin(run)(r)
	} else {
		s.withKey(run)(r)
	}
}

// kbObserved records a knowledge-base request in the request metrics. The
// handler returns the embedding model of the collection it served ("" for
// none), the model label of the series.
func (s *Server) kbObserved(endpoint string, h func(*request) string) func(*request) {
	return func(r *request) {
		// The request limit applies as to any request; open admin routes
		// (no keys at all) have no principal.
		if r.who != nil && !r.admit(0) {
			return
		}
		model := h(r)
		sc := statusClass(r.ctx.Response.StatusCode())
		s.metrics.requests.WithLabelValues(endpoint, model, "local", sc).Inc()
		s.metrics.e2e.WithLabelValues(endpoint, model, "local", sc).Observe(time.Since(r.start).Seconds())
	}
}

// collection looks the path's collection up, answering 404 when it does
// not exist: before the body is read, so that an unknown collection is a
// 404 whatever else the request gets wrong.
func (s *Server) collection(r *request, p kbPath) (index.CollectionInfo, bool) {
	info, err := s.cfg.KB.Collection(p.coll)
	if err != nil {
		r.fail(s.fromKB(err))
		return info, false
	}
	return info, true
}

// collectionObject is a collection on the wire.
type collectionObject struct {
	Object string `json:"object"`
	index.CollectionInfo
}

// listObject is a list on the wire, OpenAI's shape.
type listObject[T any] struct {
	Object string `json:"object"`
	Data   []T    `json:"data"`
}

func newList[T any](data []T) listObject[T] {
	if data == nil {
		data = []T{} // [] rather than null
	}
	return listObject[T]{Object: "list", Data: data}
}

// deletedObject answers a DELETE, as OpenAI's deletions do.
type deletedObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

func (s *Server) handleListCollections(r *request, _ kbPath) string {
	infos := s.cfg.KB.Collections()
	out := make([]collectionObject, len(infos))
	for i, info := range infos {
		out[i] = collectionObject{"collection", info}
	}
	writeJSON(r.ctx, fasthttp.StatusOK, newList(out))
	return ""
}

func (s *Server) handleCreateCollection(r *request, _ kbPath) string {
	spec, e := parseCollectionSpec(r.ctx.PostBody())
	if e != nil {
		r.fail(e)
		return ""
	}
	info, err := s.cfg.KB.CreateCollection(s.baseCtx, spec)
	if err != nil {
		r.fail(s.fromKB(err))
		return spec.EmbeddingModel
	}
	writeJSON(r.ctx, fasthttp.StatusCreated, collectionObject{"collection", info})
	return info.EmbeddingModel
}

func (s *Server) handleGetCollection(r *request, p kbPath) string {
	info, ok := s.collection(r, p)
	if ok {
		writeJSON(r.ctx, fasthttp.StatusOK, collectionObject{"collection", info})
	}
	return info.EmbeddingModel
}

func (s *Server) handleDeleteCollection(r *request, p kbPath) string {
	info, ok := s.collection(r, p)
	if !ok {
		return ""
	}
	if err := s.cfg.KB.DeleteCollection(s.baseCtx, p.coll); err != nil {
		r.fail(s.fromKB(err))
		return info.EmbeddingModel
	}
	writeJSON(r.ctx, fasthttp.StatusOK, deletedObject{ID: p.coll, Object: "collection", Deleted: true})
	return info.EmbeddingModel
}

func (s *Server) handleUpsert(r *request, p kbPath) string {
	info, ok := s.collection(r, p)
	if !ok {
		return ""
	}
	docs, e := parseUpsertRequest(r.ctx.PostBody())
	if e != nil {
		r.fail(e)
		return info.EmbeddingModel
	}
	r.logAttrs = append(r.logAttrs, slog.Int("documents", len(docs)))
	res, err := s.cfg.KB.Upsert(s.baseCtx, p.coll, docs)
	if err != nil {
		r.fail(s.fromKB(err))
		return info.EmbeddingModel
	}
	embedded := 0
	for _, u := range res {
		embedded += u.Embedded
	}
	r.logAttrs = append(r.logAttrs, slog.Int("chunks_embedded", embedded))
	writeJSON(r.ctx, fasthttp.StatusOK, newList(res))
	return info.EmbeddingModel
}

func (s *Server) handleListDocuments(r *request, p kbPath) string {
	info, ok := s.collection(r, p)
	if !ok {
		return ""
	}
	args := r.ctx.QueryArgs()
	limit := 0
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			r.fail(errType("limit", "an integer", strconv.Quote(string(v))))
			return info.EmbeddingModel
		}
		limit = n
	}
	page, err := s.cfg.KB.ListDocuments(s.baseCtx, p.coll, string(args.Peek("cursor")), limit)
	if err != nil {
		r.fail(s.fromKB(err))
		return info.EmbeddingModel
	}
	out := struct {
		listObject[index.Document]
		NextCursor *string `json:"next_cursor"`
		HasMore    bool    `json:"has_more"`
	}{listObject: newList(page.Documents), HasMore: page.Next != ""}
	if page.Next != "" {
		out.NextCursor = &page.Next
	}
	writeJSON(r.ctx, fasthttp.StatusOK, out)
	return info.EmbeddingModel
}

func (s *Server) handleGetDocument(r *request, p kbPath) string {
	info, ok := s.collection(r, p)
	if !ok {
		return ""
	}
	doc, err := s.cfg.KB.GetDocument(s.baseCtx, p.coll, p.id)
	if err != nil {
		r.fail(s.fromKB(err))
		return info.EmbeddingModel
	}
	writeJSON(r.ctx, fasthttp.StatusOK, struct {
		Object string `json:"object"`
		index.Document
	}{"document", doc})
	return info.EmbeddingModel
}

func (s *Server) handleDeleteDocument(r *request, p kbPath) string {
	info, ok := s.collection(r, p)
	if !ok {
		return ""
	}
	if err := s.cfg.KB.DeleteDocument(s.baseCtx, p.coll, p.id); err != nil {
		r.fail(s.fromKB(err))
		return info.EmbeddingModel
	}
	writeJSON(r.ctx, fasthttp.StatusOK, deletedObject{ID: p.id, Object: "document", Deleted: true})
	return info.EmbeddingModel
}

func (s *Server) handleSearch(r *request, p kbPath) string {
	info, ok := s.collection(r, p)
	if !ok {
		return ""
	}
	q, e := parseSearchRequest(r.ctx.PostBody())
	if e != nil {
		r.fail(e)
		return info.EmbeddingModel
	}
	// The query's embedding counts against the key's token budget like an
	// embeddings request (the request itself was admitted already).
	if q.Text != "" {
		r.who.limits.settle(0, len(q.Text)/4+2)
	}
	hits, err := s.cfg.KB.Search(s.baseCtx, p.coll, q)
	if err != nil {
		r.fail(s.fromKB(err))
		return info.EmbeddingModel
	}
	r.logAttrs = append(r.logAttrs, slog.String("mode", string(q.Mode)), slog.Int("hits", len(hits)))
	writeJSON(r.ctx, fasthttp.StatusOK, newList(hits))
	return info.EmbeddingModel
}

// handleBackup writes a backup of the knowledge base into
// <data-dir>/backups/<name>.
func (s *Server) handleBackup(r *request) {
	if s.cfg.KB == nil || s.cfg.DataDir == "" {
		r.fail(&APIError{Status: fasthttp.StatusNotFound, Type: TypeInvalidRequest, Code: "unknown_url",
			Message: "This server has no knowledge base or no data directory to back up into."})
		return
	}
	name, e := parseBackupRequest(r.ctx.PostBody())
	if e != nil {
		r.fail(e)
		return
	}
	if name == "" {
		name = time.Now().UTC().Format("20060102t150405z")
	}
	dest, err := filepath.Abs(filepath.Join(s.cfg.DataDir, "backups", name))
	if err != nil {
		r.fail(errInternal(err))
		return
	}
	r.logAttrs = append(r.logAttrs, slog.String("backup", dest))
	// One backup at a time: each writes every graph and a store
	// checkpoint, and two of one name would race for the directory.
	s.backupMu.Lock()
	defer s.backupMu.Unlock()
	if _, err := os.Lstat(dest); err == nil {
		r.fail(&APIError{Status: fasthttp.StatusConflict, Type: TypeConflict, Param: "name", Code: "backup_exists",
			Message: fmt.Sprintf("A backup named '%s' exists already; choose another name.", name)})
		return
	}
	start := time.Now()
	if err := s.cfg.KB.Backup(s.baseCtx, dest); err != nil {
		r.fail(s.fromKB(err))
		return
	}
	writeJSON(r.ctx, fasthttp.StatusOK, struct {
		Object  string  `json:"object"`
		Name    string  `json:"name"`
		Path    string  `json:"path"`
		Seconds float64 `json:"seconds"`
	}{"backup", name, dest, time.Since(start).Seconds()})
}

// fromKB maps an error of the knowledge base to what the client sees: the
// caller's mistakes are 4xx naming the field, the rest as fromBackend maps
// the embedding model's errors, and anything else (a store failure) a 500.
func (s *Server) fromKB(err error) *APIError {
	var (
		ae *APIError
		re *index.RequestError
		tl *index.TooLargeError
		nf *index.NotFoundError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &re):
		return &APIError{Status: fasthttp.StatusBadRequest, Type: TypeInvalidRequest, Param: re.Field, Code: "invalid_value",
			Message: fmt.Sprintf("Invalid '%s': %v.", re.Field, re.Err), Err: err}
	case errors.As(err, &tl):
		return &APIError{Status: fasthttp.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Param: tl.Field, Code: "request_too_large",
			Message: fmt.Sprintf("'%s' is too large: %s, the limit is %d.", tl.Field, tl.What, tl.Limit), Err: err}
	case errors.As(err, &nf):
		msg := fmt.Sprintf("The %s '%s' does not exist.", nf.Kind, nf.Name)
		if nf.Kind == "collection" && !index.ValidName(nf.Name) {
			msg = fmt.Sprintf("The collection '%s' does not exist: collection names are 1 to 64 of a-z, 0-9, _ and -.", nf.Name)
		}
		return &APIError{Status: fasthttp.StatusNotFound, Type: TypeInvalidRequest, Code: nf.Kind + "_not_found", Message: msg, Err: err}
	case errors.Is(err, index.ErrExists):
		return &APIError{Status: fasthttp.StatusConflict, Type: TypeConflict, Param: "name", Code: "collection_exists",
			Message: "A collection of that name exists already.", Err: err}
	case errors.Is(err, index.ErrModelUnavailable):
		// A configuration problem rather than a passing one; Retry-After
		// keeps clients from hammering while an operator fixes it.
		return &APIError{Status: fasthttp.StatusServiceUnavailable, Type: TypeUnavailable, Code: "model_unavailable",
			Message:    "The collection's embedding model is not served by this server, so nothing can be embedded for it; lexical search still works.",
			RetryAfter: 30 * time.Second, Err: err}
	case errors.Is(err, index.ErrClosed), errors.Is(err, context.Canceled) && s.baseCtx.Err() != nil:
		return &APIError{Status: fasthttp.StatusServiceUnavailable, Type: TypeUnavailable, Code: "shutting_down",
			Message: "The server is shutting down; retry.", RetryAfter: 5 * time.Second, Err: err}
	}
	return fromBackend(err, "")
}
