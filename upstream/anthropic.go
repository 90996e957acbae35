package upstream

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/infergate/infergate/llm"
)

// anthropicVersion is the Messages API version this client speaks.
const anthropicVersion = "2023-06-01"

// anthropic speaks Anthropic's Messages API, /messages.
type anthropic struct{}

type anMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type anTextBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anRequest struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	// System is a string, or text blocks when the conversation had several
	// system messages, so that each is sent as it was.
	System        any         `json:"system,omitempty"`
	Messages      []anMessage `json:"messages"`
	Stream        bool        `json:"stream,omitempty"`
	Temperature   *float32    `json:"temperature,omitempty"`
	TopP          *float32    `json:"top_p,omitempty"`
	TopK          int         `json:"top_k,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
}

// request translates req. System messages, wherever they are, become the
// top-level system prompt (the API has no system role). The API has no
// seed, penalties, min_p or response_format: those are not sent (a grammar
// or response_format cannot be honoured, so such a request is refused).
// max_tokens is required: defMax stands in for "no limit".
func (anthropic) request(model string, req llm.Request, stream bool, defMax int) (string, []byte, error) {
	if len(req.PromptTokens) > 0 {
		return "", nil, unsupported("token ids are the local tokenizer's")
	}
	if req.Sampling.Grammar != "" || req.Sampling.ResponseFormat != "" {
		return "", nil, unsupported("the Messages API cannot enforce a grammar or response_format")
	}
	if len(req.Messages) == 0 {
		if req.Prompt != "" {
			return "", nil, unsupported("the Messages API has no raw-prompt completion")
		}
		return "", nil, &llm.RequestError{Field: llm.FieldMessages, Err: errors.New("no messages")}
	}
	r := anRequest{Model: model, MaxTokens: req.MaxTokens, Stream: stream, TopK: req.Sampling.TopK, StopSequences: req.Stop}
	if r.MaxTokens <= 0 {
		r.MaxTokens = defMax
	}
	var system []anTextBlock
	for _, m := range req.Messages {
		switch m.Role {
		case llm.RoleSystem:
			system = append(system, anTextBlock{Type: "text", Text: m.Content})
		case llm.RoleUser, llm.RoleAssistant:
			r.Messages = append(r.Messages, anMessage(m))
		default:
			return "", nil, unsupported("message role " + m.Role)
		}
	}
	switch len(system) {
	case 0:
	case 1:
		r.System = system[0].Text
	default:
		r.System = system
	}
	if len(r.Messages) == 0 {
		return "", nil, unsupported("the Messages API needs a user message, not only a system prompt")
	}
	// Anthropic's range is 0–1, OpenAI's (and the gateway's) 0–2: higher
	// is clamped rather than refused, so that the request can still spill.
	// 1 is the API's default and is left out, as recent models refuse
	// temperature and top_p together.
	if t := min(max(req.Sampling.Temperature, 0), 1); t != 1 {
		r.Temperature = &t
	}
	if p := req.Sampling.TopP; p > 0 && p < 1 {
		r.TopP = &p
	}
	b, err := json.Marshal(r)
	return "/messages", b, err
}

func (anthropic) header(h http.Header, key string) {
	if key != "" {
		h.Set("X-Api-Key", key)
	}
	h.Set("Anthropic-Version", anthropicVersion)
}

// anUsage holds pointers because a message_delta's usage carries only the
// counts that changed (at least output_tokens), replacing message_start's.
type anUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// anCounts accumulates Anthropic's usage. Its input_tokens excludes the
// cache's: the prompt, in OpenAI's terms, is all three input counts.
type anCounts struct {
	input, output, cacheWrite, cacheRead int
	reported                             bool
}

func (c *anCounts) add(u *anUsage) {
	if u == nil {
		return
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
			c.reported = true
		}
	}
	set(&c.input, u.InputTokens)
	set(&c.output, u.OutputTokens)
	set(&c.cacheWrite, u.CacheCreationInputTokens)
	set(&c.cacheRead, u.CacheReadInputTokens)
}

func (c *anCounts) usage() usage {
	return usage{
		prompt:     c.input + c.cacheWrite + c.cacheRead,
		completion: c.output,
		cached:     c.cacheRead,
		reported:   c.reported,
	}
}

type anError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (e *anError) err() *Error {
	kind, retry := anthropicErrorKind(e.Type)
	return &Error{Kind: kind, Retryable: retry, Code: clip(e.Type), Message: clip(e.Message)}
}

type anResponse struct {
	Type       string        `json:"type"`
	Model      string        `json:"model"`
	Content    []anTextBlock `json:"content"`
	StopReason *string       `json:"stop_reason"`
	Usage      *anUsage      `json:"usage"`
	Error      *anError      `json:"error"`
}

func (anthropic) decodeResponse(b []byte) (string, outcome, error) {
	var r anResponse
	var out outcome
	if err := json.Unmarshal(b, &r); err != nil {
		return "", out, malformed("response: %w", err)
	}
	if r.Type == "error" && r.Error != nil {
		return "", out, r.Error.err()
	}
	if r.Type != "message" {
		return "", out, malformed("response type %q, want message", r.Type)
	}
	var text string
	for _, c := range r.Content {
		if c.Type == "text" {
			text += c.Text // thinking and tool blocks are not the answer
		}
	}
	var n anCounts
	n.add(r.Usage)
	out.usage, out.model, out.finish = n.usage(), r.Model, llm.FinishStop
	if r.StopReason != nil {
		out.finish = mapFinish(*r.StopReason)
	}
	return text, out, checkUsage(out.usage)
}

func (anthropic) decoder(r io.Reader) decoder { return &anDecoder{sse: newSSEReader(r)} }

// anEvent is any event of a streamed message; which fields are set
// depends on Type.
type anEvent struct {
	Type    string `json:"type"`
	Message *struct {
		Model string   `json:"model"`
		Usage *anUsage `json:"usage"`
	} `json:"message"`
	ContentBlock *anTextBlock `json:"content_block"`
	Delta        *struct {
		Type       string  `json:"type"`
		Text       string  `json:"text"`
		StopReason *string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anUsage `json:"usage"`
	Error *anError `json:"error"`
}

// anDecoder reads a streamed message: message_start, then per content
// block content_block_start, content_block_delta…, content_block_stop,
// then message_delta (stop reason, usage) and message_stop; ping and error
// may come at any point.
type anDecoder struct {
	sse    *sseReader
	counts anCounts
	out    outcome
}

func (d *anDecoder) next() (string, bool, error) {
	for {
		ev, err := d.sse.next()
		if err != nil {
			return "", false, sseError(err)
		}
		var e anEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			if ev.Event == "error" {
				return "", false, &Error{Kind: KindServer, Retryable: true, Message: clip(string(ev.Data))}
			}
			return "", false, malformed("event %q: %w", ev.Event, err)
		}
		typ := e.Type
		if typ == "" {
			typ = ev.Event
		}
		switch typ {
		case "message_start":
			if e.Message == nil {
				return "", false, malformed("message_start without a message")
			}
			d.out.model = e.Message.Model
			d.counts.add(e.Message.Usage)
		case "content_block_start":
			// A text block starts empty in practice; take what it has.
			if b := e.ContentBlock; b != nil && b.Type == "text" && b.Text != "" {
				return b.Text, false, nil
			}
		case "content_block_delta":
			if e.Delta == nil {
				return "", false, malformed("content_block_delta without a delta")
			}
			// thinking_delta, input_json_delta, signature_delta: not text
			// for the client.
			if e.Delta.Type == "text_delta" && e.Delta.Text != "" {
				return e.Delta.Text, false, nil
			}
		case "message_delta":
			if e.Delta != nil && e.Delta.StopReason != nil {
				d.out.finish = mapFinish(*e.Delta.StopReason)
			}
			d.counts.add(e.Usage)
			if err := checkUsage(d.counts.usage()); err != nil {
				return "", false, err
			}
		case "message_stop":
			if d.out.finish == "" {
				d.out.finish = llm.FinishStop
			}
			return "", true, nil
		case "error":
			if e.Error == nil {
				return "", false, &Error{Kind: KindServer, Retryable: true, Message: clip(string(ev.Data))}
			}
			return "", false, e.Error.err()
		}
		// content_block_stop, ping, and event types added after this was
		// written (the API's versioning policy allows new ones): nothing to
		// do.
	}
}

func (d *anDecoder) outcome() outcome {
	out := d.out
	out.usage = d.counts.usage()
	return out
}
