package store

import (
	"bytes"
	"cmp"
	"errors"
	"testing"
	"time"
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
		{"conversation", ConversationKey("acme", "c\x00"), []byte("\x20\x01acme\x00\x01c\x00\xff\x00\x01")},
		{"turn", TurnKey("acme", "c", 258), []byte("\x20\x02acme\x00\x01c\x00\x01\x00\x00\x01\x02")},
		{"user index", ConversationUserKey("acme", "u", "c"), []byte("\x20\x03acme\x00\x01u\x00\x01c\x00\x01")},
		{"time index", ConversationTimeKey(time.Unix(0, 1<<40), "acme", "c"), []byte("\x20\x04\x00\x00\x01\x00\x00\x00\x00\x00acme\x00\x01c\x00\x01")},
		{"time index before the epoch", ConversationTimeKey(time.Unix(-5, 0), "", ""), []byte("\x20\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01")},
		{"outbox", OutboxKey("t1"), []byte("\x21\x01t1\x00\x01")},
		{"outbox due", OutboxDueKey(time.Unix(0, 258), "t1"), []byte("\x21\x02\x00\x00\x00\x00\x00\x00\x01\x02t1\x00\x01")},
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
			VectorKey("", 0), PostingKey("", "", "", 0), ConversationKey("", ""), OutboxKey(""),
		}},
		{"conversation sections", [][]byte{
			ConversationKey("\xff", "\xff"), TurnKey("", "", 0), ConversationUserKey("", "", ""),
			ConversationTimeKey(time.Unix(0, 0), "", ""),
		}},
		{"turns by conversation then number", [][]byte{
			TurnKey("b", "c", 0), TurnKey("b", "c", 1), TurnKey("b", "c", 256), TurnKey("b", "c", 1<<32-1),
			TurnKey("b", "c\x00", 0), TurnKey("b", "cc", 0), TurnKey("b\x00", "", 0),
		}},
		{"time index by time first", [][]byte{
			ConversationTimeKey(time.Unix(1, 0), "z", "z"), ConversationTimeKey(time.Unix(1, 1), "a", "a"),
			ConversationTimeKey(time.Unix(2, 0), "", ""), ConversationTimeKey(time.Unix(2, 0), "a", ""),
		}},
		{"outbox due by time then ticket", [][]byte{
			OutboxKey("\xff"), OutboxDueKey(time.Unix(0, 0), "z"), OutboxDueKey(time.Unix(0, 1), "a"),
			OutboxDueKey(time.Unix(0, 1), "b"), OutboxDueKey(time.Unix(1<<32, 0), ""),
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
		{"a conversation's turns", PrefixRange(TurnsPrefix("acme", "c")),
			[][]byte{TurnKey("acme", "c", 0), TurnKey("acme", "c", 1<<32-1)},
			[][]byte{TurnKey("acme", "c\x00", 0), TurnKey("acme", "cc", 0), ConversationKey("acme", "c"), TurnKey("acmec", "", 0)}},
		{"a user's conversations", PrefixRange(UserConversationsPrefix("acme", "u")),
			[][]byte{ConversationUserKey("acme", "u", ""), ConversationUserKey("acme", "u", "\xff")},
			[][]byte{ConversationUserKey("acme", "u\x00", "c"), ConversationUserKey("acme", "uu", ""), ConversationUserKey("acm", "eu", "")}},
		{"a bot's conversations", PrefixRange(ConversationsPrefix("acme")),
			[][]byte{ConversationKey("acme", ""), ConversationKey("acme", "zz")},
			[][]byte{ConversationKey("acme\x00", ""), ConversationKey("acmex", ""), TurnKey("acme", "", 0)}},
		{"conversations created in an interval", ConversationTimeRange(time.Unix(10, 0), time.Unix(20, 0)),
			[][]byte{ConversationTimeKey(time.Unix(10, 0), "", ""), ConversationTimeKey(time.Unix(19, 999999999), "\xff", "\xff")},
			[][]byte{ConversationTimeKey(time.Unix(9, 999999999), "\xff", ""), ConversationTimeKey(time.Unix(20, 0), "", ""), OutboxDueKey(time.Unix(15, 0), "")}},
		{"conversations created since", ConversationTimeRange(time.Unix(10, 0), time.Time{}),
			[][]byte{ConversationTimeKey(time.Unix(10, 0), "", ""), ConversationTimeKey(time.Unix(1<<33, 0), "\xff", "\xff")},
			[][]byte{ConversationTimeKey(time.Unix(9, 0), "", ""), OutboxKey("")}},
		{"tickets due by a time", OutboxDueRange(time.Unix(0, 100)),
			[][]byte{OutboxDueKey(time.Unix(0, 0), ""), OutboxDueKey(time.Unix(0, 100), "\xff\xff")},
			[][]byte{OutboxDueKey(time.Unix(0, 101), ""), OutboxKey("a")}},
		{"a conversation", ConversationRanges("acme", "c")[0],
			[][]byte{ConversationKey("acme", "c")},
			[][]byte{ConversationKey("acme", "c\x00"), ConversationKey("acme", "cc"), TurnKey("acme", "c", 0)}},
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
		{Kind: KindConversation, Section: SectionConversation, Bot: "acme", Conversation: "c\x00"},
		{Kind: KindConversation, Section: SectionTurn, Bot: "acme", Conversation: "c", Turn: 1<<32 - 1},
		{Kind: KindConversation, Section: SectionUserIndex, Bot: "acme", User: "\x00", Conversation: "c"},
		{Kind: KindConversation, Section: SectionTimeIndex, Time: 1<<64 - 1, Bot: "", Conversation: "c"},
		{Kind: KindOutbox, Section: SectionTicket, Ticket: "t"},
		{Kind: KindOutbox, Section: SectionDue, Time: 7, Ticket: "t\x00"},
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
		{"unknown conversation section", []byte("\x20a\x00\x01")},
		{"missing conversation section", []byte("\x20")},
		{"unknown outbox section", []byte("\x21\x03t\x00\x01")},
		{"turn without number", []byte("\x20\x02b\x00\x01c\x00\x01")},
		{"conversation with a turn number", []byte("\x20\x01b\x00\x01c\x00\x01\x00\x00\x00\x01")},
		{"short due time", []byte("\x21\x02\x00\x00\x01t\x00\x01")},
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
	if b, c, err := ParseConversationKey(ConversationKey("acme", "c")); err != nil || b != "acme" || c != "c" {
		t.Errorf("ParseConversationKey = %q %q, %v", b, c, err)
	}
	if b, c, n, err := ParseTurnKey(TurnKey("acme", "c", 4)); err != nil || b != "acme" || c != "c" || n != 4 {
		t.Errorf("ParseTurnKey = %q %q %d, %v", b, c, n, err)
	}
	if b, u, c, err := ParseConversationUserKey(ConversationUserKey("acme", "u", "c")); err != nil || b != "acme" || u != "u" || c != "c" {
		t.Errorf("ParseConversationUserKey = %q %q %q, %v", b, u, c, err)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC)
	if ts, b, c, err := ParseConversationTimeKey(ConversationTimeKey(at, "acme", "c")); err != nil || !ts.Equal(at) || b != "acme" || c != "c" {
		t.Errorf("ParseConversationTimeKey = %v %q %q, %v", ts, b, c, err)
	}
	if id, err := ParseOutboxKey(OutboxKey("t")); err != nil || id != "t" {
		t.Errorf("ParseOutboxKey = %q, %v", id, err)
	}
	if ts, id, err := ParseOutboxDueKey(OutboxDueKey(at, "t")); err != nil || !ts.Equal(at) || id != "t" {
		t.Errorf("ParseOutboxDueKey = %v %q, %v", ts, id, err)
	}
	if _, _, _, err := ParseTurnKey(ConversationKey("acme", "c")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParseTurnKey of a conversation key: error = %v, want ErrInvalidKey", err)
	}
	if _, err := ParseOutboxKey(ConversationKey("acme", "c")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParseOutboxKey of a conversation key: error = %v, want ErrInvalidKey", err)
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
		{Kind: KindConversation, Section: SectionConversation, Bot: "b", Conversation: "c", Turn: 1},
		{Kind: KindConversation, Section: 0x09, Bot: "b"},
		{Kind: KindOutbox, Section: SectionTicket, Ticket: "t", Time: 1},
		{Kind: KindOutbox, Ticket: "t"},
		{Kind: 0x7f},
	} {
		if _, err := k.Encode(); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Encode(%+v) error = %v, want ErrInvalidKey", k, err)
		}
	}
}

