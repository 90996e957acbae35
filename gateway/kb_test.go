package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/infergate/infergate/index"
	"github.com/infergate/infergate/store"
)

// The knowledge-base endpoints against the real index: a Pebble store in
// a temporary directory and the real MiniLM through the scheduler.

const adminKey = "sk-admin"

// openTestKB opens a knowledge base in dir with the given embedders. Its
// cleanup is registered before any server's, so it runs after the server
// stopped; close closes it earlier (idempotent).
func openTestKB(t *testing.T, dir string, embedders map[string]index.Embedder) (kb *index.KB, close func()) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "store"), &store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	kb, err = index.Open(ctx, index.Config{Store: st, Dir: filepath.Join(dir, "index"),
		Embedders: embedders, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	close = func() {
		once.Do(func() {
			if err := kb.Close(); err != nil {
				t.Error(err)
			}
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(close)
	return kb, close
}

// kbServer serves realConfig plus a fresh knowledge base.
func kbServer(t *testing.T) string {
	t.Helper()
	_, emb := realModels(t)
	dir := t.TempDir()
	kb, _ := openTestKB(t, dir, map[string]index.Embedder{emb.ModelID(): emb})
	cfg := realConfig(t)
	cfg.KB, cfg.DataDir = kb, dir
	cfg.Limits.MaxIngestBodyBytes = 1 << 20
	_, base := startServer(t, cfg)
	return base
}

// kbDocs are three small support articles in the three formats.
const kbDocs = `{"documents":[
 {"id":"billing/refunds.md","markdown":"# Refunds\n\nRefunds for annual plans are issued within five business days to the original card.\n\n## Partial refunds\n\nWe refund unused months when you downgrade.","metadata":{"category":"billing","tags":["refund","plans"],"updated":"2026-01-15","product":"cloud"}},
 {"id":"account/password.html","html":"<html><head><title>Reset your password</title></head><body><h1>Reset your password</h1><p>Open the login page and choose Forgot password. We email a reset link that expires after one hour.</p></body></html>","metadata":{"category":"account","tags":["login"]}},
 {"id":"shipping.txt","text":"Shipping takes three to seven days inside the EU. Tracking numbers arrive by email once the parcel leaves the warehouse.","metadata":{"category":"orders","updated":"2025-11-02"}}
]}`

type kbHit struct {
	DocumentID string          `json:"document_id"`
	ChunkID    uint64          `json:"chunk_id"`
	Score      float64         `json:"score"`
	Text       string          `json:"text"`
	Heading    []string        `json:"heading"`
	Metadata   json.RawMessage `json:"metadata"`
}

func search(t *testing.T, base, coll, body string) []kbHit {
	t.Helper()
	resp, b := do(t, "POST", base+"/v1/collections/"+coll+"/search", key, body)
	if resp.StatusCode != 200 {
		t.Fatalf("search %s: %d %s", body, resp.StatusCode, b)
	}
	var out struct {
		Object string  `json:"object"`
		Data   []kbHit `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Object != "list" {
		t.Fatalf("search %s: %v %s", body, err, b)
	}
	return out.Data
}

func mustStatus(t *testing.T, method, url, k, body string, want int) []byte {
	t.Helper()
	resp, b := do(t, method, url, k, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	return b
}

func TestKBLifecycle(t *testing.T) {
	base := kbServer(t)
	col := base + "/v1/collections"

	b := mustStatus(t, "POST", col, adminKey, `{"name":"support","chunk":{"tokens":64,"overlap":8}}`, 201)
	var info struct {
		Object, Name   string
		EmbeddingModel string `json:"embedding_model"`
		Dimensions     int
		Chunk          index.ChunkParams
		ModelAvailable bool `json:"model_available"`
	}
	if err := json.Unmarshal(b, &info); err != nil || info.Object != "collection" || info.Name != "support" || info.Dimensions != 384 ||
		info.Chunk.Tokens != 64 || !info.ModelAvailable {
		t.Fatalf("%v %s", err, b)
	}
	resp, b := do(t, "POST", col, adminKey, `{"name":"support"}`)
	if e := wantError(t, resp, b, 409, TypeConflict, "collection_exists"); e.Error.Param == nil || *e.Error.Param != "name" {
		t.Errorf("param: %s", b)
	}

	b = mustStatus(t, "POST", col+"/support/documents", adminKey, kbDocs, 200)
	var up struct {
		Data []index.UpsertResult
	}
	if err := json.Unmarshal(b, &up); err != nil || len(up.Data) != 3 {
		t.Fatalf("%v %s", err, b)
	}
	for _, r := range up.Data {
		if r.Status != index.StatusCreated || r.Chunks < 1 || r.Embedded != r.Chunks {
			t.Errorf("upsert: %+v", r)
		}
	}
	// The same again changes nothing; new metadata alone embeds nothing.
	b = mustStatus(t, "POST", col+"/support/documents", adminKey, kbDocs, 200)
	if !strings.Contains(string(b), `"status":"unchanged"`) || strings.Contains(string(b), `"created"`) {
		t.Errorf("re-upsert: %s", b)
	}
	b = mustStatus(t, "POST", col+"/support/documents", adminKey,
		`{"documents":[{"id":"shipping.txt","text":"Shipping takes three to seven days inside the EU. Tracking numbers arrive by email once the parcel leaves the warehouse.","metadata":{"category":"orders","updated":"2026-02-01"}}]}`, 200)
	if !strings.Contains(string(b), `"status":"updated"`) || !strings.Contains(string(b), `"embedded":0`) {
		t.Errorf("metadata update: %s", b)
	}

	b = mustStatus(t, "GET", col, key, "", 200)
	if !strings.Contains(string(b), `"object":"list"`) || !strings.Contains(string(b), `"name":"support"`) || !strings.Contains(string(b), `"documents":3`) {
		t.Errorf("list: %s", b)
	}
	mustStatus(t, "GET", col+"/support", key, "", 200)

	// A document id with a slash, escaped in the path (or not).
	for _, id := range []string{url.PathEscape("billing/refunds.md"), "billing/refunds.md"} {
		b = mustStatus(t, "GET", col+"/support/documents/"+id, key, "", 200)
		var doc index.Document
		if err := json.Unmarshal(b, &doc); err != nil || doc.ID != "billing/refunds.md" || doc.Format != "markdown" ||
			!strings.HasPrefix(doc.Content, "# Refunds") || doc.Metadata.Category != "billing" || doc.Metadata.Extra["product"] != "cloud" {
			t.Fatalf("get %s: %v %s", id, err, b)
		}
	}

	// Paging: two, then the last one.
	var page struct {
		Data       []index.Document `json:"data"`
		NextCursor *string          `json:"next_cursor"`
		HasMore    bool             `json:"has_more"`
	}
	b = mustStatus(t, "GET", col+"/support/documents?limit=2", key, "", 200)
	if err := json.Unmarshal(b, &page); err != nil || len(page.Data) != 2 || !page.HasMore || page.NextCursor == nil || page.Data[0].Content != "" {
		t.Fatalf("page 1: %v %s", err, b)
	}
	b = mustStatus(t, "GET", col+"/support/documents?limit=2&cursor="+url.QueryEscape(*page.NextCursor), key, "", 200)
	first := page.Data[0].ID
	page.NextCursor, page.Data = nil, nil
	if err := json.Unmarshal(b, &page); err != nil || len(page.Data) != 1 || page.HasMore || page.NextCursor != nil || page.Data[0].ID == first {
		t.Fatalf("page 2: %v %s", err, b)
	}

	for _, tc := range []struct{ body, want string }{
		{`{"query":"how long until I get my money back for a yearly plan"}`, "billing/refunds.md"},
		{`{"query":"forgot password reset link","mode":"vector"}`, "account/password.html"},
		{`{"query":"tracking number parcel","mode":"lexical"}`, "shipping.txt"},
		{`{"query":"refund","filter":{"category":"account"},"k":1}`, "account/password.html"},
		{`{"query":"refund","filter":{"updated":{"after":"2026-01-20"}}}`, "shipping.txt"},
		{`{"query":"refund","filter":{"product":"cloud"},"group_by_document":true}`, "billing/refunds.md"},
	} {
		hits := search(t, base, "support", tc.body)
		if len(hits) == 0 || hits[0].DocumentID != tc.want {
			t.Errorf("search %s: got %+v, want %s first", tc.body, hits, tc.want)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i].Score > hits[i-1].Score {
				t.Errorf("search %s: not best first: %+v", tc.body, hits)
			}
		}
	}
	if hits := search(t, base, "support", `{"query":"refund","filter":{"category":"account"},"k":5}`); len(hits) != 1 {
		t.Errorf("filter let through other documents: %+v", hits)
	}
	if hits := search(t, base, "support", `{"query":"refund","group_by_document":true,"k":10}`); len(hits) != 3 {
		t.Errorf("grouped search: %d hits, want the 3 documents", len(hits))
	}

	// Backups: to a name, which is then taken.
	b = mustStatus(t, "POST", base+"/admin/backup", adminKey, `{"name":"first"}`, 200)
	var bk struct{ Path string }
	if err := json.Unmarshal(b, &bk); err != nil || filepath.Base(bk.Path) != "first" {
		t.Fatalf("%v %s", err, b)
	}
	for _, sub := range []string{"store", "index"} {
		if _, err := os.Stat(filepath.Join(bk.Path, sub)); err != nil {
			t.Errorf("backup lacks %s: %v", sub, err)
		}
	}
	resp, b = do(t, "POST", base+"/admin/backup", adminKey, `{"name":"first"}`)
	wantError(t, resp, b, 409, TypeConflict, "backup_exists")
	b = mustStatus(t, "POST", base+"/admin/backup", adminKey, "", 200)
	if !strings.Contains(string(b), "backups") {
		t.Errorf("unnamed backup: %s", b)
	}

	b = mustStatus(t, "DELETE", col+"/support/documents/"+url.PathEscape("billing/refunds.md"), adminKey, "", 200)
	if string(b) != `{"id":"billing/refunds.md","object":"document","deleted":true}` {
		t.Errorf("delete: %s", b)
	}
	resp, b = do(t, "GET", col+"/support/documents/"+url.PathEscape("billing/refunds.md"), key, "")
	wantError(t, resp, b, 404, TypeInvalidRequest, "document_not_found")
	for _, h := range search(t, base, "support", `{"query":"refunds for annual plans"}`) {
		if h.DocumentID == "billing/refunds.md" {
			t.Errorf("a deleted document is found: %+v", h)
		}
	}

	_, metrics := do(t, "GET", base+"/metrics", "", "")
	for _, want := range []string{`infergate_kb_documents{collection="support"} 2`, `endpoint="kb_search"`, `endpoint="kb_upsert"`,
		`infergate_kb_search_duration_seconds`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	b = mustStatus(t, "DELETE", col+"/support", adminKey, "", 200)
	if string(b) != `{"id":"support","object":"collection","deleted":true}` {
		t.Errorf("delete: %s", b)
	}
	resp, b = do(t, "GET", col+"/support", key, "")
	wantError(t, resp, b, 404, TypeInvalidRequest, "collection_not_found")
}

// kbState is what a bad request must leave as it was: the listing and a
// search's results.
func kbState(t *testing.T, base string) string {
	t.Helper()
	list := mustStatus(t, "GET", base+"/v1/collections/support/documents", key, "", 200)
	var ids []string
	for _, h := range search(t, base, "support", `{"query":"refund password shipping","k":10}`) {
		ids = append(ids, fmt.Sprintf("%s#%d", h.DocumentID, h.ChunkID))
	}
	colls := mustStatus(t, "GET", base+"/v1/collections", key, "", 200)
	return string(list) + "\n" + strings.Join(ids, " ") + "\n" + string(colls)
}

func TestKBBadRequests(t *testing.T) {
	base := kbServer(t)
	col := base + "/v1/collections"
	mustStatus(t, "POST", col, adminKey, `{"name":"support"}`, 201)
	mustStatus(t, "POST", col+"/support/documents", adminKey, kbDocs, 200)
	before := kbState(t, base)

	vec := make([]string, 384)
	for i := range vec {
		vec[i] = "0.01"
	}
	manyDocs := make([]string, index.MaxDocumentsPerUpsert+1)
	for i := range manyDocs {
		manyDocs[i] = fmt.Sprintf(`{"id":"d%d","text":"x"}`, i)
	}
	big := strings.Repeat("a", 70<<10) // over MaxBodyBytes (64 KiB)
	huge := strings.Repeat("a", 1<<20) // over MaxIngestBodyBytes (1 MiB)
	docs := func(d ...string) string { return `{"documents":[` + strings.Join(d, ",") + `]}` }

	for _, tc := range []struct {
		name, method, path, key, body string
		status                        int
		code, param                   string
	}{
		{"unknown collection search", "POST", "/v1/collections/nope/search", key, `{"query":"x"}`, 404, "collection_not_found", ""},
		{"unknown collection and a bad body", "POST", "/v1/collections/nope/search", key, `{"k":"x"`, 404, "collection_not_found", ""},
		{"unknown collection upsert", "POST", "/v1/collections/nope/documents", adminKey, docs(`{"id":"a","text":"x"}`), 404, "collection_not_found", ""},
		{"unknown collection document", "GET", "/v1/collections/nope/documents/a", key, "", 404, "collection_not_found", ""},
		{"invalid collection name", "GET", "/v1/collections/No%20Such", key, "", 404, "collection_not_found", ""},
		{"unknown document", "GET", "/v1/collections/support/documents/nope", key, "", 404, "document_not_found", ""},
		{"delete unknown document", "DELETE", "/v1/collections/support/documents/nope", adminKey, "", 404, "document_not_found", ""},
		{"delete unknown collection", "DELETE", "/v1/collections/nope", adminKey, "", 404, "collection_not_found", ""},
		{"duplicate collection", "POST", "/v1/collections", adminKey, `{"name":"support"}`, 409, "collection_exists", "name"},
		{"invalid new name", "POST", "/v1/collections", adminKey, `{"name":"Bad Name"}`, 400, "invalid_value", "name"},
		{"bad chunk size", "POST", "/v1/collections", adminKey, `{"name":"x","chunk":{"tokens":3}}`, 400, "invalid_value", "chunk.tokens"},
		{"unknown chunk field", "POST", "/v1/collections", adminKey, `{"name":"x","chunk":{"size":3}}`, 400, "unknown_parameter", "chunk.size"},
		{"unknown model", "POST", "/v1/collections", adminKey, `{"name":"x","embedding_model":"nope"}`, 400, "invalid_value", "embedding_model"},
		{"wrong vector dimension", "POST", "/v1/collections/support/search", key, `{"vector":[0.1,0.2],"mode":"vector"}`, 400, "invalid_value", "vector"},
		{"vector of strings", "POST", "/v1/collections/support/search", key, `{"vector":["a"]}`, 400, "invalid_type", "vector[0]"},
		{"vector and query", "POST", "/v1/collections/support/search", key, `{"query":"x","vector":[` + strings.Join(vec, ",") + `]}`, 400, "invalid_value", "vector"},
		{"no query", "POST", "/v1/collections/support/search", key, `{"k":3}`, 400, "invalid_value", "query"},
		{"bad mode", "POST", "/v1/collections/support/search", key, `{"query":"x","mode":"fuzzy"}`, 400, "invalid_value", "mode"},
		{"k too large", "POST", "/v1/collections/support/search", key, `{"query":"x","k":1000}`, 400, "invalid_value", "k"},
		{"bad filter type", "POST", "/v1/collections/support/search", key, `{"query":"x","filter":{"category":5}}`, 400, "invalid_value", "filter.category"},
		{"bad filter date", "POST", "/v1/collections/support/search", key, `{"query":"x","filter":{"updated":{"after":"soon"}}}`, 400, "invalid_value", "filter.updated.after"},
		{"filter not an object", "POST", "/v1/collections/support/search", key, `{"query":"x","filter":[1]}`, 400, "invalid_value", "filter"},
		{"unknown search field", "POST", "/v1/collections/support/search", key, `{"query":"x","filters":{}}`, 400, "unknown_parameter", "filters"},
		{"malformed JSON", "POST", "/v1/collections/support/search", key, `{"query":"x"`, 400, "invalid_json", ""},
		{"not an object", "POST", "/v1/collections/support/documents", adminKey, `[1]`, 400, "invalid_json", ""},
		{"no documents field", "POST", "/v1/collections/support/documents", adminKey, `{}`, 400, "missing_required_parameter", "documents"},
		{"no documents", "POST", "/v1/collections/support/documents", adminKey, docs(), 400, "invalid_value", "documents"},
		{"empty document", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"new","text":"ok text"}`, `{"id":"empty"}`), 400, "invalid_value", "documents[1]"},
		{"two formats", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"a","text":"x","html":"<p>x</p>"}`), 400, "invalid_value", "documents[0]"},
		{"no id", "POST", "/v1/collections/support/documents", adminKey, docs(`{"text":"x"}`), 400, "invalid_value", "documents[0].id"},
		{"duplicate ids", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"a","text":"x"}`, `{"id":"a","text":"y"}`), 400, "invalid_value", "documents[1].id"},
		{"binary escapes in text", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"bin","text":"\u007fELF\u0002\u0001\u0001\u0000\u0000"}`), 400, "invalid_value", "documents[0].text"},
		{"binary bytes in text", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"bin","text":"PK` + "\xff\xfe\x80" + `"}`), 400, "invalid_value", "documents[0].text"},
		{"whitespace only", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"ws","markdown":"   \n\n  "}`), 400, "invalid_value", "documents[0].markdown"},
		{"unknown document field", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"a","content":"x"}`), 400, "unknown_parameter", "documents[0].content"},
		{"bad metadata type", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"a","text":"x","metadata":{"tags":"x"}}`), 400, "invalid_value", "documents[0].metadata.tags"},
		{"bad metadata date", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"a","text":"x","metadata":{"updated":"tomorrow"}}`), 400, "invalid_value", "documents[0].metadata.updated"},
		{"text of the wrong type", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"a","text":5}`), 400, "invalid_type", "documents[0].text"},
		{"too many documents", "POST", "/v1/collections/support/documents", adminKey, docs(manyDocs...), 413, "request_too_large", "documents"},
		{"oversized ingest body", "POST", "/v1/collections/support/documents", adminKey, docs(`{"id":"big","text":"` + huge + `"}`), 413, "request_too_large", ""},
		{"oversized search body", "POST", "/v1/collections/support/search", key, `{"query":"` + big + `"}`, 413, "request_too_large", ""},
		{"oversized chat body", "POST", "/v1/chat/completions", key, chatBody(`,"user":"` + big + `"`), 413, "request_too_large", ""},
		{"bad list limit", "GET", "/v1/collections/support/documents?limit=many", key, "", 400, "invalid_type", "limit"},
		{"list limit out of range", "GET", "/v1/collections/support/documents?limit=5000", key, "", 400, "invalid_value", "limit"},
		{"bad cursor", "GET", "/v1/collections/support/documents?cursor=%25%25", key, "", 400, "invalid_value", "cursor"},
		{"method", "PUT", "/v1/collections/support", adminKey, "", 405, "method_not_allowed", ""},
		{"unknown sub-route", "GET", "/v1/collections/support/chunks", key, "", 404, "unknown_url", ""},
		{"missing key", "POST", "/v1/collections/support/search", "", `{"query":"x"}`, 401, "missing_api_key", ""},
		{"forged key", "POST", "/v1/collections/support/search", "sk-forged", `{"query":"x"}`, 401, "invalid_api_key", ""},
		{"API key on an upsert", "POST", "/v1/collections/support/documents", key, docs(`{"id":"a","text":"x"}`), 401, "invalid_api_key", ""},
		{"API key on a delete", "DELETE", "/v1/collections/support", key, "", 401, "invalid_api_key", ""},
		{"API key on a create", "POST", "/v1/collections", key, `{"name":"other"}`, 401, "invalid_api_key", ""},
		{"API key on a backup", "POST", "/admin/backup", key, "", 401, "invalid_api_key", ""},
		{"no key on a delete", "DELETE", "/v1/collections/support", "", "", 401, "missing_api_key", ""},
		{"bad backup name", "POST", "/admin/backup", adminKey, `{"name":"../etc"}`, 400, "invalid_value", "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := do(t, tc.method, base+tc.path, tc.key, tc.body)
			e := wantError(t, resp, b, tc.status, "", tc.code)
			param := ""
			if e.Error.Param != nil {
				param = *e.Error.Param
			}
			if param != tc.param {
				t.Errorf("param %q, want %q: %s", param, tc.param, b)
			}
			if after := kbState(t, base); after != before {
				t.Fatalf("the stored data changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestKBAbsent: a server without a knowledge base has no such routes.
func TestKBAbsent(t *testing.T) {
	_, base := startServer(t, realConfig(t))
	resp, b := do(t, "GET", base+"/v1/collections", key, "")
	wantError(t, resp, b, 404, TypeInvalidRequest, "unknown_url")
	resp, b = do(t, "POST", base+"/admin/backup", adminKey, "")
	wantError(t, resp, b, 404, TypeInvalidRequest, "unknown_url")
}

// TestKBWithoutModel: a data directory served without the embedding model
// its collection was made with still answers lexical searches; what needs
// the model is a 503.
func TestKBWithoutModel(t *testing.T) {
	_, emb := realModels(t)
	dir := t.TempDir()
	kb, closeKB := openTestKB(t, dir, map[string]index.Embedder{emb.ModelID(): emb})
	ctx := context.Background()
	if _, err := kb.CreateCollection(ctx, index.CollectionSpec{Name: "support"}); err != nil {
		t.Fatal(err)
	}
	docs, e := parseUpsertRequest([]byte(kbDocs))
	if e != nil {
		t.Fatal(e)
	}
	if _, err := kb.Upsert(ctx, "support", docs); err != nil {
		t.Fatal(err)
	}
	closeKB()

	kb, _ = openTestKB(t, dir, nil)
	cfg := realConfig(t)
	cfg.KB, cfg.DataDir = kb, dir
	_, base := startServer(t, cfg)
	if hits := search(t, base, "support", `{"query":"tracking number","mode":"lexical"}`); len(hits) == 0 || hits[0].DocumentID != "shipping.txt" {
		t.Errorf("lexical search without the model: %+v", hits)
	}
	b := mustStatus(t, "GET", base+"/v1/collections/support", key, "", 200)
	if !strings.Contains(string(b), `"model_available":false`) {
		t.Errorf("%s", b)
	}
	for _, tc := range []struct{ path, body string }{
		{"/search", `{"query":"tracking number"}`},
		{"/documents", `{"documents":[{"id":"new","text":"new text"}]}`},
	} {
		k := key
		if tc.path == "/documents" {
			k = adminKey
		}
		resp, b := do(t, "POST", base+"/v1/collections/support"+tc.path, k, tc.body)
		wantError(t, resp, b, 503, TypeUnavailable, "model_unavailable")
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tc.path)
		}
	}
	resp, b := do(t, "POST", base+"/v1/collections", adminKey, `{"name":"other"}`)
	if e := wantError(t, resp, b, 400, TypeInvalidRequest, "invalid_value"); e.Error.Param == nil || *e.Error.Param != "embedding_model" {
		t.Errorf("%s", b)
	}
}
