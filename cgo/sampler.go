package llama

/*
#include <stdlib.h>
#include <llama.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// SamplerParams configures a sampler chain. The chain runs, in order:
// grammar, penalties, top-k, top-p, min-p, temperature, then a seeded draw;
// with Temperature <= 0 it picks the most likely token instead (greedy).
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
	p *C.struct_llama_sampler
}

// NewSampler builds the chain for m's vocabulary. A grammar that does not
// parse is an error.
func NewSampler(m *Model, p SamplerParams) (*Sampler, error) {
	Init(false)
	cp := C.llama_sampler_chain_default_params()
	cp.no_perf = true
	chain := C.llama_sampler_chain_init(cp)
	add := func(s *C.struct_llama_sampler) { C.llama_sampler_chain_add(chain, s) }

	if p.Grammar != "" {
		root := p.GrammarRoot
		if root == "" {
			root = "root"
		}
		cg, cr := C.CString(p.Grammar), C.CString(root)
		g := C.llama_sampler_init_grammar(m.vocab, cg, cr)
		C.free(unsafe.Pointer(cg))
		C.free(unsafe.Pointer(cr))
		if g == nil {
			C.llama_sampler_free(chain)
			return nil, fmt.Errorf("llama: grammar does not parse")
		}
		add(g)
	}
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
		return &Sampler{p: chain}, nil
	}
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
	return &Sampler{p: chain}, nil
}

// Close frees the chain.
func (s *Sampler) Close() {
	if s.p != nil {
		C.llama_sampler_free(s.p)
		s.p = nil
	}
}

// Sample picks a token from batch output i of the last Decode on c, and
// records it in the chain's state (penalties, grammar).
func (s *Sampler) Sample(c *Context, i int) Token {
	return Token(C.llama_sampler_sample(s.p, c.p, C.int32_t(i)))
}

// Accept records a token the chain did not pick itself, such as prompt
// tokens for the penalties.
func (s *Sampler) Accept(t Token) { C.llama_sampler_accept(s.p, C.llama_token(t)) }

// Reset clears the chain's state.
func (s *Sampler) Reset() { C.llama_sampler_reset(s.p) }
