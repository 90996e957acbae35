package router

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/upstream"
)

var quiet = slog.New(slog.DiscardHandler)

// answer is what the fake cloud does with one request.
type answer int

const (
	ok           answer = iota // a streamed reply, "Hello" in two chunks, with usage and [DONE]
	rateLimited                // 429 with retry-after-ms
	serverError                // 500
	cutMidStream               // one chunk of text, then the body ends without [DONE]
	held                       // one chunk of text, then the rest of ok once hold is closed
)

// cloud is a fake OpenAI-compatible API: a real HTTP server on 127.0.0.1
// speaking the real /chat/completions SSE wire format. Each request takes
// the next answer of its script; when the script is spent, the last answer
// repeats.
type cloud struct {
	t   *testing.T
	srv *httptest.Server

	// hold, closed by the test, releases the streams answered held.
	hold chan struct{}

	mu     sync.Mutex
	script []answer
	calls  int
}

func newCloud(t *testing.T, script ...answer) *cloud {
	t.Helper()
	if len(script) == 0 {
		script = []answer{ok}
	}
	c := &cloud{t: t, script: script, hold: make(chan struct{})}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cloud) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func (c *cloud) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		c.t.Errorf("path %q", r.URL.Path)
	}
	var body struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Model != "gpt-test" || !body.Stream {
		c.t.Errorf("request body: %+v, %v", body, err)
	}
	c.mu.Lock()
	a := c.script[min(c.calls, len(c.script)-1)]
	c.calls++
	c.mu.Unlock()

	switch a {
	case rateLimited:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After-Ms", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
		return
	case serverError:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	chunk := func(content string) {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", content)
		_ = http.NewResponseController(w).Flush()
	}
	chunk("Hel")
	switch a {
	case cutMidStream:
		return // the body ends cleanly, but before [DONE]: a cut
	case held:
		select {
		case <-c.hold:
		case <-r.Context().Done():
			return
		}
	}
	chunk("lo")
	io.WriteString(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
	io.WriteString(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000000,\"completion_tokens\":2,\"total_tokens\":1000002}}\n\n")
	io.WriteString(w, "data: [DONE]\n\n")
}

// client is a real upstream client for the fake cloud, named name, serving
// the model "m" as "gpt-test" at $1 per million input tokens, with
// change's changes to that configuration.
func (c *cloud) client(t *testing.T, name string, change ...func(*upstream.Config)) *upstream.Client {
	t.Helper()
	cfg := upstream.Config{
		Name:         name,
		Kind:         upstream.APIOpenAI,
		BaseURL:      c.srv.URL + "/v1",
		Models:       map[string]string{"m": "gpt-test"},
		PricePerMTok: upstream.Price{Input: 1},
	}
	for _, ch := range change {
		ch(&cfg)
	}
	return newClient(t, cfg)
}

func newClient(t *testing.T, cfg upstream.Config) *upstream.Client {
	t.Helper()
	cl, err := upstream.New(cfg, upstream.Options{Logger: quiet, Getenv: func(k string) string {
		if k == "FAKE_KEY" {
			return "sk-test"
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// fakeLocal stands in for the local engine (the batcher) in these unit
// tests only, so that they need neither cgo nor a model: it reports the
// load the test sets and answers with a real *llm.Stream.
type fakeLocal struct {
	mu    sync.Mutex
	wait  time.Duration
	full  bool
	err   error // returned by Generate instead of a stream
	calls int
}

func (l *fakeLocal) set(wait time.Duration, full bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wait, l.full, l.err = wait, full, err
}

func (l *fakeLocal) PredictedTTFT() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wait
}

func (l *fakeLocal) QueueFull() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.full
}

func (l *fakeLocal) Generate(ctx context.Context, _ llm.Request) (*llm.Stream, error) {
	l.mu.Lock()
	l.calls++
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	st := llm.NewStream(ctx, llm.RouteLocal)
	st.Push("local", 1)
	st.Finish(llm.Result{FinishReason: llm.FinishStop, CompletionTokens: 1})
	return st, nil
}

func (l *fakeLocal) generated() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// clock is a manual clock for breakers: tests move it, nothing sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sleeps records the backoffs a router asked for instead of waiting them.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.ds...)
}

// read drains a stream.
func read(st *llm.Stream) (string, llm.Result) {
	var b strings.Builder
	for d := range st.Deltas() {
		b.WriteString(d.Text)
	}
	return b.String(), st.Result()
}

var chat = llm.Request{ID: "req-1", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}

// anthropicCloud is a fake Anthropic Messages API: a real HTTP server on
// 127.0.0.1 that checks each request's path, headers and body and answers
// with the real SSE events (message_start, content_block_start, ping,
// content_block_delta, content_block_stop, message_delta, message_stop),
// the text in texts' pieces and the usage given.
type anthropicCloud struct {
	srv   *httptest.Server
	calls atomic.Int64
}

// Its usage: input 10 + cache writes 2 + cache reads 20, output 15 (1 in
// message_start, the total in message_delta).
const (
	anPrompt     = 32
	anCached     = 20
	anCompletion = 15
)

func newAnthropicCloud(t *testing.T, stopReason string, texts ...string) *anthropicCloud {
	t.Helper()
	a := &anthropicCloud{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		var body struct {
			Model     string `json:"model"`
			MaxTokens int    `json:"max_tokens"`
			Stream    bool   `json:"stream"`
			Messages  []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.URL.Path != "/v1/messages" ||
			r.Header.Get("X-Api-Key") != "sk-test" || r.Header.Get("Anthropic-Version") == "" ||
			body.Model != "claude-test" || !body.Stream || body.MaxTokens <= 0 || len(body.Messages) == 0 {
			t.Errorf("request %s %v: %+v, %v", r.URL.Path, r.Header, body, err)
			http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		event := func(name, data string) {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
			_ = http.NewResponseController(w).Flush()
		}
		event("message_start", `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],`+
			`"model":"claude-test-2025","stop_reason":null,"stop_sequence":null,`+
			`"usage":{"input_tokens":10,"cache_creation_input_tokens":2,"cache_read_input_tokens":20,"output_tokens":1}}}`)
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		event("ping", `{"type": "ping"}`)
		for _, text := range texts {
			b, _ := json.Marshal(text)
			event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(b)+`}}`)
		}
		event("content_block_stop", `{"type":"content_block_stop","index":0}`)
		event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stopReason+`","stop_sequence":null},"usage":{"output_tokens":15}}`)
		event("message_stop", `{"type":"message_stop"}`)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// client is a real Anthropic client for the fake, serving "m" as
// claude-test at $3 and $15 per million input and output tokens.
func (a *anthropicCloud) client(t *testing.T, name string) *upstream.Client {
	t.Helper()
	return newClient(t, upstream.Config{
		Name:         name,
		Kind:         upstream.APIAnthropic,
		BaseURL:      a.srv.URL + "/v1",
		APIKeyEnv:    "FAKE_KEY",
		Models:       map[string]string{"m": "claude-test"},
		PricePerMTok: upstream.Price{Input: 3, Output: 15},
	})
}
