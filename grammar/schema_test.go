package grammar

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestJSONObject(t *testing.T) {
	g := mustParse(t, JSONObject)
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

func TestFromSchema(t *testing.T) {
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
			src, err := FromSchema(json.RawMessage(tc.schema))
			if err != nil {
				t.Fatalf("FromSchema: %v", err)
			}
			g := mustParse(t, src)
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

func TestFromSchemaRefuses(t *testing.T) {
	for _, tc := range []struct{ schema, want, path string }{
		{`{"type":"string","pattern":"^a$"}`, `"pattern"`, ""},
		{`{"type":"number","minimum":5}`, "minimum", ""},
		{`{"type":"integer","minimum":5}`, "minimum 0 or 1", ""},
		{`{"type":"string","format":"email"}`, `"email"`, "/format"},
		{`{"type":"object","patternProperties":{}}`, "patternProperties", ""},
		{`{"allOf":[{"type":"string"},{"type":"integer"}]}`, "allOf", "/allOf"},
		{`{"$ref":"https://example.com/s.json"}`, "only local references", "/$ref"},
		{`{"$ref":"#/$defs/missing"}`, "does not resolve", "/$ref"},
		{`{"type":"object","properties":{"a":{}},"required":["b"]}`, `"b"`, "/required"},
		{`{"type":"frob"}`, "frob", "/type"},
		{`false`, "matches nothing", ""},
		{`{"type":"array","minItems":3,"maxItems":2}`, "smaller", "/maxItems"},
		{`{"if":{},"then":{}}`, `"if"`, ""},
		{`{"type":"string","minLength":2000000}`, "minLength", "/minLength"},
		{`{"type":"object","properties":{"a/b":{"type":"array","items":{"type":"string","pattern":"x"}}}}`, `"pattern"`, "/properties/a~1b/items"},
		{`{"$defs":{"n~x":{"type":"integer","minimum":3}},"$ref":"#/$defs/n~0x"}`, "minimum", "/$defs/n~0x"},
	} {
		_, err := FromSchema(json.RawMessage(tc.schema))
		var se *SchemaError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a *SchemaError mentioning %s", tc.schema, err, tc.want)
			continue
		}
		if se.Path != tc.path {
			t.Errorf("%s: error at %q, want %q", tc.schema, se.Path, tc.path)
		}
	}
}

func TestFromSchemaDepthLimit(t *testing.T) {
	s := `{"type":"string"}`
	for range maxSchemaDepth + 2 {
		s = `{"type":"array","items":` + s + `}`
	}
	_, err := FromSchema(json.RawMessage(s))
	var se *SchemaError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "deeper") {
		t.Fatalf("got %v", err)
	}
}

// TestFromSchemaLargeCounts: counts beyond what llama.cpp accepts in one
// repetition (maxLength 5000 was a 500) compile to grammars within its
// limits that still accept exactly the lengths the schema allows.
func TestFromSchemaLargeCounts(t *testing.T) {
	type bounds struct{ lo, hi int } // hi < 0: unbounded
	for _, b := range []bounds{
		{0, chainMax}, {0, chainMax + 1}, {0, 100}, {3, 100}, {0, MaxRepetition}, {0, MaxRepetition + 1},
		{0, 5000}, {4999, 5000}, {2500, 2500}, {2001, -1}, {4096, 4200}, {0, 4356}, {0, 4357},
	} {
		schema := fmt.Sprintf(`{"type":"string","minLength":%d`, b.lo)
		if b.hi >= 0 {
			schema += fmt.Sprintf(`,"maxLength":%d`, b.hi)
		}
		schema += "}"
		t.Run(schema, func(t *testing.T) {
			src, err := FromSchema(json.RawMessage(schema))
			if err != nil {
				t.Fatalf("FromSchema: %v", err)
			}
			if err := Check(src); err != nil {
				t.Fatalf("Check: %v\n%s", err, src)
			}
			g := mustParse(t, src)
			limit := b.hi
			if limit < 0 {
				limit = b.lo + 10
			}
			for _, n := range lengthsAround(b.lo, limit) {
				want := n >= b.lo && (b.hi < 0 || n <= b.hi)
				if got := g.accepts(`"` + strings.Repeat("x", n) + `"`); got != want {
					t.Errorf("a string of %d characters: accepted %v, want %v", n, got, want)
				}
			}
		})
	}
	// The largest counts allowed, for strings and arrays, stay within
	// the limits too (too long to run the recognizer over).
	for _, schema := range []string{
		fmt.Sprintf(`{"type":"string","maxLength":%d}`, maxCount),
		fmt.Sprintf(`{"type":"string","minLength":%d}`, maxCount),
		fmt.Sprintf(`{"type":"string","minLength":%d,"maxLength":%d}`, maxCount-1, maxCount),
		fmt.Sprintf(`{"type":"array","items":{"type":"integer"},"minItems":3000,"maxItems":%d}`, maxCount),
		fmt.Sprintf(`{"type":"array","prefixItems":[{"type":"string"}],"maxItems":%d}`, maxCount),
	} {
		if _, err := FromSchema(json.RawMessage(schema)); err != nil {
			t.Errorf("%s: %v", schema, err)
		}
	}
}

