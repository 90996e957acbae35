package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
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
	// KindConversation holds the support bot's conversation log. Its tuples
	// begin with a Section: the conversation records (bot, conversation),
	// their turns (bot, conversation, turn), and two indexes, by end user
	// (bot, user, conversation) and by creation time (created, bot,
	// conversation).
	KindConversation Kind = 0x20
	// KindOutbox holds the handoff outbox. Its tuples begin with a Section:
	// the records (ticket) and the index of pending ones by next attempt
	// time (due, ticket).
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

// Section is the first component of the tuples of a kind that holds more
// than one sort of record (KindConversation, KindOutbox): a fixed-width
// byte, so that each section is one contiguous range of its kind. The values
// are part of the on-disk format.
type Section byte

// The sections of KindConversation.
const (
	// SectionConversation: (bot, conversation) → conversation record.
	SectionConversation Section = 0x01
	// SectionTurn: (bot, conversation, turn uint32) → turn record, so that
	// a conversation's turns are one range, in turn order.
	SectionTurn Section = 0x02
	// SectionUserIndex: (bot, user, conversation) → empty; an end user's
	// conversations are one range, for erasure.
	SectionUserIndex Section = 0x03
	// SectionTimeIndex: (created uint64, bot, conversation) → empty; the
	// conversations in creation order, for retention and export by date.
	SectionTimeIndex Section = 0x04
)

