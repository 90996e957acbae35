package llama

/*
#include <stdlib.h>
#include "infergate.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Pooling selects how an embedding context reduces token states to one
// vector per sequence.
type Pooling int

// Pooling types; PoolingDefault uses the model's own (e.g. mean for MiniLM).
const (
	PoolingDefault Pooling = -1
	PoolingNone    Pooling = 0
	PoolingMean    Pooling = 1
	PoolingCLS     Pooling = 2
	PoolingLast    Pooling = 3
)

// ContextParams sizes a context. Zero values take llama.cpp's defaults.
type ContextParams struct {
	NCtx         int // KV cells shared by all sequences; 0: the model's training length
	NBatch       int // most tokens one Decode call accepts
	NUBatch      int // most tokens computed at once (physical batch)
	NSeqMax      int // distinct sequences
	Threads      int // threads for single-token steps
	ThreadsBatch int // threads for prompt processing; 0: Threads
	Embeddings   bool
	Pooling      Pooling
	// UnifiedKV puts every sequence's cells in one buffer: cells can then
	// be shared between sequences for free, but each token attends over
	// the used range of the whole buffer. Without it each sequence has its
	// own stream of NCtx/NSeqMax cells and attends over its own cells only,
	// which is far cheaper with many long sequences; sharing then copies.
	UnifiedKV bool
	// FlashAttention: nil auto, else forced on or off.
	FlashAttention *bool
	// CacheTypeK and CacheTypeV are the KV cells' element types, one of
	// CacheTypes; "" is f16. Quantized types save memory; a quantized V
	// needs flash attention, and a quantized type's block must divide the
	// model's head size.
	CacheTypeK, CacheTypeV string
}

// cacheTypes are the names llama.cpp's tools accept for --cache-type-k/v,
// widest first, with their ggml types.
var cacheTypes = []struct {
	name string
	t    C.enum_ggml_type
}{
	{"f32", C.GGML_TYPE_F32},
	{"f16", C.GGML_TYPE_F16},
	{"bf16", C.GGML_TYPE_BF16},
	{"q8_0", C.GGML_TYPE_Q8_0},
	{"q5_1", C.GGML_TYPE_Q5_1},
	{"q5_0", C.GGML_TYPE_Q5_0},
	{"q4_1", C.GGML_TYPE_Q4_1},
	{"q4_0", C.GGML_TYPE_Q4_0},
	{"iq4_nl", C.GGML_TYPE_IQ4_NL},
}

// CacheTypes lists the KV cache element types, widest first.
func CacheTypes() []string {
	names := make([]string, len(cacheTypes))
	for i, c := range cacheTypes {
		names[i] = c.name
	}
	return names
}

// CacheTypeQuantized reports whether name is a block-quantized type (one a
// V cache can only use with flash attention); false for unknown names.
func CacheTypeQuantized(name string) bool {
	t, err := cacheType(name)
	return err == nil && bool(C.ggml_is_quantized(t))
}

func cacheType(name string) (C.enum_ggml_type, error) {
	if name == "" {
		return C.GGML_TYPE_F16, nil
	}
	for _, c := range cacheTypes {
		if c.name == name {
			return c.t, nil
		}
	}
	return 0, fmt.Errorf("KV cache type %q: want one of %v", name, CacheTypes())
}

// Context is an inference state: the KV memory and the compute buffers.
// One goroutine at a time.
type Context struct {
	p       *C.struct_llama_context
	model   *Model
	mem     C.llama_memory_t
	abort   *C.int // C memory polled by ggml's compute threads
	unified bool
}

// NewContext creates a context over m.
func NewContext(m *Model, p ContextParams) (*Context, error) {
	Init(false)
	cp := C.llama_context_default_params()
	if p.NCtx > 0 {
		cp.n_ctx = C.uint32_t(p.NCtx)
	}
	if p.NBatch > 0 {
		cp.n_batch = C.uint32_t(p.NBatch)
	}
	if p.NUBatch > 0 {
		cp.n_ubatch = C.uint32_t(p.NUBatch)
	}
	if p.NSeqMax > 0 {
		cp.n_seq_max = C.uint32_t(p.NSeqMax)
	}
	if p.Threads > 0 {
		cp.n_threads = C.int32_t(p.Threads)
		cp.n_threads_batch = C.int32_t(p.Threads)
	}
	if p.ThreadsBatch > 0 {
		cp.n_threads_batch = C.int32_t(p.ThreadsBatch)
	}
	cp.embeddings = C.bool(p.Embeddings)
	cp.pooling_type = C.enum_llama_pooling_type(p.Pooling)
	if p.FlashAttention != nil {
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
		if *p.FlashAttention {
			cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_ENABLED
		}
	}
	cp.kv_unified = C.bool(p.UnifiedKV)
	var err error
	if cp.type_k, err = cacheType(p.CacheTypeK); err != nil {
		return nil, err
	}
	if cp.type_v, err = cacheType(p.CacheTypeV); err != nil {
		return nil, err
	}
	// llama.cpp checks this only when it picks flash attention itself; with
	// it forced on, a row that is not whole blocks aborts the first decode.
	headK, headV := m.HeadDims()
	for _, c := range []struct {
		t    C.enum_ggml_type
		head int
		name string
	}{{cp.type_k, headK, "key"}, {cp.type_v, headV, "value"}} {
		if blck := int(C.ggml_blck_size(c.t)); c.head > 0 && c.head%blck != 0 {
			return nil, fmt.Errorf("KV cache type %s stores blocks of %d values, which do not divide the model's %d-value attention %ss",
				typeName(c.t), blck, c.head, c.name)
		}
	}
	cp.no_perf = true
	c := C.llama_init_from_model(m.p, cp)
	if c == nil {
		return nil, fmt.Errorf("llama.cpp could not create a context (n_ctx=%d n_seq_max=%d, KV cache %s/%s): out of memory, invalid sizes, "+
			"or a cache type this model does not support", p.NCtx, p.NSeqMax, typeName(cp.type_k), typeName(cp.type_v))
	}
	ctx := &Context{p: c, model: m, mem: C.llama_get_memory(c), unified: p.UnifiedKV}
	ctx.abort = (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	C.infergate_set_abort(c, ctx.abort)
	return ctx, nil
}

func typeName(t C.enum_ggml_type) string { return C.GoString(C.ggml_type_name(t)) }

// Close frees the context.
func (c *Context) Close() {
	if c.p != nil {
		C.llama_free(c.p)
		c.p = nil
		C.free(unsafe.Pointer(c.abort))
		c.abort = nil
	}
}

// Model is the model the context was created from.
func (c *Context) Model() *Model { return c.model }

// NCtx is the number of KV cells.
func (c *Context) NCtx() int { return int(C.llama_n_ctx(c.p)) }

// NCtxSeq is the most cells one sequence may use.
func (c *Context) NCtxSeq() int { return int(C.llama_n_ctx_seq(c.p)) }

// NBatch is the most tokens one Decode accepts.
func (c *Context) NBatch() int { return int(C.llama_n_batch(c.p)) }

// NUBatch is the physical batch size.
func (c *Context) NUBatch() int { return int(C.llama_n_ubatch(c.p)) }

// NSeqMax is the number of sequences.
func (c *Context) NSeqMax() int { return int(C.llama_n_seq_max(c.p)) }

// PoolingType is the pooling in effect (the model's when left default).
func (c *Context) PoolingType() Pooling { return Pooling(C.llama_pooling_type(c.p)) }

// SetThreads changes the thread counts for later decodes.
func (c *Context) SetThreads(gen, batch int) {
	C.llama_set_n_threads(c.p, C.int32_t(gen), C.int32_t(batch))
}

// Errors from Decode.
var (
	// ErrNoKVSlot: the KV memory has no room for the batch; nothing was
	// changed. Free cells or split the batch and retry.
	ErrNoKVSlot = errors.New("llama: no KV cache slot for the batch")
	// ErrAborted: Abort was called during the decode; ubatches already
	// computed stay in memory.
	ErrAborted = errors.New("llama: decode aborted")
)

// Decode runs the model over the batch, filling the KV memory and the
// outputs of tokens marked for logits.
func (c *Context) Decode(b *Batch) error {
	if b.n() == 0 {
		return nil
	}
	C.infergate_store_flag(c.abort, 0)
	switch r := C.llama_decode(c.p, b.b); {
	case r == 0:
		return nil
	case r == 1:
		return ErrNoKVSlot
	case r == 2:
		return ErrAborted
	case r == -1:
		return fmt.Errorf("llama: decode rejected the batch as invalid")
	default:
		return fmt.Errorf("llama: decode failed (%d)", int(r))
	}
}

// Encode runs an encoder-only model (BERT) over the batch, without KV memory.
func (c *Context) Encode(b *Batch) error {
	if b.n() == 0 {
		return nil
	}
	C.infergate_store_flag(c.abort, 0)
	if r := C.llama_encode(c.p, b.b); r != 0 {
		return fmt.Errorf("llama: encode failed (%d)", int(r))
	}
	return nil
}

// Abort asks a running Decode to stop at the next graph node. It is the one
// method safe to call from another goroutine.
func (c *Context) Abort() { C.infergate_store_flag(c.abort, 1) }

// Logits returns a view of the logits of batch output i (VocabSize floats).
// The view is valid until the next Decode.
func (c *Context) Logits(i int) []float32 {
	p := C.llama_get_logits_ith(c.p, C.int32_t(i))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), c.model.VocabSize())
}

// SequenceEmbedding copies the pooled embedding of seq into dst (resized to
// the model's embedding size). It is nil when the context does not pool.
func (c *Context) SequenceEmbedding(dst []float32, seq int) []float32 {
	p := C.llama_get_embeddings_seq(c.p, C.llama_seq_id(seq))
	if p == nil {
		return nil
	}
	n := c.model.EmbeddingSize()
	return append(dst[:0], unsafe.Slice((*float32)(unsafe.Pointer(p)), n)...)
}

// TokenEmbedding copies the embedding of batch output i (no pooling).
func (c *Context) TokenEmbedding(dst []float32, i int) []float32 {
	p := C.llama_get_embeddings_ith(c.p, C.int32_t(i))
	if p == nil {
		return nil
	}
	n := c.model.EmbeddingSize()
	return append(dst[:0], unsafe.Slice((*float32)(unsafe.Pointer(p)), n)...)
}

// MemoryClear empties the KV memory of every sequence.
func (c *Context) MemoryClear() { C.llama_memory_clear(c.mem, C.bool(true)) }

// SeqRemove drops seq's cells with positions in [p0, p1); p1 < 0 means to
// the end. seq < 0 matches every sequence. It reports false when a partial
// removal is impossible (recurrent models).
func (c *Context) SeqRemove(seq, p0, p1 int) bool {
	return bool(C.llama_memory_seq_rm(c.mem, C.llama_seq_id(seq), C.llama_pos(p0), C.llama_pos(p1)))
}

// SeqCopy gives dst src's cells with positions in [p0, p1). In a unified
// KV buffer the cells are shared, not duplicated. Across streams (UnifiedKV
// off) llama.cpp can only copy a whole sequence (p0 = p1 = -1): anything else
// aborts the process, so it is refused here.
func (c *Context) SeqCopy(src, dst, p0, p1 int) {
	if !c.unified && (p0 >= 0 || p1 >= 0) {
		panic("llama: SeqCopy of a partial range across KV streams")
	}
	C.llama_memory_seq_cp(c.mem, C.llama_seq_id(src), C.llama_seq_id(dst), C.llama_pos(p0), C.llama_pos(p1))
}

// SeqKeep drops every cell not belonging to seq.
func (c *Context) SeqKeep(seq int) { C.llama_memory_seq_keep(c.mem, C.llama_seq_id(seq)) }

// SeqPosMax is the largest position seq holds, or -1 when it is empty.
func (c *Context) SeqPosMax(seq int) int {
	return int(C.llama_memory_seq_pos_max(c.mem, C.llama_seq_id(seq)))
}

// SeqPosMin is the smallest position seq holds, or -1 when it is empty.
func (c *Context) SeqPosMin(seq int) int {
	return int(C.llama_memory_seq_pos_min(c.mem, C.llama_seq_id(seq)))
}
