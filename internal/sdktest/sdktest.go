// Package sdktest runs the official OpenAI Node SDK, unmodified, against
// a running server: gateway/testdata/openai_client.mjs, the way an
// application would call it. Every configuration that must be OpenAI
// compatible (the gateway over local models, a cloud-only server) runs the
// same script through Run, so that compatibility is checked by a real
// client rather than by our reading of the spec. It needs node and the
// package: npm ci --prefix gateway/testdata.
package sdktest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/testenv"
)

// Target is the server the script drives.
type Target struct {
	BaseURL   string // the API root, ending in /v1
	APIKey    string // a key the server accepts
	ChatModel string
	// EmbedModel is the embedding model; empty for a server without one,
	// whose embedding checks are then left out.
	EmbedModel string
	// Route is the X-Infergate-Route the chat answers must carry; empty
	// means "local".
	Route string
}

// scriptDir is gateway/testdata, found from this file's place in the
// repository so that tests of any package can run the script.
func scriptDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "gateway", "testdata")
}

// Node returns the node binary, once it has checked that node and the
// openai package are installed; without them the test is skipped, or
// fails under CI (testenv.Missing).
func Node(tb testing.TB) string {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(tb, "node is not installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(scriptDir(), "node_modules", "openai", "package.json")); err != nil {
		testenv.Missing(tb, "the openai npm package is missing (run npm ci --prefix gateway/testdata): %v", err)
	}
	return node
}

// Run runs the script against t and returns the names of the checks that
// passed; any failed check fails tb with the script's output.
func Run(tb testing.TB, t Target) []string {
	tb.Helper()
	node := Node(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "openai_client.mjs")
	cmd.Dir = scriptDir()
	cmd.Env = append(os.Environ(),
		"OPENAI_BASE_URL="+t.BaseURL,
		"OPENAI_API_KEY="+t.APIKey,
		"CHAT_MODEL="+t.ChatModel,
		"EMBED_MODEL="+t.EmbedModel,
		"EXPECT_ROUTE="+t.Route,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("openai client: %v\n%s", err, out)
	}
	// The script's last line is its verdict: {"ok":true,"checks":[...]}.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var verdict struct {
		OK     bool     `json:"ok"`
		Checks []string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &verdict); err != nil || !verdict.OK {
		tb.Fatalf("openai client output (%v): %s", err, out)
	}
	tb.Logf("%s", strings.TrimSpace(string(out)))
	return verdict.Checks
}
