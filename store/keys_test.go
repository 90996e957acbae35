package store

import (
	"bytes"
	"cmp"
	"errors"
	"testing"
)

func TestKeyEncodingGolden(t *testing.T) {
	// The bytes are the on-disk format: a change here is a format change.
	tests := []struct {
		name string
		key  []byte
		want []byte
	}{
		{"meta", MetaKey("format"), []byte("\x01format\x00\x01")},
		{"collection", CollectionKey("kb"), []byte("\x10kb\x00\x01")},
		{"document", DocumentKey("kb", "a\x00b"), []byte("\x11kb\x00\x01a\x00\xffb\x00\x01")},
		{"empty document id", DocumentKey("kb", ""), []byte("\x11kb\x00\x01\x00\x01")},
		{"chunk", ChunkKey("kb", "d", 258), []byte("\x12kb\x00\x01d\x00\x01\x00\x00\x01\x02")},
		{"vector", VectorKey("kb", 1<<40), []byte("\x13kb\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00")},
		{"posting", PostingKey("kb", "e1043", "d", 7), []byte("\x14kb\x00\x01e1043\x00\x01d\x00\x01\x00\x00\x00\x07")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.key, tt.want) {
				t.Fatalf("key = %q, want %q", tt.key, tt.want)
			}
		})
	}
}

