package index

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Record encodings. The store treats values as opaque; these are the
// index's. Collection and document records are JSON (small, read at
// start-up, and readable in a debugger); chunk and vector records are
// binary, since there are a hundred thousand of them to scan at start-up.
// Each carries its own version so that a later format can read the older.

const (
	collectionRecordVersion = 1
	documentRecordVersion   = 1
	chunkRecordVersion      = 1
)

// ChunkParams size a collection's chunks, in the embedding model's tokens.
type ChunkParams struct {
	Tokens  int `json:"tokens"`
	Overlap int `json:"overlap"`
}

// HNSWParams shape a collection's vector graph.
type HNSWParams struct {
	M              int `json:"m"`
	EfConstruction int `json:"ef_construction"`
}

type collectionRecord struct {
	V       int         `json:"v"`
	Name    string      `json:"name"`
	Model   string      `json:"embedding_model"`
	Dim     int         `json:"dimensions"`
	Chunk   ChunkParams `json:"chunk"`
	HNSW    HNSWParams  `json:"hnsw"`
	Created time.Time   `json:"created"`
	// Generation tells this collection from an earlier one of the same
	// name: its snapshot files carry it, so a stale file left by a deleted
	// collection is never loaded into a new one.
	Generation uint64 `json:"generation"`
	// NextID is the next chunk id. Written with every batch that assigns
	// ids, so that an id, once given to a vector, never names another one:
	// a snapshot's vector for an id is then always that id's vector.
	NextID uint64 `json:"next_id"`
}

type documentRecord struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	Format     string    `json:"format"`
	Content    string    `json:"content"`
	Metadata   Metadata  `json:"metadata"`
	Hash       string    `json:"hash"` // of what the embeddings depend on: see contentHash
	FirstChunk uint64    `json:"first_chunk"`
	Chunks     int       `json:"chunks"`
	Tokens     int       `json:"tokens"`
	Created    time.Time `json:"created"`
	Modified   time.Time `json:"modified"`
}

type chunkRecord struct {
	ID         uint64
	Start, End int
	Tokens     int
	Headings   []string
	Text       string
}

var errRecord = errors.New("index: malformed record")

func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", errRecord, what, err)
	}
	return nil
}

func (c *chunkRecord) encode() []byte {
	n := 1 + 5*binary.MaxVarintLen64 + len(c.Text)
	for _, h := range c.Headings {
		n += binary.MaxVarintLen64 + len(h)
	}
	b := make([]byte, 0, n)
	b = append(b, chunkRecordVersion)
	b = binary.AppendUvarint(b, c.ID)
	b = binary.AppendUvarint(b, uint64(c.Start))
	b = binary.AppendUvarint(b, uint64(c.End))
	b = binary.AppendUvarint(b, uint64(c.Tokens))
	b = binary.AppendUvarint(b, uint64(len(c.Headings)))
	for _, h := range c.Headings {
		b = binary.AppendUvarint(b, uint64(len(h)))
		b = append(b, h...)
	}
	return append(b, c.Text...)
}

func decodeChunk(b []byte) (chunkRecord, error) {
	var c chunkRecord
	if len(b) == 0 || b[0] != chunkRecordVersion {
		return c, fmt.Errorf("%w: chunk record version", errRecord)
	}
	b = b[1:]
	var vals [5]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return c, fmt.Errorf("%w: chunk record header", errRecord)
		}
		vals[i], b = v, b[n:]
	}
	c.ID, c.Start, c.End, c.Tokens = vals[0], int(vals[1]), int(vals[2]), int(vals[3])
	if vals[4] > uint64(len(b)) {
		return c, fmt.Errorf("%w: chunk headings", errRecord)
	}
	c.Headings = make([]string, vals[4])
	for i := range c.Headings {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return c, fmt.Errorf("%w: chunk heading", errRecord)
		}
		c.Headings[i], b = string(b[n:n+int(l)]), b[n+int(l):]
	}
	c.Text = string(b)
	return c, nil
}

// Vectors are stored as little-endian float32s, whatever the machine.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte, dst []float32) error {
	if len(b) != 4*len(dst) {
		return fmt.Errorf("%w: vector of %d bytes, want %d", errRecord, len(b), 4*len(dst))
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return nil
}
