package gateway

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/testenv"
)

// TestOpenAINodeClient drives the server with the official openai npm
// package (gateway/testdata/openai_client.mjs), so that compatibility is
// checked by a real client rather than by our reading of the spec. It needs
// node and the package: npm ci --prefix gateway/testdata.
func TestOpenAINodeClient(t *testing.T) {
	node := nodeClient(t)
	cfg := realConfig(t)
	_, base := startServer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "openai_client.mjs")
	cmd.Dir = "testdata"
	cmd.Env = append(os.Environ(),
		"OPENAI_BASE_URL="+base+"/v1",
		"OPENAI_API_KEY="+key,
		"CHAT_MODEL="+cfg.Models[0].ID,
		"EMBED_MODEL="+cfg.Models[1].ID,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openai client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("openai client output: %s", out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// nodeClient finds node and the openai package for TestOpenAINodeClient;
// without them the test is skipped, or fails under CI.
func nodeClient(tb testing.TB) (node string) {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(tb, "node is not installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join("testdata", "node_modules", "openai", "package.json")); err != nil {
		testenv.Missing(tb, "the openai npm package is missing (run npm ci --prefix gateway/testdata): %v", err)
	}
	return node
}
