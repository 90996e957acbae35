package grammar

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	expensive := make([]string, 50)
	for i := range expensive {
		expensive[i] = fmt.Sprintf("r%d ::= [a]{0,2000}", i)
	}
	for _, tc := range []struct {
		name, src string
		limit     bool   // want a *LimitError
		syntax    bool   // want a syntax error
		rule      string // the LimitError's rule, when not ""
	}{
		{name: "json object", src: JSONObject},
		{name: "nullable prefix without recursion", src: "root ::= a? b\na ::= \"x\"\nb ::= ( \"y\" | )"},
		{name: "recursion behind a character", src: `root ::= "[" root? "]"`},
		{name: "repetition at the limit", src: `root ::= [a]{2000} "b"{0,2000}`},
		{name: "repetition over the limit", src: `root ::= "a"{2001}`, limit: true},
		{name: "maximum over the limit", src: `root ::= "a"{0,2001}`, limit: true},
		{name: "count overflows", src: `root ::= "a"{99999999999999999999999}`, limit: true},
		{name: "maximum below minimum", src: `root ::= "a"{3,2}`, syntax: true},
		{name: "direct left recursion", src: `root ::= root "a" | "b"`, limit: true, rule: "root"},
		{name: "left recursion through a nullable rule", src: "root ::= e root \"a\" | \"b\"\ne ::= \"x\"?", limit: true, rule: "root"},
		// llama.cpp's own check misses this one (b derives the empty string
		// only through c) and its sampler then recurses until it crashes.
		{name: "left recursion through an indirectly nullable rule", src: "root ::= b root \"x\" | \"y\"\nb ::= c\nc ::= ( \"z\" | )", limit: true, rule: "root"},
		{name: "mutual left recursion", src: "root ::= a\na ::= b \"x\"\nb ::= a | \"y\"", limit: true},
		{name: "unbounded repetition of something empty", src: `root ::= ( "a"? )*`, limit: true, rule: "root"},
		{name: "bounded repetition of something empty", src: `root ::= ( "a"? ){0,5}`},
		{name: "too large once expanded", src: "root ::= r0\n" + strings.Join(expensive, "\n"), limit: true},
		{name: "undefined rule", src: `root ::= nope`, syntax: true},
		{name: "no root", src: `a ::= "x"`, syntax: true},
		{name: "escape llama.cpp lacks", src: `root ::= "\q"`, syntax: true},
		{name: "escaped dash, which llama.cpp lacks", src: `root ::= [a\-z]`, syntax: true},
		{name: "any character, outside the subset", src: `root ::= .`, syntax: true},
		{name: "repetition of nothing", src: `root ::= ""*`, syntax: true},
		{name: "NUL", src: "root ::= \"a\x00\"", syntax: true},
		{name: "two definitions", src: "root ::= \"a\"\nroot ::= \"b\"", syntax: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.src)
			var le *LimitError
			switch {
			case tc.limit:
				if !errors.As(err, &le) {
					t.Fatalf("got %v, want a *LimitError", err)
				}
				if tc.rule != "" && le.Rule != tc.rule {
					t.Errorf("blames rule %q, want %q: %v", le.Rule, tc.rule, err)
				}
			case tc.syntax:
				if !errors.Is(err, errSyntax) {
					t.Fatalf("got %v, want a syntax error", err)
				}
			case err != nil:
				t.Fatalf("refused: %v", err)
			}
		})
	}
}
