package upstream

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/infergate/infergate/llm"
)

// openAI speaks the OpenAI-compatible API: /chat/completions for messages,
// /completions for a plain prompt, /embeddings.
type openAI struct{}

type oaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type oaStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaRequest struct {
	Model         string           `json:"model"`
	Messages      []oaMessage      `json:"messages,omitempty"`
	Prompt        *string          `json:"prompt,omitempty"`
	Stream        bool             `json:"stream,omitempty"`
	StreamOptions *oaStreamOptions `json:"stream_options,omitempty"`
	MaxTokens     int              `json:"max_tokens,omitempty"`
	// Always sent: 0 is greedy here as it is locally, and the gateway has
	// already applied OpenAI's default of 1 when the client sent none.
	Temperature      float32         `json:"temperature"`
	TopP             float32         `json:"top_p,omitempty"`
	Stop             []string        `json:"stop,omitempty"`
	Seed             *uint32         `json:"seed,omitempty"`
	FrequencyPenalty float32         `json:"frequency_penalty,omitempty"`
	PresencePenalty  float32         `json:"presence_penalty,omitempty"`
	ResponseFormat   json.RawMessage `json:"response_format,omitempty"`
}

// request translates req. TopK, MinP and RepeatPenalty have no OpenAI
// parameter (OpenAI refuses unknown ones) and are not sent; IgnoreEOS is a
// local load-test knob that no cloud API honours.
func (openAI) request(model string, req llm.Request, stream bool, _ int) (string, []byte, error) {
	r := oaRequest{
		Model:            model,
		MaxTokens:        req.MaxTokens,
		Temperature:      req.Sampling.Temperature,
		Stop:             req.Stop,
		FrequencyPenalty: req.Sampling.FrequencyPenalty,
		PresencePenalty:  req.Sampling.PresencePenalty,
	}
	if p := req.Sampling.TopP; p > 0 && p < 1 {
		r.TopP = p
	}
	if req.Sampling.HasSeed {
		seed := req.Sampling.Seed
		r.Seed = &seed
	}
	if stream {
		r.Stream = true
		r.StreamOptions = &oaStreamOptions{IncludeUsage: true}
	}
	if rf := req.Sampling.ResponseFormat; rf != "" {
		if !json.Valid([]byte(rf)) {
			return "", nil, unsupported("response_format is not JSON")
		}
		// The API enforces it itself; the GBNF derived from it is for the
		// local engine only.
		r.ResponseFormat = json.RawMessage(rf)
	} else if req.Sampling.Grammar != "" {
		return "", nil, unsupported("a GBNF grammar cannot be sent to an OpenAI-compatible API")
	}
	path := "/chat/completions"
	switch {
	case len(req.PromptTokens) > 0:
		return "", nil, unsupported("token ids are the local tokenizer's")
	case len(req.Messages) > 0:
		r.Messages = make([]oaMessage, len(req.Messages))
		for i, m := range req.Messages {
			r.Messages[i] = oaMessage(m)
		}
	case req.Prompt != "":
		path = "/completions"
		r.Prompt = &req.Prompt
	default:
		return "", nil, &llm.RequestError{Field: llm.FieldMessages, Err: errors.New("no messages and no prompt")}
	}
	b, err := json.Marshal(r)
	return path, b, err
}

func (openAI) header(h http.Header, key string) {
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
}

type oaUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (u *oaUsage) usage() usage {
	out := usage{prompt: u.PromptTokens, completion: u.CompletionTokens, reported: true}
	if u.PromptTokensDetails != nil {
		out.cached = u.PromptTokensDetails.CachedTokens
	}
	return out
}

type oaChoice struct {
	Index int `json:"index"`
	// Streamed chat chunks carry delta, whole chat responses message,
	// completions text.
	Delta   *oaContent `json:"delta"`
	Message *oaContent `json:"message"`
	Text    string     `json:"text"`
	// A pointer: absent and null mean "not finished yet".
	FinishReason *string `json:"finish_reason"`
}

type oaContent struct {
	Content *string `json:"content"`
	// A refusal is the model's answer when structured output would not do;
	// the client should read it rather than an empty reply.
	Refusal *string `json:"refusal"`
}

