package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Metadata describes a document. Every chunk of the document carries it
// (filters see it, results return it); it lives once, in the document
// record and in memory.
type Metadata struct {
	Title    string
	URL      string
	Category string
	Updated  time.Time // zero when unknown; a date or a time
	Tags     []string
	// Extra holds the free string keys, such as "product" or "audience".
	Extra map[string]string
}

// Limits on metadata, so that one document cannot make every chunk heavy.
const (
	maxMetaKeys     = 64
	maxMetaValue    = 4096
	maxTags         = 64
	maxMetaKeyBytes = 64
)

// reservedKeys are the metadata names with a type of their own.
var reservedKeys = map[string]bool{"title": true, "url": true, "category": true, "updated": true, "tags": true}

// MarshalJSON writes the metadata as one flat object, free keys beside the
// named ones, as it was sent.
func (m Metadata) MarshalJSON() ([]byte, error) {
	o := make(map[string]any, len(m.Extra)+5)
	for k, v := range m.Extra {
		o[k] = v
	}
	if m.Title != "" {
		o["title"] = m.Title
	}
	if m.URL != "" {
		o["url"] = m.URL
	}
	if m.Category != "" {
		o["category"] = m.Category
	}
	if !m.Updated.IsZero() {
		o["updated"] = formatUpdated(m.Updated)
	}
	if len(m.Tags) > 0 {
		o["tags"] = m.Tags
	}
	return json.Marshal(o)
}

func formatUpdated(t time.Time) string {
	if t.Equal(t.Truncate(24*time.Hour)) && t.Location() == time.UTC {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// UnmarshalJSON reads a flat object; a value of the wrong type is a
// *RequestError naming the key.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return &RequestError{Field: "metadata", Err: fmt.Errorf("must be an object: %w", err)}
	}
	if len(raw) > maxMetaKeys {
		return badField("metadata", "has %d keys, at most %d are allowed", len(raw), maxMetaKeys)
	}
	var out Metadata
	str := func(key string, v json.RawMessage) (string, error) {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", badField("metadata."+key, "must be a string")
		}
		if len(s) > maxMetaValue {
			return "", badField("metadata."+key, "is %d bytes, at most %d are allowed", len(s), maxMetaValue)
		}
		return s, nil
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		v := raw[k]
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		var err error
		switch k {
		case "title":
			out.Title, err = str(k, v)
		case "url":
			out.URL, err = str(k, v)
		case "category":
			out.Category, err = str(k, v)
		case "updated":
			var s string
			if s, err = str(k, v); err == nil {
				out.Updated, err = parseUpdated("metadata.updated", s)
			}
		case "tags":
			if err = json.Unmarshal(v, &out.Tags); err != nil {
				err = badField("metadata.tags", "must be an array of strings")
			} else if len(out.Tags) > maxTags {
				err = badField("metadata.tags", "has %d tags, at most %d are allowed", len(out.Tags), maxTags)
			}
		default:
			if len(k) == 0 || len(k) > maxMetaKeyBytes || !utf8.ValidString(k) {
				return badField("metadata", "key %q must be 1 to %d bytes of UTF-8", k, maxMetaKeyBytes)
			}
			var s string
			if s, err = str(k, v); err == nil {
				if out.Extra == nil {
					out.Extra = make(map[string]string)
				}
				out.Extra[k] = s
			}
		}
		if err != nil {
			return err
		}
	}
	*m = out
	return nil
}

// parseUpdated accepts a date (2026-03-01) or an RFC 3339 time.
func parseUpdated(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, badField(field, "%q is not a date (2006-01-02) or an RFC 3339 time", s)
}

// Filter selects documents by metadata. Every set condition must hold; an
// empty Filter accepts everything.
type Filter struct {
	Category      []string          // category is one of these
	TagsAny       []string          // at least one of these tags
	TagsAll       []string          // every one of these tags
	UpdatedAfter  time.Time         // updated strictly after (zero: no bound)
	UpdatedBefore time.Time         // updated strictly before (zero: no bound)
	Equals        map[string]string // free keys equal to these values
}

// Empty reports whether f accepts everything.
func (f *Filter) Empty() bool {
	return f == nil || len(f.Category) == 0 && len(f.TagsAny) == 0 && len(f.TagsAll) == 0 &&
		f.UpdatedAfter.IsZero() && f.UpdatedBefore.IsZero() && len(f.Equals) == 0
}

