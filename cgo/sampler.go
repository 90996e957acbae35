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

// SamplerParams configures a sampler chain. The chain runs, in order:
// penalties, top-k, top-p, min-p, temperature, then a seeded draw; with
// Temperature <= 0 it picks the most likely token instead (greedy). A
// grammar is checked against the chain's pick and, only when it rejects
// that pick, applied to the whole vocabulary before the chain draws again.
type SamplerParams struct {
	Temperature      float32
	TopK             int     // 0 disables
	TopP             float32 // 0 or 1 disables
	MinP             float32 // 0 disables
	RepeatPenalty    float32 // 0 or 1 disables
	FrequencyPenalty float32
	PresencePenalty  float32
	PenaltyLastN     int // tokens the penalties look back over; 0: 64
	Seed             uint32
	Grammar          string // GBNF; empty for none
	GrammarRoot      string // start symbol; empty: "root"
}

// Sampler is a llama.cpp sampler chain with its own state (seeded RNG,
// penalty history, grammar position); one per sequence.
type Sampler struct {
	p   *C.infergate_sampler
	err *C.char // errLen bytes of C memory for the shim's messages: no allocation per token
}

const errLen = 256

// GrammarError is a grammar that llama.cpp refuses: it does not parse, it
// is left-recursive, or it lacks its root rule.
type GrammarError struct{ Reason string }

func (e *GrammarError) Error() string { return "llama: grammar refused: " + e.Reason }

// ErrSample is wrapped by Sample's errors: the sequence cannot go on (its
// grammar admits no token of the vocabulary, or llama.cpp threw).
var ErrSample = errors.New("llama: sampling failed")

// errBuf receives a C++ exception's message from the shim.
type errBuf [256]C.char

func (b *errBuf) ptr() (*C.char, C.size_t) { return &b[0], C.size_t(len(b)) }
func (b *errBuf) String() string           { return C.GoString(&b[0]) }

// NewSampler builds the chain for m's vocabulary. A grammar llama.cpp
// refuses is a *GrammarError.
func NewSampler(m *Model, p SamplerParams) (*Sampler, error) {
	Init(false)
	cp := C.llama_sampler_chain_default_params()
	cp.no_perf = true
	chain := C.llama_sampler_chain_init(cp)
	add := func(s *C.struct_llama_sampler) { C.llama_sampler_chain_add(chain, s) }

	rep := p.RepeatPenalty
	if rep == 0 {
		rep = 1
	}
	if rep != 1 || p.FrequencyPenalty != 0 || p.PresencePenalty != 0 {
		lastN := p.PenaltyLastN
		if lastN == 0 {
			lastN = 64
		}
		add(C.llama_sampler_init_penalties(C.int32_t(lastN), C.float(rep), C.float(p.FrequencyPenalty), C.float(p.PresencePenalty)))
	}
	if p.Temperature <= 0 {
		add(C.llama_sampler_init_greedy())
	} else {
		if p.TopK > 0 {
			add(C.llama_sampler_init_top_k(C.int32_t(p.TopK)))
		}
		if p.TopP > 0 && p.TopP < 1 {
			add(C.llama_sampler_init_top_p(C.float(p.TopP), 1))
		}
		if p.MinP > 0 {
			add(C.llama_sampler_init_min_p(C.float(p.MinP), 1))
		}
		add(C.llama_sampler_init_temp(C.float(p.Temperature)))
		add(C.llama_sampler_init_dist(C.uint32_t(p.Seed)))
	}

	var cg, cr *C.char
	if p.Grammar != "" {
		root := p.GrammarRoot
		if root == "" {
			root = "root"
		}
		cg, cr = C.CString(p.Grammar), C.CString(root)
		defer C.free(unsafe.Pointer(cg))
		defer C.free(unsafe.Pointer(cr))
	}
	var eb errBuf
	ep, en := eb.ptr()
	s := C.infergate_sampler_new(m.vocab, chain, cg, cr, ep, en)
	if s == nil {
		C.llama_sampler_free(chain)
		return nil, &GrammarError{Reason: eb.String()}
	}
	return &Sampler{p: s, err: (*C.char)(C.calloc(errLen, 1))}, nil
}

// Close frees the chain.
func (s *Sampler) Close() {
	if s.p != nil {
		C.infergate_sampler_free(s.p)
		C.free(unsafe.Pointer(s.err))
		s.p, s.err = nil, nil
	}
}

// Sample picks a token from batch output i of the last Decode on c, and
// records it in the chain's state (penalties, grammar). An error wraps
// ErrSample; the sampler's state is then unchanged.
func (s *Sampler) Sample(c *Context, i int) (Token, error) {
	t := C.infergate_sampler_sample(s.p, c.p, C.int32_t(i), s.err, errLen)
	if t < 0 {
		return -1, fmt.Errorf("%w: %s", ErrSample, C.GoString(s.err))
	}
	return Token(t), nil
}

// Accept records a token the chain did not pick itself. A token the
// grammar does not allow at this point is refused, state unchanged.
func (s *Sampler) Accept(t Token) error {
	if C.infergate_sampler_accept(s.p, C.llama_token(t), s.err, errLen) != 0 {
		return fmt.Errorf("%w: %s", ErrSample, C.GoString(s.err))
	}
	return nil
}

// Reset clears the chain's state.
func (s *Sampler) Reset() error {
	if C.infergate_sampler_reset(s.p, s.err, errLen) != 0 {
		return fmt.Errorf("%w: %s", ErrSample, C.GoString(s.err))
	}
	return nil
}
