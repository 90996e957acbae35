package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/internal/testenv"
	"github.com/infergate/infergate/llm"
)

// These tests are about HTTP behaviour (framing, errors, auth, limits,
// recovery, disconnects, shutdown), so they drive the server with
// test-only backends whose behaviour they control. The endpoints against
// the real scheduler and models are in integration_test.go.

type fakeStream struct {
	deltas       chan llm.Delta
	done         chan struct{}
	res          llm.Result
	resultPanics bool
}

func (s *fakeStream) Deltas() <-chan llm.Delta { return s.deltas }
func (s *fakeStream) Result() llm.Result {
	<-s.done
	if s.resultPanics {
		panic("fake result panic")
	}
	return s.res
}

// script emits texts one token each, delay apart, then ends with reason;
// a cancelled ctx ends it early with FinishCancel and closes cancelled.
func script(ctx context.Context, texts []string, delay time.Duration, reason string, cancelled chan struct{}) *fakeStream {
	s := &fakeStream{deltas: make(chan llm.Delta), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.deltas)
		n := 0
		for i := 0; texts == nil || i < len(texts); i++ {
			text := "tok "
			if texts != nil {
				text = texts[i]
			}
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				s.res = llm.Result{FinishReason: llm.FinishCancel, PromptTokens: 3, CompletionTokens: n}
				if cancelled != nil {
					close(cancelled)
				}
				return
			}
			select {
			case s.deltas <- llm.Delta{Text: text, Tokens: 1}:
				n++
			case <-ctx.Done():
				s.res = llm.Result{FinishReason: llm.FinishCancel, PromptTokens: 3, CompletionTokens: n}
				if cancelled != nil {
					close(cancelled)
				}
				return
			}
		}
		s.res = llm.Result{FinishReason: reason, PromptTokens: 3, CompletionTokens: n, CachedTokens: 2,
			QueueWait: time.Millisecond, TimeToFirstToken: delay}
	}()
	return s
}

type fakeGen struct {
	gen   func(ctx context.Context, req llm.Request) (Stream, error)
	stats batcher.Stats
	mu    sync.Mutex
	reqs  []llm.Request
}

func (f *fakeGen) Generate(ctx context.Context, req llm.Request) (Stream, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.gen(ctx, req)
}
func (f *fakeGen) Stats() batcher.Stats { return f.stats }

// started is the number of generations asked of f so far.
func (f *fakeGen) started() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeGen) last() llm.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

type fakeEmb struct {
	err error
	dim int
}

func (f *fakeEmb) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error) {
	if f.err != nil {
		return llm.EmbedResult{}, f.err
	}
	n := len(req.Texts) + len(req.Tokens)
	res := llm.EmbedResult{PromptTokens: 5 * n}
	for i := range n {
		v := make([]float32, f.dim)
		for k := range v {
			v[k] = float32(i+1) / float32(k+3)
		}
		res.Vectors = append(res.Vectors, v)
	}
	return res, nil
}
func (f *fakeEmb) Stats() batcher.Stats { return batcher.Stats{Slots: 1} }

func helloGen() *fakeGen {
	return &fakeGen{stats: batcher.Stats{Slots: 4, Running: 1, Waiting: 2, KVUsed: 10, KVSize: 100, PromptTokens: 10, PrefixHitTokens: 5},
		gen: func(ctx context.Context, req llm.Request) (Stream, error) {
			return script(ctx, []string{"Hello", ",", " world"}, time.Millisecond, llm.FinishStop, nil), nil
		}}
}

func testConfig(gen Generator) Config {
	return Config{
		Models: []Model{
			{ID: "chat", Aliases: []string{"org/chat-model"}, Kind: KindChat, Generator: gen, ContextLength: 512},
			{ID: "emb", Kind: KindEmbedding, Embedder: &fakeEmb{dim: 8}},
		},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Version: "test",
	}
}

func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-served
	})
	return s, "http://" + ln.Addr().String()
}

