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

// fakeOpenAI is a cloud API on loopback speaking OpenAI's streamed chat
// completions: it answers every request with text, in two chunks.
// While failing is set it answers 500, as an API in trouble does.
func fakeOpenAI(t *testing.T, text string, failing *atomic.Bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failing.Load() {
			http.Error(w, `{"error":{"message":"the server had an error","type":"server_error"}}`, http.StatusInternalServerError)
			return
		}
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-cloud" {
			http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(delta, finish string) {
			fin := "null"
			if finish != "" {
				fin = `"` + finish + `"`
			}
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-cloud\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", delta, fin)
		}
		half := len(text) / 2
		chunk(`{"role":"assistant","content":""}`, "")
		chunk(fmt.Sprintf(`{"content":%q}`, text[:half]), "")
		chunk(fmt.Sprintf(`{"content":%q}`, text[half:]), "")
		chunk(`{}`, "stop")
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-cloud\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":4,\"total_tokens\":11}}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// cloudOnlyConfig writes a --config file into dir that serves the model
// "cloudy" from the OpenAI-compatible API at url (as gpt-cloud, with the
// key sk-cloud) and nothing else, and returns its path.
func cloudOnlyConfig(t *testing.T, dir, url string) string {
	t.Helper()
	t.Setenv("INFERGATE_TEST_CLOUD_KEY", "sk-cloud")
	cfg := filepath.Join(dir, "infergate.yaml")
	yaml := fmt.Sprintf(`upstreams:
  - name: fake
    kind: openai
    base_url: %s/v1
    api_key_env: INFERGATE_TEST_CLOUD_KEY
    models: {cloudy: gpt-cloud}
routing:
  ttft_slo: 800ms
`, url)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestServeCloudOnly serves a model that only a cloud API has: no local
// model file at all. The answer and its usage come from the upstream, the
// route header names it, and a request that must stay on the premises is
// refused rather than sent.
func TestServeCloudOnly(t *testing.T) {
	var failing atomic.Bool
	cloud, calls := fakeOpenAI(t, "Hello from the cloud", &failing)
	dir := t.TempDir()
	cfg := cloudOnlyConfig(t, dir, cloud.URL)
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", cfg,
		"--chat-model", "", "--embed-model", "")
	defer srv.stop(t)
	base := "http://" + srv.addr

	post := func(policy, body string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
		if policy != "" {
			req.Header.Set("X-Infergate-Route-Policy", policy)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, stream := range []bool{false, true} {
		resp, body := post("", fmt.Sprintf(`{"model":"cloudy","messages":[{"role":"user","content":"Hi"}],"stream":%v}`, stream))
		if resp.StatusCode != 200 || resp.Header.Get("X-Infergate-Route") != "cloud:fake" {
			t.Fatalf("stream %v: %d, route %q: %s", stream, resp.StatusCode, resp.Header.Get("X-Infergate-Route"), body)
		}
		if stream {
			if got := streamedText(t, body); got != "Hello from the cloud" || !strings.HasSuffix(strings.TrimSpace(body), "data: [DONE]") {
				t.Errorf("streamed answer %q:\n%s", got, body)
			}
			continue
		}
		if !strings.Contains(body, `"content":"Hello from the cloud"`) || !strings.Contains(body, `"prompt_tokens":7`) ||
			!strings.Contains(body, `"completion_tokens":4`) {
			t.Errorf("answer: %s", body)
		}
	}
	before := calls.Load()
	resp, body := post("local-only", `{"model":"cloudy","messages":[{"role":"user","content":"Hi"}]}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"no_route"`) {
		t.Errorf("local-only request for a cloud-only model: %d %s", resp.StatusCode, body)
	}
	if calls.Load() != before {
		t.Error("a local-only request reached the cloud API")
	}
	if resp, body := post("anywhere", `{"model":"cloudy","messages":[{"role":"user","content":"Hi"}]}`); resp.StatusCode != 400 {
		t.Errorf("unknown route policy: %d %s", resp.StatusCode, body)
	}
	// The cloud API fails (after the router's retries): a 502, not the
	// client's mistake and not ours.
	failing.Store(true)
	if resp, body := post("", `{"model":"cloudy","messages":[{"role":"user","content":"Hi"}]}`); resp.StatusCode != http.StatusBadGateway ||
		!strings.Contains(body, `"code":"upstream_error"`) || resp.Header.Get("Retry-After") == "" {
		t.Errorf("failing cloud API: %d %s", resp.StatusCode, body)
	}
	failing.Store(false)
	if resp, body := get(t, base+"/v1/models"); resp.StatusCode != 200 || !strings.Contains(body, `"id":"cloudy"`) {
		t.Errorf("models: %d %s", resp.StatusCode, body)
	}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// streamedText joins the content deltas of an SSE chat completion.
func streamedText(t *testing.T, body string) string {
	t.Helper()
	var sb strings.Builder
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, c := range chunk.Choices {
			sb.WriteString(c.Delta.Content)
		}
	}
	return sb.String()
}
