package upstream

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/infergate/infergate/llm"
)

// fake is an upstream API: a real HTTP server on 127.0.0.1 that records
// each request and answers it with the test's handler, which writes the
// real wire format.
type fake struct {
	srv   *httptest.Server
	conns atomic.Int32 // connections accepted
	mu    sync.Mutex
	got   []recorded
}

type recorded struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("request body is not JSON: %v: %q", err, b)
		}
		f.mu.Lock()
		f.got = append(f.got, recorded{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		h(w, r)
	}))
	f.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

// last is the last request the fake received.
func (f *fake) last(t *testing.T) recorded {
	t.Helper()
	got := f.requests()
	if len(got) == 0 {
		t.Fatal("the upstream received no request")
	}
	return got[len(got)-1]
}

// client returns a client of kind for the fake, with cfg's changes.
func (f *fake) client(t *testing.T, kind API, change ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Name:            "fake",
		Kind:            kind,
		BaseURL:         f.srv.URL + "/v1",
		APIKeyEnv:       "FAKE_KEY",
		Models:          map[string]string{"local": "cloud-model"},
		EmbeddingModels: map[string]string{"embed": "cloud-embed"},
	}
	if kind == APIAnthropic {
		cfg.EmbeddingModels = nil
	}
	for _, c := range change {
		c(&cfg)
	}
	c, err := New(cfg, Options{Logger: quiet, Getenv: func(k string) string {
		if k == "FAKE_KEY" {
			return "sk-test"
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// quiet drops the clients' logs: the failures are what the tests provoke.
var quiet = slog.New(slog.DiscardHandler)

// write sends raw wire text and flushes it, so that it reaches the client
// now rather than when the handler returns.
func write(w http.ResponseWriter, s string) {
	_, _ = io.WriteString(w, s)
	_ = http.NewResponseController(w).Flush()
}

// startSSE sends the headers of an event stream.
func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
}

// hang blocks a handler until the client goes away.
func hang(r *http.Request) { <-r.Context().Done() }

// cutConnection closes the connection under a response that has started,
// without the chunked encoding's terminator.
func cutConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// OpenAI wire text.

func oaTextChunk(text string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"cloud-model-2024",` +
		`"choices":[{"index":0,"delta":{"content":` + js(text) + `},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
}

const oaRoleChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"cloud-model-2024",` +
	`"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"

func oaFinishChunk(reason string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"cloud-model-2024",` +
		`"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":` + js(reason) + `}],"usage":null}` + "\n\n"
}

const oaUsageChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"cloud-model-2024",` +
	`"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16,` +
	`"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n"

const oaDone = "data: [DONE]\n\n"

// oaStream is a whole streamed chat answer.
func oaStream(finish string, texts ...string) string {
	var b strings.Builder
	b.WriteString(oaRoleChunk)
	for _, t := range texts {
		b.WriteString(oaTextChunk(t))
	}
	b.WriteString(oaFinishChunk(finish))
	b.WriteString(oaUsageChunk)
	b.WriteString(oaDone)
	return b.String()
}

func oaErrorBody(typ, code, msg string) string {
	return `{"error":{"message":` + js(msg) + `,"type":` + js(typ) + `,"param":null,"code":` + js(code) + `}}`
}

// Anthropic wire text.

func anSSE(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }

const anMessageStart = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],` +
	`"model":"cloud-model-2025","stop_reason":null,"stop_sequence":null,` +
	`"usage":{"input_tokens":10,"cache_creation_input_tokens":2,"cache_read_input_tokens":20,"output_tokens":1}}}` + "\n\n"

const anBlockStart = "event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n"

const anPing = "event: ping\ndata: {\"type\": \"ping\"}\n\n"

func anTextDelta(text string) string {
	return anSSE("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+js(text)+`}}`)
}

const anBlockStop = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"

func anMessageDelta(reason string) string {
	return anSSE("message_delta", `{"type":"message_delta","delta":{"stop_reason":`+js(reason)+`,"stop_sequence":null},"usage":{"output_tokens":15}}`)
}

const anMessageStop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

func anErrorEvent(typ, msg string) string {
	return anSSE("error", `{"type":"error","error":{"type":`+js(typ)+`,"message":`+js(msg)+`}}`)
}

func anErrorBody(typ, msg string) string {
	return `{"type":"error","error":{"type":` + js(typ) + `,"message":` + js(msg) + `}}`
}

// anStream is a whole streamed message.
func anStream(reason string, texts ...string) string {
	var b strings.Builder
	b.WriteString(anMessageStart)
	b.WriteString(anBlockStart)
	b.WriteString(anPing)
	for _, t := range texts {
		b.WriteString(anTextDelta(t))
	}
	b.WriteString(anBlockStop)
	b.WriteString(anMessageDelta(reason))
	b.WriteString(anMessageStop)
	return b.String()
}

// Consuming streams.

type outcomeOf struct {
	text   string
	tokens int
	res    llm.Result
}

func drain(st *llm.Stream) outcomeOf {
	var o outcomeOf
	var b strings.Builder
	for d := range st.Deltas() {
		b.WriteString(d.Text)
		o.tokens += d.Tokens
	}
	o.text, o.res = b.String(), st.Result()
	return o
}

// wantError checks that err is an *Error of kind with the TokensSent given.
func wantError(t *testing.T, err error, kind ErrorKind, tokensSent bool) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *upstream.Error", err, err)
	}
	if e.Kind != kind || e.TokensSent != tokensSent || e.Upstream != "fake" {
		t.Fatalf("error %v: kind %q, tokens sent %v, upstream %q; want %q, %v, fake", e, e.Kind, e.TokensSent, e.Upstream, kind, tokensSent)
	}
	return e
}

// jsonEqual compares a decoded request body with the JSON expected.
func jsonEqual(t *testing.T, got map[string]any, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(got, w) {
		gb, _ := json.Marshal(got)
		t.Errorf("request body\n got %s\nwant %s", gb, want)
	}
}

func chatRequest() llm.Request {
	return llm.Request{
		ID: "req-1",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are terse."},
			{Role: llm.RoleUser, Content: "Hi"},
			{Role: llm.RoleAssistant, Content: "Hello."},
			{Role: llm.RoleUser, Content: "Say hello world"},
		},
		MaxTokens: 32,
		Stop:      []string{"\n\n"},
		Sampling:  llm.Sampling{Temperature: 0.5, TopP: 0.9, TopK: 40, Seed: 42, HasSeed: true, FrequencyPenalty: 0.25},
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
