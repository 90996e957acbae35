package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// response_format is enforced with a GBNF grammar (llama.cpp's grammar
// format) that the sampler applies token by token, so the output is valid
// JSON by construction rather than by hoping the model complies.
//
// Whitespace is deliberately limited to one optional space or one newline
// with a little indentation between tokens: with unbounded whitespace,
// small models under a grammar often fall into emitting blank lines until
// max_tokens.

// jsonRules define any JSON value; both the json_object grammar and the
// schema grammars build on them.
const jsonRules = `value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( "," ws member )* )? "}"
member ::= string ws ":" ws value ws
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" hex hex hex hex )
hex ::= [0-9a-fA-F]
number ::= integer frac? exp?
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
frac ::= "." [0-9]{1,16}
exp ::= [eE] [-+]? [0-9]{1,3}
ws ::= ( " " | "\n" " "{0,16} )?
`

// jsonGrammar is response_format {"type":"json_object"}: one JSON object.
const jsonGrammar = "root ::= object\n" + jsonRules

// Limits on what a client-supplied schema may cost to compile.
const (
	maxSchemaDepth    = 32
	maxGrammarRules   = 2000
	maxGrammarBytes   = 256 << 10
	maxEnumAlternates = 1000
)

// schemaKeywords are the JSON Schema keywords the converter understands.
// Annotation keywords change nothing about valid values and are ignored.
var schemaKeywords = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"items": true, "prefixItems": true, "minItems": true, "maxItems": true,
	"minLength": true, "maxLength": true, "enum": true, "const": true,
	"anyOf": true, "oneOf": true, "allOf": true, "$ref": true, "$defs": true, "definitions": true,
	"format": true, "nullable": true, "minimum": true, "exclusiveMinimum": true,
	// annotations
	"title": true, "description": true, "default": true, "examples": true,
	"$schema": true, "$id": true, "$comment": true, "deprecated": true,
	"readOnly": true, "writeOnly": true, "strict": true, "name": true,
}

// schemaGrammar compiles a JSON schema (the json_schema.schema of a
// response_format) to a GBNF grammar whose sentences are JSON documents
// valid against the schema. Some schemas are compiled stricter than
// written (object properties come in a fixed order, undeclared properties
// are not generated) so that every generated document is valid; keywords
// that cannot be enforced are refused with an error that names them.
func schemaGrammar(raw json.RawMessage) (string, error) {
	c := &schemaCompiler{
		rules:   map[string]string{},
		refRule: map[string]string{},
	}
	var root map[string]json.RawMessage
	if kindOf(raw) == kindObject {
		if err := json.Unmarshal(raw, &root); err != nil {
			return "", fmt.Errorf("the schema is not valid JSON: %w", err)
		}
	}
	c.root = raw
	c.rootMap = root
	top, err := c.visit(raw, "root-value", 0)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("root ::= " + top + "\n")
	for _, name := range c.order {
		b.WriteString(name + " ::= " + c.rules[name] + "\n")
	}
	b.WriteString(jsonRules)
	if b.Len() > maxGrammarBytes {
		return "", errors.New("the schema is too large (its grammar would exceed 256 KiB)")
	}
	return b.String(), nil
}

type schemaCompiler struct {
	root    json.RawMessage
	rootMap map[string]json.RawMessage
	rules   map[string]string
	order   []string
	refRule map[string]string // "$ref" value -> rule name
	seq     int
}

// newRule adds a rule with a unique name derived from hint and returns the name.
func (c *schemaCompiler) newRule(hint, body string) (string, error) {
	name := c.reserve(hint)
	if err := c.define(name, body); err != nil {
		return "", err
	}
	return name, nil
}

