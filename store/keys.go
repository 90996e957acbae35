package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Kind is the first byte of every key: which kind of record the key holds.
// The values are part of the on-disk format (see the package documentation)
// and never change meaning.
type Kind byte

// The record kinds. Gaps are left on purpose so that related kinds added later
// can sit next to their neighbours.
const (
	// KindMeta holds store-wide records named by a string: the format
	// version, and whatever bookkeeping a consumer keeps (an index snapshot's
	// high-water mark, a consumer's own value-format version).
	KindMeta Kind = 0x01
	// KindCollection holds one record per collection: (collection).
	KindCollection Kind = 0x10
	// KindDocument holds one record per document: (collection, document).
	KindDocument Kind = 0x11
	// KindChunk holds one record per chunk: (collection, document, chunk),
	// so that a document's chunks are one contiguous range, in chunk order.
	KindChunk Kind = 0x12
	// KindVector holds one embedding per vector id: (collection, id). Ids
	// are assigned in increasing order per collection, so the vectors written
	// after an HNSW snapshot are the range after the snapshot's highest id.
	KindVector Kind = 0x13
	// KindPosting holds one lexical posting: (collection, term, document,
	// chunk), so that a term's postings are one range.
	KindPosting Kind = 0x14
	// KindConversation is reserved for the support bot's conversation log.
	// Its tuple layout is defined when the log is built; until then the store
	// accepts writes under the prefix but does not parse its keys.
	KindConversation Kind = 0x20
	// KindOutbox is reserved for the handoff outbox, like KindConversation.
	KindOutbox Kind = 0x21
)

// String returns the kind's name, or "kind(0x..)" for an unknown byte.
func (k Kind) String() string {
	switch k {
	case KindMeta:
		return "meta"
	case KindCollection:
		return "collection"
	case KindDocument:
		return "document"
	case KindChunk:
		return "chunk"
	case KindVector:
		return "vector"
	case KindPosting:
		return "posting"
	case KindConversation:
		return "conversation"
	case KindOutbox:
		return "outbox"
	}
	return fmt.Sprintf("kind(0x%02x)", byte(k))
}

// Known reports whether k is one of the kinds above (defined or reserved).
func (k Kind) Known() bool {
	switch k {
	case KindMeta, KindCollection, KindDocument, KindChunk, KindVector,
		KindPosting, KindConversation, KindOutbox:
		return true
	}
	return false
}

// Reserved reports whether k is reserved: known, but with no tuple layout
// defined yet, so that ParseKey and Key.Encode refuse it.
func (k Kind) Reserved() bool { return k == KindConversation || k == KindOutbox }

// KindOf returns the kind of an encoded key, and false for an empty key or an
// unknown first byte.
func KindOf(key []byte) (Kind, bool) {
	if len(key) == 0 || !Kind(key[0]).Known() {
		return 0, false
	}
	return Kind(key[0]), true
}

// Key is a decoded key: a kind and the components of its tuple. Only the
// fields that belong to Kind are set (see the package documentation for each
// kind's tuple); the rest are zero.
type Key struct {
	Kind       Kind
	Name       string // KindMeta
	Collection string // every kind but KindMeta
	Term       string // KindPosting
	Document   string // KindDocument, KindChunk, KindPosting
	Chunk      uint32 // KindChunk, KindPosting
	Vector     uint64 // KindVector
}

// Encode returns the key's bytes. It fails for an unknown or reserved kind and
// for a key that sets a field its kind does not have, so that decoding the
// result gives back exactly k.
func (k Key) Encode() ([]byte, error) {
	zero := Key{Kind: k.Kind}
	var b []byte
	switch k.Kind {
	case KindMeta:
		zero.Name = k.Name
		b = MetaKey(k.Name)
	case KindCollection:
		zero.Collection = k.Collection
		b = CollectionKey(k.Collection)
	case KindDocument:
		zero.Collection, zero.Document = k.Collection, k.Document
		b = DocumentKey(k.Collection, k.Document)
	case KindChunk:
		zero.Collection, zero.Document, zero.Chunk = k.Collection, k.Document, k.Chunk
		b = ChunkKey(k.Collection, k.Document, k.Chunk)
	case KindVector:
		zero.Collection, zero.Vector = k.Collection, k.Vector
		b = VectorKey(k.Collection, k.Vector)
	case KindPosting:
		zero.Collection, zero.Term, zero.Document, zero.Chunk = k.Collection, k.Term, k.Document, k.Chunk
		b = PostingKey(k.Collection, k.Term, k.Document, k.Chunk)
	default:
		return nil, &KeyError{Kind: k.Kind, Err: ErrInvalidKey, Reason: "kind has no tuple layout"}
	}
	if zero != k {
		return nil, &KeyError{Kind: k.Kind, Err: ErrInvalidKey, Reason: "field set that the kind does not have"}
	}
	return b, nil
}