func TestKeyOrdering(t *testing.T) {
	// Each key sorts strictly before the next.
	tests := []struct {
		name string
		keys [][]byte
	}{
		{"documents by id, bytewise", [][]byte{
			DocumentKey("kb", ""), DocumentKey("kb", "a"), DocumentKey("kb", "a\x00"),
			DocumentKey("kb", "a\x00\x00"), DocumentKey("kb", "a\x01"), DocumentKey("kb", "ab"),
			DocumentKey("kb", "a\xff"), DocumentKey("kb", "b"),
		}},
		{"collections before their longer neighbours", [][]byte{
			DocumentKey("a", "zzz"), DocumentKey("a\x00", ""), DocumentKey("ab", ""),
		}},
		{"chunks by document then number", [][]byte{
			ChunkKey("kb", "a", 0), ChunkKey("kb", "a", 1), ChunkKey("kb", "a", 255),
			ChunkKey("kb", "a", 256), ChunkKey("kb", "a", 1<<32-1), ChunkKey("kb", "a\x00", 0),
			ChunkKey("kb", "ab", 0),
		}},
		{"vectors by id", [][]byte{
			VectorKey("kb", 0), VectorKey("kb", 1), VectorKey("kb", 1<<8), VectorKey("kb", 1<<63), VectorKey("kb\x00", 0),
		}},
		{"postings by term, document, chunk", [][]byte{
			PostingKey("kb", "a", "z", 9), PostingKey("kb", "a\x00", "a", 0), PostingKey("kb", "b", "a", 0),
			PostingKey("kb", "b", "a", 1), PostingKey("kb", "b", "b", 0),
		}},
		{"kinds", [][]byte{
			MetaKey("zzz"), CollectionKey(""), DocumentKey("", ""), ChunkKey("", "", 0),
			VectorKey("", 0), PostingKey("", "", "", 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 1; i < len(tt.keys); i++ {
				if bytes.Compare(tt.keys[i-1], tt.keys[i]) >= 0 {
					t.Errorf("key %d %q does not sort before key %d %q", i-1, tt.keys[i-1], i, tt.keys[i])
				}
			}
		})
	}
}

func TestPrefixRanges(t *testing.T) {
	tests := []struct {
		name string
		r    Range
		in   [][]byte
		out  [][]byte
	}{
		{"a document's chunks", PrefixRange(DocumentChunksPrefix("kb", "a")),
			[][]byte{ChunkKey("kb", "a", 0), ChunkKey("kb", "a", 1<<32-1)},
			[][]byte{ChunkKey("kb", "a\x00", 0), ChunkKey("kb", "ab", 0), ChunkKey("kb", "", 0), DocumentKey("kb", "a"), ChunkKey("kb\x00", "a", 0)}},
		{"a collection's documents", PrefixRange(DocumentsPrefix("kb")),
			[][]byte{DocumentKey("kb", ""), DocumentKey("kb", "\xff\xff")},
			[][]byte{DocumentKey("kb\x00", ""), DocumentKey("kbb", ""), DocumentKey("k", "b"), CollectionKey("kb"), ChunkKey("kb", "", 0)}},
		{"a term's postings", PrefixRange(TermPostingsPrefix("kb", "ord")),
			[][]byte{PostingKey("kb", "ord", "", 0), PostingKey("kb", "ord", "x", 3)},
			[][]byte{PostingKey("kb", "ord-1", "", 0), PostingKey("kb", "or", "d", 0), PostingKey("kb", "ord\x00", "", 0)}},
		{"vectors after a snapshot's high-water mark",
			Range{Start: successor(VectorKey("kb", 41)), End: PrefixRange(VectorsPrefix("kb")).End},
			[][]byte{VectorKey("kb", 42), VectorKey("kb", 1<<64-1)},
			[][]byte{VectorKey("kb", 41), VectorKey("kb", 0), VectorKey("kb\x00", 50)}},
		{"a kind", PrefixRange(KindPrefix(KindChunk)),
			[][]byte{ChunkKey("", "", 0), ChunkKey("\xff", "\xff", 1<<32-1)},
			[][]byte{DocumentKey("\xff", "\xff"), VectorKey("", 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range tt.in {
				if !tt.r.Contains(k) {
					t.Errorf("range does not contain %q", k)
				}
			}
			for _, k := range tt.out {
				if tt.r.Contains(k) {
					t.Errorf("range contains %q", k)
				}
			}
		})
	}
}

func TestCollectionRanges(t *testing.T) {
	ranges := CollectionRanges("kb")
	mine := [][]byte{CollectionKey("kb"), DocumentKey("kb", "d"), ChunkKey("kb", "d", 1), VectorKey("kb", 3), PostingKey("kb", "t", "d", 1)}
	others := [][]byte{CollectionKey("kb\x00"), CollectionKey("kbb"), DocumentKey("kb2", "d"), ChunkKey("k", "bd", 1), VectorKey("kb\x00", 3), PostingKey("", "kb", "d", 1), MetaKey("kb")}
	in := func(k []byte) bool {
		for _, r := range ranges {
			if r.Contains(k) {
				return true
			}
		}
		return false
	}
	for _, k := range mine {
		if !in(k) {
			t.Errorf("CollectionRanges misses %q", k)
		}
	}
	for _, k := range others {
		if in(k) {
			t.Errorf("CollectionRanges covers %q", k)
		}
	}
}

func TestParseKey(t *testing.T) {
	valid := []Key{
		{Kind: KindMeta, Name: "format"},
		{Kind: KindCollection, Collection: "kb"},
		{Kind: KindDocument, Collection: "kb", Document: "\x00\x01\xff"},
		{Kind: KindChunk, Collection: "kb", Document: "d", Chunk: 1<<32 - 1},
		{Kind: KindVector, Collection: "", Vector: 1<<64 - 1},
		{Kind: KindPosting, Collection: "kb", Term: "ORD-2024-00817", Document: "d\x00", Chunk: 3},
	}
	for _, k := range valid {
		t.Run("valid "+k.Kind.String(), func(t *testing.T) {
			b, err := k.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseKey(b)
			if err != nil || got != k {
				t.Fatalf("ParseKey(%q) = %+v, %v; want %+v", b, got, err, k)
			}
		})
	}
	invalid := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown kind", []byte("\x02a\x00\x01")},
		{"reserved kind", []byte("\x20a\x00\x01")},
		{"unterminated string", []byte("\x10kb")},
		{"dangling escape", []byte("\x10kb\x00")},
		{"bad escape", []byte("\x10k\x00\x02b\x00\x01")},
		{"trailing bytes", []byte("\x10kb\x00\x01x")},
		{"short chunk number", []byte("\x12kb\x00\x01d\x00\x01\x00\x01")},
		{"long chunk number", []byte("\x12kb\x00\x01d\x00\x01\x00\x00\x00\x01\x00")},
		{"short vector id", []byte("\x13kb\x00\x01\x00\x00\x00\x01")},
		{"missing document", []byte("\x11kb\x00\x01")},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			_, err := ParseKey(tt.b)
			var ke *KeyError
			if !errors.Is(err, ErrInvalidKey) || !errors.As(err, &ke) {
				t.Fatalf("ParseKey(%q) error = %v, want a *KeyError wrapping ErrInvalidKey", tt.b, err)
			}
		})
	}
}

