package llama

/*
#include <llama.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Batch is a set of tokens for one Decode, each with its position, the
// sequences it belongs to and whether its output (logits or embedding) is
// wanted. Filling it is plain Go writes into C arrays: no cgo call per token.
type Batch struct {
	b       C.struct_llama_batch
	cap     int
	nSeqMax int
	token   []C.llama_token
	pos     []C.llama_pos
	nSeq    []C.int32_t
	seqIDs  []*C.llama_seq_id
	logits  []C.int8_t
}

// NewBatch allocates room for capacity tokens, each in up to nSeqMax
// sequences. Free it with Close.
func NewBatch(capacity, nSeqMax int) *Batch {
	if capacity < 1 {
		capacity = 1
	}
	if nSeqMax < 1 {
		nSeqMax = 1
	}
	b := &Batch{b: C.llama_batch_init(C.int32_t(capacity), 0, C.int32_t(nSeqMax)), cap: capacity, nSeqMax: nSeqMax}
	b.token = unsafe.Slice(b.b.token, capacity)
	b.pos = unsafe.Slice(b.b.pos, capacity)
	b.nSeq = unsafe.Slice(b.b.n_seq_id, capacity)
	b.seqIDs = unsafe.Slice(b.b.seq_id, capacity)
	b.logits = unsafe.Slice(b.b.logits, capacity)
	return b
}

// Close frees the batch's C memory.
func (b *Batch) Close() {
	if b.cap > 0 {
		C.llama_batch_free(b.b)
		b.cap = 0
		b.token, b.pos, b.nSeq, b.seqIDs, b.logits = nil, nil, nil, nil, nil
	}
}

func (b *Batch) n() int { return int(b.b.n_tokens) }

// Len is the number of tokens added since the last Clear.
func (b *Batch) Len() int { return b.n() }

// Cap is the most tokens the batch holds.
func (b *Batch) Cap() int { return b.cap }

// Clear empties the batch for reuse.
func (b *Batch) Clear() { b.b.n_tokens = 0 }

// Truncate keeps the first n tokens (n <= Len).
func (b *Batch) Truncate(n int) {
	if n >= 0 && n < b.n() {
		b.b.n_tokens = C.int32_t(n)
	}
}

// Add appends a token at pos in the given sequences and returns its index
// in the batch, which is what Logits and samplers take.
func (b *Batch) Add(t Token, pos int, seqs []int, output bool) (int, error) {
	i := b.n()
	if i >= b.cap {
		return -1, fmt.Errorf("llama: batch full (%d tokens)", b.cap)
	}
	if len(seqs) == 0 || len(seqs) > b.nSeqMax {
		return -1, fmt.Errorf("llama: token needs 1 to %d sequence ids, got %d", b.nSeqMax, len(seqs))
	}
	b.token[i] = C.llama_token(t)
	b.pos[i] = C.llama_pos(pos)
	b.nSeq[i] = C.int32_t(len(seqs))
	ids := unsafe.Slice(b.seqIDs[i], b.nSeqMax)
	for j, s := range seqs {
		ids[j] = C.llama_seq_id(s)
	}
	if output {
		b.logits[i] = 1
	} else {
		b.logits[i] = 0
	}
	b.b.n_tokens++
	return i, nil
}

// SetOutput changes whether token i's output is computed.
func (b *Batch) SetOutput(i int, output bool) {
	if output {
		b.logits[i] = 1
	} else {
		b.logits[i] = 0
	}
}