// ParseKey decodes an encoded key. It accepts only canonical encodings: for
// every key it returns without error, Encode gives back the same bytes.
func ParseKey(b []byte) (Key, error) {
	if len(b) == 0 {
		return Key{}, &KeyError{Key: b, Err: ErrInvalidKey, Reason: "empty key"}
	}
	k := Key{Kind: Kind(b[0])}
	fail := func(reason string) (Key, error) {
		return Key{}, &KeyError{Key: bytes.Clone(b), Kind: k.Kind, Err: ErrInvalidKey, Reason: reason}
	}
	rest := b[1:]
	var ok bool
	str := func(dst *string) bool {
		if !ok {
			return false
		}
		*dst, rest, ok = readString(rest)
		return ok
	}
	u32 := func(dst *uint32) bool {
		if !ok || len(rest) < 4 {
			ok = false
			return false
		}
		*dst, rest = binary.BigEndian.Uint32(rest), rest[4:]
		return true
	}
	u64 := func(dst *uint64) bool {
		if !ok || len(rest) < 8 {
			ok = false
			return false
		}
		*dst, rest = binary.BigEndian.Uint64(rest), rest[8:]
		return true
	}
	ok = true
	switch k.Kind {
	case KindMeta:
		str(&k.Name)
	case KindCollection:
		str(&k.Collection)
	case KindDocument:
		_ = str(&k.Collection) && str(&k.Document)
	case KindChunk:
		_ = str(&k.Collection) && str(&k.Document) && u32(&k.Chunk)
	case KindVector:
		_ = str(&k.Collection) && u64(&k.Vector)
	case KindPosting:
		_ = str(&k.Collection) && str(&k.Term) && str(&k.Document) && u32(&k.Chunk)
	default:
		if k.Kind.Reserved() {
			return fail("reserved kind has no tuple layout yet")
		}
		return fail("unknown kind")
	}
	if !ok {
		return fail("malformed or truncated component")
	}
	if len(rest) != 0 {
		return fail("trailing bytes")
	}
	return k, nil
}

func parseAs(b []byte, want Kind) (Key, error) {
	k, err := ParseKey(b)
	if err != nil {
		return Key{}, err
	}
	if k.Kind != want {
		return Key{}, &KeyError{Key: bytes.Clone(b), Kind: k.Kind, Err: ErrInvalidKey, Reason: "not a " + want.String() + " key"}
	}
	return k, nil
}

// ParseCollectionKey decodes a KindCollection key.
func ParseCollectionKey(b []byte) (collection string, err error) {
	k, err := parseAs(b, KindCollection)
	return k.Collection, err
}

// ParseDocumentKey decodes a KindDocument key.
func ParseDocumentKey(b []byte) (collection, document string, err error) {
	k, err := parseAs(b, KindDocument)
	return k.Collection, k.Document, err
}

// ParseChunkKey decodes a KindChunk key.
func ParseChunkKey(b []byte) (collection, document string, chunk uint32, err error) {
	k, err := parseAs(b, KindChunk)
	return k.Collection, k.Document, k.Chunk, err
}

// ParseVectorKey decodes a KindVector key.
func ParseVectorKey(b []byte) (collection string, id uint64, err error) {
	k, err := parseAs(b, KindVector)
	return k.Collection, k.Vector, err
}

// ParsePostingKey decodes a KindPosting key.
func ParsePostingKey(b []byte) (collection, term, document string, chunk uint32, err error) {
	k, err := parseAs(b, KindPosting)
	return k.Collection, k.Term, k.Document, k.Chunk, err
}

// Key constructors. Each returns a new slice that the caller owns.

// MetaKey is the key of the store-wide record name. The name "format" is the
// store's own format version and cannot be written through a Batch.
func MetaKey(name string) []byte { return appendString([]byte{byte(KindMeta)}, name) }

// CollectionKey is the key of a collection's record.
func CollectionKey(collection string) []byte {
	return appendString([]byte{byte(KindCollection)}, collection)
}

