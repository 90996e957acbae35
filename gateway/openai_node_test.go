package gateway

import (
	"slices"
	"testing"

	"github.com/infergate/infergate/internal/sdktest"
)

// TestOpenAINodeClient drives the server over the real test models with
// the official openai npm package (internal/sdktest). It needs node and the
// package: npm ci --prefix gateway/testdata.
func TestOpenAINodeClient(t *testing.T) {
	sdktest.Node(t)
	cfg := realConfig(t)
	_, base := startServer(t, cfg)
	checks := sdktest.Run(t, sdktest.Target{BaseURL: base + "/v1", APIKey: key, ChatModel: cfg.Models[0].ID, EmbedModel: cfg.Models[1].ID})
	if !slices.Contains(checks, "embeddings.create") {
		t.Errorf("checks %v: the embedding checks did not run", checks)
	}
}