// The sections of KindOutbox.
const (
	// SectionTicket: (ticket) → outbox record.
	SectionTicket Section = 0x01
	// SectionDue: (due uint64, ticket) → empty, one per pending record:
	// the deliverer's work queue in next-attempt order.
	SectionDue Section = 0x02
)

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
	Collection string // KindCollection, KindDocument, KindChunk, KindVector, KindPosting
	Term       string // KindPosting
	Document   string // KindDocument, KindChunk, KindPosting
	Chunk      uint32 // KindChunk, KindPosting
	Vector     uint64 // KindVector

	Section      Section // KindConversation, KindOutbox
	Bot          string  // KindConversation
	Conversation string  // KindConversation
	User         string  // KindConversation, SectionUserIndex
	Turn         uint32  // KindConversation, SectionTurn
	// Time is a time component in nanoseconds since the Unix epoch:
	// created (SectionTimeIndex) or due (SectionDue).
	Time   uint64
	Ticket string // KindOutbox
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
	case KindConversation:
		zero.Section, zero.Bot, zero.Conversation = k.Section, k.Bot, k.Conversation
		switch k.Section {
		case SectionConversation:
			b = ConversationKey(k.Bot, k.Conversation)
		case SectionTurn:
			zero.Turn = k.Turn
			b = TurnKey(k.Bot, k.Conversation, k.Turn)
		case SectionUserIndex:
			zero.User = k.User
			b = ConversationUserKey(k.Bot, k.User, k.Conversation)
		case SectionTimeIndex:
			zero.Time = k.Time
			b = conversationTimeKey(k.Time, k.Bot, k.Conversation)
		default:
			return nil, &KeyError{Kind: k.Kind, Err: ErrInvalidKey, Reason: "unknown section"}
		}
	case KindOutbox:
		zero.Section, zero.Ticket = k.Section, k.Ticket
		switch k.Section {
		case SectionTicket:
			b = OutboxKey(k.Ticket)
		case SectionDue:
			zero.Time = k.Time
			b = outboxDueKey(k.Time, k.Ticket)
		default:
			return nil, &KeyError{Kind: k.Kind, Err: ErrInvalidKey, Reason: "unknown section"}
		}
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
	section := func() bool {
		if !ok || len(rest) < 1 {
			ok = false
			return false
		}
		k.Section, rest = Section(rest[0]), rest[1:]
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
	case KindConversation:
		if !section() {
			break
		}
		switch k.Section {
		case SectionConversation:
			_ = str(&k.Bot) && str(&k.Conversation)
		case SectionTurn:
			_ = str(&k.Bot) && str(&k.Conversation) && u32(&k.Turn)
		case SectionUserIndex:
			_ = str(&k.Bot) && str(&k.User) && str(&k.Conversation)
		case SectionTimeIndex:
			_ = u64(&k.Time) && str(&k.Bot) && str(&k.Conversation)
		default:
			return fail("unknown conversation section")
		}
	case KindOutbox:
		if !section() {
			break
		}
		switch k.Section {
		case SectionTicket:
			str(&k.Ticket)
		case SectionDue:
			_ = u64(&k.Time) && str(&k.Ticket)
		default:
			return fail("unknown outbox section")
		}
	default:
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

func parseSection(b []byte, want Kind, sec Section) (Key, error) {
	k, err := parseAs(b, want)
	if err != nil {
		return Key{}, err
	}
	if k.Section != sec {
		return Key{}, &KeyError{Key: bytes.Clone(b), Kind: k.Kind, Err: ErrInvalidKey, Reason: fmt.Sprintf("not a section 0x%02x key", byte(sec))}
	}
	return k, nil
}

// ParseConversationKey decodes a conversation record's key.
func ParseConversationKey(b []byte) (bot, conversation string, err error) {
	k, err := parseSection(b, KindConversation, SectionConversation)
	return k.Bot, k.Conversation, err
}

// ParseTurnKey decodes a turn's key.
func ParseTurnKey(b []byte) (bot, conversation string, turn uint32, err error) {
	k, err := parseSection(b, KindConversation, SectionTurn)
	return k.Bot, k.Conversation, k.Turn, err
}

// ParseConversationUserKey decodes a key of the index by end user.
func ParseConversationUserKey(b []byte) (bot, user, conversation string, err error) {
	k, err := parseSection(b, KindConversation, SectionUserIndex)
	return k.Bot, k.User, k.Conversation, err
}

// ParseConversationTimeKey decodes a key of the index by creation time.
func ParseConversationTimeKey(b []byte) (created time.Time, bot, conversation string, err error) {
	k, err := parseSection(b, KindConversation, SectionTimeIndex)
	return timeOf(k.Time), k.Bot, k.Conversation, err
}

// ParseOutboxKey decodes an outbox record's key.
func ParseOutboxKey(b []byte) (ticket string, err error) {
	k, err := parseSection(b, KindOutbox, SectionTicket)
	return k.Ticket, err
}

// ParseOutboxDueKey decodes a key of the outbox's due index.
func ParseOutboxDueKey(b []byte) (due time.Time, ticket string, err error) {
	k, err := parseSection(b, KindOutbox, SectionDue)
	return timeOf(k.Time), k.Ticket, err
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

// ConversationKey is the key of a conversation's record.
func ConversationKey(bot, conversation string) []byte {
	return appendString(ConversationsPrefix(bot), conversation)
}

// TurnKey is the key of turn number turn of a conversation.
func TurnKey(bot, conversation string, turn uint32) []byte {
	return binary.BigEndian.AppendUint32(TurnsPrefix(bot, conversation), turn)
}

// ConversationUserKey is the key of the index entry that ties a
// conversation to its end user.
func ConversationUserKey(bot, user, conversation string) []byte {
	return appendString(UserConversationsPrefix(bot, user), conversation)
}

// ConversationTimeKey is the key of the index entry that orders a
// conversation by its creation time. Times before the Unix epoch sort as
// the epoch.
func ConversationTimeKey(created time.Time, bot, conversation string) []byte {
	return conversationTimeKey(TimeComponent(created), bot, conversation)
}

func conversationTimeKey(created uint64, bot, conversation string) []byte {
	b := binary.BigEndian.AppendUint64(sectionPrefix(KindConversation, SectionTimeIndex), created)
	return appendString(appendString(b, bot), conversation)
}

// OutboxKey is the key of a handoff ticket's outbox record.
func OutboxKey(ticket string) []byte {
	return appendString(sectionPrefix(KindOutbox, SectionTicket), ticket)
}

// OutboxDueKey is the key of the due-index entry of a pending ticket whose
// next attempt is at due.
func OutboxDueKey(due time.Time, ticket string) []byte {
	return outboxDueKey(TimeComponent(due), ticket)
}

func outboxDueKey(due uint64, ticket string) []byte {
	return appendString(binary.BigEndian.AppendUint64(sectionPrefix(KindOutbox, SectionDue), due), ticket)
}

// TimeComponent is t as a key's time component: nanoseconds since the Unix
// epoch, 0 for earlier times, so that keys sort as their times do.
func TimeComponent(t time.Time) uint64 {
	n := t.UnixNano()
	if t.Before(time.Unix(0, 0)) || n < 0 {
		return 0
	}
	return uint64(n)
}

func timeOf(n uint64) time.Time { return time.Unix(0, int64(n)).UTC() }

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

func sectionPrefix(k Kind, s Section) []byte { return []byte{byte(k), byte(s)} }

// SectionPrefix is the prefix of every key of section s of kind k.
func SectionPrefix(k Kind, s Section) []byte { return sectionPrefix(k, s) }

// ConversationsPrefix is the prefix of a bot's conversation records.
func ConversationsPrefix(bot string) []byte {
	return appendString(sectionPrefix(KindConversation, SectionConversation), bot)
}

// TurnsPrefix is the prefix of one conversation's turns.
func TurnsPrefix(bot, conversation string) []byte {
	return appendString(appendString(sectionPrefix(KindConversation, SectionTurn), bot), conversation)
}

// UserConversationsPrefix is the prefix of one end user's entries in the
// index by user.
func UserConversationsPrefix(bot, user string) []byte {
	return appendString(appendString(sectionPrefix(KindConversation, SectionUserIndex), bot), user)
}

// ConversationTimeRange is the range of the time-index entries of the
// conversations created in [from, to). A zero to is the end of time.
func ConversationTimeRange(from, to time.Time) Range {
	p := sectionPrefix(KindConversation, SectionTimeIndex)
	r := Range{Start: binary.BigEndian.AppendUint64(bytes.Clone(p), TimeComponent(from)), End: prefixEnd(p)}
	if !to.IsZero() {
		r.End = binary.BigEndian.AppendUint64(bytes.Clone(p), TimeComponent(to))
	}
	return r
}

// OutboxDueRange is the range of the due-index entries whose time is at or
// before until: the pending tickets due by then, earliest first.
func OutboxDueRange(until time.Time) Range {
	p := sectionPrefix(KindOutbox, SectionDue)
	r := Range{Start: bytes.Clone(p), End: prefixEnd(p)}
	if n := TimeComponent(until); n < 1<<64-1 {
		r.End = binary.BigEndian.AppendUint64(bytes.Clone(p), n+1)
	}
	return r
}

// ConversationRanges returns the ranges that hold a conversation's record
// and turns; its index entries are single keys (ConversationUserKey,
// ConversationTimeKey) that the caller deletes with them.
func ConversationRanges(bot, conversation string) []Range {
	k := ConversationKey(bot, conversation)
	return []Range{{Start: k, End: successor(k)}, PrefixRange(TurnsPrefix(bot, conversation))}
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
