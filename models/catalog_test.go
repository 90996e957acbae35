package models

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	stories := testModel(t, StoriesModel)
	minilm := testModel(t, MiniLMModel)
	dir := t.TempDir()
	text := filepath.Join(dir, "readme.gguf")
	if err := os.WriteFile(text, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "absent.gguf")

	type want struct {
		id   string
		kind Kind
		arch string
	}
	tests := []struct {
		name    string
		entries []Entry
		want    []want   // models in List order, when no error
		errs    []string // substrings of the error, when one is expected
		is      []error  // errors.Is targets
	}{
		{
			name:    "default ids and inferred kinds",
			entries: []Entry{{Path: stories}, {Path: minilm}},
			want: []want{
				{"stories260K", KindChat, "llama"},
				{"all-MiniLM-L6-v2-Q4_K_M", KindEmbedding, "bert"},
			},
		},
		{
			name: "explicit ids and kinds keep configuration order",
			entries: []Entry{
				{ID: "minilm", Path: minilm, Kind: "embeddings"},
				{ID: "org/stories", Path: stories, Kind: KindChat},
				{ID: "stories-as-embedder", Path: stories, Kind: KindEmbedding},
			},
			want: []want{
				{"minilm", KindEmbedding, "bert"},
				{"org/stories", KindChat, "llama"},
				{"stories-as-embedder", KindEmbedding, "llama"},
			},
		},
		{
			name:    "duplicate id",
			entries: []Entry{{ID: "m", Path: stories}, {ID: "m", Path: minilm}},
			errs:    []string{`duplicate model id "m"`, stories, minilm},
		},
		{
			name:    "duplicate default id",
			entries: []Entry{{Path: stories}, {ID: "stories260K", Path: minilm}},
			errs:    []string{`duplicate model id "stories260K"`},
		},
		{
			name:    "missing file",
			entries: []Entry{{ID: "gone", Path: missing}},
			errs:    []string{`id "gone"`, "model file not found", missing},
			is:      []error{os.ErrNotExist},
		},
		{
			name:    "not a GGUF file",
			entries: []Entry{{Path: text}},
			errs:    []string{text, "not a GGUF file"},
			is:      []error{ErrNotGGUF},
		},
		{
			name:    "directory",
			entries: []Entry{{ID: "d", Path: dir}},
			errs:    []string{"not a regular file"},
		},
		{
			name:    "bad kind",
			entries: []Entry{{Path: stories, Kind: "vision"}},
			errs:    []string{`unknown model kind "vision"`},
		},
		{
			name:    "no path",
			entries: []Entry{{ID: "x"}},
			errs:    []string{"no path given"},
		},
		{
			name:    "bad id",
			entries: []Entry{{ID: "two words", Path: stories}},
			errs:    []string{"whitespace"},
		},
		{
			name: "every problem reported at once",
			entries: []Entry{
				{ID: "ok", Path: stories},
				{ID: "gone", Path: missing},
				{ID: "ok", Path: minilm},
				{Path: text},
			},
			errs: []string{"model 2", "model 3", "model 4", "not found", "duplicate", "not a GGUF"},
			is:   []error{os.ErrNotExist, ErrNotGGUF},
		},
		{
			name:    "empty catalogue",
			entries: nil,
			want:    []want{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCatalog(tc.entries)
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tc.errs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				for _, target := range tc.is {
					if !errors.Is(err, target) {
						t.Errorf("error %q is not %v", err, target)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			list := c.List()
			if len(list) != len(tc.want) || c.Len() != len(tc.want) {
				t.Fatalf("List has %d models, want %d", len(list), len(tc.want))
			}
			for i, w := range tc.want {
				m := list[i]
				if m.ID != w.id || m.Kind != w.kind || m.Meta.Architecture != w.arch {
					t.Errorf("model %d = %s/%s/%s, want %s/%s/%s", i, m.ID, m.Kind, m.Meta.Architecture, w.id, w.kind, w.arch)
				}
				got, ok := c.Get(w.id)
				if !ok || !reflect.DeepEqual(got, m) {
					t.Errorf("Get(%q) = %v, %v", w.id, got.ID, ok)
				}
			}
			if !reflect.DeepEqual(c.List(), list) {
				t.Error("List order changed between calls")
			}
			if _, ok := c.Get("nope"); ok {
				t.Error("Get(nope) ok")
			}
		})
	}
}

func TestCatalogModelFields(t *testing.T) {
	stories := testModel(t, StoriesModel)
	minilm := testModel(t, MiniLMModel)
	c, err := NewCatalog([]Entry{{Path: stories}, {ID: "minilm", Path: minilm}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(stories)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := c.Get("stories260K")
	if !filepath.IsAbs(m.Path) || m.Path != mustAbs(t, stories) {
		t.Errorf("Path = %q", m.Path)
	}
	if m.Size != 1185376 || m.OwnedBy != "infergate" || !m.Created.Equal(st.ModTime()) || m.Created.IsZero() {
		t.Errorf("Size %d, OwnedBy %q, Created %v (mtime %v)", m.Size, m.OwnedBy, m.Created, st.ModTime())
	}
	if m.Meta.ChatTemplate != "" || m.Meta.ContextLength != 2048 {
		t.Errorf("Meta = %+v", m.Meta)
	}
	e, _ := c.Get("minilm")
	if e.Meta.EmbeddingLength != 384 || e.Meta.PoolingType != PoolingMean || e.Kind != KindEmbedding {
		t.Errorf("minilm: kind %s, Meta = %+v", e.Kind, e.Meta)
	}
	if d, ok := c.Default(KindChat); !ok || d.ID != "stories260K" {
		t.Errorf("Default(chat) = %v %v", d.ID, ok)
	}
	if d, ok := c.Default(KindEmbedding); !ok || d.ID != "minilm" {
		t.Errorf("Default(embedding) = %v %v", d.ID, ok)
	}
	if got := c.ByKind(KindEmbedding); len(got) != 1 || got[0].ID != "minilm" {
		t.Errorf("ByKind(embedding) = %v", got)
	}
	// List returns a copy: changing it must not change the catalogue.
	c.List()[0].ID = "changed"
	if _, ok := c.Get("stories260K"); !ok || c.List()[0].ID != "stories260K" {
		t.Error("List exposed the catalogue's own slice")
	}
	empty, _ := NewCatalog(nil)
	if _, ok := empty.Default(KindChat); ok {
		t.Error("Default on an empty catalogue ok")
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDefaultID(t *testing.T) {
	tests := map[string]string{
		"/m/stories260K.gguf":                "stories260K",
		"qwen2.5-7b-instruct-q4_k_m.gguf":    "qwen2.5-7b-instruct-q4_k_m",
		"/m/Model.GGUF":                      "Model",
		"/m/model.bin":                       "model.bin",
		"relative/dir/nomic-embed-text.gguf": "nomic-embed-text",
	}
	for in, want := range tests {
		if got := DefaultID(in); got != want {
			t.Errorf("DefaultID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in   string
		want Kind
		err  bool
	}{
		{"", "", false}, {"chat", KindChat, false}, {" Chat ", KindChat, false},
		{"embedding", KindEmbedding, false}, {"embeddings", KindEmbedding, false},
		{"embed", KindEmbedding, false}, {"rerank", "", true},
	}
	for _, tc := range tests {
		got, err := ParseKind(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseKind(%q) = %q, %v", tc.in, got, err)
		}
	}
}