// fuzzShapes are the kinds (and sections) with a tuple layout.
var fuzzShapes = [...]struct {
	kind    Kind
	section Section
}{
	{KindMeta, 0}, {KindCollection, 0}, {KindDocument, 0}, {KindChunk, 0}, {KindVector, 0}, {KindPosting, 0},
	{KindConversation, SectionConversation}, {KindConversation, SectionTurn},
	{KindConversation, SectionUserIndex}, {KindConversation, SectionTimeIndex},
	{KindOutbox, SectionTicket}, {KindOutbox, SectionDue},
}

// fuzzKey builds a valid Key of the shape picked by sel from the components.
func fuzzKey(sel byte, a, b, c string, n uint32, v uint64) Key {
	shape := fuzzShapes[int(sel)%len(fuzzShapes)]
	switch k := shape.kind; k {
	case KindConversation:
		key := Key{Kind: k, Section: shape.section, Bot: a, Conversation: c}
		switch shape.section {
		case SectionTurn:
			key.Turn = n
		case SectionUserIndex:
			key.User = b
		case SectionTimeIndex:
			key.Time = v
		}
		return key
	case KindOutbox:
		key := Key{Kind: k, Section: shape.section, Ticket: a}
		if shape.section == SectionDue {
			key.Time = v
		}
		return key
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
	case KindConversation:
		if c := cmp.Compare(x.Section, y.Section); c != 0 {
			return c
		}
		switch x.Section {
		case SectionConversation:
			return cmp.Or(cmp.Compare(x.Bot, y.Bot), cmp.Compare(x.Conversation, y.Conversation))
		case SectionTurn:
			return cmp.Or(cmp.Compare(x.Bot, y.Bot), cmp.Compare(x.Conversation, y.Conversation), cmp.Compare(x.Turn, y.Turn))
		case SectionUserIndex:
			return cmp.Or(cmp.Compare(x.Bot, y.Bot), cmp.Compare(x.User, y.User), cmp.Compare(x.Conversation, y.Conversation))
		default:
			return cmp.Or(cmp.Compare(x.Time, y.Time), cmp.Compare(x.Bot, y.Bot), cmp.Compare(x.Conversation, y.Conversation))
		}
	case KindOutbox:
		return cmp.Or(cmp.Compare(x.Section, y.Section), cmp.Compare(x.Time, y.Time), cmp.Compare(x.Ticket, y.Ticket))
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
	f.Add(byte(6), "acme", "", "c", uint32(0), uint64(0), byte(7), "acme", "", "c", uint32(0), uint64(0))
	f.Add(byte(7), "acme", "", "c", uint32(1), uint64(0), byte(7), "acme", "", "c\x00", uint32(0), uint64(0))
	f.Add(byte(8), "acme", "u", "c", uint32(0), uint64(0), byte(8), "acme", "u\x00", "", uint32(0), uint64(0))
	f.Add(byte(9), "acme", "", "c", uint32(0), uint64(255), byte(9), "", "", "", uint32(0), uint64(256))
	f.Add(byte(10), "t", "", "", uint32(0), uint64(0), byte(11), "t", "", "", uint32(0), uint64(1))
	f.Add(byte(11), "t", "", "", uint32(0), uint64(1), byte(11), "s", "", "", uint32(0), uint64(1))
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
			{"conversations", ConversationsPrefix(k2.Bot), same(KindConversation) && k1.Section == SectionConversation && k1.Bot == k2.Bot},
			{"turns", TurnsPrefix(k2.Bot, k2.Conversation), same(KindConversation) && k1.Section == SectionTurn && k1.Bot == k2.Bot && k1.Conversation == k2.Conversation},
			{"user conversations", UserConversationsPrefix(k2.Bot, k2.User), same(KindConversation) && k1.Section == SectionUserIndex && k1.Bot == k2.Bot && k1.User == k2.User},
		}
		if k2.Kind == KindConversation || k2.Kind == KindOutbox {
			prefixes = append(prefixes, struct {
				name   string
				prefix []byte
				want   bool
			}{"section", SectionPrefix(k2.Kind, k2.Section), k1.Kind == k2.Kind && k1.Section == k2.Section})
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
		if want := k1.Kind >= KindCollection && k1.Kind <= KindPosting && k1.Collection == k2.Collection; inColl != want {
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
		ConversationKey("b", "c"), TurnKey("b", "c", 2), ConversationUserKey("b", "u", "c"),
		ConversationTimeKey(time.Unix(1, 0), "b", "c"), OutboxKey("t"), OutboxDueKey(time.Unix(1, 0), "t"),
		[]byte("\x20\x05"), []byte("\x21\x02\x00"),
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