func TestTypedParsers(t *testing.T) {
	if c, err := ParseCollectionKey(CollectionKey("kb")); err != nil || c != "kb" {
		t.Errorf("ParseCollectionKey = %q, %v", c, err)
	}
	if c, d, err := ParseDocumentKey(DocumentKey("kb", "d\x00")); err != nil || c != "kb" || d != "d\x00" {
		t.Errorf("ParseDocumentKey = %q %q, %v", c, d, err)
	}
	if c, d, n, err := ParseChunkKey(ChunkKey("kb", "d", 9)); err != nil || c != "kb" || d != "d" || n != 9 {
		t.Errorf("ParseChunkKey = %q %q %d, %v", c, d, n, err)
	}
	if c, id, err := ParseVectorKey(VectorKey("kb", 77)); err != nil || c != "kb" || id != 77 {
		t.Errorf("ParseVectorKey = %q %d, %v", c, id, err)
	}
	if c, term, d, n, err := ParsePostingKey(PostingKey("kb", "t", "d", 2)); err != nil || c != "kb" || term != "t" || d != "d" || n != 2 {
		t.Errorf("ParsePostingKey = %q %q %q %d, %v", c, term, d, n, err)
	}
	if _, _, err := ParseDocumentKey(CollectionKey("kb")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParseDocumentKey of a collection key: error = %v, want ErrInvalidKey", err)
	}
}

func TestKeyEncodeRejects(t *testing.T) {
	for _, k := range []Key{
		{Kind: KindCollection, Collection: "kb", Document: "d"},
		{Kind: KindDocument, Collection: "kb", Document: "d", Chunk: 1},
		{Kind: KindMeta, Name: "x", Collection: "kb"},
		{Kind: KindVector, Collection: "kb", Vector: 1, Term: "t"},
		{Kind: KindConversation, Collection: "kb"},
		{Kind: 0x7f},
	} {
		if _, err := k.Encode(); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Encode(%+v) error = %v, want ErrInvalidKey", k, err)
		}
	}
}

// fuzzKinds are the kinds with a tuple layout.
var fuzzKinds = [...]Kind{KindMeta, KindCollection, KindDocument, KindChunk, KindVector, KindPosting}

// fuzzKey builds a valid Key of the kind picked by sel from the components.
func fuzzKey(sel byte, a, b, c string, n uint32, v uint64) Key {
	switch k := fuzzKinds[int(sel)%len(fuzzKinds)]; k {
	case KindMeta:
		return Key{Kind: k, Name: a}
	case KindCollection:
		return Key{Kind: k, Collection: a}
	case KindDocument:
		return Key{Kind: k, Collection: a, Document: c}
	case KindChunk:
		return Key{Kind: k, Collection: a, Document: c, Chunk: n}
	case KindVector:
		return Key{Kind: k, Collection: a, Vector: v}
	default:
		return Key{Kind: k, Collection: a, Term: b, Document: c, Chunk: n}
	}
}

// compareTuples orders keys as the layout promises: kind, then the kind's
// components in order, strings bytewise and integers numerically.
func compareTuples(x, y Key) int {
	if c := cmp.Compare(x.Kind, y.Kind); c != 0 {
		return c
	}
	switch x.Kind {
	case KindMeta:
		return cmp.Compare(x.Name, y.Name)
	case KindCollection:
		return cmp.Compare(x.Collection, y.Collection)
	case KindDocument:
		return cmp.Or(cmp.Compare(x.Collection, y.Collection), cmp.Compare(x.Document, y.Document))
	case KindChunk:
		return cmp.Or(cmp.Compare(x.Collection, y.Collection), cmp.Compare(x.Document, y.Document), cmp.Compare(x.Chunk, y.Chunk))
	case KindVector:
		return cmp.Or(cmp.Compare(x.Collection, y.Collection), cmp.Compare(x.Vector, y.Vector))
	default:
		return cmp.Or(cmp.Compare(x.Collection, y.Collection), cmp.Compare(x.Term, y.Term),
			cmp.Compare(x.Document, y.Document), cmp.Compare(x.Chunk, y.Chunk))
	}
}

func addKeySeeds(f *testing.F) {
	f.Add(byte(2), "kb", "", "a", uint32(0), uint64(0), byte(2), "kb", "", "a\x00", uint32(0), uint64(0))
	f.Add(byte(3), "kb", "", "a", uint32(1), uint64(0), byte(3), "kb", "", "ab", uint32(0), uint64(0))
	f.Add(byte(3), "a\x00", "", "", uint32(5), uint64(0), byte(3), "a", "", "\x00", uint32(5), uint64(0))
	f.Add(byte(4), "kb", "", "", uint32(0), uint64(255), byte(4), "kb", "", "", uint32(0), uint64(256))
	f.Add(byte(5), "kb", "e\x00\xff", "d", uint32(1), uint64(0), byte(5), "kb", "e", "\x00\x01", uint32(1), uint64(0))
	f.Add(byte(0), "format", "", "", uint32(0), uint64(0), byte(1), "\xff\x00\x01", "", "", uint32(0), uint64(0))
	f.Add(byte(1), "", "", "", uint32(0), uint64(0), byte(1), "\x00", "", "", uint32(0), uint64(0))
}