type apiErr struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func do(t testing.TB, method, url, key, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// wantError checks an OpenAI error response.
func wantError(t testing.TB, resp *http.Response, body []byte, status int, typ, code string) apiErr {
	t.Helper()
	var e apiErr
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Error.Message == "" || (typ != "" && e.Error.Type != typ) || (code != "" && (e.Error.Code == nil || *e.Error.Code != code)) {
		t.Fatalf("error %s, want type %s code %s", body, typ, code)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on an error")
	}
	return e
}

// sseEvents reads an event stream and returns its data payloads.
// shutdownAsync starts s.Shutdown with timeout d; its result comes on the
// returned channel.
func shutdownAsync(s *Server, d time.Duration) <-chan error {
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	return shut
}

func sseEvents(t testing.TB, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var pendingBlank bool
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			out = append(out, strings.TrimPrefix(line, "data: "))
			pendingBlank = true
		case line == "":
			pendingBlank = false
		case strings.HasPrefix(line, ":"):
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if pendingBlank {
		t.Fatal("stream ended inside an event")
	}
	return out
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta *struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

func TestChatNonStreamed(t *testing.T) {
	gen := helloGen()
	_, base := startServer(t, testConfig(gen))
	resp, body := do(t, "POST", base+"/v1/chat/completions", "",
		`{"model":"chat","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"temperature":0.2,"stop":"x"}`,
		"X-Request-Id", "trace-123")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Request-Id") != "trace-123" || resp.Header.Get("X-Infergate-Route") != "local" {
		t.Errorf("headers %v", resp.Header)
	}
	var c chatCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "chat.completion" || c.ID != "chatcmpl-trace-123" || c.Model != "chat" || len(c.Choices) != 1 ||
		c.Choices[0].Message.Content != "Hello, world" || c.Choices[0].Message.Role != "assistant" || c.Choices[0].FinishReason != "stop" {
		t.Errorf("%s", body)
	}
	if c.Usage != (usage{PromptTokens: 3, CompletionTokens: 3, TotalTokens: 6, PromptTokensDetails: promptDetails{CachedTokens: 2}}) {
		t.Errorf("usage %+v", c.Usage)
	}
	if !strings.Contains(string(body), `"logprobs":null`) || !strings.Contains(string(body), `"refusal":null`) {
		t.Errorf("OpenAI's null fields missing: %s", body)
	}
	req := gen.last()
	if req.MaxTokens != 5 || req.Sampling.Temperature != 0.2 || len(req.Stop) != 1 || req.Messages[0].Content != "hi" {
		t.Errorf("request %+v", req)
	}
	// The alias and the default model (none named) reach the same model.
	if resp, body := do(t, "POST", base+"/chat/completions", "", `{"model":"org/chat-model","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Errorf("alias without /v1: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Errorf("default model: %d %s", resp.StatusCode, body)
	}
}

func TestChatStreamed(t *testing.T) {
	_, base := startServer(t, testConfig(helloGen()))
	for _, includeUsage := range []bool{false, true} {
		t.Run(fmt.Sprint("include_usage=", includeUsage), func(t *testing.T) {
			body := fmt.Sprintf(`{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":%v}}`, includeUsage)
			resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
				resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Infergate-Route") != "local" {
				t.Fatalf("%d %v", resp.StatusCode, resp.Header)
			}
			events := sseEvents(t, resp.Body)
			if events[len(events)-1] != "[DONE]" {
				t.Fatalf("last event %q", events[len(events)-1])
			}
			var text strings.Builder
			var finish string
			var u *usage
			for i, ev := range events[:len(events)-1] {
				var c chunk
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatalf("event %d %q: %v", i, ev, err)
				}
				if c.Object != "chat.completion.chunk" || c.Model != "chat" || !strings.HasPrefix(c.ID, "chatcmpl-") {
					t.Fatalf("event %q", ev)
				}
				if includeUsage != strings.Contains(ev, `"usage":`) {
					t.Errorf("usage field presence in %q", ev)
				}
				if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role == nil || *c.Choices[0].Delta.Role != "assistant") {
					t.Errorf("first event is not the role: %q", ev)
				}
				if c.Usage != nil {
					if len(c.Choices) != 0 || i != len(events)-2 {
						t.Errorf("usage chunk %q at %d", ev, i)
					}
					u = c.Usage
					continue
				}
				ch := c.Choices[0]
				if ch.Delta.Content != nil {
					text.WriteString(*ch.Delta.Content)
				}
				if ch.FinishReason != nil {
					finish = *ch.FinishReason
				}
			}
			if text.String() != "Hello, world" || finish != "stop" {
				t.Errorf("text %q finish %q", text.String(), finish)
			}
			if includeUsage && (u == nil || u.TotalTokens != 6 || u.PromptTokensDetails.CachedTokens != 2) {
				t.Errorf("usage %+v", u)
			}
		})
	}
}

