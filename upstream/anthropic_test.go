package upstream

import (
	"net/http"
	"testing"

	"github.com/infergate/infergate/llm"
)

func TestAnthropicStream(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, anStream("end_turn", "Hello", ", wor", "ld! ünï 日本"))
	})
	c := f.client(t, APIAnthropic)
	st, err := c.Generate(t.Context(), "local", chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	o := drain(st)
	if o.text != "Hello, world! ünï 日本" {
		t.Errorf("text %q", o.text)
	}
	// Usage in OpenAI's terms: the prompt is input + cache writes + cache
	// reads; the completion is message_delta's total, not message_start's.
	if r := o.res; r.FinishReason != llm.FinishStop || r.PromptTokens != 32 || r.CompletionTokens != 15 ||
		r.CachedTokens != 20 || r.Route != "cloud:fake" || r.Model != "cloud-model-2025" || r.Err != nil {
		t.Errorf("result %+v", r)
	}
	req := f.last(t)
	if req.Path != "/v1/messages" {
		t.Errorf("path %q", req.Path)
	}
	if got := req.Header.Get("X-Api-Key"); got != "sk-test" {
		t.Errorf("x-api-key %q", got)
	}
	if got := req.Header.Get("Anthropic-Version"); got != "2023-06-01" {
		t.Errorf("anthropic-version %q", got)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization %q sent to Anthropic", got)
	}
	// System hoisted to the top level; no seed or penalties (the API has
	// none); top_k kept.
	jsonEqual(t, req.Body, `{
		"model": "cloud-model",
		"max_tokens": 32,
		"system": "You are terse.",
		"messages": [
			{"role": "user", "content": "Hi"},
			{"role": "assistant", "content": "Hello."},
			{"role": "user", "content": "Say hello world"}
		],
		"stream": true,
		"temperature": 0.5,
		"top_p": 0.9,
		"top_k": 40,
		"stop_sequences": ["\n\n"]
	}`)
}

func TestAnthropicNotStreamed(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		write(w, `{"id":"msg_02","type":"message","role":"assistant","model":"cloud-model-2025",`+
			`"content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"Hello, "},{"type":"text","text":"world!"}],`+
			`"stop_reason":"max_tokens","stop_sequence":null,`+
			`"usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"output_tokens":6}}`)
	})
	c := f.client(t, APIAnthropic, func(c *Config) { c.NoStream = true; c.MaxTokens = 100 })
	st, err := c.Generate(t.Context(), "local", llm.Request{Messages: []llm.Message{{Role: "user", Content: "Hi"}}, Sampling: llm.Sampling{Temperature: 1}})
	if err != nil {
		t.Fatal(err)
	}
	o := drain(st)
	if o.text != "Hello, world!" || o.tokens != 6 {
		t.Errorf("text %q, %d tokens", o.text, o.tokens)
	}
	if r := o.res; r.FinishReason != llm.FinishLength || r.PromptTokens != 10 || r.CompletionTokens != 6 || r.CachedTokens != 3 || r.Err != nil {
		t.Errorf("result %+v", r)
	}
	// max_tokens is required: the configured default stands in for "no
	// limit"; temperature 1 is the API's default and is left out.
	jsonEqual(t, f.last(t).Body, `{"model":"cloud-model","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`)
}

func TestAnthropicStopReasons(t *testing.T) {
	tests := []struct{ wire, want string }{
		{"end_turn", llm.FinishStop},
		{"stop_sequence", llm.FinishStop},
		{"max_tokens", llm.FinishLength},
		{"model_context_window_exceeded", llm.FinishLength},
		{"refusal", llm.FinishContentFilter},
		{"tool_use", llm.FinishStop},
		{"pause_turn", llm.FinishStop},
	}
	for _, tc := range tests {
		t.Run(tc.wire, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				startSSE(w)
				write(w, anStream(tc.wire, "x"))
			})
			st, err := f.client(t, APIAnthropic).Generate(t.Context(), "local", chatRequest())
			if err != nil {
				t.Fatal(err)
			}
			if got := drain(st).res; got.FinishReason != tc.want || got.Err != nil {
				t.Errorf("finish %q, err %v; want %q", got.FinishReason, got.Err, tc.want)
			}
		})
	}
}

// Thinking and tool blocks in a stream are not text for the client, and
// unknown event types are skipped, as the API's versioning policy asks.
func TestAnthropicStreamSkipsNonText(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, anMessageStart+
			anSSE("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`)+
			anSSE("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"let me see"}}`)+
			anSSE("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}`)+
			anSSE("content_block_stop", `{"type":"content_block_stop","index":0}`)+
			anSSE("brand_new_event", `{"type":"brand_new_event","x":1}`)+
			anSSE("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`)+
			anTextDelta("answer")+
			anSSE("content_block_stop", `{"type":"content_block_stop","index":1}`)+
			anMessageDelta("end_turn")+anMessageStop)
	})
	st, err := f.client(t, APIAnthropic).Generate(t.Context(), "local", chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	if o := drain(st); o.text != "answer" || o.res.Err != nil || o.res.FinishReason != llm.FinishStop {
		t.Errorf("%+v", o)
	}
}

func TestAnthropicRequestTranslation(t *testing.T) {
	user := llm.Message{Role: llm.RoleUser, Content: "q"}
	tests := []struct {
		name string
		req  llm.Request
		want string
	}{
		{
			name: "several system messages become text blocks",
			req: llm.Request{Messages: []llm.Message{{Role: "system", Content: "a"}, user, {Role: "system", Content: "b"}},
				Sampling: llm.Sampling{Temperature: 1}},
			want: `{"model":"m","max_tokens":4096,"system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"messages":[{"role":"user","content":"q"}]}`,
		},
		{
			name: "greedy is sent",
			req:  llm.Request{Messages: []llm.Message{user}, MaxTokens: 5},
			want: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"}],"temperature":0}`,
		},
		{
			name: "temperature above 1 clamped to the default",
			req:  llm.Request{Messages: []llm.Message{user}, Sampling: llm.Sampling{Temperature: 1.7, TopP: 0.5}},
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"q"}],"top_p":0.5}`,
		},
		{
			name: "no seed, penalties, min_p",
			req: llm.Request{Messages: []llm.Message{user}, IgnoreEOS: true,
				Sampling: llm.Sampling{Temperature: 0.2, Seed: 1, HasSeed: true, PresencePenalty: 1, MinP: 0.1, RepeatPenalty: 1.2}},
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"q"}],"temperature":0.2}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, body, err := anthropic{}.request("m", tc.req, false, DefaultMaxTokens)
			if err != nil {
				t.Fatal(err)
			}
			if path != "/messages" {
				t.Errorf("path %q", path)
			}
			var got map[string]any
			if err := jsonUnmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, tc.want)
		})
	}
}
