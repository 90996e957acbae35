package gateway

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/infergate/infergate/index"
)

// The knowledge-base requests are infergate's own, not OpenAI's, so they
// are parsed strictly: an unknown field is a 400 rather than ignored, since
// a misspelt "filter" or "group_by_document" would otherwise change a
// search's results without a word. The field helpers of jsonparse.go name
// the offending parameter; the index's own decoders (Metadata, Filter)
// name theirs.

// only refuses any key of o other than allowed.
func (o object) only(allowed ...string) *APIError {
	for _, k := range slices.Sorted(maps.Keys(o.fields)) {
		if !slices.Contains(allowed, k) {
			return badRequest(o.param(k), "unknown_parameter", fmt.Sprintf("Unrecognized request argument supplied: '%s'.", o.param(k)))
		}
	}
	return nil
}

// kbObject parses a body that must be one JSON object with only the
// allowed keys.
func kbObject(body []byte, allowed ...string) (object, *APIError) {
	o, e := parseBody(body)
	if e != nil {
		return o, e
	}
	return o, o.only(allowed...)
}

// kbInt reads an integer field; the index checks its range, so that the
// limits are stated in one place.
func (o object) kbInt(key string) (int, *APIError) {
	v, _, e := o.integer(key, math.MinInt32, math.MaxInt32)
	return int(v), e
}

// indexError maps an error of the index's decoders, whose field is
// relative to the value decoded, to a 400 naming the field in the request.
func indexError(err error, prefix string) *APIError {
	var re *index.RequestError
	if !errors.As(err, &re) {
		return badRequest(prefix, "invalid_value", fmt.Sprintf("Invalid '%s': %v.", prefix, err))
	}
	field := re.Field
	if prefix != "" {
		field = prefix + "." + field
	}
	return badRequest(field, "invalid_value", fmt.Sprintf("Invalid '%s': %v.", field, re.Err))
}

// parseCollectionSpec decodes POST /v1/collections.
func parseCollectionSpec(body []byte) (index.CollectionSpec, *APIError) {
	var spec index.CollectionSpec
	o, e := kbObject(body, "name", "embedding_model", "chunk", "hnsw")
	if e != nil {
		return spec, e
	}
	var ok bool
	if spec.Name, ok, e = o.str("name"); e != nil {
		return spec, e
	} else if !ok {
		return spec, errMissing("name")
	}
	if spec.EmbeddingModel, _, e = o.str("embedding_model"); e != nil {
		return spec, e
	}
	if c, ok, e := o.obj("chunk"); e != nil {
		return spec, e
	} else if ok {
		if e := c.only("tokens", "overlap"); e != nil {
			return spec, e
		}
		if spec.Chunk.Tokens, e = c.kbInt("tokens"); e != nil {
			return spec, e
		}
		if spec.Chunk.Overlap, e = c.kbInt("overlap"); e != nil {
			return spec, e
		}
		if c.has("overlap") && spec.Chunk.Overlap == 0 {
			spec.Chunk.Overlap = index.NoOverlap // asked for, not left to the default
		}
	}
	if h, ok, e := o.obj("hnsw"); e != nil {
		return spec, e
	} else if ok {
		if e := h.only("m", "ef_construction"); e != nil {
			return spec, e
		}
		if spec.HNSW.M, e = h.kbInt("m"); e != nil {
			return spec, e
		}
		if spec.HNSW.EfConstruction, e = h.kbInt("ef_construction"); e != nil {
			return spec, e
		}
	}
	return spec, nil
}

