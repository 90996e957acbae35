// Package store is infergate's durable storage: one Pebble v2 database per
// data directory, holding the truth for the knowledge base, the support bot's
// conversation log and its handoff outbox. Everything else kept on
// disk (HNSW snapshots, for one) is an optimisation rebuilt from it.
//
// The package imports nothing of infergate's and exposes no Pebble type:
// consumers (index, bot) define the small interfaces they need over its
// concrete API, so that another implementation (a PostgreSQL store shared by
// replicas) can stand behind those interfaces later.
//
// # Invariants
//
//   - Every acknowledged write is durable: Batch.Commit (and Store.Set,
//     Store.Delete) return nil only after the write is synced to disk
//     (pebble.Sync).
//   - A Batch is atomic: after a crash, all of its writes are present or none.
//     A document, its chunks, vectors and postings go into one Batch.
//   - A failed write is not acknowledged and changes nothing. If Pebble itself
//     breaks (a WAL write or sync fails, as on a full disk) the store returns
//     ErrFailed and refuses every further call, reads included, until it is
//     closed and opened again, so nothing observes a write that may not be on
//     disk.
//   - Reads see a consistent point in time: an Iterator its creation moment,
//     a Snapshot the moment it was taken, across any number of calls.
//   - Open refuses a newer format (ErrNewerFormat) and a directory that is
//     not a store (ErrNotStore) without changing them; it upgrades an older
//     format one step per atomic batch.
//   - Checkpoint writes an openable copy holding every write acknowledged
//     before it began, while writes continue.
//
// # Key layout
//
// A key is one kind byte followed by the components of that kind's tuple.
// Strings are escaped: each 0x00 byte is written 0x00 0xff and the string
// ends with 0x00 0x01. Integers are fixed-width big-endian. So the encoding is
// binary-safe (document ids may hold any byte), prefix-free per component,
// and order-preserving: keys sort as their tuples do, component by
// component, strings bytewise and integers numerically. A prefix made of
// whole components therefore selects exactly the tuples that begin with
// those components: DocumentChunksPrefix("kb", "a") holds the chunks of
// document "a" and never those of document "a\x00b" or "ab".
//
//	kind  prefix  tuple                                        value (owned by)
//	0x01  meta    (name)                                       name-specific
//	0x10  coll.   (collection)                                 collection record (index)
//	0x11  doc.    (collection, document)                       document record (index)
//	0x12  chunk   (collection, document, chunk uint32)         chunk record (index)
//	0x13  vector  (collection, id uint64)                      embedding (index)
//	0x14  posting (collection, term, document, chunk uint32)   lexical posting (index)
//	0x20  conv.   (0x01, bot, conversation)                    conversation record (bot/conversation)
//	              (0x02, bot, conversation, turn uint32)       turn record (bot/conversation)
//	              (0x03, bot, user, conversation)              empty: index by end user (bot/conversation)
//	              (0x04, created uint64, bot, conversation)    empty: index by creation time (bot/conversation)
//	0x21  outbox  (0x01, ticket)                               outbox record (bot/handoff)
//	              (0x02, due uint64, ticket)                   empty: pending tickets by next attempt (bot/handoff)
//
// Kinds 0x20 and 0x21 hold several sorts of record, so their tuples begin
// with a one-byte Section; times are nanoseconds since the Unix epoch
// (TimeComponent), so index entries sort by time.
//
// Consequences the consumers rely on:
//
//   - A collection's documents, chunks, vectors and postings are four ranges
//     (CollectionRanges adds the collection record), so a collection is
//     deleted by one Batch of DeleteRange calls.
//   - A document's chunks are one range, in chunk order (DocumentChunksPrefix).
//   - A collection's vectors are in id order. The index assigns ids in
//     increasing order, so the vectors written after an HNSW snapshot whose
//     highest id is h are the scan of VectorsPrefix(c) After VectorKey(c, h).
//   - A term's postings in a collection are one range (TermPostingsPrefix).
//   - A bot's conversation records are one range (ConversationsPrefix), a
//     conversation's turns one range in turn order (TurnsPrefix), an end
//     user's conversations one range of the user index
//     (UserConversationsPrefix), and the conversations created in a time
//     interval one range of the time index (ConversationTimeRange): so
//     erasure, retention and export by date are range scans.
//   - The outbox's due index holds an entry exactly for each pending
//     ticket, so the tickets due by a time are one range in due order
//     (OutboxDueRange) and the backlog is that section's size.
//
// The meta record "format" holds the format version: the magic
// "infergate-store\x00" and a big-endian uint32, FormatVersion for this
// build. Open writes it when it creates a store and checks it at every open;
// only the store writes it (a Batch refuses the key with ErrReservedKey).
// Other meta names are free for consumers, which should keep their own value
// versions there (for example "index.format").
//
// A new kind, or a new section of an existing kind, is an addition: it gets
// its tuple here, with constructors, parsers and the fuzz targets extended.
// FormatVersion is bumped only if an existing kind's layout changes.
//
// # Values
//
// The store treats values as opaque bytes; their encodings belong to the
// package that writes them. Get and Scan return copies; Iterator.Key and
// Iterator.Value are valid until the next call to Next.
//
// # Directory
//
// Open creates a store in a directory that is missing or empty. While it does
// so a file STORE-CREATING marks the directory; if the process dies before the
// format record is synced, the next Open finds the marker, clears the
// leftovers (nothing in them was ever acknowledged) and creates the store
// again. Any other non-empty directory without a Pebble database is refused
// with ErrNotStore, as is a Pebble database without infergate's format record.
// Open reads the format record through a read-only open first, so a refused
// directory (another program's database, a newer format) is left exactly as
// it was; only then does it open the database read-write (and, for an older
// format, upgrade it).
package store
