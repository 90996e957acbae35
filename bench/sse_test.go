package bench

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeClock advances 10ms each time it is read. The SSE reader reads it
// once per dispatched event, so timings depend only on the events, never on
// how the bytes were split.
func fakeClock() func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time {
		t = t.Add(10 * time.Millisecond)
		return t
	}
}

// splitReader returns its data n bytes per Read, as a network would in
// the worst case.
type splitReader struct {
	data []byte
	n    int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// chunkings are the ways each recorded stream is fed to the parser.
var chunkings = []int{1 << 20, 1, 2, 7, 64}

func readAllEvents(t *testing.T, stream string, n int) ([]sseEvent, error) {
	t.Helper()
	sr := newSSEReader(&splitReader{data: []byte(stream), n: n}, fakeClock())
	var evs []sseEvent
	for {
		ev, err := sr.next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	type ev struct{ typ, data string }
	tests := []struct {
		name   string
		stream string
		want   []ev
	}{
		{"plain", "data: a\n\ndata: b\n\n", []ev{{"", "a"}, {"", "b"}}},
		{"no space after colon", "data:a\n\n", []ev{{"", "a"}}},
		{"only one leading space stripped", "data:  a\n\n", []ev{{"", " a"}}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []ev{{"", "a"}, {"", "b"}}},
		{"bare cr", "data: a\r\rdata: b\r\r", []ev{{"", "a"}, {"", "b"}}},
		{"comments and keepalives", ": ping\n\n:\ndata: a\n: mid-event comment\n\n", []ev{{"", "a"}}},
		{"multi-line data", "data: one\ndata: two\n\n", []ev{{"", "one\ntwo"}}},
		{"event type", "event: error\ndata: {\"x\":1}\n\ndata: y\n\n", []ev{{"error", `{"x":1}`}, {"", "y"}}},
		{"event without data is dropped", "event: ping\n\ndata: a\n\n", []ev{{"", "a"}}},
		{"id and retry ignored", "id: 7\nretry: 100\ndata: a\n\n", []ev{{"", "a"}}},
		{"pending at EOF dispatched", "data: a\n\ndata: [DONE]", []ev{{"", "a"}, {"", "[DONE]"}}},
		{"llama.cpp error field", "error: {\"message\":\"boom\"}\n\n", []ev{{"error", `{"message":"boom"}`}}},
		{"empty data field", "data\n\n", []ev{{"", ""}}},
	}
	for _, tt := range tests {
		for _, n := range chunkings {
			evs, err := readAllEvents(t, tt.stream, n)
			if err != nil {
				t.Fatalf("%s/%d: %v", tt.name, n, err)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("%s/%d: %d events, want %d: %+v", tt.name, n, len(evs), len(tt.want), evs)
			}
			for i := range evs {
				if evs[i].Type != tt.want[i].typ || evs[i].Data != tt.want[i].data {
					t.Errorf("%s/%d: event %d = %q %q, want %q %q", tt.name, n, i, evs[i].Type, evs[i].Data, tt.want[i].typ, tt.want[i].data)
				}
			}
		}
	}
}

func TestSSEEventTooLarge(t *testing.T) {
	for _, stream := range []string{
		"data: " + strings.Repeat("x", 5000) + "\n\n",              // one long line
		strings.Repeat("data: "+strings.Repeat("x", 100)+"\n", 50), // many lines, no blank one
	} {
		sr := newSSEReader(strings.NewReader(stream), fakeClock())
		sr.limit = 4096
		if _, err := sr.next(); !errors.Is(err, errEventTooLarge) {
			t.Errorf("err = %v, want errEventTooLarge", err)
		}
	}
}

// recordedChat is a chat stream as llama-server and vLLM send it: a role
// chunk without content, content chunks (one with an empty delta and a
// keepalive in between), a finish chunk, the usage chunk requested with
// stream_options.include_usage, and [DONE].
const recordedChat = `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Once"},"finish_reason":null}]}

: keepalive

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" upon"},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" a time, é"},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}

data: [DONE]

`

func TestConsumeStream(t *testing.T) {
	ms10 := 10 * time.Millisecond
	tests := []struct {
		name      string
		stream    string
		wantErr   string // error kind; "" for success
		tokens    int
		fromUsage bool
		prompt    int
		text      string
		// With the fake clock the k-th dispatched event is read at
		// k*10ms, so the first content chunk's index fixes TTFT.
		firstAt time.Duration
		itls    []time.Duration
	}{
		{
			name: "chat with usage", stream: recordedChat,
			tokens: 6, fromUsage: true, prompt: 12, text: "Once upon a time, é",
			firstAt: 2 * ms10, itls: []time.Duration{ms10, 2 * ms10},
		},
		{
			name: "no usage counts content chunks",
			stream: `data: {"choices":[{"delta":{"content":"a"}}]}

data: {"choices":[{"delta":{"content":"b"}}]}

data: {"choices":[{"delta":{"content":"c"},"finish_reason":"stop"}]}

data: [DONE]

`,
			tokens: 3, text: "abc", firstAt: ms10, itls: []time.Duration{ms10, ms10},
		},
		{
			name: "completions text chunks, usage in last chunk (llama-server)",
			stream: "data: {\"choices\":[{\"text\":\"x\",\"index\":0}]}\r\n\r\n" +
				"data: {\"choices\":[{\"text\":\"y\",\"index\":0,\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\r\n\r\n" +
				"data: [DONE]\r\n\r\n",
			tokens: 2, fromUsage: true, prompt: 3, text: "xy", firstAt: ms10, itls: []time.Duration{ms10},
		},
		{
			name: "reasoning content counts as output but not as reply",
			stream: `data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}

data: {"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}

data: [DONE]
`,
			tokens: 2, text: "ok", firstAt: ms10, itls: []time.Duration{ms10},
		},
		{
			name:   "finish_reason without [DONE] is complete",
			stream: "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n",
			tokens: 1, text: "a", firstAt: ms10,
		},
		{
			name:   "[DONE] without trailing blank line",
			stream: "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]",
			tokens: 1, text: "a", firstAt: ms10,
		},
		{
			name:   "zero tokens",
			stream: "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
			tokens: 0,
		},
		{
			name:    "truncated stream",
			stream:  "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
			wantErr: errMalformed, tokens: 1, text: "a", firstAt: ms10,
		},
		{
			name:    "chunk split mid-JSON then cut",
			stream:  "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"del",
			wantErr: errMalformed, tokens: 1, text: "a", firstAt: ms10,
		},
		{
			name:    "not JSON",
			stream:  "data: hello\n\n",
			wantErr: errMalformed,
		},
		{
			name:    "error object mid-stream (vLLM, OpenAI)",
			stream:  "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"context full\",\"type\":\"invalid_request_error\"}}\n\n",
			wantErr: errAPI, tokens: 1, text: "a", firstAt: ms10,
		},
		{
			name:    "error event type",
			stream:  "event: error\ndata: {\"message\":\"overloaded\"}\n\n",
			wantErr: errAPI,
		},
		{
			name:    "llama.cpp error field",
			stream:  "error: {\"code\":500,\"message\":\"slot unavailable\"}\n\n",
			wantErr: errAPI,
		},
	}
	for _, tt := range tests {
		for _, n := range chunkings {
			res, err := consumeStream(&splitReader{data: []byte(tt.stream), n: n}, fakeClock())
			name := tt.name
			var be *benchError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("%s/%d: unexpected error %v", name, n, err)
			case tt.wantErr != "" && (!errors.As(err, &be) || be.kind != tt.wantErr):
				t.Fatalf("%s/%d: error = %v, want kind %s", name, n, err, tt.wantErr)
			}
			tokens, fromUsage := res.outputTokens()
			if tokens != tt.tokens || fromUsage != tt.fromUsage {
				t.Errorf("%s/%d: tokens = %d (usage %v), want %d (usage %v)", name, n, tokens, fromUsage, tt.tokens, tt.fromUsage)
			}
			if tt.prompt > 0 && (res.usage == nil || res.usage.PromptTokens != tt.prompt) {
				t.Errorf("%s/%d: usage = %+v, want prompt %d", name, n, res.usage, tt.prompt)
			}
			if tt.wantErr == "" && res.text != tt.text {
				t.Errorf("%s/%d: text = %q, want %q", name, n, res.text, tt.text)
			}
			if tt.firstAt > 0 && !res.firstToken.Equal(time.Unix(0, 0).Add(tt.firstAt)) {
				t.Errorf("%s/%d: first token at %v, want %v", name, n, res.firstToken.Sub(time.Unix(0, 0)), tt.firstAt)
			}
			if len(res.itls) != len(tt.itls) {
				t.Errorf("%s/%d: itls = %v, want %v", name, n, res.itls, tt.itls)
				continue
			}
			for i := range tt.itls {
				if res.itls[i] != tt.itls[i] {
					t.Errorf("%s/%d: itl %d = %v, want %v", name, n, i, res.itls[i], tt.itls[i])
				}
			}
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":{"message":"model not found","type":"invalid_request_error"}}`, "model not found"},
		{`{"error":"bad key"}`, "bad key"},
		{`{"message":"nope"}`, "nope"},
		{`{"detail":"Not Found"}`, `"Not Found"`},
		{"plain text\n", "plain text"},
	}
	for _, tt := range tests {
		if got := errorMessage([]byte(tt.body)); got != tt.want {
			t.Errorf("errorMessage(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
	if got := clip(strings.Repeat("é", 10), 5); got != "éé…" {
		t.Errorf("clip cut inside a rune: %q", got)
	}
}