func TestCompletions(t *testing.T) {
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		word := req.Prompt
		if req.PromptTokens != nil {
			word = fmt.Sprint(req.PromptTokens)
		}
		return script(ctx, []string{" " + word, "!"}, time.Millisecond, llm.FinishLength, nil), nil
	}}
	_, base := startServer(t, testConfig(gen))

	resp, body := do(t, "POST", base+"/v1/completions", "", `{"model":"chat","prompt":["a","b"],"echo":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var c textCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "text_completion" || len(c.Choices) != 2 || c.Choices[0].Text != "a a!" || c.Choices[1].Text != "b b!" ||
		c.Choices[1].Index != 1 || c.Choices[0].FinishReason != "length" || c.Usage.PromptTokens != 6 || c.Usage.CompletionTokens != 4 {
		t.Errorf("%s", body)
	}
	if gen.last().MaxTokens != 16 {
		t.Errorf("default max_tokens %d, want OpenAI's 16", gen.last().MaxTokens)
	}

	// Streamed, two token prompts: both choices' text arrives, each finishes.
	resp2, err := http.Post(base+"/v1/completions", "application/json", strings.NewReader(`{"prompt":[[1,2],[3]],"stream":true,"max_tokens":2}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	events := sseEvents(t, resp2.Body)
	texts := map[int]string{}
	finished := map[int]bool{}
	for _, ev := range events[:len(events)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatal(err)
		}
		if c.Object != "text_completion" {
			t.Fatalf("%q", ev)
		}
		ch := c.Choices[0]
		texts[ch.Index] += *ch.Text
		if ch.FinishReason != nil {
			finished[ch.Index] = true
		}
	}
	if texts[0] != " [1 2]!" || texts[1] != " [3]!" || !finished[0] || !finished[1] || events[len(events)-1] != "[DONE]" {
		t.Errorf("texts %v finished %v events %q", texts, finished, events)
	}

	resp, body = do(t, "POST", base+"/v1/completions", "", `{"prompt":[1,2],"echo":true}`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "unsupported_value")
}

