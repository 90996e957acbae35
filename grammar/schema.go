package grammar

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

// Whitespace is deliberately limited to one optional space or one newline
// with a little indentation between tokens: with unbounded whitespace,
// small models under a grammar often fall into emitting blank lines until
// max_tokens.

// jsonRules define any JSON value; JSONObject and the schema grammars
// build on them.
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

// JSONObject is the grammar of response_format {"type":"json_object"}:
// one JSON object.
const JSONObject = "root ::= object\n" + jsonRules

// Limits on what a schema may cost to compile.
const (
	maxSchemaDepth    = 32
	maxGrammarRules   = 2000
	maxGrammarBytes   = 256 << 10
	maxEnumAlternates = 1000
	maxCount          = 1_000_000 // minLength, maxLength, minItems, maxItems
)

// chainMax is the largest optional count written as one repetition
// x{0,n}. llama.cpp expands that into n helper rules, one per optional
// copy; larger counts are split into blocks (see upTo), which costs a
// couple more parse stacks while sampling but about sqrt(n) rules.
const chainMax = 64

// SchemaError is a schema that FromSchema cannot compile: not a schema, a
// keyword or combination it cannot enforce, or one whose grammar llama.cpp
// could not hold. It is the caller's mistake.
type SchemaError struct {
	// Path is a JSON Pointer (RFC 6901) to the subschema at fault within
	// the schema; "" is the whole schema.
	Path   string
	Reason string
	Err    error // the underlying cause, if any
}

func (e *SchemaError) Error() string {
	return "schema at #" + e.Path + ": " + e.Reason
}

func (e *SchemaError) Unwrap() error { return e.Err }

// schemaKeywords are the JSON Schema keywords the compiler understands.
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

// FromSchema compiles a JSON schema (the json_schema.schema of a
// response_format) to a GBNF grammar whose sentences are JSON documents
// valid against it. A schema it cannot compile is refused with a
// *SchemaError; any other error is a bug.
func FromSchema(raw json.RawMessage) (string, error) {
	c := &compiler{
		rules:   map[string]string{},
		refRule: map[string]string{},
		ruleAt:  map[string]string{},
		ruleRef: map[string]string{},
	}
	if !json.Valid(raw) {
		return "", &SchemaError{Reason: "the schema is not valid JSON"}
	}
	c.root = raw
	top, err := c.visit(raw, "", "root-value", 0)
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
		return "", &SchemaError{Reason: fmt.Sprintf("the schema is too large: its grammar would exceed %d KiB", maxGrammarBytes>>10)}
	}
	src := b.String()
	if err := Check(src); err != nil {
		return "", c.explain(err)
	}
	return src, nil
}

// explain turns a Check failure of a compiled grammar into the schema's
// error, naming the subschema whose rule is at fault.
func (c *compiler) explain(err error) error {
	var le *LimitError
	if !errors.As(err, &le) {
		return fmt.Errorf("grammar: the compiler wrote a grammar it cannot read back: %w", err)
	}
	if ref, ok := c.ruleRef[le.Rule]; ok && strings.Contains(le.Reason, "left recursion") {
		return &SchemaError{Path: c.ruleAt[le.Rule], Err: err,
			Reason: fmt.Sprintf("$ref %q leads back to itself before anything is generated (left recursion), which cannot be sampled", ref)}
	}
	return &SchemaError{Path: c.ruleAt[le.Rule], Reason: "the schema's grammar is beyond llama.cpp's limits: " + le.Reason, Err: err}
}

type compiler struct {
	root    json.RawMessage
	rules   map[string]string
	order   []string
	refRule map[string]string // "$ref" value -> rule name
	ruleAt  map[string]string // rule name -> path of its subschema
	ruleRef map[string]string // rule name -> the "$ref" it stands for
	seq     int
}

func fail(at, format string, args ...any) *SchemaError {
	return &SchemaError{Path: at, Reason: fmt.Sprintf(format, args...)}
}

