package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/infergate/infergate/grammar"
	"github.com/infergate/infergate/llm"
)

// parseLimits bounds what one request may ask for; zero fields take the
// defaults below.
type parseLimits struct {
	MaxMessages int // chat messages per request
	MaxStop     int // stop sequences
	MaxPrompts  int // prompts in one /v1/completions request
	MaxInputs   int // inputs in one /v1/embeddings request
}

const (
	defaultMaxMessages = 1024
	defaultMaxStop     = 16
	defaultMaxPrompts  = 16
	defaultMaxInputs   = 2048 // OpenAI's own limit
	// defaultCompletionMaxTokens is OpenAI's default for /v1/completions;
	// chat completions default to "until the context is full".
	defaultCompletionMaxTokens = 16
	// defaultTemperature is OpenAI's: 1, not llama.cpp's 0.8.
	defaultTemperature = 1
)

func (l parseLimits) withDefaults() parseLimits {
	if l.MaxMessages <= 0 {
		l.MaxMessages = defaultMaxMessages
	}
	if l.MaxStop <= 0 {
		l.MaxStop = defaultMaxStop
	}
	if l.MaxPrompts <= 0 {
		l.MaxPrompts = defaultMaxPrompts
	}
	if l.MaxInputs <= 0 {
		l.MaxInputs = defaultMaxInputs
	}
	return l
}

// genParams are the settings chat and text completions share.
type genParams struct {
	Model        string
	Stream       bool
	IncludeUsage bool
	MaxTokens    int // 0: until the context is full
	Stop         []string
	IgnoreEOS    bool // llama.cpp's and vLLM's extension, for load tests
	Sampling     llm.Sampling
	// JSONMode records that Sampling.Grammar constrains the output to JSON,
	// for logs.
	JSONMode string
}

type chatRequest struct {
	genParams
	Messages []llm.Message
}

type prompt struct {
	Text   string
	Tokens []int32
}

type completionRequest struct {
	genParams
	Prompts []prompt
	Echo    bool
}

type embeddingRequest struct {
	Model      string
	Texts      []string
	Tokens     [][]int32
	Base64     bool
	Dimensions int // 0: not given
	Truncate   bool
}

// inputs is the number of embedding inputs.
func (r *embeddingRequest) inputs() int { return len(r.Texts) + len(r.Tokens) }

// parseChatRequest decodes and validates a /v1/chat/completions body.
func parseChatRequest(body []byte, lim parseLimits) (*chatRequest, *APIError) {
	lim = lim.withDefaults()
	o, e := parseBody(body)
	if e != nil {
		return nil, e
	}
	r := &chatRequest{}
	if e := r.parseModel(o); e != nil {
		return nil, e
	}
	if r.Messages, e = parseMessages(o, lim); e != nil {
		return nil, e
	}
	if e := r.parseCommon(o, lim); e != nil {
		return nil, e
	}
	// max_completion_tokens superseded max_tokens; newer clients send only it.
	for _, key := range []string{"max_completion_tokens", "max_tokens"} {
		v, ok, e := o.integer(key, 1, math.MaxInt32)
		if e != nil {
			return nil, e
		}
		if ok {
			r.MaxTokens = int(v)
			break
		}
	}
	if on, _, e := o.boolean("logprobs"); e != nil {
		return nil, e
	} else if on {
		return nil, errUnsupportedValue("logprobs", "logprobs are not supported by this server.")
	}
	if _, ok, e := o.integer("top_logprobs", 0, 20); e != nil {
		return nil, e
	} else if ok && o.notEmpty("top_logprobs") {
		return nil, errUnsupportedValue("top_logprobs", "logprobs are not supported by this server.")
	}
	if o.notEmpty("tools") || o.notEmpty("functions") {
		key := "tools"
		if !o.notEmpty("tools") {
			key = "functions"
		}
		return nil, errUnsupported(key, "Tool and function calling is not supported by this server; send the request without '%s'.", key)
	}
	for _, key := range []string{"tool_choice", "function_call"} {
		if raw, ok := o.raw(key); ok {
			if s, e := decodeString(raw, key); e != nil || (s != "none" && s != "auto") {
				return nil, errUnsupported(key, "Tool and function calling is not supported by this server; '%s' may only be \"none\" or \"auto\".", key)
			}
		}
	}
	if elems, _, e := o.array("modalities"); e != nil {
		return nil, e
	} else {
		for i, raw := range elems {
			s, e := decodeString(raw, indexParam("modalities", i))
			if e != nil {
				return nil, e
			}
			if s != "text" {
				return nil, errUnsupportedValue(indexParam("modalities", i), "Only the \"text\" modality is supported, not %q.", s)
			}
		}
	}
	if o.has("audio") {
		return nil, errUnsupported("audio", "Audio output is not supported by this server.")
	}
	return r, nil
}

