package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/infergate/infergate/grammar"
)

// The parsers see untrusted bytes; the fuzz targets check that they never
// panic, that every refusal is a well-formed 400 naming a parameter path
// that exists in the request, and that accepted requests satisfy the
// invariants the handlers rely on.

func checkFuzzError(t *testing.T, body []byte, e *APIError) {
	t.Helper()
	if e.Status != 400 || e.Type != TypeInvalidRequest || e.Message == "" {
		t.Fatalf("bad error for %q: %+v", body, e)
	}
	if !json.Valid(e.appendJSON(nil)) {
		t.Fatalf("error body is not JSON: %s", e.appendJSON(nil))
	}
	if e.Param != "" {
		// The first segment of the path is a key of the request.
		first := e.Param
		if i := strings.IndexAny(first, ".["); i >= 0 {
			first = first[:i]
		}
		if !strings.Contains(string(body), `"`+first+`"`) && e.Code != "missing_required_parameter" {
			t.Fatalf("param %q names no field of %q", e.Param, body)
		}
	}
}

func seedBodies(f *testing.F, bodies ...string) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
}

func FuzzParseChatRequest(f *testing.F) {
	seedBodies(f,
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"system","content":[{"type":"text","text":"a"}]},{"role":"user","content":"q"}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"user","content":"x"}],"temperature":0.5,"top_p":0.9,"stop":["a","b"],"seed":7,"max_tokens":3,"n":1}`,
		`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}}}`,
		`{"messages":[{"role":"tool","content":"x"}],"tools":[{}]}`,
		`{"messages":null}`, `[]`, `{"messages":[{"role":"user","content":"\u0000\ud800"}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, e := parseChatRequest(body, parseLimits{})
		if e != nil {
			checkFuzzError(t, body, e)
			return
		}
		if len(r.Messages) == 0 || len(r.Messages) > defaultMaxMessages {
			t.Fatalf("accepted %d messages", len(r.Messages))
		}
		for _, m := range r.Messages {
			if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
				t.Fatalf("accepted role %q", m.Role)
			}
		}
		s := r.Sampling
		if s.Temperature < 0 || s.Temperature > 2 || s.TopP < 0 || s.TopP > 1 || r.MaxTokens < 0 || len(r.Stop) > defaultMaxStop {
			t.Fatalf("out-of-range settings accepted: %+v", r.genParams)
		}
		if s.Grammar != "" {
			if err := grammar.Check(s.Grammar); err != nil {
				t.Fatalf("accepted response_format compiles to a grammar llama.cpp would refuse: %v", err)
			}
		}
	})
}

func FuzzParseCompletionRequest(f *testing.F) {
	seedBodies(f,
		`{"model":"m","prompt":"Once upon"}`,
		`{"prompt":["a","b"],"max_tokens":3,"echo":true}`,
		`{"prompt":[1,2,3]}`, `{"prompt":[[1],[2,3]]}`, `{"prompt":[1,"a"]}`, `{"prompt":[[],[1]]}`,
		`{"prompt":"x","suffix":"y","best_of":2,"logprobs":1}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, e := parseCompletionRequest(body, parseLimits{})
		if e != nil {
			checkFuzzError(t, body, e)
			return
		}
		if len(r.Prompts) == 0 || len(r.Prompts) > defaultMaxPrompts && r.Prompts[0].Tokens == nil {
			t.Fatalf("accepted %d prompts", len(r.Prompts))
		}
		for _, p := range r.Prompts {
			if (p.Text == "") == (p.Tokens == nil) {
				t.Fatalf("a prompt must be text or tokens: %+v", p)
			}
			for _, tok := range p.Tokens {
				if tok < 0 {
					t.Fatalf("negative token accepted")
				}
			}
		}
		if r.MaxTokens < 1 {
			t.Fatalf("max tokens %d", r.MaxTokens)
		}
	})
}

func FuzzParseEmbeddingRequest(f *testing.F) {
	seedBodies(f,
		`{"model":"e","input":"hello"}`,
		`{"input":["a","b"],"encoding_format":"base64","dimensions":384}`,
		`{"input":[1,2]}`, `{"input":[[1],[2]]}`, `{"input":[]}`, `{"input":[""]}`, `{"input":{"a":1}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, e := parseEmbeddingRequest(body, parseLimits{})
		if e != nil {
			checkFuzzError(t, body, e)
			return
		}
		if n := r.inputs(); n == 0 || (len(r.Texts) > 0 && len(r.Tokens) > 0) {
			t.Fatalf("inputs: %d texts %d token arrays", len(r.Texts), len(r.Tokens))
		}
		for _, s := range r.Texts {
			if s == "" {
				t.Fatal("empty input accepted")
			}
		}
		if r.Dimensions < 0 {
			t.Fatal("negative dimensions")
		}
	})
}

// FuzzAppendJSONString: the hand-written encoder agrees with encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\n", "héllo", "\xff", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, out, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip %q -> %q", s, back)
		}
	})
}