func TestEmbeddings(t *testing.T) {
	_, base := startServer(t, testConfig(helloGen()))
	resp, body := do(t, "POST", base+"/v1/embeddings", "", `{"model":"emb","input":["a","b"]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var fl struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &fl); err != nil {
		t.Fatal(err)
	}
	want, _ := (&fakeEmb{dim: 8}).Embed(context.Background(), llm.EmbedRequest{Texts: []string{"a", "b"}})
	if fl.Object != "list" || fl.Model != "emb" || len(fl.Data) != 2 || fl.Data[1].Index != 1 || fl.Data[0].Object != "embedding" ||
		fl.Usage.PromptTokens != 10 || fl.Usage.TotalTokens != 10 {
		t.Fatalf("%s", body)
	}
	for i := range want.Vectors {
		for k, v := range want.Vectors[i] {
			if fl.Data[i].Embedding[k] != v {
				t.Fatalf("vector %d[%d] = %v, want %v", i, k, fl.Data[i].Embedding[k], v)
			}
		}
	}

	resp, body = do(t, "POST", base+"/v1/embeddings", "", `{"input":"a","encoding_format":"base64","dimensions":8}`)
	var b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &b64) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(raw) != 32 {
		t.Fatalf("base64 %q: %v", b64.Data[0].Embedding, err)
	}
	for k := range 8 {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:])); got != want.Vectors[0][k] {
			t.Fatalf("base64 vector[%d] = %v, want %v", k, got, want.Vectors[0][k])
		}
	}

	resp, body = do(t, "POST", base+"/v1/embeddings", "", `{"input":"a","dimensions":4}`)
	e := wantError(t, resp, body, 400, TypeInvalidRequest, "unsupported_value")
	if *e.Error.Param != "dimensions" || !strings.Contains(e.Error.Message, "8") {
		t.Errorf("%s", body)
	}
	resp, body = do(t, "POST", base+"/v1/embeddings", "", `{"model":"chat","input":"a"}`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "invalid_value")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", `{"model":"emb","messages":[{"role":"user","content":"x"}]}`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "invalid_value")
}

func TestModels(t *testing.T) {
	_, base := startServer(t, testConfig(helloGen()))
	resp, body := do(t, "GET", base+"/v1/models", "", "")
	var list struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || list.Object != "list" || len(list.Data) != 2 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if d := list.Data[0]; d.ID != "chat" || d.Object != "model" || d.OwnedBy != "infergate" || d.Kind != "chat" || d.ContextLength != 512 {
		t.Errorf("%+v", d)
	}
	resp, body = do(t, "GET", base+"/v1/models/org/chat-model", "", "")
	var m modelObject
	if resp.StatusCode != 200 || json.Unmarshal(body, &m) != nil || m.ID != "chat" {
		t.Errorf("get by alias with a slash: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", base+"/v1/models/nope", "", "")
	e := wantError(t, resp, body, 404, TypeInvalidRequest, "model_not_found")
	if *e.Error.Param != "model" {
		t.Errorf("%s", body)
	}
}

func TestErrorStatuses(t *testing.T) {
	var mode atomic.Value
	mode.Store("")
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		switch mode.Load().(string) {
		case "overloaded":
			return nil, &llm.OverloadedError{RetryAfter: 2500 * time.Millisecond}
		case "toolong":
			return nil, &llm.PromptTooLongError{Tokens: 900, Limit: 512}
		case "closed":
			return nil, fmt.Errorf("generate: %w", batcher.ErrClosed)
		case "broken":
			return nil, errors.New("llama_decode failed")
		case "midway":
			s := &fakeStream{deltas: make(chan llm.Delta), done: make(chan struct{}),
				res: llm.Result{Err: errors.New("decode failed mid-way")}}
			close(s.deltas)
			close(s.done)
			return s, nil
		}
		return script(ctx, []string{"ok"}, 0, llm.FinishStop, nil), nil
	}}
	cfg := testConfig(gen)
	cfg.Limits.MaxBodyBytes = 1 << 10
	_, base := startServer(t, cfg)
	chat := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`

	resp, body := do(t, "GET", base+"/v1/nothing", "", "")
	wantError(t, resp, body, 404, TypeInvalidRequest, "unknown_url")
	resp, body = do(t, "GET", base+"/v1/chat/completions", "", "")
	wantError(t, resp, body, 405, TypeInvalidRequest, "method_not_allowed")
	if resp.Header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", resp.Header.Get("Allow"))
	}
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", `{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}`)
	wantError(t, resp, body, 404, TypeInvalidRequest, "model_not_found")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", `{"messages":`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "invalid_json")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"`+strings.Repeat("x", 2000)+`"}]}`)
	wantError(t, resp, body, 413, TypeInvalidRequest, "request_too_large")
	// Far beyond the socket buffers: the client still reads the 413.
	resp, body = do(t, "POST", base+"/v1/embeddings", "", `{"input":"`+strings.Repeat("x", 8<<20)+`"}`)
	wantError(t, resp, body, 413, TypeInvalidRequest, "request_too_large")

	mode.Store("overloaded")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", chat)
	wantError(t, resp, body, 429, TypeOverloaded, "server_overloaded")
	if resp.Header.Get("Retry-After") != "3" || resp.Header.Get("retry-after-ms") != "2500" {
		t.Errorf("Retry-After %q retry-after-ms %q", resp.Header.Get("Retry-After"), resp.Header.Get("retry-after-ms"))
	}
	mode.Store("toolong")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", chat)
	e := wantError(t, resp, body, 400, TypeInvalidRequest, "context_length_exceeded")
	if !strings.Contains(e.Error.Message, "512") || *e.Error.Param != "messages" {
		t.Errorf("%s", body)
	}
	mode.Store("closed")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", chat)
	wantError(t, resp, body, 503, TypeUnavailable, "model_unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	mode.Store("broken")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", chat)
	e = wantError(t, resp, body, 500, TypeServer, "internal_error")
	if strings.Contains(e.Error.Message, "llama_decode") {
		t.Errorf("internal detail leaked: %s", body)
	}
	mode.Store("midway")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", chat)
	wantError(t, resp, body, 500, TypeServer, "internal_error")
	// Mid-way failure of a stream: an error event, no [DONE].
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	events := sseEvents(t, bytes.NewReader(body))
	var ev apiErr
	if len(events) != 2 || json.Unmarshal([]byte(events[1]), &ev) != nil || ev.Error.Type != TypeServer {
		t.Errorf("events %q", events)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	var panics atomic.Bool
	panics.Store(true)
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		if panics.Load() {
			panic("generator exploded")
		}
		return script(ctx, []string{"fine"}, 0, llm.FinishStop, nil), nil
	}}
	_, base := startServer(t, testConfig(gen))
	for _, stream := range []string{"false", "true"} {
		resp, body := do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],"stream":`+stream+`}`)
		e := wantError(t, resp, body, 500, TypeServer, "internal_error")
		if strings.Contains(e.Error.Message, "exploded") {
			t.Errorf("panic value leaked to the client: %s", body)
		}
	}
	// The server is still up.
	panics.Store(false)
	if resp, body := do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestStreamPanicIsRecovered(t *testing.T) {
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		s := script(ctx, []string{"a"}, 0, llm.FinishStop, nil)
		s.resultPanics = true
		return s, nil
	}}
	_, base := startServer(t, testConfig(gen))
	resp, body := do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	events := sseEvents(t, bytes.NewReader(body))
	var ev apiErr
	if json.Unmarshal([]byte(events[len(events)-1]), &ev) != nil || ev.Error.Type != TypeServer || *ev.Error.Code != "internal_error" {
		t.Fatalf("events %q", events)
	}
	if resp, body := do(t, "GET", base+"/healthz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestClientDisconnectCancelsGeneration(t *testing.T) {
	cancelled := make(chan struct{})
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		return script(ctx, nil, 5*time.Millisecond, llm.FinishStop, cancelled), nil // endless
	}}
	s, base := startServer(t, testConfig(gen))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"messages":[{"role":"user","content":"hi"}],"stream":true}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	br := bufio.NewReader(conn)
	for i := 0; i < 20; i++ { // headers and a few events
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("generation not cancelled after the client left")
	}
	// The request is finished and accounted for.
	testenv.Eventually(t, 2*time.Second, func() bool { return s.nact.Load() == 0 }, "requests still active")
}

func TestAuthAndAdmin(t *testing.T) {
	cfg := testConfig(helloGen())
	cfg.Keys = []APIKey{{Name: "alice", Hash: HashKey("sk-alice")}, {Name: "bob", Hash: mustParseKey(t, HashKey("sk-bob").String())}}
	cfg.AdminKeys = []KeyHash{HashKey("admin-secret")}
	_, base := startServer(t, cfg)
	chat := `{"messages":[{"role":"user","content":"hi"}]}`

	resp, body := do(t, "POST", base+"/v1/chat/completions", "", chat)
	wantError(t, resp, body, 401, TypeInvalidRequest, "missing_api_key")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "sk-mallory", chat)
	wantError(t, resp, body, 401, TypeInvalidRequest, "invalid_api_key")
	resp, body = do(t, "GET", base+"/v1/models", "admin-secret", "")
	wantError(t, resp, body, 401, TypeInvalidRequest, "invalid_api_key")
	for _, key := range []string{"sk-alice", "sk-bob"} {
		if resp, body := do(t, "POST", base+"/v1/chat/completions", key, chat); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", key, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, "GET", base+"/v1/models", "", "", "x-api-key", "sk-alice"); resp.StatusCode != 200 {
		t.Errorf("x-api-key: %d %s", resp.StatusCode, body)
	}

	resp, body = do(t, "GET", base+"/admin/status", "", "")
	wantError(t, resp, body, 401, TypeInvalidRequest, "missing_api_key")
	resp, body = do(t, "GET", base+"/admin/status", "sk-alice", "")
	wantError(t, resp, body, 401, TypeInvalidRequest, "invalid_api_key")
	resp, body = do(t, "GET", base+"/admin/status", "admin-secret", "")
	var st struct {
		Status string        `json:"status"`
		Models []modelStatus `json:"models"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil || st.Status != "ready" || len(st.Models) != 2 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	hs := helloGen().stats
	wantRatio := float64(hs.PrefixHitTokens) / float64(hs.PrefixHitTokens+hs.PromptTokens)
	if m := st.Models[0]; m.Slots != 4 || m.SlotsBusy != 1 || m.SlotsFree != 3 || m.QueueDepth != 2 || m.KVUsage != 0.1 ||
		math.Abs(m.PrefixCacheHitRatio-wantRatio) > 1e-12 || m.PrefixCacheHitTokens != hs.PrefixHitTokens {
		t.Errorf("%+v", m)
	}
	// Health and metrics need no key.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp, body := do(t, "GET", base+path, "", ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}

	// Keys but no admin key: admin endpoints are off.
	cfg.AdminKeys = nil
	_, base2 := startServer(t, cfg)
	resp, body = do(t, "GET", base2+"/admin/status", "sk-alice", "")
	wantError(t, resp, body, 403, TypePermission, "admin_disabled")
}