func (c *oaContent) text() string {
	if c == nil {
		return ""
	}
	var s string
	if c.Content != nil {
		s = *c.Content
	}
	if c.Refusal != nil {
		s += *c.Refusal
	}
	return s
}

// oaResponse is a whole response and a streamed chunk alike.
type oaResponse struct {
	Model   string          `json:"model"`
	Choices []oaChoice      `json:"choices"`
	Usage   *oaUsage        `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

// take applies one response or chunk to out and returns choice 0's text
// (we ask for one choice; others are ignored).
func (r *oaResponse) take(out *outcome) (string, error) {
	if r.Model != "" {
		out.model = r.Model
	}
	if r.Usage != nil {
		u := r.Usage.usage()
		if err := checkUsage(u); err != nil {
			return "", err
		}
		out.usage = u
	}
	var text string
	for _, c := range r.Choices {
		if c.Index != 0 {
			continue
		}
		text += c.Delta.text() + c.Message.text() + c.Text
		if c.FinishReason != nil && *c.FinishReason != "" {
			out.finish = mapFinish(*c.FinishReason)
		}
	}
	return text, nil
}

// oaStreamError is an error an OpenAI-compatible server reported inside a
// 200 stream: vLLM and others send {"error":{...}} as a data chunk.
func oaStreamError(raw json.RawMessage) *Error {
	code, msg := parseErrorDetail(raw)
	e := &Error{Kind: KindServer, Retryable: true, Code: code, Message: msg}
	switch code {
	case "rate_limit_exceeded", "rate_limit_error":
		e.Kind = KindRateLimited
	case "invalid_request_error", "context_length_exceeded":
		e.Kind, e.Retryable = KindClient, false
	}
	return e
}

func (openAI) decodeResponse(b []byte) (string, outcome, error) {
	var r oaResponse
	var out outcome
	if err := json.Unmarshal(b, &r); err != nil {
		return "", out, malformed("response: %w", err)
	}
	if len(r.Error) > 0 && string(r.Error) != "null" {
		return "", out, oaStreamError(r.Error)
	}
	if len(r.Choices) == 0 {
		return "", out, malformed("response has no choices")
	}
	text, err := r.take(&out)
	if out.finish == "" {
		out.finish = llm.FinishStop
	}
	return text, out, err
}

func (openAI) decoder(r io.Reader) decoder { return &oaDecoder{sse: newSSEReader(r)} }

// oaDecoder reads a streamed chat or completions response: data chunks,
// then data: [DONE]. With include_usage the last chunk before [DONE]
// carries the usage and no choices.
type oaDecoder struct {
	sse    *sseReader
	out    outcome
	chunks int // text chunks, for a server that reports no usage
}

func (d *oaDecoder) next() (string, bool, error) {
	for {
		ev, err := d.sse.next()
		if err != nil {
			return "", false, sseError(err)
		}
		if string(ev.Data) == "[DONE]" {
			if d.out.finish == "" {
				d.out.finish = llm.FinishStop
			}
			return "", true, nil
		}
		if ev.Event == "error" {
			// A server that names the event: its data is the error, in
			// whichever shape it chose.
			code, msg := parseErrorBody(ev.Data)
			if code == "" && msg == "" {
				msg = clip(string(ev.Data))
			}
			return "", false, &Error{Kind: KindServer, Retryable: true, Code: code, Message: msg}
		}
		var c oaResponse
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			return "", false, malformed("chunk: %w", err)
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			return "", false, oaStreamError(c.Error)
		}
		text, err := c.take(&d.out)
		if err != nil {
			return "", false, err
		}
		if text != "" {
			d.chunks++
			return text, false, nil
		}
	}
}

func (d *oaDecoder) outcome() outcome {
	out := d.out
	if !out.usage.reported {
		// OpenAI sends about one token per chunk; better than nothing for
		// a server that ignores include_usage.
		out.usage.completion = d.chunks
	}
	return out
}

type oaEmbedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

type oaEmbedResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage *oaUsage `json:"usage"`
}