// parseCompletionRequest decodes and validates a /v1/completions body.
func parseCompletionRequest(body []byte, lim parseLimits) (*completionRequest, *APIError) {
	lim = lim.withDefaults()
	o, e := parseBody(body)
	if e != nil {
		return nil, e
	}
	r := &completionRequest{}
	if e := r.parseModel(o); e != nil {
		return nil, e
	}
	if r.Prompts, e = parsePrompts(o, lim); e != nil {
		return nil, e
	}
	if e := r.parseCommon(o, lim); e != nil {
		return nil, e
	}
	r.MaxTokens = defaultCompletionMaxTokens
	if v, ok, e := o.integer("max_tokens", 1, math.MaxInt32); e != nil {
		return nil, e
	} else if ok {
		r.MaxTokens = int(v)
	}
	if r.Echo, _, e = o.boolean("echo"); e != nil {
		return nil, e
	}
	if s, _, e := o.str("suffix"); e != nil {
		return nil, e
	} else if s != "" {
		return nil, errUnsupported("suffix", "Fill-in-the-middle ('suffix') is not supported by this server.")
	}
	if v, ok, e := o.integer("best_of", 1, math.MaxInt32); e != nil {
		return nil, e
	} else if ok && v != 1 {
		return nil, errUnsupportedValue("best_of", "best_of must be 1: this server generates one completion per prompt.")
	}
	if v, ok, e := o.integer("logprobs", 0, 5); e != nil {
		return nil, e
	} else if ok && v > 0 {
		return nil, errUnsupportedValue("logprobs", "logprobs are not supported by this server.")
	}
	return r, nil
}

// parseEmbeddingRequest decodes and validates a /v1/embeddings body.
func parseEmbeddingRequest(body []byte, lim parseLimits) (*embeddingRequest, *APIError) {
	lim = lim.withDefaults()
	o, e := parseBody(body)
	if e != nil {
		return nil, e
	}
	r := &embeddingRequest{}
	if r.Model, _, e = o.str("model"); e != nil {
		return nil, e
	}
	raw, ok := o.raw("input")
	if !ok {
		return nil, errMissing("input")
	}
	switch kindOf(raw) {
	case kindString:
		s, e := decodeString(raw, "input")
		if e != nil {
			return nil, e
		}
		if s == "" {
			return nil, errValue("input", "the input must not be an empty string.")
		}
		r.Texts = []string{s}
	case kindArray:
		if r.Texts, r.Tokens, e = parseTextsOrTokens(raw, "input", lim.MaxInputs); e != nil {
			return nil, e
		}
	default:
		return nil, errType("input", "a string, an array of strings, an array of token ids or an array of token-id arrays", kindOf(raw).String())
	}
	if s, ok, e := o.str("encoding_format"); e != nil {
		return nil, e
	} else if ok {
		switch s {
		case "float":
		case "base64":
			r.Base64 = true
		default:
			return nil, errValue("encoding_format", "expected \"float\" or \"base64\", but got %q instead.", s)
		}
	}
	if v, ok, e := o.integer("dimensions", 1, math.MaxInt32); e != nil {
		return nil, e
	} else if ok {
		r.Dimensions = int(v)
	}
	if r.Truncate, _, e = o.boolean("truncate"); e != nil {
		return nil, e
	}
	if _, _, e := o.str("user"); e != nil {
		return nil, e
	}
	return r, nil
}

func (g *genParams) parseModel(o object) *APIError {
	var e *APIError
	g.Model, _, e = o.str("model")
	return e
}