// Match reports whether m passes f.
func (f *Filter) Match(m *Metadata) bool {
	if f == nil {
		return true
	}
	if len(f.Category) > 0 && !slices.Contains(f.Category, m.Category) {
		return false
	}
	if len(f.TagsAny) > 0 && !slices.ContainsFunc(f.TagsAny, func(t string) bool { return slices.Contains(m.Tags, t) }) {
		return false
	}
	for _, t := range f.TagsAll {
		if !slices.Contains(m.Tags, t) {
			return false
		}
	}
	if !f.UpdatedAfter.IsZero() && (m.Updated.IsZero() || !m.Updated.After(f.UpdatedAfter)) {
		return false
	}
	if !f.UpdatedBefore.IsZero() && (m.Updated.IsZero() || !m.Updated.Before(f.UpdatedBefore)) {
		return false
	}
	for k, v := range f.Equals {
		if m.Extra[k] != v {
			return false
		}
	}
	return true
}

// UnmarshalJSON reads the wire form of a filter:
//
//	{"category": "billing" | ["billing", "account"],
//	 "tags": {"any": [...], "all": [...]} | [...] (any),
//	 "updated": {"after": "2026-01-01", "before": "..."},
//	 "<free key>": "value"}
//
// A value of the wrong type is a *RequestError naming the field.
func (f *Filter) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return badField("filter", "must be an object")
	}
	var out Filter
	strings1 := func(field string, v json.RawMessage) ([]string, error) {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return []string{s}, nil
		}
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return nil, badField(field, "must be a string or an array of strings")
		}
		return ss, nil
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		v := raw[k]
		field := "filter." + k
		var err error
		switch k {
		case "category":
			out.Category, err = strings1(field, v)
		case "tags":
			var ss []string
			if json.Unmarshal(v, &ss) == nil {
				out.TagsAny = ss
				break
			}
			var t struct {
				Any []string `json:"any"`
				All []string `json:"all"`
			}
			if e := strictUnmarshal(v, &t); e != nil {
				err = badField(field, `must be an array of tags or {"any": [...], "all": [...]}`)
			}
			out.TagsAny, out.TagsAll = t.Any, t.All
		case "updated":
			var t struct {
				After  string `json:"after"`
				Before string `json:"before"`
			}
			if e := strictUnmarshal(v, &t); e != nil {
				err = badField(field, `must be {"after": date, "before": date}`)
				break
			}
			if t.After != "" {
				if out.UpdatedAfter, err = parseUpdated(field+".after", t.After); err != nil {
					break
				}
			}
			if t.Before != "" {
				out.UpdatedBefore, err = parseUpdated(field+".before", t.Before)
			}
		case "title", "url":
			err = badField(field, "cannot be filtered on; filter on category, tags, updated or a free key")
		default:
			var s string
			if json.Unmarshal(v, &s) != nil {
				err = badField(field, "free metadata keys hold strings: the filter value must be a string")
				break
			}
			if out.Equals == nil {
				out.Equals = make(map[string]string)
			}
			out.Equals[k] = s
		}
		if err != nil {
			return err
		}
	}
	*f = out
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// MarshalJSON writes the wire form UnmarshalJSON reads.
func (f Filter) MarshalJSON() ([]byte, error) {
	o := map[string]any{}
	for k, v := range f.Equals {
		o[k] = v
	}
	if len(f.Category) > 0 {
		o["category"] = f.Category
	}
	if len(f.TagsAny) > 0 || len(f.TagsAll) > 0 {
		o["tags"] = map[string][]string{"any": f.TagsAny, "all": f.TagsAll}
	}
	if !f.UpdatedAfter.IsZero() || !f.UpdatedBefore.IsZero() {
		u := map[string]string{}
		if !f.UpdatedAfter.IsZero() {
			u["after"] = formatUpdated(f.UpdatedAfter)
		}
		if !f.UpdatedBefore.IsZero() {
			u["before"] = formatUpdated(f.UpdatedBefore)
		}
		o["updated"] = u
	}
	return json.Marshal(o)
}

// String is the filter in its wire form, for logs.
func (f Filter) String() string {
	b, _ := json.Marshal(f)
	return strings.TrimSpace(string(b))
}
