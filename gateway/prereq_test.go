package gateway

import (
	"testing"

	"github.com/infergate/infergate/batcher"
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
		{"node", func(tb testing.TB) { nodeClient(tb) }},
	} {
		for _, ci := range []string{"", "true"} {
			t.Run(tc.name+"/CI="+ci, func(t *testing.T) {
				t.Setenv("CI", ci)
				t.Setenv("PATH", t.TempDir()) // no node
				out := testenv.Record(t, tc.need)
				if ci == "" && (!out.Skipped || out.Failed) || ci != "" && (!out.Failed || out.Skipped) {
					t.Errorf("CI=%q: %+v", ci, out)
				}
			})
		}
	}
}