// child is the JSON Pointer of member tok of the value at path at.
func child(at string, tok string) string {
	return at + "/" + strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// newRule adds a rule with a unique name derived from hint and returns the name.
func (c *compiler) newRule(at, hint, body string) (string, error) {
	name := c.reserve(hint)
	if err := c.define(at, name, body); err != nil {
		return "", err
	}
	return name, nil
}

func (c *compiler) reserve(hint string) string {
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

func (c *compiler) define(at, name, body string) error {
	if len(c.rules) >= maxGrammarRules {
		return fail(at, "the schema is too complex (its grammar would need over %d rules)", maxGrammarRules)
	}
	c.rules[name] = body
	c.ruleAt[name] = at
	c.order = append(c.order, name)
	return nil
}

// visit returns a grammar expression (a rule name or a parenthesised
// expression) matching the JSON values that the schema raw, found at
// path at, accepts.
func (c *compiler) visit(raw json.RawMessage, at, hint string, depth int) (string, error) {
	if depth > maxSchemaDepth {
		return "", fail(at, "the schema nests deeper than %d levels", maxSchemaDepth)
	}
	switch kindOf(raw) {
	case 't':
		return "value", nil
	case 'f':
		return "", fail(at, "a schema of false matches nothing")
	case '{':
	default:
		return "", fail(at, "a schema must be an object or a boolean")
	}
	var s map[string]json.RawMessage
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &SchemaError{Path: at, Reason: "invalid schema", Err: err}
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !schemaKeywords[k] {
			return "", fail(at, "keyword %q is not supported", k)
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
		expr, err := c.visit(inner, at, hint, depth+1)
		if err != nil {
			return "", err
		}
		return "( " + expr + " | \"null\" )", nil
	}

	if ref, ok := s["$ref"]; ok {
		return c.visitRef(ref, child(at, "$ref"), depth)
	}
	if v, ok := s["const"]; ok {
		return jsonLiteral(v, child(at, "const"))
	}
	if v, ok := s["enum"]; ok {
		var vals []json.RawMessage
		if err := json.Unmarshal(v, &vals); err != nil || len(vals) == 0 {
			return "", fail(child(at, "enum"), "enum must be a non-empty array")
		}
		if len(vals) > maxEnumAlternates {
			return "", fail(child(at, "enum"), "enum has more than %d values", maxEnumAlternates)
		}
		alts := make([]string, len(vals))
		for i, val := range vals {
			lit, err := jsonLiteral(val, child(child(at, "enum"), strconv.Itoa(i)))
			if err != nil {
				return "", err
			}
			alts[i] = lit
		}
		return c.newRule(at, hint, strings.Join(alts, " | "))
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if v, ok := s[key]; ok {
			var subs []json.RawMessage
			if err := json.Unmarshal(v, &subs); err != nil || len(subs) == 0 {
				return "", fail(child(at, key), "%s must be a non-empty array of schemas", key)
			}
			alts := make([]string, len(subs))
			for i, sub := range subs {
				expr, err := c.visit(sub, child(child(at, key), strconv.Itoa(i)), hint+"-"+strconv.Itoa(i), depth+1)
				if err != nil {
					return "", err
				}
				alts[i] = expr
			}
			return c.newRule(at, hint, strings.Join(alts, " | "))
		}
	}
	if v, ok := s["allOf"]; ok {
		var subs []json.RawMessage
		if err := json.Unmarshal(v, &subs); err != nil || len(subs) != 1 {
			return "", fail(child(at, "allOf"), "allOf is supported only with exactly one schema")
		}
		return c.visit(subs[0], child(child(at, "allOf"), "0"), hint, depth+1)
	}

	var types []string
	if t, ok := s["type"]; ok {
		switch kindOf(t) {
		case '"':
			var one string
			_ = json.Unmarshal(t, &one)
			types = []string{one}
		case '[':
			if err := json.Unmarshal(t, &types); err != nil || len(types) == 0 {
				return "", fail(child(at, "type"), "type must be a string or a non-empty array of strings")
			}
		default:
			return "", fail(child(at, "type"), "type must be a string or a non-empty array of strings")
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
					return "", fail(at, "%q needs a \"type\"", k)
				}
			}
			return "value", nil
		}
	}
	alts := make([]string, 0, len(types))
	for _, t := range types {
		expr, err := c.visitType(t, s, at, hint, depth)
		if err != nil {
			return "", err
		}
		alts = append(alts, expr)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return c.newRule(at, hint, strings.Join(alts, " | "))
}

func (c *compiler) visitType(t string, s map[string]json.RawMessage, at, hint string, depth int) (string, error) {
	for _, k := range []string{"minimum", "exclusiveMinimum"} {
		if _, ok := s[k]; ok && t != "integer" && t != "number" {
			return "", fail(child(at, k), "%q applies to numbers, not %s", k, t)
		}
	}
	switch t {
	case "string":
		return c.visitString(s, at, hint)
	case "integer", "number":
		return c.visitNumber(t, s, at, hint)
	case "boolean":
		return `( "true" | "false" )`, nil
	case "null":
		return `"null"`, nil
	case "object":
		return c.visitObject(s, at, hint, depth)
	case "array":
		return c.visitArray(s, at, hint, depth)
	default:
		return "", fail(child(at, "type"), "type %q is not a JSON Schema type", t)
	}
}

func (c *compiler) visitNumber(t string, s map[string]json.RawMessage, at, hint string) (string, error) {
	// Only the bounds that a sign or a leading digit can express: "not
	// negative" and "positive" integers. Anything else would need digit-
	// range grammars that grow with the bounds.
	lo, hasLo, err := numberField(s, at, "minimum")
	if err != nil {
		return "", err
	}
	xlo, hasXLo, err := numberField(s, at, "exclusiveMinimum")
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
		return "", fail(at, "minimum and exclusiveMinimum are supported only on integers")
	}
	switch {
	case (hasLo && lo == 0 && !hasXLo) || (hasXLo && xlo == -1 && !hasLo):
		return c.newRule(at, hint, `"0" | [1-9] [0-9]{0,15}`)
	case (hasLo && lo == 1 && !hasXLo) || (hasXLo && xlo == 0 && !hasLo):
		return c.newRule(at, hint, `[1-9] [0-9]{0,15}`)
	default:
		return "", fail(at, "integer bounds other than minimum 0 or 1 are not supported")
	}
}

