package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxEventBytes bounds one server-sent event, so that a server streaming
// garbage without blank lines cannot grow the harness's memory unbounded.
const maxEventBytes = 8 << 20

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	Type string    // the "event:" field; "" for the default "message"
	Data string    // the "data:" lines joined by "\n"
	At   time.Time // when the event was complete (its blank line was read)
}

// sseReader parses a text/event-stream as the WHATWG HTML specification
// describes it: lines end in LF, CRLF or CR; lines starting with ':' are
// comments (servers send them as keepalives); "data:" lines accumulate
// until a blank line dispatches the event. Two deliberate leniencies: an
// event still pending at end of stream is dispatched rather than dropped
// (a server that closes right after "data: [DONE]" is common), and an
// "error:" field is taken as an event of type "error" (llama.cpp's server
// has sent errors that way).
type sseReader struct {
	br      *bufio.Reader
	limit   int // maxEventBytes, smaller in tests
	now     func() time.Time
	pending []string // lines split off a chunk that held bare CRs
	line    []byte
	data    strings.Builder
	hasData bool
	typ     string
	eof     bool
}

func newSSEReader(r io.Reader, now func() time.Time) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, 32<<10), now: now, limit: maxEventBytes}
}

// errEventTooLarge reports an event over maxEventBytes.
var errEventTooLarge = errors.New("server-sent event larger than 8 MiB")

// readLine returns the next line without its terminator.
func (s *sseReader) readLine() (string, error) {
	if len(s.pending) > 0 {
		l := s.pending[0]
		s.pending = s.pending[1:]
		return l, nil
	}
	if s.eof {
		return "", io.EOF
	}
	s.line = s.line[:0]
	for {
		chunk, err := s.br.ReadSlice('\n')
		if len(s.line)+len(chunk) > s.limit {
			return "", errEventTooLarge
		}
		s.line = append(s.line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			s.eof = true
			if len(s.line) == 0 {
				return "", io.EOF
			}
		} else if err != nil {
			return "", err
		}
		break
	}
	l := bytes.TrimSuffix(s.line, []byte("\n"))
	l = bytes.TrimSuffix(l, []byte("\r"))
	// A bare CR also ends a line. Such streams are rare; splitting here
	// keeps them correct, though their events are only seen at the next LF.
	if bytes.IndexByte(l, '\r') >= 0 {
		parts := strings.Split(string(l), "\r")
		s.pending = append(s.pending, parts[1:]...)
		return parts[0], nil
	}
	return string(l), nil
}

// next returns the next event, or io.EOF at the end of the stream.
func (s *sseReader) next() (sseEvent, error) {
	for {
		line, err := s.readLine()
		if err == io.EOF {
			if s.hasData {
				return s.dispatch(), nil
			}
			return sseEvent{}, io.EOF
		}
		if err != nil {
			return sseEvent{}, err
		}
		if line == "" {
			if s.hasData {
				return s.dispatch(), nil
			}
			s.typ = "" // an event with no data is not dispatched
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			s.appendData(value)
		case "event":
			s.typ = value
		case "error":
			s.typ = "error"
			s.appendData(value)
		}
		if s.data.Len() > s.limit {
			return sseEvent{}, errEventTooLarge
		}
	}
}

func (s *sseReader) appendData(v string) {
	if s.hasData {
		s.data.WriteByte('\n')
	}
	s.data.WriteString(v)
	s.hasData = true
}

func (s *sseReader) dispatch() sseEvent {
	ev := sseEvent{Type: s.typ, Data: s.data.String(), At: s.now()}
	s.data.Reset()
	s.hasData = false
	s.typ = ""
	return ev
}

// usage is OpenAI's token accounting.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// streamChunk is the part of a chat.completion.chunk or text_completion
// chunk the harness needs.
type streamChunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
			Reasoning        string `json:"reasoning"`
		} `json:"delta"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// streamResult is what one streamed response yielded.
type streamResult struct {
	firstToken time.Time // zero when no content arrived
	lastToken  time.Time
	itls       []time.Duration // gaps between successive content chunks
	chunks     int             // chunks that carried content
	usage      *usage          // the server's count, when it sent one
	sawDone    bool
	sawFinish  bool
	text       string // the visible reply (content or text, not reasoning)
}

// outputTokens is the server's completion count when reported, otherwise
// the number of content chunks (servers send about one token per chunk).
func (r *streamResult) outputTokens() (n int, fromUsage bool) {
	if r.usage != nil {
		return r.usage.CompletionTokens, true
	}
	return r.chunks, false
}

// benchError is a failure with its report kind.
type benchError struct {
	kind string // errMalformed, errAPI, ...
	msg  string
}

func (e *benchError) Error() string { return e.kind + ": " + e.msg }

// Error kinds besides "http_<status>".
const (
	errTimeout    = "timeout"    // the request ran past --timeout
	errConnection = "connection" // dial, reset, or EOF outside the SSE framing
	errMalformed  = "malformed"  // unparsable JSON, truncated or oversized stream
	errAPI        = "api_error"  // an error object inside a 200 response or stream
)

// consumeStream reads an OpenAI streaming response to its end, timing every
// content chunk. It returns a *benchError for protocol problems and the
// reader's error for I/O problems; on error the partial result is still
// returned so a caller can see how far the stream got.
func consumeStream(r io.Reader, now func() time.Time) (streamResult, error) {
	var res streamResult
	var text strings.Builder
	sr := newSSEReader(r, now)
	for {
		ev, err := sr.next()
		if err == io.EOF {
			break
		}
		if err == errEventTooLarge {
			return res, &benchError{errMalformed, err.Error()}
		}
		if err != nil {
			res.text = text.String()
			return res, err
		}
		data := strings.TrimSpace(ev.Data)
		if data == "[DONE]" {
			res.sawDone = true
			break
		}
		if ev.Type == "error" {
			return res, &benchError{errAPI, errorMessage([]byte(data))}
		}
		if data == "" {
			continue
		}
		var c streamChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return res, &benchError{errMalformed, fmt.Sprintf("bad chunk %s: %v", clip(data, 80), err)}
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			return res, &benchError{errAPI, errorMessage([]byte(data))}
		}
		if c.Usage != nil {
			u := *c.Usage
			res.usage = &u
		}
		got := false
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" || ch.Text != "" || ch.Delta.ReasoningContent != "" || ch.Delta.Reasoning != "" {
				got = true
			}
			text.WriteString(ch.Delta.Content)
			text.WriteString(ch.Text)
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				res.sawFinish = true
			}
		}
		if got {
			if res.chunks == 0 {
				res.firstToken = ev.At
			} else {
				res.itls = append(res.itls, ev.At.Sub(res.lastToken))
			}
			res.lastToken = ev.At
			res.chunks++
		}
	}
	res.text = text.String()
	// A stream must end with [DONE]; one that stops after a finish_reason
	// is accepted, since the reply is complete, but one that simply stops
	// was cut off.
	if !res.sawDone && !res.sawFinish {
		return res, &benchError{errMalformed, "stream ended without [DONE] or finish_reason"}
	}
	return res, nil
}

// errorMessage pulls a human-readable message out of an error body:
// OpenAI's {"error":{"message":…}}, {"error":"…"}, {"message":…} or, failing
// those, the raw text.
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &inner) == nil && inner.Message != "":
			return clip(inner.Message, 200)
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return clip(s, 200)
		case v.Message != "":
			return clip(v.Message, 200)
		case len(v.Detail) > 0:
			return clip(string(v.Detail), 200)
		}
	}
	return clip(strings.TrimSpace(string(body)), 200)
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