func (c *schemaCompiler) reserve(hint string) string {
	var b strings.Builder
	for _, r := range hint {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if base == "" {
		base = "r"
	}
	if len(base) > 40 {
		base = base[:40]
	}
	// "s-" keeps schema rules apart from the fixed JSON rules.
	c.seq++
	return "s-" + base + "-" + strconv.Itoa(c.seq)
}

func (c *schemaCompiler) define(name, body string) error {
	if len(c.rules) >= maxGrammarRules {
		return errors.New("the schema is too complex (too many grammar rules)")
	}
	c.rules[name] = body
	c.order = append(c.order, name)
	return nil
}

// visit returns a grammar expression (a rule name or a parenthesised
// expression) matching the JSON values that schema raw accepts.
func (c *schemaCompiler) visit(raw json.RawMessage, hint string, depth int) (string, error) {
	if depth > maxSchemaDepth {
		return "", fmt.Errorf("the schema nests deeper than %d levels", maxSchemaDepth)
	}
	switch kindOf(raw) {
	case kindBool:
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true")) {
			return "value", nil
		}
		return "", errors.New("a schema of false matches nothing")
	case kindObject:
	default:
		return "", fmt.Errorf("a schema must be an object or a boolean, not %s", kindOf(raw))
	}
	var s map[string]json.RawMessage
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("invalid schema: %w", err)
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !schemaKeywords[k] {
			return "", fmt.Errorf("keyword %q is not supported", k)
		}
	}

	if nullable, ok := s["nullable"]; ok && string(bytes.TrimSpace(nullable)) == "true" {
		rest := make(map[string]json.RawMessage, len(s))
		for k, v := range s {
			if k != "nullable" {
				rest[k] = v
			}
		}
		inner, _ := json.Marshal(rest)
		expr, err := c.visit(inner, hint, depth+1)
		if err != nil {
			return "", err
		}
		return "( " + expr + " | \"null\" )", nil
	}

	if ref, ok := s["$ref"]; ok {
		return c.visitRef(ref, depth)
	}
	if v, ok := s["const"]; ok {
		lit, err := jsonLiteral(v)
		if err != nil {
			return "", err
		}
		return lit, nil
	}
	if v, ok := s["enum"]; ok {
		var vals []json.RawMessage
		if err := json.Unmarshal(v, &vals); err != nil || len(vals) == 0 {
			return "", errors.New("enum must be a non-empty array")
		}
		if len(vals) > maxEnumAlternates {
			return "", fmt.Errorf("enum has more than %d values", maxEnumAlternates)
		}
		alts := make([]string, len(vals))
		for i, val := range vals {
			lit, err := jsonLiteral(val)
			if err != nil {
				return "", err
			}
			alts[i] = lit
		}
		return c.newRule(hint, strings.Join(alts, " | "))
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if v, ok := s[key]; ok {
			var subs []json.RawMessage
			if err := json.Unmarshal(v, &subs); err != nil || len(subs) == 0 {
				return "", fmt.Errorf("%s must be a non-empty array of schemas", key)
			}
			alts := make([]string, len(subs))
			for i, sub := range subs {
				expr, err := c.visit(sub, hint+"-"+strconv.Itoa(i), depth+1)
				if err != nil {
					return "", err
				}
				alts[i] = expr
			}
			return c.newRule(hint, strings.Join(alts, " | "))
		}
	}
	if v, ok := s["allOf"]; ok {
		var subs []json.RawMessage
		if err := json.Unmarshal(v, &subs); err != nil || len(subs) != 1 {
			return "", errors.New("allOf is supported only with exactly one schema")
		}
		return c.visit(subs[0], hint, depth+1)
	}

	var types []string
	if t, ok := s["type"]; ok {
		switch kindOf(t) {
		case kindString:
			var one string
			_ = json.Unmarshal(t, &one)
			types = []string{one}
		case kindArray:
			if err := json.Unmarshal(t, &types); err != nil || len(types) == 0 {
				return "", errors.New("type must be a string or a non-empty array of strings")
			}
		default:
			return "", errors.New("type must be a string or a non-empty array of strings")
		}
	} else {
		switch {
		case s["properties"] != nil || s["additionalProperties"] != nil || s["required"] != nil:
			types = []string{"object"}
		case s["items"] != nil || s["prefixItems"] != nil:
			types = []string{"array"}
		default:
			for _, k := range []string{"minLength", "maxLength", "format", "minItems", "maxItems", "minimum", "exclusiveMinimum"} {
				if _, ok := s[k]; ok {
					return "", fmt.Errorf("%q needs a \"type\"", k)
				}
			}
			return "value", nil
		}
	}
	alts := make([]string, 0, len(types))
	for _, t := range types {
		expr, err := c.visitType(t, s, hint, depth)
		if err != nil {
			return "", err
		}
		alts = append(alts, expr)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return c.newRule(hint, strings.Join(alts, " | "))
}

