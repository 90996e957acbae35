package main

import (
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/sdktest"
)

// TestServeCloudOnlyOpenAISDK: a server without any local model, serving
// only a cloud-only chat model, passes the official OpenAI Node SDK's
// checks that the gateway over local models passes (internal/sdktest),
// embeddings aside. The cloud API is bench's FakeCloud on loopback: OpenAI's
// wire format, max_tokens honoured, usage reported, and unknown request
// parameters refused as the real API refuses them.
func TestServeCloudOnlyOpenAISDK(t *testing.T) {
	sdktest.Node(t)
	fake := bench.NewFakeCloud(bench.FakeCloudConfig{APIKey: "sk-cloud", Models: []string{"gpt-cloud"}})
	cloud := httptest.NewServer(fake)
	defer cloud.Close()
	dir := t.TempDir()
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", cloudOnlyConfig(t, dir, cloud.URL),
		"--chat-model", "", "--embed-model", "", "--api-key", "sk-test")
	defer srv.stop(t)

	checks := sdktest.Run(t, sdktest.Target{BaseURL: "http://" + srv.addr + "/v1", APIKey: "sk-test", ChatModel: "cloudy", Route: "cloud:fake"})
	for _, want := range []string{"models.list", "chat.completions.create", "chat.completions.create stream", "chat.completions.stream helper",
		"chat.completions json_object", "completions.create", "completions.create stream", "errors"} {
		if !slices.Contains(checks, want) {
			t.Errorf("check %q did not run (ran %v)", want, checks)
		}
	}
	if fake.Requests() == 0 {
		t.Error("no request reached the cloud API")
	}
}
