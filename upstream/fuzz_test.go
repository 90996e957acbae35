package upstream

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/infergate/infergate/llm"
)

func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n", "data: a\r\n\r\n", "data: a\r\r", ": c\nevent: x\ndata: y\ndata: z\n\n",
		"\xEF\xBB\xBFdata: a\n", "data: {\"x", "data", "\r", "\n\n\n", oaStream("stop", "hi"), anStream("end_turn", "hi"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newSSEReader(strings.NewReader(string(in)))
		for range len(in) + 2 {
			e, err := s.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errTruncatedLine) && !errors.Is(err, errEventTooLarge) {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			if len(e.Data) > maxSSEEvent {
				t.Fatalf("event of %d bytes", len(e.Data))
			}
		}
		t.Fatal("more events than the input could hold")
	})
}

// fuzzDecoder runs a stream decoder over arbitrary bytes: it must not
// panic, every error must be an *Error of a kind a body can cause, and a
// stream that ends must end with a known finish reason and sane usage.
func fuzzDecoder(t *testing.T, d decoder, n int) {
	for range n + 2 {
		text, done, err := d.next()
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("untyped error %v (%T)", err, err)
			}
			switch e.Kind {
			case KindMalformed, KindConnection, KindServer, KindRateLimited, KindClient, KindAuth:
			default:
				t.Fatalf("kind %q from a body", e.Kind)
			}
			if e.Kind == KindConnection && !errors.Is(e, ErrStreamCut) {
				t.Fatalf("connection error that is no cut: %v", e)
			}
			return
		}
		if !utf8.ValidString(text) {
			t.Fatalf("invalid UTF-8 text %q", text)
		}
		if done {
			out := d.outcome()
			switch out.finish {
			case llm.FinishStop, llm.FinishLength, llm.FinishContentFilter:
			default:
				t.Fatalf("finish %q", out.finish)
			}
			if u := out.usage; u.prompt < 0 || u.completion < 0 || u.cached < 0 || u.cached > u.prompt {
				t.Fatalf("usage %+v", u)
			}
			return
		}
		if text == "" {
			t.Fatal("next returned neither text, nor done, nor an error")
		}
	}
	t.Fatal("more text than the input could hold")
}

func FuzzOpenAIStream(f *testing.F) {
	for _, s := range []string{
		oaStream("stop", "Hello", " world"),
		oaStream("length", "x") + "data: trailing\n\n",
		oaRoleChunk + oaTextChunk("a"),
		`data: {"error":{"message":"m","type":"server_error"}}` + "\n\n",
		"event: error\ndata: oops\n\n",
		`data: {"choices":[{"index":0,"text":"t","finish_reason":"stop"}],"usage":{"prompt_tokens":-1}}` + "\n\n",
		`data: {"choices":null,"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":5}}}` + "\n\n" + oaDone,
		"data: [DONE]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzDecoder(t, openAI{}.decoder(strings.NewReader(string(in))), len(in))
	})
}

func FuzzAnthropicStream(f *testing.F) {
	for _, s := range []string{
		anStream("end_turn", "Hello", " world"),
		anStream("max_tokens", "x"),
		anMessageStart + anBlockStart + anTextDelta("a"),
		anMessageStart + anErrorEvent("overloaded_error", "Overloaded"),
		"event: error\ndata: not json\n\n",
		anSSE("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":-3}}`),
		anSSE("content_block_delta", `{"type":"content_block_delta"}`),
		anMessageStop,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzDecoder(t, anthropic{}.decoder(strings.NewReader(string(in))), len(in))
	})
}

// FuzzResponses feeds the same bytes to every parser of a whole body.
func FuzzResponses(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`,
		`{"type":"message","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`,
		`{"data":[{"index":0,"embedding":[1,2]}],"usage":{"prompt_tokens":1}}`,
		oaErrorBody("server_error", "c", "m"), anErrorBody("api_error", "m"), `{"error":"x"}`, `[]`, `null`,
	} {
		f.Add([]byte(s), "7")
	}
	f.Fuzz(func(t *testing.T, body []byte, retry string) {
		for _, p := range []protocol{openAI{}, anthropic{}} {
			text, out, err := p.decodeResponse(body)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%T: untyped error %v", p, err)
				}
				continue
			}
			if !utf8.ValidString(text) || out.finish == "" || out.usage.prompt < 0 || out.usage.completion < 0 {
				t.Fatalf("%T: text %q, outcome %+v", p, text, out)
			}
		}
		for n := range 3 {
			res, err := decodeEmbeddings(body, n)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Kind != KindMalformed {
					t.Fatalf("embeddings: error %v", err)
				}
				continue
			}
			if len(res.Vectors) != n {
				t.Fatalf("embeddings: %d vectors for %d", len(res.Vectors), n)
			}
		}
		code, msg := parseErrorBody(body)
		if !utf8.ValidString(code) && utf8.Valid(body) || len(msg) > 2048 {
			t.Fatalf("error body: %q %q", code, msg)
		}
		if d := retryAfter(http.Header{"Retry-After": {retry}, "Retry-After-Ms": {retry}}, time.Now()); d < 0 || d > 24*time.Hour {
			t.Fatalf("Retry-After %q: %v", retry, d)
		}
	})
}
