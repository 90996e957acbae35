package gateway

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Request bodies are decoded field by field rather than into structs: that
// is what lets every wrong type be reported with the exact parameter path
// (messages[2].content[0].text) that OpenAI-style errors carry, and lets
// unknown fields pass silently while known-but-unsupported ones are refused.
// Keys are matched exactly, as OpenAI does (encoding/json's struct decoding
// would also accept "MODEL").

// jsonKind names the JSON type of a raw value the way error messages say it.
type jsonKind int

const (
	kindNull jsonKind = iota
	kindString
	kindNumber
	kindBool
	kindArray
	kindObject
)

func kindOf(raw []byte) jsonKind {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return kindNull
	}
	switch raw[0] {
	case '"':
		return kindString
	case '{':
		return kindObject
	case '[':
		return kindArray
	case 't', 'f':
		return kindBool
	case 'n':
		return kindNull
	default:
		return kindNumber
	}
}

func (k jsonKind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindArray:
		return "an array"
	case kindObject:
		return "an object"
	default:
		return "null"
	}
}

// object is a decoded JSON object whose values are still raw.
type object struct {
	fields map[string]json.RawMessage
	path   string // the parameter path of this object, "" at the top
}

// param is the parameter path of the field key in o.
func (o object) param(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

func indexParam(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parseBody decodes a request body, which must be one JSON object.
func parseBody(body []byte) (object, *APIError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return object{}, &APIError{
			Status: 400, Type: TypeInvalidRequest, Code: "invalid_json",
			Message: "The request body is empty; it must be a JSON object.",
		}
	}
	if kindOf(body) != kindObject {
		return object{}, &APIError{
			Status: 400, Type: TypeInvalidRequest, Code: "invalid_json",
			Message: "The request body must be a JSON object, not " + kindOf(body).String() + ".",
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return object{}, errInvalidJSON(err)
	}
	return object{fields: m}, nil
}

// has reports whether key is present with a non-null value.
func (o object) has(key string) bool {
	raw, ok := o.fields[key]
	return ok && kindOf(raw) != kindNull
}

func (o object) raw(key string) (json.RawMessage, bool) {
	raw, ok := o.fields[key]
	if !ok || kindOf(raw) == kindNull {
		return nil, false
	}
	return raw, true
}

// str returns a string field; ok is false when absent or null.
func (o object) str(key string) (s string, ok bool, e *APIError) {
	raw, ok := o.raw(key)
	if !ok {
		return "", false, nil
	}
	s, e = decodeString(raw, o.param(key))
	return s, e == nil, e
}

func decodeString(raw []byte, param string) (string, *APIError) {
	if k := kindOf(raw); k != kindString {
		return "", errType(param, "a string", k.String())
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errType(param, "a string", "an invalid string")
	}
	return s, nil
}

func (o object) boolean(key string) (v, ok bool, e *APIError) {
	raw, ok := o.raw(key)
	if !ok {
		return false, false, nil
	}
	if k := kindOf(raw); k != kindBool {
		return false, false, errType(o.param(key), "a boolean", k.String())
	}
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true")), true, nil
}

// number returns a numeric field checked against [lo, hi].
func (o object) number(key string, lo, hi float64) (v float64, ok bool, e *APIError) {
	raw, ok := o.raw(key)
	if !ok {
		return 0, false, nil
	}
	param := o.param(key)
	if k := kindOf(raw); k != kindNumber {
		return 0, false, errType(param, "a number", k.String())
	}
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false, errType(param, "a number", "an out-of-range number")
	}
	if v < lo || v > hi {
		return 0, false, errValue(param, "expected a value between %g and %g, but got %g instead.", lo, hi, v)
	}
	return v, true, nil
}

// integer returns an integer field checked against [lo, hi]. An integral
// number written with a fraction or exponent (2.0, 1e3) is accepted, as
// JavaScript clients produce them.
func (o object) integer(key string, lo, hi int64) (v int64, ok bool, e *APIError) {
	raw, ok := o.raw(key)
	if !ok {
		return 0, false, nil
	}
	v, e = decodeInteger(raw, o.param(key), lo, hi)
	return v, e == nil, e
}

func decodeInteger(raw []byte, param string, lo, hi int64) (int64, *APIError) {
	if k := kindOf(raw); k != kindNumber {
		return 0, errType(param, "an integer", k.String())
	}
	s := string(bytes.TrimSpace(raw))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < math.MinInt64 || f > math.MaxInt64 {
			return 0, errType(param, "an integer", "a number with a fraction or out of range")
		}
		v = int64(f)
	}
	if v < lo || v > hi {
		return 0, errValue(param, "expected an integer between %d and %d, but got %d instead.", lo, hi, v)
	}
	return v, nil
}

// array returns the elements of an array field.
func (o object) array(key string) (elems []json.RawMessage, ok bool, e *APIError) {
	raw, ok := o.raw(key)
	if !ok {
		return nil, false, nil
	}
	elems, e = decodeArray(raw, o.param(key))
	return elems, e == nil, e
}

func decodeArray(raw []byte, param string) ([]json.RawMessage, *APIError) {
	if k := kindOf(raw); k != kindArray {
		return nil, errType(param, "an array", k.String())
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, errType(param, "an array", "an invalid array")
	}
	return elems, nil
}

// obj returns an object field.
func (o object) obj(key string) (sub object, ok bool, e *APIError) {
	raw, ok := o.raw(key)
	if !ok {
		return object{}, false, nil
	}
	sub, e = decodeObject(raw, o.param(key))
	return sub, e == nil, e
}

func decodeObject(raw []byte, param string) (object, *APIError) {
	if k := kindOf(raw); k != kindObject {
		return object{}, errType(param, "an object", k.String())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}, errType(param, "an object", "an invalid object")
	}
	return object{fields: m, path: param}, nil
}

// notEmpty reports whether a present field holds something other than
// null, false, 0, "", [] or {}: the values OpenAI clients send for "off".
func (o object) notEmpty(key string) bool {
	raw, ok := o.raw(key)
	if !ok {
		return false
	}
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "false", "0", `""`, "[]", "{}":
		return false
	default:
		if kindOf(raw) == kindArray || kindOf(raw) == kindObject {
			// [ ] or { } with inner whitespace.
			inner := bytes.TrimSpace(raw[1 : len(raw)-1])
			return len(inner) != 0
		}
		return true
	}
}