func (c *schemaCompiler) visitType(t string, s map[string]json.RawMessage, hint string, depth int) (string, error) {
	for _, k := range []string{"minimum", "exclusiveMinimum"} {
		if _, ok := s[k]; ok && t != "integer" && t != "number" {
			return "", fmt.Errorf("%q applies to numbers, not %s", k, t)
		}
	}
	switch t {
	case "string":
		return c.visitString(s, hint)
	case "integer", "number":
		return c.visitNumber(t, s, hint)
	case "boolean":
		return `( "true" | "false" )`, nil
	case "null":
		return `"null"`, nil
	case "object":
		return c.visitObject(s, hint, depth)
	case "array":
		return c.visitArray(s, hint, depth)
	default:
		return "", fmt.Errorf("type %q is not a JSON Schema type", t)
	}
}

func (c *schemaCompiler) visitNumber(t string, s map[string]json.RawMessage, hint string) (string, error) {
	// Only the bounds that a sign or a leading digit can express: "not
	// negative" and "positive" integers. Anything else would need digit-
	// range grammars that grow with the bounds.
	lo, hasLo, err := numberField(s, "minimum")
	if err != nil {
		return "", err
	}
	xlo, hasXLo, err := numberField(s, "exclusiveMinimum")
	if err != nil {
		return "", err
	}
	if !hasLo && !hasXLo {
		if t == "integer" {
			return "integer", nil
		}
		return "number", nil
	}
	if t != "integer" {
		return "", errors.New("minimum and exclusiveMinimum are supported only on integers")
	}
	switch {
	case (hasLo && lo == 0 && !hasXLo) || (hasXLo && xlo == -1 && !hasLo):
		return c.newRule(hint, `"0" | [1-9] [0-9]{0,15}`)
	case (hasLo && lo == 1 && !hasXLo) || (hasXLo && xlo == 0 && !hasLo):
		return c.newRule(hint, `[1-9] [0-9]{0,15}`)
	default:
		return "", errors.New("integer bounds other than minimum 0 or 1 are not supported")
	}
}

func numberField(s map[string]json.RawMessage, key string) (float64, bool, error) {
	raw, ok := s[key]
	if !ok {
		return 0, false, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, fmt.Errorf("%s must be a number", key)
	}
	return v, true, nil
}