// lengthsAround lists the interesting lengths near lo and hi, including
// some next to the block boundaries of a split repetition.
func lengthsAround(lo, hi int) []int {
	set := map[int]bool{}
	add := func(ns ...int) {
		for _, n := range ns {
			if n >= 0 {
				set[n] = true
			}
		}
	}
	add(0, 1, lo-1, lo, lo+1, hi-1, hi, hi+1)
	if n := hi - lo; n > chainMax {
		// The first and last two block boundaries.
		b := blockSize(n)
		last := n / b * b
		for _, k := range []int{b, 2 * b, last - b, last} {
			add(lo+k-1, lo+k, lo+k+1)
		}
	}
	out := make([]int, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func TestFromSchemaArrayCounts(t *testing.T) {
	for _, b := range []struct{ lo, hi int }{{0, 150}, {2, 2100}, {70, 70}} {
		schema := fmt.Sprintf(`{"type":"array","items":{"const":1},"minItems":%d,"maxItems":%d}`, b.lo, b.hi)
		src, err := FromSchema(json.RawMessage(schema))
		if err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
		g := mustParse(t, src)
		for _, n := range lengthsAround(b.lo, b.hi) {
			doc := "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]"
			want := n >= b.lo && n <= b.hi
			if got := g.accepts(doc); got != want {
				t.Errorf("%s: %d items accepted %v, want %v", schema, n, got, want)
			}
		}
	}
}

// TestFromSchemaLeftRecursion: a schema whose $ref reaches itself before
// anything is generated has no sentence llama.cpp can sample; it used to
// compile, and llama.cpp then refused it (or, through an empty rule,
// recursed without end).
func TestFromSchemaLeftRecursion(t *testing.T) {
	for _, schema := range []string{
		`{"$ref":"#"}`,
		`{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"},{"type":"null"}]},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		// Reached first inside an array, then again at the start.
		`{"$defs":{"x":{"anyOf":[{"type":"array","items":{"$ref":"#/$defs/r"}},{"$ref":"#/$defs/r"}]},"r":{"anyOf":[{"$ref":"#/$defs/x"},{"type":"null"}]}},"$ref":"#/$defs/x"}`,
		`{"type":["integer","object"],"nullable":true,"anyOf":[{"$ref":"#"}]}`,
	} {
		_, err := FromSchema(json.RawMessage(schema))
		var se *SchemaError
		if !errors.As(err, &se) || !strings.Contains(se.Reason, "left recursion") {
			t.Errorf("%s: got %v, want a left-recursion SchemaError", schema, err)
		}
	}
	// Recursion behind a character is fine.
	for _, schema := range []string{
		`{"$defs":{"n":{"type":"array","items":{"$ref":"#/$defs/n"}}},"$ref":"#/$defs/n"}`,
		`{"anyOf":[{"type":"null"},{"type":"object","properties":{"next":{"$ref":"#"}}}]}`,
	} {
		if _, err := FromSchema(json.RawMessage(schema)); err != nil {
			t.Errorf("%s: %v", schema, err)
		}
	}
}

func TestFromSchemaKeepsHTMLInKeys(t *testing.T) {
	src, err := FromSchema(json.RawMessage(`{"type":"object","properties":{"a<b&c":{"type":"integer"}},"required":["a<b&c"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if g := mustParse(t, src); !g.accepts(`{"a<b&c":1}`) {
		t.Errorf("the key is not generated as written:\n%s", src)
	}
}

func TestFromSchemaTooLarge(t *testing.T) {
	// Many properties, each cheap to write and expensive for llama.cpp.
	var props, names []string
	for i := range 900 {
		props = append(props, fmt.Sprintf(`"p%d":{"type":"array","items":{"type":"string","maxLength":64},"maxItems":64}`, i))
		names = append(names, fmt.Sprintf(`"p%d"`, i))
	}
	_, err := FromSchema(json.RawMessage(`{"type":"object","properties":{` + strings.Join(props, ",") + `},"required":[` + strings.Join(names, ",") + `]}`))
	var se *SchemaError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "MiB") {
		t.Fatalf("got %v, want a SchemaError about the grammar's size", err)
	}
}
