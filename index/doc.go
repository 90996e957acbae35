// Package index is infergate's knowledge base: collections of documents,
// extracted (index/extract), chunked with the embedding model's own
// tokenizer (index/chunk), embedded, and searched by vector (index/hnsw),
// by BM25 (index/lexical) or by both fused with reciprocal ranks, with
// metadata filters evaluated inside both walks.
//
// # Truth and derived state
//
// The store (a Store, normally Pebble through PebbleStore) holds the truth
// under the store package's key layout: per collection a collection record
// (JSON), a document record per document (JSON: content, metadata, content
// hash, its chunk ids), a chunk record per chunk (binary: id, offsets,
// heading path, text) and a vector record per chunk (little-endian
// float32s). Everything in memory is derived from it: the documents map,
// the chunk-to-document map, the HNSW graph and the BM25 index. The graph
// and the BM25 index are snapshotted to Config.Dir periodically and at
// Close; at Open each snapshot is reconciled with the store (ids the store
// no longer holds are deleted, ids it holds that the snapshot lacks are
// added from their records), and a missing or damaged snapshot means a
// rebuild from the store, logged.
//
// # Invariants
//
//   - An acknowledged write is durable: Upsert, DeleteDocument,
//     CreateCollection and DeleteCollection return only after their one
//     atomic write is synced.
//   - A document is whole or absent: its record, chunks and vectors are in
//     one write; after a crash all of them are present or none.
//   - A failed write changes nothing, in the store or in memory: memory is
//     changed only after the store acknowledged.
//   - A chunk id is never reused within a collection: the next id is part
//     of the collection record, written with every write that assigns ids.
//     So a snapshot's vector for an id is always that id's vector, which is
//     what makes reconciling by id sound. Snapshot files carry the
//     collection's generation, a random number drawn at creation, so a
//     stale file of a deleted collection is never loaded into a new one of
//     the same name.
//   - A search never returns a half-applied write: new chunks enter the
//     graph and the BM25 index before the chunk map publishes them, and
//     every search filters on the chunk map.
//   - Searches return K results whenever K chunks (or documents, with
//     grouping) pass the filter: the graph falls back to an exact scan for
//     selective filters, BM25 scores every posting of the query's terms,
//     and grouping deepens the rankings until K documents come back.
//
// # Concurrency
//
// Any number of searches run together and with writes. Writes to one
// collection are serialised from assigning chunk ids to publishing them,
// but extraction, chunking and embedding run before, outside that lock, so
// concurrent upserts embed concurrently. An upsert that finds a document
// unchanged embeds nothing; if another writer changed it meanwhile, the
// upsert retries its preparation.
//
// # Embedding priority
//
// Ingestion embeds with llm.PriorityBulk, several groups of chunks in
// flight; queries embed with llm.PriorityInteractive. The batcher serves
// waiting interactive inputs before the next bulk ones at every decode, so
// a bulk ingestion delays a query by at most the decode already running.
package index
