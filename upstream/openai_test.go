package upstream

import (
	"net/http"
	"testing"

	"github.com/infergate/infergate/llm"
)

func TestOpenAIStream(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, oaStream("stop", "Hello", ", wor", "ld! ünï 日本"))
	})
	c := f.client(t, APIOpenAI)
	st, err := c.Generate(t.Context(), "local", chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	if st.Route() != "cloud:fake" {
		t.Errorf("route %q", st.Route())
	}
	o := drain(st)
	if o.text != "Hello, world! ünï 日本" {
		t.Errorf("text %q", o.text)
	}
	want := llm.Result{FinishReason: llm.FinishStop, PromptTokens: 12, CompletionTokens: 4, CachedTokens: 8,
		Route: "cloud:fake", Model: "cloud-model-2024"}
	if got := o.res; got.FinishReason != want.FinishReason || got.PromptTokens != want.PromptTokens ||
		got.CompletionTokens != want.CompletionTokens || got.CachedTokens != want.CachedTokens ||
		got.Route != want.Route || got.Model != want.Model || got.Err != nil {
		t.Errorf("result %+v, want %+v", got, want)
	}
	if o.tokens != 3 {
		t.Errorf("deltas account for %d tokens, want one per chunk (3)", o.tokens)
	}
	req := f.last(t)
	if req.Path != "/v1/chat/completions" {
		t.Errorf("path %q", req.Path)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer sk-test" {
		t.Errorf("Authorization %q", got)
	}
	if got := req.Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("Accept %q", got)
	}
	jsonEqual(t, req.Body, `{
		"model": "cloud-model",
		"messages": [
			{"role": "system", "content": "You are terse."},
			{"role": "user", "content": "Hi"},
			{"role": "assistant", "content": "Hello."},
			{"role": "user", "content": "Say hello world"}
		],
		"stream": true,
		"stream_options": {"include_usage": true},
		"max_tokens": 32,
		"temperature": 0.5,
		"top_p": 0.9,
		"stop": ["\n\n"],
		"seed": 42,
		"frequency_penalty": 0.25
	}`)
}

func TestOpenAINotStreamed(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		write(w, `{"id":"chatcmpl-2","object":"chat.completion","created":1700000000,"model":"cloud-model-2024",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello, world!","refusal":null},"logprobs":null,"finish_reason":"length"}],`+
			`"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":0}}}`)
	})
	c := f.client(t, APIOpenAI, func(c *Config) { c.NoStream = true })
	m, err := c.Model("local")
	if err != nil {
		t.Fatal(err)
	}
	var g llm.Generator = m
	st, err := g.Generate(t.Context(), llm.Request{Messages: []llm.Message{{Role: "user", Content: "Hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	o := drain(st)
	if o.text != "Hello, world!" || o.tokens != 5 {
		t.Errorf("text %q, %d tokens", o.text, o.tokens)
	}
	if r := o.res; r.FinishReason != llm.FinishLength || r.PromptTokens != 9 || r.CompletionTokens != 5 || r.CachedTokens != 0 || r.Err != nil {
		t.Errorf("result %+v", r)
	}
	// No stream flag, no stream_options, no max_tokens for "no limit";
	// temperature 0 (greedy) is sent, not dropped as a zero value.
	jsonEqual(t, f.last(t).Body, `{"model":"cloud-model","messages":[{"role":"user","content":"Hi"}],"temperature":0}`)
}

// A server that ignores "stream": true and answers with JSON is read as
// the whole answer it is.
func TestOpenAIJSONAnswerToStreamedRequest(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		write(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`)
	})
	st, err := f.client(t, APIOpenAI).Generate(t.Context(), "local", chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	if o := drain(st); o.text != "whole" || o.res.FinishReason != llm.FinishStop || o.res.CompletionTokens != 1 || o.res.Err != nil {
		t.Errorf("%+v", o)
	}
}

func TestOpenAICompletionsPrompt(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		for _, s := range []string{" upon", " a", " time"} {
			write(w, `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"cloud-model","choices":[{"text":`+js(s)+`,"index":0,"logprobs":null,"finish_reason":null}]}`+"\n\n")
		}
		write(w, `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"cloud-model","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}]}`+"\n\n")
		write(w, `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"cloud-model","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}}`+"\n\n")
		write(w, oaDone)
	})
	st, err := f.client(t, APIOpenAI).Generate(t.Context(), "local", llm.Request{Prompt: "Once", MaxTokens: 3, Sampling: llm.Sampling{Temperature: 1}})
	if err != nil {
		t.Fatal(err)
	}
	o := drain(st)
	if o.text != " upon a time" || o.res.FinishReason != llm.FinishLength || o.res.PromptTokens != 4 || o.res.CompletionTokens != 3 {
		t.Errorf("%+v", o)
	}
	req := f.last(t)
	if req.Path != "/v1/completions" {
		t.Errorf("path %q", req.Path)
	}
	jsonEqual(t, req.Body, `{"model":"cloud-model","prompt":"Once","stream":true,"stream_options":{"include_usage":true},"max_tokens":3,"temperature":1}`)
}

func TestOpenAIFinishReasons(t *testing.T) {
	tests := []struct{ wire, want string }{
		{"stop", llm.FinishStop},
		{"length", llm.FinishLength},
		{"content_filter", llm.FinishContentFilter},
		{"tool_calls", llm.FinishStop},
		{"function_call", llm.FinishStop},
	}
	for _, tc := range tests {
		t.Run(tc.wire, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				startSSE(w)
				write(w, oaStream(tc.wire, "x"))
			})
			st, err := f.client(t, APIOpenAI).Generate(t.Context(), "local", chatRequest())
			if err != nil {
				t.Fatal(err)
			}
			if got := drain(st).res; got.FinishReason != tc.want || got.Err != nil {
				t.Errorf("finish %q, err %v; want %q", got.FinishReason, got.Err, tc.want)
			}
		})
	}
}

