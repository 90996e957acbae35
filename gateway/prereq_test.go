package gateway

import (
	"testing"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/internal/sdktest"
	"github.com/infergate/infergate/internal/testenv"
)

// TestMissingPrerequisitesFailUnderCI: without a test model, or node and
// the openai package, the tests that need them are skipped on a developer's
// machine and fail under CI, where a skipped test would pass unrun.
func TestMissingPrerequisitesFailUnderCI(t *testing.T) {
	for _, tc := range []struct {
		name string
		need func(tb testing.TB)
	}{
		{"model", func(tb testing.TB) { newBatcher(tb, "no-such-model.gguf", batcher.Config{}) }},
		{"node", func(tb testing.TB) { sdktest.Node(tb) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir()) // no node
			testenv.CheckMissing(t, tc.need)
		})
	}
}
