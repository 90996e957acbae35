package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

func mustGrammar(t *testing.T, src string) *gbnf {
	t.Helper()
	g, err := parseGBNF(src)
	if err != nil {
		t.Fatalf("grammar does not parse: %v\n%s", err, src)
	}
	return g
}

func TestJSONGrammar(t *testing.T) {
	g := mustGrammar(t, jsonGrammar)
	accept := []string{
		`{}`, `{"a":1}`, `{ "a": [1, 2.5, -3e10, true, false, null, "x\"y\\z\u00e9"] }`,
		"{\n  \"nested\": {\"deep\": [[], {}]},\n  \"n\": 0\n}", `{"unicode":"héllo 😀"}`, `{"a":-0.5E+2}`,
	}
	for _, s := range accept {
		if !g.accepts(s) {
			t.Errorf("rejects %s", s)
		}
	}
	reject := []string{
		``, `[]`, `"str"`, `{`, `{"a"}`, `{"a":01}`, `{"a":1,}`, `{'a':1}`, `{"a":1}{}`, "{\"a\":\"x\ny\"}",
		`{"a":.5}`, `{"a":tru}`, `{"a" :1}  x`,
	}
	for _, s := range reject {
		if g.accepts(s) {
			t.Errorf("accepts %q", s)
		}
	}
}

