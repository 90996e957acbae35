package gateway

import (
	"strconv"
)

// chunkEncoder renders the SSE events of one streamed completion. The
// fixed head of every chunk (id, object, created, model, fingerprint) is
// rendered once; each event then costs one append of its text.
type chunkEncoder struct {
	head      []byte // `data: {"id":…,"choices":[`
	chat      bool
	usageNull bool // with include_usage, every chunk carries "usage":null
	buf       []byte
}

func newChunkEncoder(chat bool, id string, created int64, model, fingerprint string, includeUsage bool) *chunkEncoder {
	object := "text_completion"
	if chat {
		object = "chat.completion.chunk"
	}
	h := make([]byte, 0, 160)
	h = append(h, `data: {"id":`...)
	h = appendJSONString(h, id)
	h = append(h, `,"object":"`...)
	h = append(h, object...)
	h = append(h, `","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = appendJSONString(h, model)
	h = append(h, `,"system_fingerprint":`...)
	h = appendJSONString(h, fingerprint)
	h = append(h, `,"choices":[`...)
	return &chunkEncoder{head: h, chat: chat, usageNull: includeUsage, buf: make([]byte, 0, 512)}
}

func (c *chunkEncoder) start(idx int) []byte {
	b := append(c.buf[:0], c.head...)
	b = append(b, `{"index":`...)
	return strconv.AppendInt(b, int64(idx), 10)
}

func (c *chunkEncoder) end(b []byte) []byte {
	b = append(b, ']')
	if c.usageNull {
		b = append(b, `,"usage":null`...)
	}
	b = append(b, "}\n\n"...)
	c.buf = b
	return b
}

// role is a chat stream's first event: the assistant role with empty
// content, as OpenAI sends it.
func (c *chunkEncoder) role(idx int) []byte {
	b := c.start(idx)
	b = append(b, `,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}`...)
	return c.end(b)
}

// text is an event carrying generated text.
func (c *chunkEncoder) text(idx int, text string) []byte {
	b := c.start(idx)
	if c.chat {
		b = append(b, `,"delta":{"content":`...)
		b = appendJSONString(b, text)
		b = append(b, `},"logprobs":null,"finish_reason":null}`...)
	} else {
		b = append(b, `,"text":`...)
		b = appendJSONString(b, text)
		b = append(b, `,"logprobs":null,"finish_reason":null}`...)
	}
	return c.end(b)
}

// finish is a choice's last event, carrying its finish reason.
func (c *chunkEncoder) finish(idx int, reason string) []byte {
	b := c.start(idx)
	if c.chat {
		b = append(b, `,"delta":{},"logprobs":null,"finish_reason":`...)
	} else {
		b = append(b, `,"text":"","logprobs":null,"finish_reason":`...)
	}
	b = appendJSONString(b, reason)
	b = append(b, '}')
	return c.end(b)
}

// usage is the extra last event that stream_options.include_usage asks
// for: no choices, and the request's token counts.
func (c *chunkEncoder) usage(u usage) []byte {
	b := append(c.buf[:0], c.head...)
	b = append(b, `],"usage":`...)
	b = u.appendJSON(b)
	b = append(b, "}\n\n"...)
	c.buf = b
	return b
}

// errorEvent is sent when a stream fails after it started: the status is
// already 200, so the error travels in the stream, shaped as OpenAI's
// client libraries expect ({"error":{…}} in a data line).
func errorEvent(e *APIError) []byte {
	b := append([]byte("data: "), e.appendJSON(nil)...)
	return append(b, "\n\n"...)
}

const (
	sseDone      = "data: [DONE]\n\n"
	sseKeepAlive = ": keep-alive\n\n"
)

// usage is the OpenAI usage object.
type usage struct {
	PromptTokens        int           `json:"prompt_tokens"`
	CompletionTokens    int           `json:"completion_tokens"`
	TotalTokens         int           `json:"total_tokens"`
	PromptTokensDetails promptDetails `json:"prompt_tokens_details"`
}

type promptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

func (u usage) appendJSON(b []byte) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokensDetails.CachedTokens), 10)
	return append(b, "}}"...)
}
