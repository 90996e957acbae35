package inference

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	llama "github.com/infergate/infergate/cgo"
	"github.com/infergate/infergate/grammar"
)

// grammarRig is a generator with one decoded prompt, whose logits every
// fuzz input samples from.
type grammarRig struct {
	g   *Generator
	idx int
	mu  sync.Mutex // the fuzz engine may run inputs in parallel within a worker
}

var (
	rigOnce sync.Once
	rig     *grammarRig
	rigErr  error
)

func grammarTestRig(t testing.TB) *grammarRig {
	chat, _ := testModels(t)
	rigOnce.Do(func() {
		var g *Generator
		if g, rigErr = NewGenerator(chat, GeneratorParams{Sequences: 1, CtxSize: 128, Threads: 1}); rigErr != nil {
			return
		}
		toks, err := chat.Tokenize("Once upon a time")
		if err != nil {
			rigErr = err
			return
		}
		idx, err := g.Add(0, 0, toks, true)
		if err != nil {
			rigErr = err
			return
		}
		if rigErr = g.Decode(); rigErr != nil {
			return
		}
		rig = &grammarRig{g: g, idx: idx}
	})
	if rigErr != nil {
		t.Fatal(rigErr)
	}
	return rig
}

// sampleUnder builds a sampler for gbnf and draws up to n tokens from the
// rig's logits, feeding each back into the grammar. It returns the count
// of tokens drawn, the grammar's refusal, and the error that stopped the
// draws early, if any.
func (r *grammarRig) sampleUnder(t testing.TB, gbnf string, n int) (int, error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.g.NewSampler(Sampling{Grammar: gbnf, Temperature: 0.9, Seed: 1})
	if err != nil {
		return 0, err, nil
	}
	defer s.Close()
	m := r.g.Model()
	for i := 0; i < n; i++ {
		tok, err := r.g.Sample(s, r.idx)
		if err != nil {
			if !errors.Is(err, llama.ErrSample) {
				t.Fatalf("sampling failed with %v, which does not wrap ErrSample", err)
			}
			return i, nil, err
		}
		if m.IsEOG(tok) {
			// The scheduler ends a generation here. (The grammar may still
			// allow more: accepting the end changes nothing in llama.cpp's
			// grammar state, so a grammar like [#]* goes on.)
			return i + 1, nil, nil
		}
	}
	return n, nil, nil
}

// FuzzGrammar hands arbitrary GBNF to NewSampler, that is to grammar.Check
// and then llama.cpp's grammar parser, and samples under what they accept.
// No input may crash the process: a C++ exception or an abort inside
// llama.cpp's grammar code (which the shim and Check guard against), or a
// stack overflow from a rule that reaches itself without consuming input
// (which Check refuses).
//
//	go test -run '^$' -fuzz FuzzGrammar -fuzztime 60s ./inference/
func FuzzGrammar(f *testing.F) {
	for _, seed := range []string{
		`root ::= "yes" | "no"`,
		`root ::= [a-z]{1,5} "." `,
		`root ::= ( "a" | "b" )* "c"`,
		`root ::= [^"\\] | "\\" ["\\/bfnrt]`,
		`root ::= "\u00e9" | [\u4e00-\u9fff]`,
		`root ::= item+ item ::= "x"`,
		"root ::= (",
		"root ::= root \"a\"",
		`root ::= [a-z]{0,5000}`,
		"root ::= \"\"",
		`root ::= <[1]>`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, gbnf string) {
		r := grammarTestRig(t)
		r.sampleUnder(t, gbnf, 24)
	})
}

// TestGrammarSampling pins what FuzzGrammar relies on.
func TestGrammarSampling(t *testing.T) {
	r := grammarTestRig(t)
	for _, tc := range []struct {
		name        string
		gbnf        string
		refused     bool
		sampleFails bool
	}{
		{"two words", `root ::= "yes" | "no"`, false, false},
		{"only the empty string", `root ::= ""`, false, false},
		{"unparsable", "root ::= (", true, false},
		{"left recursion", `root ::= root "a" | "a"`, true, false},
		{"repetition past llama.cpp's limit", `root ::= [a-z]{0,5000}`, true, false},
		{"no root rule", `item ::= "a"`, true, false},
		// llama.cpp's own left-recursion check misses these: its
		// parser accepts them and its stack overflows.
		{"repetition of something empty", `root ::= ( "a"? | "b" )*`, true, false},
		{"nullable prefix before recursion", `root ::= x root "a" | "b"` + "\n" + `x ::= "c"?`, true, false},
	} {
		// Twice: the second time meets the generator's cache of checked
		// grammars, which must not let a refused one through.
		for range 2 {
			drawn, refused, failed := r.sampleUnder(t, tc.gbnf, 24)
			if (refused != nil) != tc.refused || (failed != nil) != tc.sampleFails {
				t.Errorf("%s: refused %v, sampling error %v after %d tokens; want refused %v, sampling fails %v",
					tc.name, refused, failed, drawn, tc.refused, tc.sampleFails)
			}
		}
	}
}

// FuzzSchemaGrammar drives JSON schemas through the compiler and then
// llama.cpp's own grammar parser and sampler: a schema either is refused
// by the compiler with a *grammar.SchemaError (the client's 400) or
// compiles to a grammar that llama.cpp accepts and samples under without
// failing; nothing in between, which would reach the client as a 500, and
// no crash.
//
//	go test -run '^$' -fuzz FuzzSchemaGrammar -fuzztime 60s ./inference/
func FuzzSchemaGrammar(f *testing.F) {
	for _, s := range []string{
		`{"type":"object","properties":{"order_id":{"type":"string","pattern":"x"},"n":{"type":"integer","minimum":1}},"required":["n"]}`,
		`{"type":"string","maxLength":5000}`,
		`{"type":"array","items":{"enum":["a","b",1,null]},"minItems":1,"maxItems":3}`,
		`{"anyOf":[{"type":"number"},{"type":"boolean"}]}`,
		`{"$defs":{"t":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/t"}}}}},"$ref":"#/$defs/t"}`,
		`{"type":"string","minLength":2001}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		if !json.Valid(schema) {
			return
		}
		gbnf, err := grammar.FromSchema(schema)
		if err != nil {
			if !errors.As(err, new(*grammar.SchemaError)) {
				t.Fatalf("schema %s: %v (%T) is not a *grammar.SchemaError", schema, err, err)
			}
			return
		}
		_, refused, failed := grammarTestRig(t).sampleUnder(t, gbnf, 16)
		if refused != nil {
			t.Fatalf("schema %s compiled to a grammar NewSampler refuses: %v\n%s", schema, refused, gbnf)
		}
		if failed != nil {
			t.Fatalf("schema %s: sampling under its grammar failed: %v\n%s", schema, failed, gbnf)
		}
	})
}