// parseCommon reads the sampling and streaming options shared by chat and
// text completions.
func (g *genParams) parseCommon(o object, lim parseLimits) *APIError {
	var e *APIError
	if g.Stream, _, e = o.boolean("stream"); e != nil {
		return e
	}
	if so, ok, e := o.obj("stream_options"); e != nil {
		return e
	} else if ok {
		if !g.Stream {
			return errValue("stream_options", "stream_options is only allowed when 'stream' is true.")
		}
		if g.IncludeUsage, _, e = so.boolean("include_usage"); e != nil {
			return e
		}
	}
	if v, ok, e := o.integer("n", 1, math.MaxInt32); e != nil {
		return e
	} else if ok && v != 1 {
		return errUnsupportedValue("n", "n must be 1: this server returns one choice per request; send several requests to get several choices.")
	}

	s := &g.Sampling
	s.Temperature = defaultTemperature
	if v, ok, e := o.number("temperature", 0, 2); e != nil {
		return e
	} else if ok {
		s.Temperature = float32(v)
	}
	if v, ok, e := o.number("top_p", 0, 1); e != nil {
		return e
	} else if ok {
		if v == 0 {
			// top_p 0 keeps only the most likely token; the scheduler
			// reads 0 as "off", so say greedy instead.
			s.Temperature = 0
		} else {
			s.TopP = float32(v)
		}
	}
	// Extensions that llama.cpp's server and vLLM accept.
	if v, ok, e := o.integer("top_k", 0, math.MaxInt32); e != nil {
		return e
	} else if ok {
		s.TopK = int(v)
	}
	if v, ok, e := o.number("min_p", 0, 1); e != nil {
		return e
	} else if ok {
		s.MinP = float32(v)
	}
	for _, key := range []string{"repetition_penalty", "repeat_penalty"} {
		if v, ok, e := o.number(key, 0, 10); e != nil {
			return e
		} else if ok {
			s.RepeatPenalty = float32(v)
		}
	}
	if v, ok, e := o.number("frequency_penalty", -2, 2); e != nil {
		return e
	} else if ok {
		s.FrequencyPenalty = float32(v)
	}
	if v, ok, e := o.number("presence_penalty", -2, 2); e != nil {
		return e
	} else if ok {
		s.PresencePenalty = float32(v)
	}
	if v, ok, e := o.integer("seed", math.MinInt64, math.MaxInt64); e != nil {
		return e
	} else if ok {
		// OpenAI seeds are 64-bit; llama.cpp's are 32. Folding keeps
		// distinct small seeds distinct and is deterministic.
		s.Seed = uint32(uint64(v)) ^ uint32(uint64(v)>>32)
		s.HasSeed = true
	}
	if g.Stop, e = parseStop(o, lim); e != nil {
		return e
	}
	if g.IgnoreEOS, _, e = o.boolean("ignore_eos"); e != nil {
		return e
	}
	if _, _, e := o.str("user"); e != nil {
		return e
	}
	if o.has("logit_bias") {
		if _, _, e := o.obj("logit_bias"); e != nil {
			return e
		}
		if o.notEmpty("logit_bias") {
			return errUnsupported("logit_bias", "logit_bias is not supported by this server.")
		}
	}
	if rf, ok, e := o.obj("response_format"); e != nil {
		return e
	} else if ok {
		if s.Grammar, g.JSONMode, e = parseResponseFormat(rf); e != nil {
			return e
		}
		// Kept as sent for a cloud API, which enforces response_format
		// itself and cannot run the grammar.
		raw, _ := o.raw("response_format")
		s.ResponseFormat = string(raw)
	}
	return nil
}

func parseStop(o object, lim parseLimits) ([]string, *APIError) {
	raw, ok := o.raw("stop")
	if !ok {
		return nil, nil
	}
	switch kindOf(raw) {
	case kindString:
		s, e := decodeString(raw, "stop")
		if e != nil || s == "" {
			return nil, e
		}
		return []string{s}, nil
	case kindArray:
		elems, e := decodeArray(raw, "stop")
		if e != nil {
			return nil, e
		}
		if len(elems) > lim.MaxStop {
			return nil, errValue("stop", "at most %d stop sequences are allowed, but got %d.", lim.MaxStop, len(elems))
		}
		stop := make([]string, 0, len(elems))
		for i, el := range elems {
			s, e := decodeString(el, indexParam("stop", i))
			if e != nil {
				return nil, e
			}
			if s != "" {
				stop = append(stop, s)
			}
		}
		return stop, nil
	default:
		return nil, errType("stop", "a string or an array of strings", kindOf(raw).String())
	}
}

