package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/infergate/infergate/llm"
)

// decoder turns a streamed response into text. next returns the next piece
// of text, or done at the stream's end marker, or an error: an *Error
// (malformed, cut, or an error the upstream reported) or a read error as
// the body returned it, which only the caller can classify (its timeouts
// and cancellation look like read errors).
type decoder interface {
	next() (text string, done bool, err error)
	outcome() outcome
}

// outcome is what a response says about the generation besides its text.
type outcome struct {
	finish string // an llm.Finish* reason
	usage  usage
	model  string
}

// usage in OpenAI's terms: prompt includes cached.
type usage struct {
	prompt, completion, cached int
	reported                   bool
}

// malformed returns the *Error for a response that breaks the wire format.
func malformed(format string, args ...any) *Error {
	return &Error{Kind: KindMalformed, Err: fmt.Errorf(format, args...)}
}

// cut returns the *Error for a stream that ended before its end marker.
func cut() *Error {
	return &Error{Kind: KindConnection, Retryable: true, Err: ErrStreamCut}
}

// sseError maps the event reader's own errors to *Error and passes read
// errors through.
func sseError(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errTruncatedLine):
		return cut()
	case errors.Is(err, errEventTooLarge):
		return malformed("%w", err)
	}
	return err
}

// errorBody is the error document of both APIs: OpenAI's
// {"error":{"message","type","code","param"}}, Anthropic's
// {"type":"error","error":{"type","message"}}. Some OpenAI-compatible
// servers send "error" as a bare string.
type errorBody struct {
	Error json.RawMessage `json:"error"`
}

type errorDetail struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// parseErrorBody extracts the upstream's code and message from an error
// body; both are empty when it has none. The code is OpenAI's error.code
// when it is set, else the error's type.
func parseErrorBody(b []byte) (code, msg string) {
	var eb errorBody
	if json.Unmarshal(b, &eb) != nil || len(eb.Error) == 0 {
		return "", clip(strings.TrimSpace(string(b)))
	}
	return parseErrorDetail(eb.Error)
}

func parseErrorDetail(raw json.RawMessage) (code, msg string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "", clip(s)
	}
	var d errorDetail
	if json.Unmarshal(raw, &d) != nil {
		return "", clip(string(raw))
	}
	code = d.Type
	if len(d.Code) > 0 && string(d.Code) != "null" {
		var cs string
		if json.Unmarshal(d.Code, &cs) == nil {
			if cs != "" {
				code = cs
			}
		} else {
			code = string(d.Code) // a number
		}
	}
	return clip(code), clip(d.Message)
}

// clip bounds upstream text that ends up in logs and error messages.
func clip(s string) string {
	const maxLen = 512
	if len(s) <= maxLen {
		return s
	}
	// Back up to a rune boundary so that the result stays valid UTF-8.
	i := maxLen
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}

// mapFinish translates a finish or stop reason of either API.
func mapFinish(reason string) string {
	switch reason {
	case "stop", "end_turn", "stop_sequence":
		return llm.FinishStop
	case "length", "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "content_filter", "refusal":
		return llm.FinishContentFilter
	}
	// Tool calls and pauses (we send no tools), and reasons added later:
	// the model stopped of its own accord.
	return llm.FinishStop
}

// checkUsage refuses token counts no upstream could mean.
func checkUsage(u usage) error {
	if u.prompt < 0 || u.completion < 0 || u.cached < 0 || u.cached > u.prompt {
		return malformed("impossible usage: prompt %d, completion %d, cached %d", u.prompt, u.completion, u.cached)
	}
	return nil
}
