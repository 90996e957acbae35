package gateway

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/infergate/infergate/index"
)

func TestParseKBPath(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want kbPath
		ok   bool
	}{
		{"/v1/collections", kbPath{}, true},
		{"/collections/", kbPath{}, true},
		{"/v1/collections?x=1", kbPath{}, true},
		{"/v1/collections/kb", kbPath{coll: "kb"}, true},
		{"/v1/collections/kb/search", kbPath{coll: "kb", sub: "search"}, true},
		{"/v1/collections/kb/documents", kbPath{coll: "kb", sub: "documents"}, true},
		{"/v1/collections/kb/documents?limit=2", kbPath{coll: "kb", sub: "documents"}, true},
		{"/v1/collections/kb/documents/a%2Fb.md", kbPath{coll: "kb", sub: "documents", id: "a/b.md", hasID: true}, true},
		{"/v1/collections/kb/documents/a/b.md", kbPath{coll: "kb", sub: "documents", id: "a/b.md", hasID: true}, true},
		{"/v1/collections/kb/documents/%3F%23%20x", kbPath{coll: "kb", sub: "documents", id: "?# x", hasID: true}, true},
		{"/v1/collections/kb/documents/", kbPath{}, false},
		{"/v1/collections/kb/documents/%zz", kbPath{}, false},
		{"/v1/collections/kb/search/x", kbPath{}, false},
		{"/v1/collections/kb/", kbPath{}, false},
		{"/v1/collections/kb/other", kbPath{}, false},
		{"/v1/collections//search", kbPath{}, false},
		{"/v1/collectionsx", kbPath{}, false},
		{"/v1/chat/completions", kbPath{}, false},
	} {
		got, ok := parseKBPath(tc.raw)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("parseKBPath(%q) = %+v, %v; want %+v, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseSearchRequest(t *testing.T) {
	q, e := parseSearchRequest([]byte(`{"query":" q ","k":3,"mode":"lexical","filter":{"category":["a","b"],"tags":{"all":["x"]}},"min_score":0.5,"ef":64,"group_by_document":true}`))
	if e != nil {
		t.Fatal(e)
	}
	if q.Text != " q " || q.K != 3 || q.Mode != index.ModeLexical || q.MinScore != 0.5 || q.Ef != 64 || !q.GroupByDocument ||
		q.Filter == nil || len(q.Filter.Category) != 2 || q.Filter.TagsAll[0] != "x" {
		t.Errorf("%+v", q)
	}
	if q, e = parseSearchRequest([]byte(`{"vector":[1, -2.5e-3, 0]}`)); e != nil || len(q.Vector) != 3 || q.Vector[1] != -2.5e-3 {
		t.Errorf("%+v %v", q, e)
	}
	if _, e = parseSearchRequest([]byte(`{"vector":[1e39]}`)); e == nil || e.Param != "vector[0]" {
		t.Errorf("a vector beyond float32 was accepted: %v", e)
	}
}

// FuzzParseKBRequests: the knowledge-base parsers never panic, refuse
// with a well-formed 400 (413 for too many documents) naming a field that
// is in the request, and accept only what the index may be handed.
func FuzzParseKBRequests(f *testing.F) {
	seedBodies(f,
		`{"name":"kb","embedding_model":"m","chunk":{"tokens":64,"overlap":8},"hnsw":{"m":16,"ef_construction":200}}`,
		`{"documents":[{"id":"a","markdown":"# A\n\ntext","metadata":{"title":"A","tags":["x"],"updated":"2026-01-01","product":"p"}}]}`,
		`{"documents":[{"id":"b","html":"<p>x</p>"},{"id":"c","text":"\u0000"}]}`,
		`{"documents":[{"id":"d","text":"x","metadata":{"tags":"x"}}]}`,
		`{"query":"q","k":5,"mode":"hybrid","filter":{"category":"a","tags":{"any":["x"]},"updated":{"after":"2026-01-01"},"k":"v"},"min_score":0.1,"ef":10,"group_by_document":true}`,
		`{"vector":[0.1,-1e-3],"filter":{"title":"x"}}`,
		`{"name":"backup-1"}`, `{"name":"../x"}`, `{"filters":{}}`, ``, `[]`, `{"documents":[{"id":"e","text":"`+"\xff"+`"}]}`,
	)
	check := func(t *testing.T, body []byte, e *APIError) {
		t.Helper()
		switch {
		case e.Status == 413 && e.Param == "documents":
		case e.Code == "unknown_parameter":
			// The param is the unknown key as sent, which may itself hold
			// "." or "[" (checkFuzzError splits at them).
			if e.Status != 400 || !strings.Contains(e.Message, e.Param) {
				t.Fatalf("bad error for %q: %+v", body, e)
			}
		default:
			checkFuzzError(t, body, e)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, e := parseCollectionSpec(body); e != nil {
			check(t, body, e)
		}
		if docs, e := parseUpsertRequest(body); e != nil {
			check(t, body, e)
		} else {
			if len(docs) > index.MaxDocumentsPerUpsert {
				t.Fatalf("accepted %d documents", len(docs))
			}
			for _, d := range docs {
				for _, s := range []string{d.Text, d.Markdown, d.HTML} {
					if !utf8.ValidString(s) {
						t.Fatalf("accepted invalid UTF-8 content %q", s)
					}
				}
				if _, err := json.Marshal(d); err != nil {
					t.Fatalf("accepted a document that does not encode: %v", err)
				}
			}
		}
		if q, e := parseSearchRequest(body); e != nil {
			check(t, body, e)
		} else {
			for _, v := range q.Vector {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("accepted a vector element %v", v)
				}
			}
		}
		if name, e := parseBackupRequest(body); e != nil {
			check(t, body, e)
		} else if name != "" && !index.ValidName(name) {
			t.Fatalf("accepted the backup name %q", name)
		}
	})
}

func TestParseCollectionSpecOverlap(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"name":"kb"}`, 0},
		{`{"name":"kb","chunk":{"tokens":64}}`, 0},
		{`{"name":"kb","chunk":{"tokens":64,"overlap":0}}`, index.NoOverlap},
		{`{"name":"kb","chunk":{"tokens":64,"overlap":8}}`, 8},
	} {
		spec, e := parseCollectionSpec([]byte(tc.body))
		if e != nil || spec.Chunk.Overlap != tc.want {
			t.Errorf("%s: overlap %d (%v), want %d", tc.body, spec.Chunk.Overlap, e, tc.want)
		}
	}
}
