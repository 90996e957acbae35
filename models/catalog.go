package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// Kind says what a model serves.
type Kind string

// Model kinds.
const (
	KindChat      Kind = "chat"
	KindEmbedding Kind = "embedding"
)

// ParseKind parses a kind as written in configuration; "" means infer it
// from the file (see Entry).
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "chat", "completion", "generate":
		return KindChat, nil
	case "embedding", "embeddings", "embed":
		return KindEmbedding, nil
	}
	return "", fmt.Errorf("unknown model kind %q (want %q or %q)", s, KindChat, KindEmbedding)
}

// OwnedBy is the owned_by value reported for every local model.
const OwnedBy = "infergate"

// Entry is one model as configured.
type Entry struct {
	// ID is the model id clients ask for; empty means the file's base name
	// without the .gguf extension.
	ID string
	// Path is the GGUF file.
	Path string
	// Kind is chat or embedding; empty means embedding when the file
	// declares a pooling type other than none, chat otherwise.
	Kind Kind
}

// Model is one catalogued model: its file, what it serves, and its metadata.
// It is a value; the catalogue never changes after it is built.
type Model struct {
	ID   string
	Kind Kind
	// Path is the absolute path of the GGUF file.
	Path string
	// Size is the file size in bytes.
	Size int64
	// Created is the file's modification time (OpenAI's "created").
	Created time.Time
	// OwnedBy is always OwnedBy.
	OwnedBy string
	// Meta is the summary of the file's GGUF header.
	Meta Summary
}

// Catalog maps model ids to models. It is immutable and safe for concurrent
// use.
type Catalog struct {
	models []Model // configuration order
	byID   map[string]int
}

// DefaultID returns the model id for a path with no configured id: the base
// name without a .gguf extension (in any letter case).
func DefaultID(path string) string {
	base := filepath.Base(path)
	if ext := filepath.Ext(base); strings.EqualFold(ext, ".gguf") {
		base = base[:len(base)-len(ext)]
	}
	return base
}

// NewCatalog builds the catalogue from configured entries, reading and
// validating each file's GGUF header. Every problem (duplicate or invalid
// ids, missing or invalid files, unknown kinds) is reported, joined into one
// error, so a configuration can be fixed in one pass.
func NewCatalog(entries []Entry) (*Catalog, error) {
	c := &Catalog{byID: make(map[string]int, len(entries))}
	var errs []error
	for i, e := range entries {
		m, err := loadEntry(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("model %d (%s): %w", i+1, describe(e), err))
			continue
		}
		if j, dup := c.byID[m.ID]; dup {
			errs = append(errs, fmt.Errorf("model %d: duplicate model id %q: used by %s and %s", i+1, m.ID, c.models[j].Path, m.Path))
			continue
		}
		c.byID[m.ID] = len(c.models)
		c.models = append(c.models, m)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func describe(e Entry) string {
	if e.ID != "" {
		return fmt.Sprintf("id %q", e.ID)
	}
	return fmt.Sprintf("path %q", e.Path)
}

func loadEntry(e Entry) (Model, error) {
	if strings.TrimSpace(e.Path) == "" {
		return Model{}, errors.New("no path given")
	}
	kind, err := ParseKind(string(e.Kind))
	if err != nil {
		return Model{}, err
	}
	id := e.ID
	if id == "" {
		id = DefaultID(e.Path)
	}
	if err := validID(id); err != nil {
		return Model{}, err
	}
	path, err := filepath.Abs(e.Path)
	if err != nil {
		return Model{}, err
	}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return Model{}, fmt.Errorf("model file not found: %w", err)
	}
	if err != nil {
		return Model{}, err
	}
	if !st.Mode().IsRegular() {
		return Model{}, fmt.Errorf("model file %s is not a regular file", path)
	}
	f, err := ReadFile(path)
	if err != nil {
		return Model{}, err
	}
	meta := f.Summary()
	if kind == "" {
		kind = KindChat
		if p := meta.PoolingType; p != PoolingUnspecified && p != PoolingNone {
			kind = KindEmbedding
		}
	}
	return Model{
		ID:      id,
		Kind:    kind,
		Path:    path,
		Size:    st.Size(),
		Created: st.ModTime(),
		OwnedBy: OwnedBy,
		Meta:    meta,
	}, nil
}

// validID rejects ids that could not be written in a request or would be
// confusing in logs; anything else, including "org/model", is allowed.
func validID(id string) error {
	if id == "" {
		return errors.New("empty model id")
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("model id %q contains whitespace or control characters", id)
		}
	}
	return nil
}

// Get returns the model with the given id.
func (c *Catalog) Get(id string) (Model, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Model{}, false
	}
	return c.models[i], true
}

// List returns all models in configuration order, which is stable across
// calls and restarts.
func (c *Catalog) List() []Model {
	return append([]Model(nil), c.models...)
}

// ByKind returns the models of one kind, in configuration order.
func (c *Catalog) ByKind(kind Kind) []Model {
	var out []Model
	for _, m := range c.models {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// Default returns the first configured model of a kind: the one used when a
// request names no model.
func (c *Catalog) Default(kind Kind) (Model, bool) {
	for _, m := range c.models {
		if m.Kind == kind {
			return m, true
		}
	}
	return Model{}, false
}

// Len returns the number of models.
func (c *Catalog) Len() int { return len(c.models) }
