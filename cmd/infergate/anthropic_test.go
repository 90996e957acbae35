package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// The fake Anthropic API's usage per request, in OpenAI's terms: input 10
// + cache writes 2 + cache reads 20; output 15. At the configured $3 and
// $15 per million tokens a request costs $0.000321.
const (
	anPromptTokens     = 32
	anCompletionTokens = 15
	anCostUSD          = (anPromptTokens*3.0 + anCompletionTokens*15.0) / 1e6
)

// fakeAnthropic is a cloud API on loopback speaking Anthropic's streamed
// Messages API (message_start, content_block_start, ping,
// content_block_delta per piece of text, content_block_stop,
// message_delta, message_stop), answering text in three pieces with the
// stop reason given.
func fakeAnthropic(t *testing.T, text, stopReason string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var body struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.URL.Path != "/v1/messages" ||
			r.Header.Get("X-Api-Key") != "sk-ant" || body.Model != "claude-cloud" || !body.Stream {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad request"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		event := func(name, data string) {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
			_ = http.NewResponseController(w).Flush()
		}
		event("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-cloud-2025","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":2,"cache_read_input_tokens":20,"output_tokens":1}}}`)
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		event("ping", `{"type":"ping"}`)
		// Split between characters: the API never sends half of one.
		runes := []rune(text)
		third := len(runes) / 3
		for _, piece := range []string{string(runes[:third]), string(runes[third : 2*third]), string(runes[2*third:])} {
			b, _ := json.Marshal(piece)
			event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(b)+`}}`)
		}
		event("content_block_stop", `{"type":"content_block_stop","index":0}`)
		event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stopReason+`","stop_sequence":null},"usage":{"output_tokens":15}}`)
		event("message_stop", `{"type":"message_stop"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// anthropicConfig writes a --config file into dir serving the model
// "claudy" from the Anthropic API at url only, with extra appended (keys,
// routing), and returns its path.
func anthropicConfig(t *testing.T, dir, url, extra string) string {
	t.Helper()
	t.Setenv("INFERGATE_TEST_ANTHROPIC_KEY", "sk-ant")
	cfg := filepath.Join(dir, "infergate.yaml")
	yaml := fmt.Sprintf(`upstreams:
  - name: anthropic
    kind: anthropic
    base_url: %s/v1
    api_key_env: INFERGATE_TEST_ANTHROPIC_KEY
    models: {claudy: claude-cloud}
    price_per_mtok: {input: 3, output: 15}
`, url) + extra
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// chatCompletion is what a client reads back: the text (joined from the
// deltas when streamed), finish reason and usage.
type chatCompletion struct {
	status int
	route  string
	text   string
	finish string
	usage  struct{ PromptTokens, CompletionTokens int }
	body   string
}

// postChat sends a chat completion with the API key given ("" for none)
// and reads the answer, streamed (with usage) or not.
func postChat(t *testing.T, base, key, model string, stream bool) chatCompletion {
	t.Helper()
	opts := ""
	if stream {
		opts = `,"stream_options":{"include_usage":true}`
	}
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"Hi"}],"max_tokens":20,"stream":%v%s}`, model, stream, opts)
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := chatCompletion{status: resp.StatusCode, route: resp.Header.Get("X-Infergate-Route"), body: string(b)}
	if resp.StatusCode != http.StatusOK {
		return out
	}
	type usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	}
	var chunk struct {
		Choices []struct {
			Message      struct{ Content string } `json:"message"`
			Delta        struct{ Content string } `json:"delta"`
			FinishReason *string                  `json:"finish_reason"`
		} `json:"choices"`
		Usage *usage `json:"usage"`
	}
	take := func(data string) {
		chunk.Choices, chunk.Usage = nil, nil
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		for _, c := range chunk.Choices {
			out.text += c.Message.Content + c.Delta.Content
			if c.FinishReason != nil {
				out.finish = *c.FinishReason
			}
		}
		if u := chunk.Usage; u != nil {
			out.usage.PromptTokens, out.usage.CompletionTokens = u.PromptTokens, u.CompletionTokens
		}
	}
	if !stream {
		take(string(b))
		return out
	}
	if !strings.HasSuffix(strings.TrimSpace(out.body), "data: [DONE]") {
		t.Errorf("stream does not end with [DONE]:\n%s", out.body)
	}
	for _, line := range strings.Split(out.body, "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok && data != "[DONE]" {
			take(data)
		}
	}
	return out
}

// scrapeMetrics reads the server's /metrics and returns the value of each
// sample named exactly as exposed (name{labels}).
func scrapeMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, body := get(t, base+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestServeAnthropicCloudOnly serves a model that only an Anthropic API
// has, through the real server and router: the text, finish reason and
// usage the client reads are exactly the upstream's, streamed or not, and
// /metrics counts the route and the spend.
func TestServeAnthropicCloudOnly(t *testing.T) {
	const text = "Hello from Claude: ünï 日本"
	cloud, calls := fakeAnthropic(t, text, "max_tokens")
	dir := t.TempDir()
	cfg := anthropicConfig(t, dir, cloud.URL, "")
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", cfg,
		"--chat-model", "", "--embed-model", "")
	defer srv.stop(t)
	base := "http://" + srv.addr

	for _, stream := range []bool{false, true} {
		got := postChat(t, base, "", "claudy", stream)
		if got.status != http.StatusOK || got.route != "cloud:anthropic" || got.text != text || got.finish != "length" ||
			got.usage.PromptTokens != anPromptTokens || got.usage.CompletionTokens != anCompletionTokens {
			t.Errorf("stream %v: %+v", stream, got)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests reached the cloud API", calls.Load())
	}
	m := scrapeMetrics(t, base)
	for name, want := range map[string]float64{
		`infergate_router_requests_total{model="claudy",reason="cloud_only",route="cloud:anthropic"}`: 2,
		`infergate_upstream_requests_total{upstream="anthropic"}`:                                     2,
		`infergate_upstream_time_to_first_token_seconds_count{upstream="anthropic"}`:                  2,
		`infergate_upstream_request_duration_seconds_count{upstream="anthropic"}`:                     2,
		`infergate_upstream_breaker_state{state="closed",upstream="anthropic"}`:                       1,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	if got := m["infergate_cloud_spend_usd"]; got < 2*anCostUSD-1e-12 || got > 2*anCostUSD+1e-12 {
		t.Errorf("spend %v, want %v", got, 2*anCostUSD)
	}
}