// A server that sends no usage chunk: the completion is estimated from
// the chunks, and the answer is not an error.
func TestOpenAIStreamWithoutUsage(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, oaRoleChunk+oaTextChunk("a")+oaTextChunk("b")+oaFinishChunk("stop")+oaDone)
	})
	st, err := f.client(t, APIOpenAI).Generate(t.Context(), "local", chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	if o := drain(st); o.text != "ab" || o.res.CompletionTokens != 2 || o.res.PromptTokens != 0 || o.res.Err != nil {
		t.Errorf("%+v", o)
	}
}

// The response_format the client sent goes to the API, which enforces it;
// the grammar derived from it for the local engine does not.
func TestOpenAIResponseFormat(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, oaStream("stop", `{"a":1}`))
	})
	req := llm.Request{Messages: []llm.Message{{Role: "user", Content: "json"}},
		Sampling: llm.Sampling{Temperature: 1, Grammar: "root ::= object", ResponseFormat: `{"type":"json_object"}`}}
	st, err := f.client(t, APIOpenAI).Generate(t.Context(), "local", req)
	if err != nil {
		t.Fatal(err)
	}
	if o := drain(st); o.text != `{"a":1}` {
		t.Errorf("text %q", o.text)
	}
	rf, _ := f.last(t).Body["response_format"].(map[string]any)
	if rf["type"] != "json_object" {
		t.Errorf("response_format %v", f.last(t).Body["response_format"])
	}
}

func TestOpenAIRequestTranslation(t *testing.T) {
	tests := []struct {
		name   string
		req    llm.Request
		stream bool
		path   string
		want   string
	}{
		{
			name: "defaults", req: llm.Request{Messages: []llm.Message{{Role: "user", Content: "x"}}, Sampling: llm.Sampling{Temperature: 1}},
			path: "/chat/completions", want: `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1}`,
		},
		{
			name: "top_p 1 and local-only knobs dropped",
			req: llm.Request{Messages: []llm.Message{{Role: "user", Content: "x"}}, IgnoreEOS: true,
				Sampling: llm.Sampling{Temperature: 0.7, TopP: 1, TopK: 5, MinP: 0.1, RepeatPenalty: 1.1}},
			path: "/chat/completions", want: `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0.7}`,
		},
		{
			name: "penalties, seed 0, several stops", stream: true,
			req: llm.Request{Messages: []llm.Message{{Role: "user", Content: "x"}}, Stop: []string{"a", "b"},
				Sampling: llm.Sampling{PresencePenalty: -0.5, FrequencyPenalty: 1.5, HasSeed: true}},
			path: "/chat/completions",
			want: `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true},` +
				`"temperature":0,"stop":["a","b"],"seed":0,"frequency_penalty":1.5,"presence_penalty":-0.5}`,
		},
		{
			name: "prompt", req: llm.Request{Prompt: "p", MaxTokens: 16, Sampling: llm.Sampling{Temperature: 1}},
			path: "/completions", want: `{"model":"m","prompt":"p","max_tokens":16,"temperature":1}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, body, err := openAI{}.request("m", tc.req, tc.stream, 0)
			if err != nil {
				t.Fatal(err)
			}
			if path != tc.path {
				t.Errorf("path %q, want %q", path, tc.path)
			}
			var got map[string]any
			if err := jsonUnmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, tc.want)
		})
	}
}

// Streams that end properly leave their connection in the pool: a TLS
// handshake per request would cost a cloud fallback its latency. A stream
// abandoned mid-way does not (its connection cannot be reused).
func TestConnectionReuse(t *testing.T) {
	for _, api := range []API{APIOpenAI, APIAnthropic} {
		t.Run(string(api), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				startSSE(w)
				if api == APIOpenAI {
					write(w, oaStream("stop", "a", "b"))
				} else {
					write(w, anStream("end_turn", "a", "b"))
				}
			})
			// One slot: each request starts only once the last has released
			// its connection, so reuse is deterministic.
			c := f.client(t, api, func(c *Config) { c.MaxConcurrency = 1 })
			for i := range 5 {
				st, err := c.Generate(t.Context(), "local", chatRequest())
				if err != nil {
					t.Fatal(err)
				}
				if o := drain(st); o.text != "ab" || o.res.Err != nil {
					t.Fatalf("request %d: %+v", i, o)
				}
			}
			if n := f.conns.Load(); n != 1 {
				t.Errorf("%d connections for 5 sequential requests, want them reused", n)
			}
		})
	}
}