func numberField(s map[string]json.RawMessage, at, key string) (float64, bool, error) {
	raw, ok := s[key]
	if !ok {
		return 0, false, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, fail(child(at, key), "%s must be a number", key)
	}
	return v, true, nil
}

func countField(s map[string]json.RawMessage, at, key string) (int, bool, error) {
	raw, ok := s[key]
	if !ok {
		return 0, false, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 || v != math.Trunc(v) || v > maxCount {
		return 0, false, fail(child(at, key), "%s must be a non-negative integer no larger than %d", key, maxCount)
	}
	return int(v), true, nil
}

// repeat renders a repetition of expr, one symbol (a rule name or a
// parenthesised group), between lo and hi times; hi < 0 is unbounded.
// Every count it writes stays within MaxRepetition, and optional counts
// within chainMax.
func repeat(expr string, lo, hi int) string {
	switch {
	case hi < 0 && lo == 0:
		return expr + "*"
	case hi < 0 && lo == 1:
		return expr + "+"
	case hi < 0 && lo <= MaxRepetition:
		return fmt.Sprintf("%s{%d,}", expr, lo)
	case hi < 0:
		return join(exactly(expr, lo), expr+"*")
	case lo == hi:
		return exactly(expr, lo)
	case lo == 0 && hi == 1:
		return expr + "?"
	case hi <= chainMax:
		return fmt.Sprintf("%s{%d,%d}", expr, lo, hi)
	default:
		return join(exactly(expr, lo), upTo(expr, hi-lo))
	}
}

// exactly repeats expr n times. Beyond MaxRepetition it repeats a block of
// about sqrt(n) copies instead: ( x{b} ){n/b} x{n%b}.
func exactly(expr string, n int) string {
	switch {
	case n == 0:
		return ""
	case n == 1:
		return expr
	case n <= MaxRepetition:
		return fmt.Sprintf("%s{%d}", expr, n)
	}
	b := blockSize(n)
	return join(exactly("( "+exactly(expr, b)+" )", n/b), exactly(expr, n%b))
}

// upTo repeats expr 0 to n times. Beyond chainMax it splits a length L
// into L = q·b + r, blocks of b ≈ sqrt(n) copies and a remainder: either
// fewer than n/b blocks and any remainder below b, or n/b blocks and a
// remainder up to n%b. Each length then has one parse, and llama.cpp
// builds about 3·sqrt(n) helper rules instead of n.
func upTo(expr string, n int) string {
	switch {
	case n == 0:
		return ""
	case n == 1:
		return expr + "?"
	case n <= chainMax:
		return fmt.Sprintf("%s{0,%d}", expr, n)
	}
	b := blockSize(n)
	q, r := n/b, n%b
	block := "( " + exactly(expr, b) + " )"
	fewer := join(upTo(block, q-1), upTo(expr, b-1))
	full := join(exactly(block, q), upTo(expr, r))
	return "( " + fewer + " | " + full + " )"
}

// blockSize is ceil(sqrt(n)).
func blockSize(n int) int {
	b := int(math.Sqrt(float64(n)))
	for b*b < n {
		b++
	}
	return b
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
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

func (c *compiler) visitString(s map[string]json.RawMessage, at, hint string) (string, error) {
	if f, ok := s["format"]; ok {
		var format string
		_ = json.Unmarshal(f, &format)
		body, known := formatRules[format]
		if !known {
			return "", fail(child(at, "format"), "string format %q is not supported (supported: date, time, date-time, uuid)", format)
		}
		for _, k := range []string{"minLength", "maxLength"} {
			if _, ok := s[k]; ok {
				return "", fail(child(at, k), "%s cannot be combined with format", k)
			}
		}
		for _, r := range [...]struct{ name, def string }{{"date", dateRule}, {"time", timeRule}} {
			if _, done := c.rules[r.name]; !done && strings.Contains(body, r.name+" ") {
				c.rules[r.name] = r.def
				c.order = append(c.order, r.name)
			}
		}
		return c.newRule(at, hint, body)
	}
	lo, _, err := countField(s, at, "minLength")
	if err != nil {
		return "", err
	}
	hi, hasHi, err := countField(s, at, "maxLength")
	if err != nil {
		return "", err
	}
	if !hasHi {
		if lo == 0 {
			return "string", nil
		}
		hi = -1
	} else if hi < lo {
		return "", fail(child(at, "maxLength"), "maxLength is smaller than minLength")
	}
	return c.newRule(at, hint, `"\"" `+join(repeat("char", lo, hi), `"\""`))
}

func (c *compiler) visitArray(s map[string]json.RawMessage, at, hint string, depth int) (string, error) {
	lo, _, err := countField(s, at, "minItems")
	if err != nil {
		return "", err
	}
	hi, hasHi, err := countField(s, at, "maxItems")
	if err != nil {
		return "", err
	}
	if !hasHi {
		hi = -1
	} else if hi < lo {
		return "", fail(child(at, "maxItems"), "maxItems is smaller than minItems")
	}
	var prefix []string
	if p, ok := s["prefixItems"]; ok {
		var subs []json.RawMessage
		if err := json.Unmarshal(p, &subs); err != nil {
			return "", fail(child(at, "prefixItems"), "prefixItems must be an array of schemas")
		}
		for i, sub := range subs {
			expr, err := c.visit(sub, child(child(at, "prefixItems"), strconv.Itoa(i)), hint+"-"+strconv.Itoa(i), depth+1)
			if err != nil {
				return "", err
			}
			prefix = append(prefix, expr)
		}
	}
	item := "value"
	noMore := false
	if it, ok := s["items"]; ok {
		if kindOf(it) == 'f' {
			noMore = true
		} else {
			item, err = c.visit(it, child(at, "items"), hint+"-item", depth+1)
			if err != nil {
				return "", err
			}
		}
	}
	if len(prefix) > 0 {
		// Every prefix item is generated: stricter than minItems may ask,
		// and always valid.
		if hi >= 0 && hi < len(prefix) {
			return "", fail(child(at, "maxItems"), "maxItems is smaller than the number of prefixItems")
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
			body = join(body, repeat(`( "," ws `+item+` ws )`, restLo, restHi))
		}
		return c.newRule(at, hint, body+` "]"`)
	}
	if noMore {
		return `( "[" ws "]" )`, nil
	}
	elem := item + " ws"
	more := -1
	if hi > 0 {
		more = hi - 1
	}
	next := `( "," ws ` + elem + ` )`
	var body string
	switch {
	case hi == 0:
		body = `"[" ws "]"`
	case lo == 0:
		body = `"[" ws ( ` + join(elem, repeat(next, 0, more)) + ` )? "]"`
	default:
		body = `"[" ws ` + join(elem, repeat(next, lo-1, more)) + ` "]"`
	}
	return c.newRule(at, hint, body)
}

func (c *compiler) visitObject(s map[string]json.RawMessage, at, hint string, depth int) (string, error) {
	var props []orderedField
	if p, ok := s["properties"]; ok {
		var err error
		if props, err = orderedFields(p); err != nil {
			return "", &SchemaError{Path: child(at, "properties"), Reason: "properties must be an object of schemas: " + err.Error(), Err: err}
		}
	}
	required := map[string]bool{}
	if r, ok := s["required"]; ok {
		var names []string
		if err := json.Unmarshal(r, &names); err != nil {
			return "", fail(child(at, "required"), "required must be an array of strings")
		}
		for _, n := range names {
			required[n] = true
		}
	}
	// additionalProperties: with declared properties, undeclared ones are
	// never generated (valid either way); without any, a schema value or
	// "any JSON" is generated for free-form keys.
	var extra string
	ap, hasAP := s["additionalProperties"]
	if hasAP && kindOf(ap) != 't' && kindOf(ap) != 'f' {
		expr, err := c.visit(ap, child(at, "additionalProperties"), hint+"-additional", depth+1)
		if err != nil {
			return "", err
		}
		extra = expr
	}
	if len(props) == 0 {
		if n := firstKey(required); n != "" {
			return "", fail(child(at, "required"), "required property %q is not declared in properties", n)
		}
		if hasAP && kindOf(ap) == 'f' {
			return `( "{" ws "}" )`, nil
		}
		if extra == "" {
			return "object", nil
		}
		kv := "string ws \":\" ws " + extra + " ws"
		return c.newRule(at, hint, `"{" ws ( `+kv+` ( "," ws `+kv+` )* )? "}"`)
	}
	declared := map[string]bool{}
	var req, opt []string
	for _, p := range props {
		declared[p.key] = true
		key := quoteKey(p.key)
		val, err := c.visit(p.value, child(child(at, "properties"), p.key), hint+"-"+p.key, depth+1)
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
	for _, n := range sortedKeys(required) {
		if !declared[n] {
			return "", fail(child(at, "required"), "required property %q is not declared in properties", n)
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
		tail, err := c.newRule(at, hint+"-props", strings.Join(alts, " | "))
		if err != nil {
			return "", err
		}
		body.WriteString(tail + "?")
	}
	body.WriteString(` "}"`)
	return c.newRule(at, hint, body.String())
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// firstKey is m's smallest key, "" for none: errors name the same
// property on every run.
func firstKey(m map[string]bool) string {
	if keys := sortedKeys(m); len(keys) > 0 {
		return keys[0]
	}
	return ""
}

func (c *compiler) visitRef(raw json.RawMessage, at string, depth int) (string, error) {
	var ref string
	if err := json.Unmarshal(raw, &ref); err != nil {
		return "", fail(at, "$ref must be a string")
	}
	if name, ok := c.refRule[ref]; ok {
		return name, nil
	}
	target, targetAt, err := c.resolve(ref, at)
	if err != nil {
		return "", err
	}
	// Reserve the name before visiting so that recursive schemas refer to
	// the rule being defined instead of expanding forever.
	name := c.reserve("ref-" + ref[strings.LastIndexByte(ref, '/')+1:])
	c.refRule[ref] = name
	c.ruleRef[name] = ref
	expr, err := c.visit(target, targetAt, name, depth+1)
	if err != nil {
		return "", err
	}
	if err := c.define(targetAt, name, expr); err != nil {
		return "", err
	}
	return name, nil
}

// resolve follows a local JSON pointer ("#", "#/$defs/x", "#/definitions/x")
// and returns the target with its path.
func (c *compiler) resolve(ref, at string) (json.RawMessage, string, error) {
	if ref == "#" {
		return c.root, "", nil
	}
	if !strings.HasPrefix(ref, "#/") {
		return nil, "", fail(at, "$ref %q is not supported: only local references (#/$defs/...) are", ref)
	}
	cur := c.root
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		var m map[string]json.RawMessage
		if kindOf(cur) != '{' || json.Unmarshal(cur, &m) != nil {
			return nil, "", fail(at, "$ref %q does not resolve", ref)
		}
		next, ok := m[tok]
		if !ok {
			return nil, "", fail(at, "$ref %q does not resolve", ref)
		}
		cur = next
	}
	return cur, ref[1:], nil
}

// kindOf is the first byte of a JSON value, which names its type: '{',
// '[', '"', 't', 'f', 'n', or a digit or '-' for numbers; 0 for nothing.
func kindOf(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
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

// quoteKey is a property name as a GBNF literal of its JSON string. HTML
// characters stay as they are: json.Marshal would write < as \u003c, which
// a model would then have to spell out.
func quoteKey(key string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(key) // a string always encodes
	return gbnfString(strings.TrimSuffix(buf.String(), "\n"))
}

// jsonLiteral renders the JSON value at path at as a GBNF literal matching
// its compact form exactly.
func jsonLiteral(raw json.RawMessage, at string) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", &SchemaError{Path: at, Reason: "invalid literal", Err: err}
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
