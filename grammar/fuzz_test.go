package grammar

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzFromSchema: any schema either compiles to a grammar within
// llama.cpp's limits or is refused with a *SchemaError (a 400, never a
// 500); never a panic or a runaway.
func FuzzFromSchema(f *testing.F) {
	for _, s := range []string{
		`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer","minimum":0}},"required":["a"]}`,
		`{"$defs":{"n":{"type":"array","items":{"$ref":"#/$defs/n"}}},"$ref":"#/$defs/n"}`,
		`{"anyOf":[{"const":1},{"enum":["a",null]}],"nullable":true}`,
		`{"type":["string","null"],"minLength":1,"maxLength":4}`,
		`{"type":"array","prefixItems":[{"type":"boolean"}],"minItems":1,"maxItems":3}`,
		`{"type":"string","maxLength":5000}`,
		`{"type":"array","items":{"type":"string","minLength":3000},"minItems":2500}`,
		`{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"},{"type":"null"}]},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"$ref":"#"}`, `true`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		if !json.Valid(schema) {
			return
		}
		g, err := FromSchema(schema)
		if err != nil {
			var se *SchemaError
			if !errors.As(err, &se) || se.Reason == "" {
				t.Fatalf("schema %s: an error that is not a SchemaError (it would be a 500): %v", schema, err)
			}
			return
		}
		if err := Check(g); err != nil {
			t.Fatalf("schema %s compiled to a grammar llama.cpp would refuse: %v\n%s", schema, err, g)
		}
		if len(g) > maxGrammarBytes {
			t.Fatalf("schema %s compiled to %d bytes", schema, len(g))
		}
	})
}