// parseResponseFormat returns the GBNF grammar that enforces
// response_format, and its type for logs.
func parseResponseFormat(rf object) (gbnf, mode string, e *APIError) {
	typ, ok, e := rf.str("type")
	if e != nil {
		return "", "", e
	}
	if !ok {
		return "", "", errMissing("response_format.type")
	}
	switch typ {
	case "text":
		return "", "", nil
	case "json_object":
		return grammar.JSONObject, typ, nil
	case "json_schema":
		js, ok, e := rf.obj("json_schema")
		if e != nil {
			return "", "", e
		}
		if !ok {
			return "", "", errMissing("response_format.json_schema")
		}
		if _, _, e := js.str("name"); e != nil {
			return "", "", e
		}
		if _, _, e := js.boolean("strict"); e != nil {
			return "", "", e
		}
		raw, ok := js.raw("schema")
		if !ok {
			// OpenAI treats a missing schema as "any JSON object".
			return grammar.JSONObject, typ, nil
		}
		if kindOf(raw) != kindObject && kindOf(raw) != kindBool {
			return "", "", errType("response_format.json_schema.schema", "an object", kindOf(raw).String())
		}
		g, err := grammar.FromSchema(raw)
		if err != nil {
			return "", "", errSchema(err)
		}
		return g, typ, nil
	default:
		return "", "", errValue("response_format.type", "expected \"text\", \"json_object\" or \"json_schema\", but got %q instead.", typ)
	}
}

// errSchema answers a response_format schema that the grammar compiler
// refused: the client's mistake, named as OpenAI names it (param
// response_format). Any other error from the compiler is a bug of ours.
func errSchema(err error) *APIError {
	var se *grammar.SchemaError
	if !errors.As(err, &se) {
		return errInternal(err)
	}
	e := errUnsupportedValue("response_format",
		"This JSON schema cannot be enforced: %s (at #%s in json_schema.schema). Supported: type (object, array, string, number, integer, boolean, null, or a list of them), properties, required, additionalProperties, items, prefixItems, minItems, maxItems, minLength, maxLength, enum, const, anyOf, oneOf, single-schema allOf, nullable, format (date, time, date-time, uuid), integer minimum 0 or 1, $ref to $defs/definitions, and annotations (title, description, default, examples, $schema, $id, $comment).",
		se.Reason, se.Path)
	e.Err = err
	return e
}

func parseMessages(o object, lim parseLimits) ([]llm.Message, *APIError) {
	elems, ok, e := o.array("messages")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, errMissing("messages")
	}
	if len(elems) == 0 {
		return nil, errValue("messages", "expected an array with at least one message, but got an empty array.")
	}
	if len(elems) > lim.MaxMessages {
		return nil, errValue("messages", "at most %d messages are allowed, but got %d.", lim.MaxMessages, len(elems))
	}
	msgs := make([]llm.Message, len(elems))
	for i, raw := range elems {
		param := indexParam("messages", i)
		m, e := decodeObject(raw, param)
		if e != nil {
			return nil, e
		}
		role, ok, e := m.str("role")
		if e != nil {
			return nil, e
		}
		if !ok {
			return nil, errMissing(param + ".role")
		}
		switch role {
		case "system", "user", "assistant":
		case "developer":
			// OpenAI's newer name for system; chat templates know only system.
			role = "system"
		case "tool", "function":
			return nil, errUnsupportedValue(param+".role", "Messages with role %q need tool calling, which this server does not support.", role)
		default:
			return nil, errValue(param+".role", "expected one of \"system\", \"developer\", \"user\" or \"assistant\", but got %q instead.", role)
		}
		if role == "assistant" && (m.notEmpty("tool_calls") || m.has("function_call")) {
			return nil, errUnsupported(param+".tool_calls", "Tool and function calling is not supported by this server.")
		}
		content, e := parseContent(m, param+".content", role == "assistant")
		if e != nil {
			return nil, e
		}
		msgs[i] = llm.Message{Role: role, Content: content}
	}
	return msgs, nil
}

