package index

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/infergate/infergate/store"
)

// failingStore injects a failed commit (as a full disk would cause) into
// the real store.
type failingStore struct {
	Store
	fail atomic.Bool
}

var errDiskFull = errors.New("no space left on device")

func (f *failingStore) Apply(ctx context.Context, w *store.Write) error {
	if f.fail.Load() {
		return errDiskFull
	}
	return f.Store.Apply(ctx, w)
}

// TestFailedCommitChangesNothing: a write the store refuses is an error
// and leaves memory and store as they were.
func TestFailedCommitChangesNothing(t *testing.T) {
	kb := openKB(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, kb, "kb")
	mustUpsert(t, kb, "kb", []DocumentInput{synthDoc(1, 1)})
	fs := &failingStore{Store: kb.KB.st}
	kb.KB.st = fs
	before, _ := kb.Collection("kb")
	fs.fail.Store(true)
	if _, err := kb.Upsert(ctx, "kb", []DocumentInput{synthDoc(1, 2), synthDoc(2, 1)}); !errors.Is(err, errDiskFull) {
		t.Fatalf("upsert on a full disk: %v", err)
	}
	if err := kb.DeleteDocument(ctx, "kb", "doc-0001"); !errors.Is(err, errDiskFull) {
		t.Fatalf("delete on a full disk: %v", err)
	}
	after, _ := kb.Collection("kb")
	if after.Documents != before.Documents || after.Chunks != before.Chunks {
		t.Fatalf("after failed writes: %+v, before %+v", after, before)
	}
	c, _ := kb.get("kb")
	if c.graph.Len() != before.Chunks || c.lex.Len() != before.Chunks {
		t.Fatalf("failed write left %d vectors and %d BM25 entries for %d chunks", c.graph.Len(), c.lex.Len(), before.Chunks)
	}
	if v := versionOf(t, kb, "doc-0001"); v != 1 {
		t.Fatalf("doc-0001 at version %d after a failed update", v)
	}
	hits, err := kb.Search(ctx, "kb", Query{Text: "ORD-2026-00002", K: 5, Mode: ModeLexical})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.DocumentID == "doc-0002" {
			t.Fatalf("a document whose write failed is searchable: %+v", h)
		}
	}
	fs.fail.Store(false)
	res, err := kb.Upsert(ctx, "kb", []DocumentInput{synthDoc(1, 2), synthDoc(2, 1)})
	if err != nil || res[0].Status != StatusUpdated || res[1].Status != StatusCreated {
		t.Fatalf("after the disk has room again: %+v %v", res, err)
	}
}

// TestBadInput: each mistake is a *RequestError (or *TooLargeError,
// or not found) naming the field, and nothing is written.
func TestBadInput(t *testing.T) {
	kb := openKB(t, t.TempDir())
	ctx := context.Background()
	mustCreate(t, kb, "kb")
	mustUpsert(t, kb, "kb", []DocumentInput{synthDoc(1, 1)})
	before, _ := kb.Collection("kb")
	many := make([]DocumentInput, MaxDocumentsPerUpsert+1)
	for i := range many {
		many[i] = synthDoc(i, 1)
	}
	good := synthDoc(5, 1)
	for _, tc := range []struct {
		name  string
		docs  []DocumentInput
		field string
	}{
		{"no documents", nil, "documents"},
		{"empty document", []DocumentInput{good, {ID: "x"}}, "documents[1]"},
		{"no id", []DocumentInput{{Text: "hello"}}, "documents[0].id"},
		{"two formats", []DocumentInput{{ID: "x", Text: "a", HTML: "<p>b</p>"}}, "documents[0]"},
		{"binary", []DocumentInput{good, {ID: "x", Text: "PK\x03\x04\x00\x00binary"}}, "documents[1].text"},
		{"not HTML", []DocumentInput{{ID: "x", HTML: "<script>only()</script>"}}, "documents[0].html"},
		{"whitespace only", []DocumentInput{{ID: "x", Markdown: " \n\n\t "}}, "documents[0].markdown"},
		{"duplicate id", []DocumentInput{good, good}, "documents[1].id"},
		{"too many", many, "documents"},
		{"too large", []DocumentInput{{ID: "x", Text: strings.Repeat("a", MaxDocumentBytes+1)}}, "documents[0].text"},
	} {
		_, err := kb.Upsert(ctx, "kb", tc.docs)
		var re *RequestError
		var tl *TooLargeError
		switch {
		case errors.As(err, &re):
			if re.Field != tc.field {
				t.Errorf("%s: field %q, want %q (%v)", tc.name, re.Field, tc.field, err)
			}
		case errors.As(err, &tl):
			if tl.Field != tc.field {
				t.Errorf("%s: field %q, want %q (%v)", tc.name, tl.Field, tc.field, err)
			}
		default:
			t.Errorf("%s: %v, want a request error", tc.name, err)
		}
	}
	for _, tc := range []struct {
		q     Query
		field string
	}{
		{Query{Vector: make([]float32, 12)}, "vector"},
		{Query{}, "query"},
		{Query{Text: "x", K: 101}, "k"},
		{Query{Text: "x", Mode: "fuzzy"}, "mode"},
		{Query{Text: "x", Vector: make([]float32, 384)}, "vector"},
		{Query{Vector: make([]float32, 384), Mode: ModeLexical}, "vector"},
	} {
		_, err := kb.Search(ctx, "kb", tc.q)
		var re *RequestError
		if !errors.As(err, &re) || re.Field != tc.field {
			t.Errorf("search %+v: %v, want a request error on %q", tc.q, err, tc.field)
		}
	}
	if _, err := kb.Search(ctx, "nope", Query{Text: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown collection: %v", err)
	}
	if _, err := kb.CreateCollection(ctx, CollectionSpec{Name: "kb"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate collection: %v", err)
	}
	for _, name := range []string{"", "UPPER", "has space", strings.Repeat("a", 65), "../x"} {
		var re *RequestError
		if _, err := kb.CreateCollection(ctx, CollectionSpec{Name: name}); !errors.As(err, &re) || re.Field != "name" {
			t.Errorf("collection name %q: %v", name, err)
		}
	}
	var f Filter
	for _, bad := range []string{`{"updated": {"after": 5}}`, `{"category": 3}`, `{"product": true}`, `{"tags": {"some": []}}`, `[]`} {
		var re *RequestError
		if err := f.UnmarshalJSON([]byte(bad)); !errors.As(err, &re) || !strings.HasPrefix(re.Field, "filter") {
			t.Errorf("filter %s: %v, want a request error naming the field", bad, err)
		}
	}
	after, _ := kb.Collection("kb")
	if after.Documents != before.Documents || after.Chunks != before.Chunks {
		t.Errorf("bad requests changed the collection: %+v, before %+v", after, before)
	}
}