// FuzzKeyOrder round-trips two tuples through the encoding and checks that
// the encoding orders them as the tuples are ordered (so equal bytes mean
// equal tuples), and that every prefix of one of them holds the other exactly
// when the other's leading components match.
func FuzzKeyOrder(f *testing.F) {
	addKeySeeds(f)
	f.Fuzz(func(t *testing.T,
		s1 byte, a1, b1, c1 string, n1 uint32, v1 uint64,
		s2 byte, a2, b2, c2 string, n2 uint32, v2 uint64) {
		k1, k2 := fuzzKey(s1, a1, b1, c1, n1, v1), fuzzKey(s2, a2, b2, c2, n2, v2)
		e1, err := k1.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", k1, err)
		}
		e2, err := k2.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", k2, err)
		}
		for _, p := range []struct {
			k Key
			e []byte
		}{{k1, e1}, {k2, e2}} {
			got, err := ParseKey(p.e)
			if err != nil || got != p.k {
				t.Fatalf("ParseKey(Encode(%+v)) = %+v, %v", p.k, got, err)
			}
		}
		if got, want := bytes.Compare(e1, e2), compareTuples(k1, k2); got != want {
			t.Fatalf("order of %+v and %+v: bytes %d, tuples %d (%q vs %q)", k1, k2, got, want, e1, e2)
		}

		// Prefixes built from k2's components, and whether k1 must fall in
		// each: it does exactly when k1 has that kind and those components.
		same := func(kinds ...Kind) bool {
			for _, k := range kinds {
				if k1.Kind == k {
					return true
				}
			}
			return false
		}
		prefixes := []struct {
			name   string
			prefix []byte
			want   bool
		}{
			{"kind", KindPrefix(k2.Kind), k1.Kind == k2.Kind},
			{"documents", DocumentsPrefix(k2.Collection), same(KindDocument) && k1.Collection == k2.Collection},
			{"chunks", ChunksPrefix(k2.Collection), same(KindChunk) && k1.Collection == k2.Collection},
			{"document chunks", DocumentChunksPrefix(k2.Collection, k2.Document), same(KindChunk) && k1.Collection == k2.Collection && k1.Document == k2.Document},
			{"vectors", VectorsPrefix(k2.Collection), same(KindVector) && k1.Collection == k2.Collection},
			{"postings", PostingsPrefix(k2.Collection), same(KindPosting) && k1.Collection == k2.Collection},
			{"term postings", TermPostingsPrefix(k2.Collection, k2.Term), same(KindPosting) && k1.Collection == k2.Collection && k1.Term == k2.Term},
		}
		for _, p := range prefixes {
			if got := PrefixRange(p.prefix).Contains(e1); got != p.want {
				t.Fatalf("%s prefix of %+v contains %+v: %v, want %v", p.name, k2, k1, got, p.want)
			}
		}
		inColl := false
		for _, r := range CollectionRanges(k2.Collection) {
			inColl = inColl || r.Contains(e1)
		}
		if want := k1.Kind != KindMeta && k1.Collection == k2.Collection; inColl != want {
			t.Fatalf("CollectionRanges(%q) contains %+v: %v, want %v", k2.Collection, k1, inColl, want)
		}
	})
}

// FuzzKeyParse feeds arbitrary bytes to ParseKey: it must not panic, and any
// key it accepts must be canonical (re-encoding gives the same bytes), so no
// two byte strings decode to one tuple.
func FuzzKeyParse(f *testing.F) {
	for _, k := range [][]byte{
		MetaKey("format"), CollectionKey("kb"), DocumentKey("kb", "a\x00b"), ChunkKey("kb", "d", 3),
		VectorKey("kb", 9), PostingKey("kb", "t", "d", 1), []byte("\x10k\x00\x02"), []byte("\x12\x00\x01\x00\x01\x00"),
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey(%q) error %v does not wrap ErrInvalidKey", b, err)
			}
			return
		}
		e, err := k.Encode()
		if err != nil {
			t.Fatalf("Encode(ParseKey(%q) = %+v): %v", b, k, err)
		}
		if !bytes.Equal(e, b) {
			t.Fatalf("ParseKey(%q) = %+v re-encodes as %q", b, k, e)
		}
	})
}