func intField(s map[string]json.RawMessage, key string) (int, bool, error) {
	raw, ok := s[key]
	if !ok {
		return 0, false, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 || v != math.Trunc(v) || v > 1e6 {
		return 0, false, fmt.Errorf("%s must be a non-negative integer no larger than 1000000", key)
	}
	return int(v), true, nil
}

// repeat renders a GBNF repetition of expr between lo and hi times; hi < 0
// means unbounded.
func repeat(expr string, lo, hi int) string {
	switch {
	case hi < 0 && lo == 0:
		return expr + "*"
	case hi < 0 && lo == 1:
		return expr + "+"
	case hi < 0:
		return fmt.Sprintf("%s{%d,}", expr, lo)
	case lo == hi:
		return fmt.Sprintf("%s{%d}", expr, lo)
	case lo == 0 && hi == 1:
		return expr + "?"
	default:
		return fmt.Sprintf("%s{%d,%d}", expr, lo, hi)
	}
}

var formatRules = map[string]string{
	"date":      `"\"" date "\""`,
	"time":      `"\"" time "\""`,
	"date-time": `"\"" date "T" time "\""`,
	"uuid":      `"\"" hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12} "\""`,
}

const (
	dateRule = `[0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] )`
	timeRule = `( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )`
)

func (c *schemaCompiler) visitString(s map[string]json.RawMessage, hint string) (string, error) {
	if f, ok := s["format"]; ok {
		var format string
		_ = json.Unmarshal(f, &format)
		body, known := formatRules[format]
		if !known {
			return "", fmt.Errorf("string format %q is not supported (supported: date, time, date-time, uuid)", format)
		}
		if _, ok := s["minLength"]; ok {
			return "", errors.New("minLength cannot be combined with format")
		}
		if _, ok := s["maxLength"]; ok {
			return "", errors.New("maxLength cannot be combined with format")
		}
		for _, r := range [...]struct{ name, def string }{{"date", dateRule}, {"time", timeRule}} {
			if _, done := c.rules[r.name]; !done && strings.Contains(body, r.name+" ") {
				c.rules[r.name] = r.def
				c.order = append(c.order, r.name)
			}
		}
		return c.newRule(hint, body)
	}
	lo, _, err := intField(s, "minLength")
	if err != nil {
		return "", err
	}
	hi, hasHi, err := intField(s, "maxLength")
	if err != nil {
		return "", err
	}
	if !hasHi {
		if lo == 0 {
			return "string", nil
		}
		hi = -1
	} else if hi < lo {
		return "", errors.New("maxLength is smaller than minLength")
	}
	return c.newRule(hint, `"\"" `+repeat("char", lo, hi)+` "\""`)
}

func (c *schemaCompiler) visitArray(s map[string]json.RawMessage, hint string, depth int) (string, error) {
	if _, ok := s["uniqueItems"]; ok {
		return "", errors.New("uniqueItems is not supported")
	}
	lo, _, err := intField(s, "minItems")
	if err != nil {
		return "", err
	}
	hi, hasHi, err := intField(s, "maxItems")
	if err != nil {
		return "", err
	}
	if !hasHi {
		hi = -1
	} else if hi < lo {
		return "", errors.New("maxItems is smaller than minItems")
	}
	var prefix []string
	if p, ok := s["prefixItems"]; ok {
		var subs []json.RawMessage
		if err := json.Unmarshal(p, &subs); err != nil {
			return "", errors.New("prefixItems must be an array of schemas")
		}
		for i, sub := range subs {
			expr, err := c.visit(sub, hint+"-"+strconv.Itoa(i), depth+1)
			if err != nil {
				return "", err
			}
			prefix = append(prefix, expr)
		}
	}
	item := "value"
	noMore := false
	if it, ok := s["items"]; ok {
		if kindOf(it) == kindBool && !bytes.HasPrefix(bytes.TrimSpace(it), []byte("true")) {
			noMore = true
		} else {
			item, err = c.visit(it, hint+"-item", depth+1)
			if err != nil {
				return "", err
			}
		}
	}
	if len(prefix) > 0 {
		// Every prefix item is generated: stricter than minItems may ask,
		// and always valid.
		if hi >= 0 && hi < len(prefix) {
			return "", errors.New("maxItems is smaller than the number of prefixItems")
		}
		parts := make([]string, len(prefix))
		for i, p := range prefix {
			parts[i] = p + " ws"
		}
		body := `"[" ws ` + strings.Join(parts, ` "," ws `)
		if !noMore {
			restLo := max(lo-len(prefix), 0)
			restHi := -1
			if hi >= 0 {
				restHi = hi - len(prefix)
			}
			if restHi != 0 {
				body += " " + repeat(`( "," ws `+item+` ws )`, restLo, restHi)
			}
		}
		return c.newRule(hint, body+` "]"`)
	}
	if noMore {
		return `( "[" ws "]" )`, nil
	}
	elem := item + " ws"
	var body string
	switch {
	case hi == 0:
		body = `"[" ws "]"`
	case lo == 0:
		more := -1
		if hi > 0 {
			more = hi - 1
		}
		body = `"[" ws ( ` + elem + " " + repeat(`( "," ws `+elem+` )`, 0, more) + ` )? "]"`
	default:
		more := -1
		if hi > 0 {
			more = hi - 1
		}
		body = `"[" ws ` + elem + " " + repeat(`( "," ws `+elem+` )`, lo-1, more) + ` "]"`
	}
	return c.newRule(hint, body)
}

func (c *schemaCompiler) visitObject(s map[string]json.RawMessage, hint string, depth int) (string, error) {
	for _, k := range []string{"patternProperties", "minProperties", "maxProperties", "propertyNames"} {
		if _, ok := s[k]; ok {
			return "", fmt.Errorf("keyword %q is not supported", k)
		}
	}
	var props []orderedField
	if p, ok := s["properties"]; ok {
		var err error
		if props, err = orderedFields(p); err != nil {
			return "", fmt.Errorf("properties: %w", err)
		}
	}
	required := map[string]bool{}
	if r, ok := s["required"]; ok {
		var names []string
		if err := json.Unmarshal(r, &names); err != nil {
			return "", errors.New("required must be an array of strings")
		}
		for _, n := range names {
			required[n] = true
		}
	}
	// additionalProperties: with declared properties, undeclared ones are
	// never generated (valid either way); without any, a schema value or
	// "any JSON" is generated for free-form keys.
	var extra string
	if ap, ok := s["additionalProperties"]; ok && !(kindOf(ap) == kindBool) {
		expr, err := c.visit(ap, hint+"-additional", depth+1)
		if err != nil {
			return "", err
		}
		extra = expr
	}
	if len(props) == 0 {
		for n := range required {
			return "", fmt.Errorf("required property %q is not declared in properties", n)
		}
		if ap, ok := s["additionalProperties"]; ok && kindOf(ap) == kindBool && !bytes.HasPrefix(bytes.TrimSpace(ap), []byte("true")) {
			return `( "{" ws "}" )`, nil
		}
		if extra == "" {
			return "object", nil
		}
		kv := "string ws \":\" ws " + extra + " ws"
		return c.newRule(hint, `"{" ws ( `+kv+` ( "," ws `+kv+` )* )? "}"`)
	}
	declared := map[string]bool{}
	var req, opt []string
	for _, p := range props {
		declared[p.key] = true
		key, err := jsonLiteral(mustMarshal(p.key))
		if err != nil {
			return "", err
		}
		val, err := c.visit(p.value, hint+"-"+p.key, depth+1)
		if err != nil {
			return "", err
		}
		kv := key + " ws \":\" ws " + val + " ws"
		if required[p.key] {
			req = append(req, kv)
		} else {
			opt = append(opt, kv)
		}
	}
	for n := range required {
		if !declared[n] {
			return "", fmt.Errorf("required property %q is not declared in properties", n)
		}
	}
	// Required properties first (in schema order), then the optional ones,
	// each of which may be left out.
	var body strings.Builder
	body.WriteString(`"{" ws `)
	if len(req) > 0 {
		body.WriteString(strings.Join(req, ` "," ws `))
		for _, kv := range opt {
			body.WriteString(` ( "," ws ` + kv + ` )?`)
		}
	} else {
		alts := make([]string, len(opt))
		for i, kv := range opt {
			var alt strings.Builder
			alt.WriteString(kv)
			for _, later := range opt[i+1:] {
				alt.WriteString(` ( "," ws ` + later + ` )?`)
			}
			alts[i] = alt.String()
		}
		tail, err := c.newRule(hint+"-props", strings.Join(alts, " | "))
		if err != nil {
			return "", err
		}
		body.WriteString(tail + "?")
	}
	body.WriteString(` "}"`)
	return c.newRule(hint, body.String())
}

func (c *schemaCompiler) visitRef(raw json.RawMessage, depth int) (string, error) {
	var ref string
	if err := json.Unmarshal(raw, &ref); err != nil {
		return "", errors.New("$ref must be a string")
	}
	if name, ok := c.refRule[ref]; ok {
		return name, nil
	}
	target, err := c.resolve(ref)
	if err != nil {
		return "", err
	}
	// Reserve the name before visiting so that recursive schemas refer to
	// the rule being defined instead of expanding forever.
	name := c.reserve("ref-" + ref[strings.LastIndexByte(ref, '/')+1:])
	c.refRule[ref] = name
	expr, err := c.visit(target, name, depth+1)
	if err != nil {
		return "", err
	}
	if err := c.define(name, expr); err != nil {
		return "", err
	}
	return name, nil
}

// resolve follows a local JSON pointer ("#", "#/$defs/x", "#/definitions/x").
func (c *schemaCompiler) resolve(ref string) (json.RawMessage, error) {
	if ref == "#" {
		return c.root, nil
	}
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %q is not supported: only local references (#/$defs/...) are", ref)
	}
	cur := c.root
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		var m map[string]json.RawMessage
		if kindOf(cur) != kindObject || json.Unmarshal(cur, &m) != nil {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		next, ok := m[tok]
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		cur = next
	}
	return cur, nil
}

type orderedField struct {
	key   string
	value json.RawMessage
}

// orderedFields decodes an object keeping its keys in document order, which
// a map would lose: generated objects list properties in schema order, as
// OpenAI's structured outputs do.
func orderedFields(raw json.RawMessage) ([]orderedField, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("expected an object")
	}
	var out []orderedField
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("property %q is declared twice", key)
		}
		seen[key] = true
		out = append(out, orderedField{key: key, value: v})
	}
	return out, nil
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings reach here
	}
	return b
}

// jsonLiteral renders a JSON value as a GBNF literal matching its compact
// form exactly.
func jsonLiteral(raw json.RawMessage) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", fmt.Errorf("invalid literal: %w", err)
	}
	return gbnfString(buf.String()), nil
}

// gbnfString quotes s as a GBNF string literal.
func gbnfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