// parseContent flattens a message's content (a string or an array of text
// parts) to text. Parts are joined with newlines, as vLLM does, so that
// words in adjacent parts are not glued together.
func parseContent(m object, param string, optional bool) (string, *APIError) {
	raw, ok := m.raw("content")
	if !ok {
		if optional {
			return "", nil
		}
		return "", errMissing(param)
	}
	switch kindOf(raw) {
	case kindString:
		return decodeString(raw, param)
	case kindArray:
		parts, e := decodeArray(raw, param)
		if e != nil {
			return "", e
		}
		var sb strings.Builder
		n := 0
		for j, praw := range parts {
			pparam := indexParam(param, j)
			p, e := decodeObject(praw, pparam)
			if e != nil {
				return "", e
			}
			typ, ok, e := p.str("type")
			if e != nil {
				return "", e
			}
			if !ok {
				return "", errMissing(pparam + ".type")
			}
			var key string
			switch typ {
			case "text", "input_text":
				key = "text"
			case "refusal":
				key = "refusal"
			case "image_url", "input_image", "image", "input_audio", "audio", "file", "input_file":
				return "", errUnsupportedValue(pparam+".type", "Content of type %q is not supported by this server: its models read text only.", typ)
			default:
				return "", errValue(pparam+".type", "expected \"text\", but got %q instead.", typ)
			}
			text, ok, e := p.str(key)
			if e != nil {
				return "", e
			}
			if !ok {
				return "", errMissing(pparam + "." + key)
			}
			if n > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(text)
			n++
		}
		return sb.String(), nil
	default:
		return "", errType(param, "a string or an array of content parts", kindOf(raw).String())
	}
}

// parsePrompts reads /v1/completions' prompt: a string, an array of
// strings, an array of token ids, or an array of token-id arrays.
func parsePrompts(o object, lim parseLimits) ([]prompt, *APIError) {
	raw, ok := o.raw("prompt")
	if !ok {
		return nil, errMissing("prompt")
	}
	switch kindOf(raw) {
	case kindString:
		s, e := decodeString(raw, "prompt")
		if e != nil {
			return nil, e
		}
		if s == "" {
			return nil, errValue("prompt", "the prompt must not be empty.")
		}
		return []prompt{{Text: s}}, nil
	case kindArray:
		texts, tokens, e := parseTextsOrTokens(raw, "prompt", lim.MaxPrompts)
		if e != nil {
			return nil, e
		}
		ps := make([]prompt, 0, len(texts)+len(tokens))
		for _, t := range texts {
			ps = append(ps, prompt{Text: t})
		}
		for _, t := range tokens {
			ps = append(ps, prompt{Tokens: t})
		}
		return ps, nil
	default:
		return nil, errType("prompt", "a string, an array of strings, an array of token ids or an array of token-id arrays", kindOf(raw).String())
	}
}

// parseTextsOrTokens reads the array forms shared by completions' prompt
// and embeddings' input: [string...], [int...] (one token sequence) or
// [[int...]...]. Mixing forms is refused, as OpenAI does.
func parseTextsOrTokens(raw json.RawMessage, param string, max int) (texts []string, tokens [][]int32, e *APIError) {
	elems, e := decodeArray(raw, param)
	if e != nil {
		return nil, nil, e
	}
	if len(elems) == 0 {
		return nil, nil, errValue(param, "expected a non-empty array.")
	}
	switch kindOf(elems[0]) {
	case kindString:
		if len(elems) > max {
			return nil, nil, errValue(param, "at most %d items are allowed, but got %d.", max, len(elems))
		}
		texts = make([]string, len(elems))
		for i, el := range elems {
			if texts[i], e = decodeString(el, indexParam(param, i)); e != nil {
				return nil, nil, e
			}
			if texts[i] == "" {
				return nil, nil, errValue(indexParam(param, i), "items must not be empty strings.")
			}
		}
		return texts, nil, nil
	case kindNumber:
		seq, e := decodeTokens(elems, param)
		if e != nil {
			return nil, nil, e
		}
		return nil, [][]int32{seq}, nil
	case kindArray:
		if len(elems) > max {
			return nil, nil, errValue(param, "at most %d items are allowed, but got %d.", max, len(elems))
		}
		tokens = make([][]int32, len(elems))
		for i, el := range elems {
			p := indexParam(param, i)
			inner, e := decodeArray(el, p)
			if e != nil {
				return nil, nil, e
			}
			if len(inner) == 0 {
				return nil, nil, errValue(p, "token arrays must not be empty.")
			}
			if tokens[i], e = decodeTokens(inner, p); e != nil {
				return nil, nil, e
			}
		}
		return nil, tokens, nil
	default:
		return nil, nil, errType(indexParam(param, 0), "a string, a token id or an array of token ids", kindOf(elems[0]).String())
	}
}

func decodeTokens(elems []json.RawMessage, param string) ([]int32, *APIError) {
	seq := make([]int32, len(elems))
	for i, el := range elems {
		v, e := decodeInteger(bytes.TrimSpace(el), indexParam(param, i), 0, math.MaxInt32)
		if e != nil {
			return nil, e
		}
		seq[i] = int32(v)
	}
	return seq, nil
}
