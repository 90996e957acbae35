package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func startFakeCloud(t *testing.T, cfg FakeCloudConfig) (*FakeCloud, string) {
	t.Helper()
	f := NewFakeCloud(cfg)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/v1"
}

func postJSON(t *testing.T, url, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
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

// sseData splits an event stream into its data payloads.
func sseData(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sr := newSSEReader(bytes.NewReader(body), time.Now)
	for {
		ev, err := sr.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Data)
	}
}

// TestFakeCloudStreamsOpenAIChunks: a streamed chat reply is OpenAI's
// sequence (a role chunk, one chunk per token, a finish chunk, the usage
// chunk with no choices, [DONE]), at the configured pace, and the
// harness's own stream reader reads it with the usage's counts.
func TestFakeCloudStreamsOpenAIChunks(t *testing.T) {
	const first, tps, n = 150 * time.Millisecond, 50, 6
	_, base := startFakeCloud(t, FakeCloudConfig{FirstToken: first, TokensPerSecond: LengthDist{Kind: "fixed", A: tps}, APIKey: "sk-test"})
	body := `{"model":"gpt-x","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hello there"}]}],` +
		`"max_tokens":6,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}`
	start := time.Now()
	resp, raw := postJSON(t, base+"/chat/completions", "sk-test", body)
	took := time.Since(start)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if want := first + (n-1)*time.Second/tps; took < want {
		t.Errorf("reply took %v, want at least %v (first token %v, then %d tokens/s)", took, want, first, tps)
	}
	data := sseData(t, raw)
	if len(data) != n+4 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("%d events, want %d ending in [DONE]:\n%s", len(data), n+4, raw)
	}
	type chunk struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Index int `json:"index"`
			Delta struct {
				Role    string  `json:"role"`
				Content *string `json:"content"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
			TotalTokens      int `json:"total_tokens"`
		} `json:"usage"`
	}
	var text strings.Builder
	for i, d := range data[:len(data)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("event %d %q: %v", i, d, err)
		}
		if c.Object != "chat.completion.chunk" || c.Model != "gpt-x" || !strings.HasPrefix(c.ID, "chatcmpl-") {
			t.Errorf("event %d: %s", i, d)
		}
		switch {
		case i == 0:
			if len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant" || c.Usage != nil {
				t.Errorf("first chunk: %s", d)
			}
		case i <= n:
			if len(c.Choices) != 1 || c.Choices[0].Delta.Content == nil || c.Choices[0].FinishReason != nil {
				t.Errorf("token chunk %d: %s", i, d)
			} else {
				text.WriteString(*c.Choices[0].Delta.Content)
			}
		case i == n+1:
			if len(c.Choices) != 1 || c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != "length" {
				t.Errorf("finish chunk: %s", d)
			}
		default:
			if len(c.Choices) != 0 || c.Usage == nil || c.Usage.CompletionTokens != n || c.Usage.PromptTokens < 1 ||
				c.Usage.TotalTokens != c.Usage.PromptTokens+n {
				t.Errorf("usage chunk: %s", d)
			}
		}
	}
	if words := strings.Fields(text.String()); len(words) != n {
		t.Errorf("text %q: want %d words", text.String(), n)
	}
	res, err := consumeStream(bytes.NewReader(raw), time.Now)
	if err != nil || !res.sawDone {
		t.Fatalf("the harness reads it: %v, done %v", err, res.sawDone)
	}
	if got, fromUsage := res.outputTokens(); got != n || !fromUsage {
		t.Errorf("harness counts %d output tokens (from usage %v), want %d", got, fromUsage, n)
	}
}

// TestFakeCloudRefusesWhatOpenAIRefuses: parameters OpenAI does not
// define, a missing key, a bad max_tokens and an unknown model get its
// error shape and status, so that a client leaking local-only fields is
// caught against the fake as it would be against the real API.
func TestFakeCloudRefusesWhatOpenAIRefuses(t *testing.T) {
	f, base := startFakeCloud(t, FakeCloudConfig{APIKey: "sk-test", Models: []string{"gpt-x"}})
	for _, tc := range []struct {
		name, key, body string
		status          int
		param           string
	}{
		{"ignore_eos", "sk-test", `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"ignore_eos":true}`, 400, ""},
		{"grammar", "sk-test", `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"grammar":"root ::= \"a\""}`, 400, ""},
		{"no key", "", `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}`, 401, ""},
		{"max_tokens 0", "sk-test", `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, 400, "max_tokens"},
		{"unknown model", "sk-test", `{"model":"gpt-y","messages":[{"role":"user","content":"hi"}]}`, 404, "model"},
		{"no messages", "sk-test", `{"model":"gpt-x","messages":[]}`, 400, "messages"},
		{"bad role", "sk-test", `{"model":"gpt-x","messages":[{"role":"robot","content":"hi"}]}`, 400, "messages.[0].role"},
		{"prompt on chat", "sk-test", `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"prompt":"hi"}`, 400, "prompt"},
		{"stream_options without stream", "sk-test", `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, 400, "stream_options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := postJSON(t, base+"/chat/completions", tc.key, tc.body)
			var e struct {
				Error *struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("%d %s: not OpenAI's error shape (%v)", resp.StatusCode, b, err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.param != "" && (e.Error.Param == nil || *e.Error.Param != tc.param) {
				t.Errorf("param %v, want %q: %s", e.Error.Param, tc.param, b)
			}
		})
	}
	if got := f.Requests(); got != 8 {
		t.Errorf("%d generation requests counted, want 8 (the unauthenticated one is not)", got)
	}
}

// TestFakeCloudReplies: the reply honours max_tokens, stop sequences and
// JSON mode, whole or streamed, on both endpoints.
func TestFakeCloudReplies(t *testing.T) {
	_, base := startFakeCloud(t, FakeCloudConfig{Seed: 3})
	type whole struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	ask := func(base, path, body string) whole {
		t.Helper()
		resp, b := postJSON(t, base+path, "", body)
		var w whole
		if err := json.Unmarshal(b, &w); resp.StatusCode != 200 || err != nil || len(w.Choices) != 1 {
			t.Fatalf("%s %s: %d %s (%v)", path, body, resp.StatusCode, b, err)
		}
		return w
	}

	w := ask(base, "/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9}`)
	if c := w.Choices[0]; w.Object != "chat.completion" || c.Message.Role != "assistant" || len(strings.Fields(c.Message.Content)) != 9 ||
		c.FinishReason != "length" || w.Usage.CompletionTokens != 9 {
		t.Errorf("chat: %+v", w)
	}
	w = ask(base, "/completions", `{"model":"m","prompt":"Once upon a time","max_tokens":4}`)
	if c := w.Choices[0]; w.Object != "text_completion" || len(strings.Fields(c.Text)) != 4 || c.FinishReason != "length" {
		t.Errorf("completions: %+v", w)
	}
	w = ask(base, "/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":12,"response_format":{"type":"json_object"}}`)
	var obj map[string]string
	if c := w.Choices[0]; json.Unmarshal([]byte(c.Message.Content), &obj) != nil || obj["answer"] == "" || c.FinishReason != "stop" || w.Usage.CompletionTokens != 12 {
		t.Errorf("json_object: %+v", w)
	}

	// A stop sequence cuts the reply before it, wherever it falls; the
	// same seed gives the same words, so the cut can be checked.
	_, base1 := startFakeCloud(t, FakeCloudConfig{Seed: 3})
	_, base2 := startFakeCloud(t, FakeCloudConfig{Seed: 3})
	full := ask(base1, "/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":30}`).Choices[0].Message.Content
	third := strings.Fields(full)[2]
	stop := third[:len(third)-1] // may begin in the third word and end in it
	body, _ := json.Marshal(map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "hi"}}, "max_tokens": 30, "stop": []string{stop}})
	resp, b := postJSON(t, base2+"/chat/completions", "", string(body))
	var cut whole
	if err := json.Unmarshal(b, &cut); resp.StatusCode != 200 || err != nil {
		t.Fatalf("stop: %d %s", resp.StatusCode, b)
	}
	if c := cut.Choices[0]; c.FinishReason != "stop" || c.Message.Content != full[:strings.Index(full, stop)] {
		t.Errorf("stop %q: %q (%s), want %q", stop, c.Message.Content, c.FinishReason, full[:strings.Index(full, stop)])
	}

	// Streamed completions end with the finish reason and [DONE].
	resp, b = postJSON(t, base1+"/completions", "", `{"model":"m","prompt":["The cat"],"max_tokens":3,"stream":true}`)
	data := sseData(t, b)
	if resp.StatusCode != 200 || len(data) != 5 || data[4] != "[DONE]" || !strings.Contains(data[3], `"finish_reason":"length"`) ||
		!strings.Contains(data[0], `"object":"text_completion"`) {
		t.Errorf("streamed completions: %d %s", resp.StatusCode, b)
	}
}

// TestFakeCloudStopsWhenTheClientLeaves: a client that goes away ends the
// stream's pacing instead of leaving a goroutine sleeping through it.
func TestFakeCloudStopsWhenTheClientLeaves(t *testing.T) {
	f := NewFakeCloud(FakeCloudConfig{FirstToken: time.Hour})
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a reply an hour away arrived")
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }() // waits for the handler to return
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept waiting after its client left")
	}
}

// TestFakeUpstreamCommand: the subcommand stays on loopback and checks its
// flags before listening.
func TestFakeUpstreamCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--addr", "0.0.0.0:0"},
		{"--addr", "example.com:80"},
		{"--tokens-per-s", "fast"},
		{"--first-token", "-1s"},
		{"--api-key-env", "INFERGATE_TEST_NO_SUCH_VAR"},
		{"stray"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), append([]string{"fake-upstream"}, args...), &out, &errb); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errb.String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- Main(ctx, []string{"fake-upstream", "--addr", "127.0.0.1:0"}, &out, &errb) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if code := <-done; code != ExitOK || !strings.Contains(out.String(), "listening on http://127.0.0.1:") {
		t.Errorf("exit %d: %s%s", code, out.String(), errb.String())
	}
}