func mustParseKey(t *testing.T, s string) KeyHash {
	h, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseKeysFile(t *testing.T) {
	src := "# keys\n\nsk-one name=one rpm=10\n" + HashKey("sk-two").String() + " tpm=1000\n"
	keys, err := ParseKeysFile(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Hash != HashKey("sk-one") || keys[0].Name != "one" || keys[0].RequestsPerMinute != 10 ||
		keys[1].Hash != HashKey("sk-two") || keys[1].TokensPerMinute != 1000 {
		t.Fatalf("%+v", keys)
	}
	for _, bad := range []string{"sk rpm=x", "sk color=red", "sha256:abc", "sk novalue"} {
		if _, err := ParseKeysFile(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRateLimits(t *testing.T) {
	cfg := testConfig(helloGen())
	cfg.Keys = []APIKey{{Name: "r", Hash: HashKey("k-rpm"), RequestsPerMinute: 2}, {Name: "t", Hash: HashKey("k-tpm"), TokensPerMinute: 100}}
	_, base := startServer(t, cfg)
	chat := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":10}`
	for i := range 2 {
		resp, body := do(t, "POST", base+"/v1/chat/completions", "k-rpm", chat)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if resp.Header.Get("x-ratelimit-limit-requests") != "2" || resp.Header.Get("x-ratelimit-remaining-requests") != fmt.Sprint(1-i) {
			t.Errorf("headers %v", resp.Header)
		}
	}
	resp, body := do(t, "POST", base+"/v1/chat/completions", "k-rpm", chat)
	e := wantError(t, resp, body, 429, "requests", "rate_limit_exceeded")
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" || !strings.Contains(e.Error.Message, "2 requests") {
		t.Errorf("Retry-After %q, %s", ra, body)
	}
	// Tokens: a reservation of 90 fits the bucket of 100 once; the real
	// usage (6) is settled, so a second one fits too, a third 90 does not.
	big := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":90}`
	for i := range 2 {
		if resp, body := do(t, "POST", base+"/v1/chat/completions", "k-tpm", big); resp.StatusCode != 200 {
			t.Fatalf("tokens %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body = do(t, "POST", base+"/v1/embeddings", "k-tpm", `{"input":"`+strings.Repeat("word ", 400)+`"}`)
	wantError(t, resp, body, 429, "tokens", "rate_limit_exceeded")
	if resp.Header.Get("x-ratelimit-limit-tokens") != "100" {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(60, 0, now)
	for range 60 {
		if ok, _, _, _ := l.admit(0, now); !ok {
			t.Fatal("refused within the burst")
		}
	}
	ok, kind, retry, _ := l.admit(0, now)
	if ok || kind != "requests" || retry != time.Second {
		t.Fatalf("ok %v kind %s retry %v", ok, kind, retry)
	}
	if ok, _, _, _ := l.admit(0, now.Add(time.Second)); !ok {
		t.Fatal("not refilled after a second")
	}
	// Tokens: debt from an underestimate delays the next request.
	l = newLimiter(0, 600, now)
	if ok, _, _, _ := l.admit(100, now); !ok {
		t.Fatal("refused")
	}
	l.settle(100, 1100) // used 1100: 600-1100 = -500
	ok, kind, retry, _ = l.admit(10, now)
	if ok || kind != "tokens" || retry != 51*time.Second {
		t.Fatalf("ok %v kind %s retry %v", ok, kind, retry)
	}
	// A request larger than the whole minute's allowance still gets in
	// with a full bucket.
	l = newLimiter(0, 600, now)
	if ok, _, _, _ := l.admit(5000, now); !ok {
		t.Fatal("oversized request refused forever")
	}
}

func TestAnonymousLimitsPerAddress(t *testing.T) {
	cfg := testConfig(helloGen())
	cfg.Limits.RequestsPerMinute = 1
	_, base := startServer(t, cfg)
	if resp, body := do(t, "GET", base+"/v1/models", "", ""); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"/v1/embeddings", "", `{"input":"a"}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body := do(t, "POST", base+"/v1/embeddings", "", `{"input":"a"}`)
	wantError(t, resp, body, 429, "requests", "rate_limit_exceeded")
}

func TestConnectionLimit(t *testing.T) {
	cfg := testConfig(helloGen())
	cfg.Limits.MaxConns = 1
	_, base := startServer(t, cfg)
	if _, status := healthzConn(t, base); status != 200 { // held: the only one allowed
		t.Fatalf("held connection: %d", status)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"too_many_connections"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestReadTimeoutDropsSlowClients(t *testing.T) {
	cfg := testConfig(helloGen())
	cfg.Limits.ReadTimeout = 300 * time.Millisecond
	_, base := startServer(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers trickle in and never finish.
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := conn.Write([]byte("X-Slow: 1\r\n")); err != nil {
			break
		}
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		if n > 0 || (err != nil && !isTimeout(err)) {
			break // answered (408) or closed
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("slow client kept its connection")
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("dropped after %v", d)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestMetricsEndpoint(t *testing.T) {
	_, base := startServer(t, testConfig(helloGen()))
	do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}]}`)
	do(t, "POST", base+"/v1/embeddings", "", `{"input":"a"}`)
	do(t, "POST", base+"/v1/chat/completions", "", `{"messages":"bad"}`)
	resp, body := do(t, "GET", base+"/metrics", "", "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`infergate_time_to_first_token_seconds_bucket{model="chat",route="local",status_class="2xx"`,
		`infergate_inter_token_latency_seconds_count{model="chat",route="local",status_class="2xx"} 4`,
		`infergate_request_duration_seconds_count{endpoint="chat.completions",model="chat",route="local",status_class="2xx"} 2`,
		`infergate_request_duration_seconds_count{endpoint="embeddings",model="emb",route="local",status_class="2xx"} 1`,
		`infergate_queue_wait_seconds_count{model="chat",route="local",status_class="2xx"} 2`,
		`infergate_requests_total{endpoint="chat.completions",model="chat",route="local",status_class="2xx"} 2`,
		`infergate_prompt_tokens_total{model="chat",route="local"} 6`,
		`infergate_completion_tokens_total{model="chat",route="local"} 6`,
		`infergate_cached_prompt_tokens_total{model="chat",route="local"} 4`,
		`infergate_errors_total{code="invalid_type",type="invalid_request_error"} 1`,
		`infergate_requests_running{kind="chat",model="chat"} 1`,
		`infergate_requests_waiting{kind="chat",model="chat"} 2`,
		`infergate_kv_cache_usage_ratio{kind="chat",model="chat"} 0.1`,
		`infergate_http_requests_in_flight 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// 5 prompt tokens reused and 10 computed: a third came from the cache.
	st := helloGen().stats
	want := float64(st.PrefixHitTokens) / float64(st.PrefixHitTokens+st.PromptTokens)
	if got, ok := metricValue(text, `infergate_prefix_cache_hit_ratio{kind="chat",model="chat"}`); !ok || math.Abs(got-want) > 1e-12 {
		t.Errorf("prefix cache hit ratio %v (found %v), want %v", got, ok, want)
	}
}

func TestGracefulShutdown(t *testing.T) {
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		return script(ctx, []string{"a", "b", "c", "d", "e"}, 100*time.Millisecond, llm.FinishStop, nil), nil
	}}
	cfg := testConfig(gen)
	s, base := startServer(t, cfg)
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	shut := shutdownAsync(s, 10*time.Second)
	// Draining without a drain delay: the listener closes at once.
	testenv.Eventually(t, 2*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "still accepting connections while draining")
	events := sseEvents(t, resp.Body)
	if events[len(events)-1] != "[DONE]" || len(events) != 8 {
		t.Fatalf("in-flight stream cut short: %q", events)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownDeadlineCancels(t *testing.T) {
	cancelled := make(chan struct{})
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		return script(ctx, nil, 20*time.Millisecond, llm.FinishStop, cancelled), nil
	}}
	s, base := startServer(t, testConfig(gen))
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan []string, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		got <- sseEvents(t, bytes.NewReader(b))
	}()
	// The stream is under way when the deadline passes.
	testenv.Eventually(t, 5*time.Second, func() bool { return gen.started() == 1 }, "the generation did not start")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("generation not cancelled at the deadline")
	}
	events := <-got
	var ev apiErr
	if json.Unmarshal([]byte(events[len(events)-1]), &ev) != nil || ev.Error.Code == nil || *ev.Error.Code != "shutting_down" {
		t.Fatalf("last event %q", events[len(events)-1])
	}
}

func TestReadyzWhileDraining(t *testing.T) {
	s, base := startServer(t, testConfig(helloGen()))
	if resp, body := do(t, "GET", base+"/readyz", "", ""); resp.StatusCode != 200 || !strings.Contains(string(body), "ready") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// Flip the flag only, keeping the listener, to see what a request on a
	// kept-alive connection gets while the server drains.
	s.draining.Store(true)
	s.closing.Store(true)
	resp, body := do(t, "GET", base+"/readyz", "", "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}]}`)
	wantError(t, resp, body, 503, TypeUnavailable, "draining")
	s.draining.Store(false)
	s.closing.Store(false)
}

func TestDrainDelayKeepsServing(t *testing.T) {
	cfg := testConfig(helloGen())
	cfg.DrainDelay = 400 * time.Millisecond
	s, base := startServer(t, cfg)
	start := time.Now()
	shut := shutdownAsync(s, 5*time.Second)
	testenv.Eventually(t, 2*time.Second, s.Draining, "Shutdown did not start draining")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz during the drain delay: %d", resp.StatusCode)
	}
	resp, err = client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("request during the drain delay: %d", resp.StatusCode)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("shutdown took %v, less than the drain delay", d)
	}
}

func TestNonStreamedDisconnectCancelsGeneration(t *testing.T) {
	cancelled := make(chan struct{})
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		return script(ctx, nil, 5*time.Millisecond, llm.FinishStop, cancelled), nil // endless
	}}
	_, base := startServer(t, testConfig(gen))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	testenv.Eventually(t, 5*time.Second, func() bool { return gen.started() == 1 }, "the generation did not start")
	conn.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("non-streamed generation not cancelled after the client left")
	}
}

// TestStreamKeepAlive checks that a stream waiting for its next token sends
// SSE comment lines, so that proxies and clients do not time it out.
func TestStreamKeepAlive(t *testing.T) {
	gen := &fakeGen{gen: func(ctx context.Context, req llm.Request) (Stream, error) {
		return script(ctx, []string{"slow", " tokens"}, 150*time.Millisecond, llm.FinishStop, nil), nil
	}}
	cfg := testConfig(gen)
	cfg.Limits.StreamKeepAlive = 20 * time.Millisecond
	_, base := startServer(t, cfg)
	resp, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), ": keep-alive") {
		t.Errorf("no keep-alive comment in a stream that waited 150 ms between tokens with a 20 ms interval:\n%s", body)
	}
	if !strings.Contains(string(body), "data: [DONE]") {
		t.Errorf("stream did not finish:\n%s", body)
	}
}