// DocumentKey is the key of a document's record in a collection.
func DocumentKey(collection, document string) []byte {
	return appendString(DocumentsPrefix(collection), document)
}

// ChunkKey is the key of chunk number chunk of a document.
func ChunkKey(collection, document string, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(DocumentChunksPrefix(collection, document), chunk)
}

// VectorKey is the key of vector id in a collection.
func VectorKey(collection string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(VectorsPrefix(collection), id)
}

// PostingKey is the key of the posting of term in chunk number chunk of a
// document.
func PostingKey(collection, term, document string, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(appendString(TermPostingsPrefix(collection, term), document), chunk)
}

// Prefixes. Every prefix below is a whole number of tuple components, and the
// component encoding is prefix-free, so PrefixRange(p) holds exactly the keys
// whose leading components equal p's.

// KindPrefix is the prefix of every key of kind k.
func KindPrefix(k Kind) []byte { return []byte{byte(k)} }

// DocumentsPrefix is the prefix of a collection's document records.
func DocumentsPrefix(collection string) []byte {
	return appendString([]byte{byte(KindDocument)}, collection)
}

// ChunksPrefix is the prefix of all the chunks of a collection.
func ChunksPrefix(collection string) []byte {
	return appendString([]byte{byte(KindChunk)}, collection)
}

// DocumentChunksPrefix is the prefix of one document's chunks.
func DocumentChunksPrefix(collection, document string) []byte {
	return appendString(ChunksPrefix(collection), document)
}

// VectorsPrefix is the prefix of a collection's vectors.
func VectorsPrefix(collection string) []byte {
	return appendString([]byte{byte(KindVector)}, collection)
}

// PostingsPrefix is the prefix of all a collection's postings.
func PostingsPrefix(collection string) []byte {
	return appendString([]byte{byte(KindPosting)}, collection)
}

// TermPostingsPrefix is the prefix of one term's postings in a collection.
func TermPostingsPrefix(collection, term string) []byte {
	return appendString(PostingsPrefix(collection), term)
}

// CollectionRanges returns every range that holds a record of collection:
// its own record, its documents, chunks, vectors and postings. Deleting them
// all in one Batch deletes the collection atomically.
func CollectionRanges(collection string) []Range {
	return []Range{
		{Start: CollectionKey(collection), End: successor(CollectionKey(collection))},
		PrefixRange(DocumentsPrefix(collection)),
		PrefixRange(ChunksPrefix(collection)),
		PrefixRange(VectorsPrefix(collection)),
		PrefixRange(PostingsPrefix(collection)),
	}
}

// Range is the half-open key interval [Start, End). A nil Start is the
// beginning of the key space; a nil End is its end.
type Range struct {
	Start, End []byte
}

// PrefixRange is the range of every key that begins with prefix.
func PrefixRange(prefix []byte) Range {
	return Range{Start: bytes.Clone(prefix), End: prefixEnd(prefix)}
}

// Contains reports whether key lies in r.
func (r Range) Contains(key []byte) bool {
	return bytes.Compare(key, r.Start) >= 0 && (r.End == nil || bytes.Compare(key, r.End) < 0)
}

// prefixEnd is the smallest key greater than every key with the prefix, or nil
// when there is none (the prefix is empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// successor is the smallest key greater than key.
func successor(key []byte) []byte { return append(bytes.Clone(key), 0) }

// String encoding: each 0x00 byte becomes 0x00 0xff, and the string ends with
// 0x00 0x01. The encoding is binary-safe, prefix-free (the terminator cannot
// occur inside an encoded string) and preserves bytewise order: the
// terminator 0x01 sorts below the escape 0xff and below the 0x00 of an
// escaped zero's successor, so "a" < "a\x00" < "ab" hold after encoding too.
const (
	escByte = 0x00
	escZero = 0xff
	escEnd  = 0x01
)

func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == escByte {
			dst = append(dst, escByte, escZero)
			continue
		}
		dst = append(dst, s[i])
	}
	return append(dst, escByte, escEnd)
}

func readString(b []byte) (string, []byte, bool) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case escEnd:
			if out == nil {
				return string(b[:i]), b[i+2:], true
			}
			out = append(out, b[:i]...)
			return string(out), b[i+2:], true
		case escZero:
			out = append(out, b[:i]...)
			out = append(out, 0)
			b = b[i+2:]
			i = -1
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}