// parseUpsertRequest decodes POST /v1/collections/{name}/documents.
func parseUpsertRequest(body []byte) ([]index.DocumentInput, *APIError) {
	o, e := kbObject(body, "documents")
	if e != nil {
		return nil, e
	}
	elems, ok, e := o.array("documents")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, errMissing("documents")
	}
	// Refused before decoding them all; the index refuses too.
	if len(elems) > index.MaxDocumentsPerUpsert {
		return nil, &APIError{Status: 413, Type: TypeInvalidRequest, Param: "documents", Code: "request_too_large",
			Message: fmt.Sprintf("'documents' is too large: %d documents, the limit is %d per request.", len(elems), index.MaxDocumentsPerUpsert)}
	}
	docs := make([]index.DocumentInput, len(elems))
	for i, raw := range elems {
		param := indexParam("documents", i)
		d, e := decodeObject(raw, param)
		if e != nil {
			return nil, e
		}
		if e := d.only("id", "text", "markdown", "html", "metadata"); e != nil {
			return nil, e
		}
		doc := &docs[i]
		if doc.ID, _, e = d.str("id"); e != nil {
			return nil, e
		}
		for _, f := range []struct {
			key string
			dst *string
		}{{"text", &doc.Text}, {"markdown", &doc.Markdown}, {"html", &doc.HTML}} {
			raw, ok := d.raw(f.key)
			if !ok {
				continue
			}
			// encoding/json would turn invalid UTF-8 into U+FFFD without a
			// word, and the index would store a mangled (most likely
			// binary) file as if it were text.
			if !utf8.Valid(raw) {
				return nil, errValue(d.param(f.key), "the content is not valid UTF-8; it looks like a binary file. Send text.")
			}
			if *f.dst, e = decodeString(raw, d.param(f.key)); e != nil {
				return nil, e
			}
		}
		if raw, ok := d.raw("metadata"); ok {
			if err := doc.Metadata.UnmarshalJSON(raw); err != nil {
				return nil, indexError(err, param)
			}
		}
	}
	return docs, nil
}

// parseSearchRequest decodes POST /v1/collections/{name}/search.
func parseSearchRequest(body []byte) (index.Query, *APIError) {
	var q index.Query
	o, e := kbObject(body, "query", "vector", "k", "mode", "filter", "min_score", "ef", "group_by_document")
	if e != nil {
		return q, e
	}
	if q.Text, _, e = o.str("query"); e != nil {
		return q, e
	}
	if elems, ok, e := o.array("vector"); e != nil {
		return q, e
	} else if ok {
		q.Vector = make([]float32, len(elems))
		for i, raw := range elems {
			param := indexParam("vector", i)
			if k := kindOf(raw); k != kindNumber {
				return q, errType(param, "a number", k.String())
			}
			f, err := strconv.ParseFloat(string(raw), 32)
			if err != nil {
				return q, errValue(param, "expected a 32-bit floating-point number, but got %s instead.", raw)
			}
			q.Vector[i] = float32(f)
		}
	}
	if q.K, e = o.kbInt("k"); e != nil {
		return q, e
	}
	if q.Ef, e = o.kbInt("ef"); e != nil {
		return q, e
	}
	mode, _, e := o.str("mode")
	if e != nil {
		return q, e
	}
	q.Mode = index.Mode(mode)
	if raw, ok := o.raw("filter"); ok {
		q.Filter = new(index.Filter)
		if err := q.Filter.UnmarshalJSON(raw); err != nil {
			return q, indexError(err, "")
		}
	}
	if q.MinScore, _, e = o.number("min_score", -math.MaxFloat64, math.MaxFloat64); e != nil {
		return q, e
	}
	if q.GroupByDocument, _, e = o.boolean("group_by_document"); e != nil {
		return q, e
	}
	return q, nil
}

// parseBackupRequest decodes POST /admin/backup, whose body may be empty.
func parseBackupRequest(body []byte) (name string, e *APIError) {
	if len(body) == 0 {
		return "", nil
	}
	o, e := kbObject(body, "name")
	if e != nil {
		return "", e
	}
	if name, _, e = o.str("name"); e != nil {
		return "", e
	}
	if name != "" && !index.ValidName(name) {
		return "", errValue("name", "%q is not a valid backup name: 1 to 64 of a-z, 0-9, _ and -.", name)
	}
	return name, nil
}