func TestSchemaGrammar(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		accept []string
		reject []string
	}{
		{
			name:   "object required and optional",
			schema: `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}},"required":["name","age"]}`,
			accept: []string{`{"name":"a","age":3}`, `{"name":"a","age":-3,"tags":["x","y"]}`, `{"name":"","age":0,"tags":[]}`},
			reject: []string{`{"age":3,"name":"a"}`, `{"name":"a"}`, `{"name":"a","age":3.5}`, `{"name":1,"age":3}`, `{"name":"a","age":3,"other":1}`},
		},
		{
			name:   "all optional",
			schema: `{"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"type":"number"}}}`,
			accept: []string{`{}`, `{"a":true}`, `{"b":null}`, `{"a":false,"c":1.5}`, `{"a":true,"b":null,"c":2}`, `{"c":-1}`},
			reject: []string{`{"c":1,"a":true}`, `{"a":true,}`, `{,"b":null}`, `{"a":"true"}`},
		},
		{
			name:   "enum const anyOf",
			schema: `{"type":"object","properties":{"color":{"enum":["red","green",3,null]},"kind":{"const":"fixed"},"v":{"anyOf":[{"type":"string"},{"type":"integer"}]}},"required":["color","kind","v"]}`,
			accept: []string{`{"color":"red","kind":"fixed","v":"s"}`, `{"color":3,"kind":"fixed","v":7}`, `{"color":null,"kind":"fixed","v":7}`},
			reject: []string{`{"color":"blue","kind":"fixed","v":1}`, `{"color":"red","kind":"other","v":1}`, `{"color":"red","kind":"fixed","v":true}`},
		},
		{
			name:   "type list and nullable",
			schema: `{"type":"object","properties":{"a":{"type":["string","null"]},"b":{"type":"integer","nullable":true}},"required":["a","b"]}`,
			accept: []string{`{"a":null,"b":null}`, `{"a":"x","b":5}`},
			reject: []string{`{"a":1,"b":null}`, `{"a":null,"b":"x"}`},
		},
		{
			name:   "array bounds",
			schema: `{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3}`,
			accept: []string{`[1,2]`, `[1, 2, 3]`},
			reject: []string{`[]`, `[1]`, `[1,2,3,4]`, `[1,"2"]`},
		},
		{
			name:   "array max only",
			schema: `{"type":"array","items":{"type":"boolean"},"maxItems":1}`,
			accept: []string{`[]`, `[true]`},
			reject: []string{`[true,false]`},
		},
		{
			name:   "prefixItems",
			schema: `{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}`,
			accept: []string{`["a",1]`},
			reject: []string{`["a"]`, `["a",1,2]`, `[1,"a"]`},
		},
		{
			name:   "string lengths",
			schema: `{"type":"string","minLength":2,"maxLength":3}`,
			accept: []string{`"ab"`, `"abc"`, `"\n\t"`},
			reject: []string{`"a"`, `"abcd"`, `""`},
		},
		{
			name:   "formats",
			schema: `{"type":"object","properties":{"d":{"type":"string","format":"date"},"t":{"type":"string","format":"date-time"},"u":{"type":"string","format":"uuid"}},"required":["d","t","u"]}`,
			accept: []string{`{"d":"2024-02-29","t":"2024-02-29T13:45:00Z","u":"123e4567-e89b-12d3-a456-426614174000"}`,
				`{"d":"1999-12-31","t":"1999-12-31T23:59:59.123+02:00","u":"00000000-0000-0000-0000-000000000000"}`},
			reject: []string{`{"d":"2024-13-01","t":"2024-02-29T13:45:00Z","u":"123e4567-e89b-12d3-a456-426614174000"}`,
				`{"d":"2024-02-29","t":"2024-02-29 13:45:00","u":"123e4567-e89b-12d3-a456-426614174000"}`},
		},
		{
			name:   "refs and recursion",
			schema: `{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v","kids"]}},"$ref":"#/$defs/node"}`,
			accept: []string{`{"v":1,"kids":[]}`, `{"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[]}]}]}`},
			reject: []string{`{"v":1}`, `{"v":1,"kids":[{"v":2}]}`},
		},
		{
			name:   "non-negative integer",
			schema: `{"type":"object","properties":{"n":{"type":"integer","minimum":0},"p":{"type":"integer","exclusiveMinimum":0}},"required":["n","p"]}`,
			accept: []string{`{"n":0,"p":1}`, `{"n":42,"p":10}`},
			reject: []string{`{"n":-1,"p":1}`, `{"n":0,"p":0}`, `{"n":01,"p":1}`},
		},
		{
			name:   "free-form object values",
			schema: `{"type":"object","additionalProperties":{"type":"integer"}}`,
			accept: []string{`{}`, `{"a":1,"b":2}`},
			reject: []string{`{"a":"x"}`},
		},
		{
			name:   "any",
			schema: `{}`,
			accept: []string{`1`, `"x"`, `{"a":[null]}`},
		},
		{
			name:   "annotations ignored",
			schema: `{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"T","description":"d","type":"object","properties":{"a":{"type":"string","description":"x","default":"y","examples":["z"]}},"required":["a"],"additionalProperties":false}`,
			accept: []string{`{"a":"q"}`},
		},
		{
			name:   "property names needing escapes",
			schema: `{"type":"object","properties":{"we\"ird\\key":{"type":"integer"},"ünï":{"type":"integer"}},"required":["we\"ird\\key","ünï"]}`,
			accept: []string{`{"we\"ird\\key":1,"ünï":2}`},
			reject: []string{`{"weird":1,"ünï":2}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := schemaGrammar(json.RawMessage(tc.schema))
			if err != nil {
				t.Fatalf("schemaGrammar: %v", err)
			}
			g := mustGrammar(t, src)
			for _, s := range tc.accept {
				if !g.accepts(s) {
					t.Errorf("rejects %s\n%s", s, src)
				}
				if !json.Valid([]byte(s)) {
					t.Errorf("test case %s is not JSON", s)
				}
			}
			for _, s := range tc.reject {
				if g.accepts(s) {
					t.Errorf("accepts %s\n%s", s, src)
				}
			}
		})
	}
}

func TestSchemaGrammarRefuses(t *testing.T) {
	for _, tc := range []struct{ schema, want string }{
		{`{"type":"string","pattern":"^a$"}`, `"pattern"`},
		{`{"type":"number","minimum":5}`, "minimum"},
		{`{"type":"integer","minimum":5}`, "minimum 0 or 1"},
		{`{"type":"string","format":"email"}`, `"email"`},
		{`{"type":"object","patternProperties":{}}`, "patternProperties"},
		{`{"allOf":[{"type":"string"},{"type":"integer"}]}`, "allOf"},
		{`{"$ref":"https://example.com/s.json"}`, "only local references"},
		{`{"$ref":"#/$defs/missing"}`, "does not resolve"},
		{`{"type":"object","properties":{"a":{}},"required":["b"]}`, `"b"`},
		{`{"type":"frob"}`, "frob"},
		{`false`, "matches nothing"},
		{`{"type":"array","minItems":3,"maxItems":2}`, "smaller"},
		{`{"if":{},"then":{}}`, `"if"`},
		{`{"type":"string","minLength":2000000}`, "minLength"},
	} {
		_, err := schemaGrammar(json.RawMessage(tc.schema))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %s", tc.schema, err, tc.want)
		}
	}
}

func TestSchemaGrammarDepthLimit(t *testing.T) {
	s := `{"type":"string"}`
	for range maxSchemaDepth + 2 {
		s = `{"type":"array","items":` + s + `}`
	}
	if _, err := schemaGrammar(json.RawMessage(s)); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Fatalf("got %v", err)
	}
}
