package llama

/*
#include <stdlib.h>
#include "infergate.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"unsafe"
)

// ModelParams chooses how a model file is loaded.
type ModelParams struct {
	GPULayers int  // layers offloaded to the GPU; 0 keeps everything on the CPU, -1 all
	NoMmap    bool // read the file into memory instead of mapping it
	VocabOnly bool // load the tokenizer and metadata, no weights
}

// Model is a loaded GGUF model. It is safe for concurrent read-only use.
type Model struct {
	p     *C.struct_llama_model
	vocab *C.struct_llama_vocab
}

// LoadModel loads a GGUF file. A file llama.cpp cannot read (missing,
// truncated, not GGUF, unsupported architecture) returns an error, never a
// crash; callers wanting a precise reason validate the file first with the
// models package.
func LoadModel(path string, p ModelParams) (*Model, error) {
	Init(false)
	mp := C.llama_model_default_params()
	mp.n_gpu_layers = C.int32_t(p.GPULayers)
	if p.GPULayers < 0 {
		mp.n_gpu_layers = C.int32_t(1 << 30)
	}
	mp.use_mmap = C.bool(!p.NoMmap)
	mp.vocab_only = C.bool(p.VocabOnly)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	m := C.llama_model_load_from_file(cpath, mp)
	if m == nil {
		return nil, fmt.Errorf("llama.cpp could not load model %q (see its log above for the reason)", path)
	}
	return &Model{p: m, vocab: C.llama_model_get_vocab(m)}, nil
}

// Close frees the model. Contexts created from it must be closed first.
func (m *Model) Close() {
	if m.p != nil {
		C.llama_model_free(m.p)
		m.p, m.vocab = nil, nil
	}
}

// Description is llama.cpp's one-line summary, e.g. "llama ?B Q8_0".
func (m *Model) Description() string {
	var buf [256]C.char
	n := C.llama_model_desc(m.p, &buf[0], C.size_t(len(buf)))
	if n < 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// Size is the total size of the weights in bytes.
func (m *Model) Size() uint64 { return uint64(C.llama_model_size(m.p)) }

// Params is the number of parameters.
func (m *Model) Params() uint64 { return uint64(C.llama_model_n_params(m.p)) }

// ContextTrain is the context length the model was trained with.
func (m *Model) ContextTrain() int { return int(C.llama_model_n_ctx_train(m.p)) }

// EmbeddingSize is the width of the model's hidden state (and of its
// embeddings).
func (m *Model) EmbeddingSize() int { return int(C.llama_model_n_embd(m.p)) }

// Layers is the number of transformer blocks.
func (m *Model) Layers() int { return int(C.llama_model_n_layer(m.p)) }

// HasEncoder reports an encoder (BERT-like or encoder-decoder) model.
func (m *Model) HasEncoder() bool { return bool(C.llama_model_has_encoder(m.p)) }

// HasDecoder reports a model that can generate text.
func (m *Model) HasDecoder() bool { return bool(C.llama_model_has_decoder(m.p)) }

// IsRecurrent reports a recurrent (Mamba, RWKV) model, whose memory cannot
// be partially removed: prefix reuse must be off for those.
func (m *Model) IsRecurrent() bool {
	return bool(C.llama_model_is_recurrent(m.p)) || bool(C.llama_model_is_hybrid(m.p))
}

// HeadDims are the sizes of one attention head's key and value vectors:
// the GGUF's key_length/value_length when it has them, else the embedding
// size over the head count, as llama.cpp derives them.
func (m *Model) HeadDims() (k, v int) {
	if heads := int(C.llama_model_n_head(m.p)); heads > 0 {
		k = m.EmbeddingSize() / heads
	}
	v = k
	arch, _ := m.Meta("general.architecture")
	if s, ok := m.Meta(arch + ".attention.key_length"); ok {
		if n, err := strconv.Atoi(s); err == nil {
			k = n
		}
	}
	if s, ok := m.Meta(arch + ".attention.value_length"); ok {
		if n, err := strconv.Atoi(s); err == nil {
			v = n
		}
	}
	return k, v
}

// Meta returns a metadata value as a string, and whether it exists.
func (m *Model) Meta(key string) (string, bool) {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	buf := make([]byte, 256)
	for {
		n := C.llama_model_meta_val_str(m.p, ckey, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
		if n < 0 {
			return "", false
		}
		if int(n) < len(buf) {
			return string(buf[:n]), true
		}
		buf = make([]byte, int(n)+1)
	}
}

// ChatTemplate is the model's default chat template (tokenizer.chat_template),
// or "" when the model has none.
func (m *Model) ChatTemplate() string {
	t := C.llama_model_chat_template(m.p, nil)
	if t == nil {
		return ""
	}
	return C.GoString(t)
}

// Token is a vocabulary id.
type Token = int32

// VocabSize is the number of tokens in the vocabulary.
func (m *Model) VocabSize() int { return int(C.llama_vocab_n_tokens(m.vocab)) }

// BOS is the beginning-of-sequence token, or -1.
func (m *Model) BOS() Token { return Token(C.llama_vocab_bos(m.vocab)) }

// EOS is the end-of-sequence token, or -1.
func (m *Model) EOS() Token { return Token(C.llama_vocab_eos(m.vocab)) }

// IsEOG reports whether t ends generation (EOS, EOT and the like).
func (m *Model) IsEOG(t Token) bool { return bool(C.llama_vocab_is_eog(m.vocab, C.llama_token(t))) }

// IsControl reports a control token, which is never shown to users.
func (m *Model) IsControl(t Token) bool {
	return bool(C.llama_vocab_is_control(m.vocab, C.llama_token(t)))
}

// ErrTooLong is returned for text whose token count overflows llama.cpp's int32.
var ErrTooLong = errors.New("llama: text too long to tokenize")

// CallError is a C++ exception that llama.cpp threw inside Op, caught by
// the shim so that it ends one request instead of the process.
type CallError struct {
	Op     string
	Reason string
}

func (e *CallError) Error() string { return "llama: " + e.Op + ": " + e.Reason }

// Tokenize converts text to tokens. addSpecial adds BOS/EOS as the model
// wants; parseSpecial turns special-token text such as "<|im_start|>" into
// the special tokens (wanted for templated chat, not for user text).
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]Token, error) {
	if len(text) > 1<<30 {
		return nil, ErrTooLong
	}
	// A token covers at least one byte, plus room for BOS/EOS.
	out := make([]Token, len(text)+2)
	var ctext *C.char
	if len(text) > 0 {
		ctext = (*C.char)(unsafe.Pointer(unsafe.StringData(text)))
	} else {
		ctext = (*C.char)(unsafe.Pointer(&[1]byte{}))
	}
	var eb errBuf
	ep, en := eb.ptr()
	tokenize := func() C.int32_t {
		return C.infergate_tokenize(m.vocab, ctext, C.int32_t(len(text)),
			(*C.llama_token)(unsafe.Pointer(&out[0])), C.int32_t(len(out)), C.bool(addSpecial), C.bool(parseSpecial), ep, en)
	}
	n := tokenize()
	if n < 0 && n != C.INT32_MIN && n != C.INFERGATE_EXCEPTION {
		out = make([]Token, -n)
		n = tokenize()
	}
	runtime.KeepAlive(text)
	switch {
	case n == C.INFERGATE_EXCEPTION:
		return nil, &CallError{Op: "tokenize", Reason: eb.String()}
	case n == C.INT32_MIN:
		return nil, ErrTooLong
	case n < 0:
		return nil, fmt.Errorf("llama: tokenize failed (%d)", int(n))
	}
	return out[:n], nil
}

// AppendPiece appends the bytes of token t to buf. A piece can be part of a
// UTF-8 character: callers join pieces before treating them as text.
// special renders control tokens as their text instead of nothing. A token
// outside the vocabulary appends nothing.
func (m *Model) AppendPiece(buf []byte, t Token, special bool) []byte {
	// Written straight into buf's spare room: this runs for every
	// generated token. A failure (a token outside the vocabulary, which
	// llama.cpp throws on) appends nothing and needs no message.
	buf = slices.Grow(buf, 64)
	room := buf[len(buf):cap(buf)]
	n := C.infergate_token_to_piece(m.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&room[0])), C.int32_t(len(room)), C.bool(special), nil, 0)
	if n == C.INFERGATE_EXCEPTION {
		return buf
	}
	if n < 0 {
		buf = slices.Grow(buf, int(-n))
		room = buf[len(buf):cap(buf)]
		n = C.infergate_token_to_piece(m.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&room[0])), C.int32_t(len(room)), C.bool(special), nil, 0)
		if n < 0 {
			return buf
		}
	}
	return buf[:len(buf)+int(n)]
}

// Detokenize converts tokens back to text, as llama.cpp would print them
// (leading-space and byte-fallback handling included). Tokens outside the
// vocabulary are an error.
func (m *Model) Detokenize(tokens []Token, removeSpecial, unparseSpecial bool) (string, error) {
	if len(tokens) == 0 {
		return "", nil
	}
	var eb errBuf
	ep, en := eb.ptr()
	buf := make([]byte, len(tokens)*8+16)
	for {
		n := C.infergate_detokenize(m.vocab, (*C.llama_token)(unsafe.Pointer(&tokens[0])), C.int32_t(len(tokens)),
			(*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), C.bool(removeSpecial), C.bool(unparseSpecial), ep, en)
		switch {
		case n == C.INFERGATE_EXCEPTION:
			return "", &CallError{Op: "detokenize", Reason: eb.String()}
		case n >= 0:
			return string(buf[:n]), nil
		}
		buf = make([]byte, -n)
	}
}

// ChatMessage is one message given to a chat template.
type ChatMessage struct {
	Role    string
	Content string
}

// ErrUnknownTemplate is returned when llama.cpp does not recognise a chat
// template (it supports a fixed list of well-known templates, not arbitrary
// Jinja).
var ErrUnknownTemplate = errors.New("llama: chat template not supported by llama_chat_apply_template")

// ApplyChatTemplate formats msgs with tmpl: a template text (a model's
// tokenizer.chat_template) or the name of a built-in one such as "chatml".
// addAssistant ends the prompt with the assistant turn's opening so the model
// answers.
func ApplyChatTemplate(tmpl string, msgs []ChatMessage, addAssistant bool) (string, error) {
	ctmpl := C.CString(tmpl)
	defer C.free(unsafe.Pointer(ctmpl))
	cmsgs := C.malloc(C.size_t(max(len(msgs), 1)) * C.size_t(unsafe.Sizeof(C.struct_llama_chat_message{})))
	defer C.free(cmsgs)
	arr := unsafe.Slice((*C.struct_llama_chat_message)(cmsgs), max(len(msgs), 1))
	total := 0
	for i, msg := range msgs {
		arr[i].role = C.CString(msg.Role)
		arr[i].content = C.CString(msg.Content)
		total += len(msg.Role) + len(msg.Content)
	}
	defer func() {
		for i := range msgs {
			C.free(unsafe.Pointer(arr[i].role))
			C.free(unsafe.Pointer(arr[i].content))
		}
	}()
	buf := make([]byte, 2*total+256)
	var eb errBuf
	ep, en := eb.ptr()
	for {
		n := C.infergate_chat_apply_template(ctmpl, &arr[0], C.size_t(len(msgs)), C.bool(addAssistant),
			(*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), ep, en)
		if n == C.INFERGATE_EXCEPTION {
			return "", &CallError{Op: "apply chat template", Reason: eb.String()}
		}
		if n < 0 {
			return "", ErrUnknownTemplate
		}
		if int(n) <= len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, int(n))
	}
}
