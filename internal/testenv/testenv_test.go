package testenv

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		skip, fail bool
	}{
		{ci: "", skip: true},
		{ci: "true", fail: true},
		{ci: "1", fail: true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			after := false
			out := Record(t, func(tb testing.TB) {
				Missing(tb, "model %s not found", "m.gguf")
				after = true
			})
			if out.Skipped != tc.skip || out.Failed != tc.fail || !strings.Contains(out.Message, "model m.gguf not found") {
				t.Errorf("outcome %+v, want skip %v fail %v", out, tc.skip, tc.fail)
			}
			if after {
				t.Error("the test went on after Missing")
			}
		})
	}
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			time.Sleep(time.Millisecond)
			n.Add(1)
		}
	}()
	Eventually(t, 5*time.Second, func() bool { return n.Load() == 3 }, "n did not reach 3")

	out := Record(t, func(tb testing.TB) {
		Eventually(tb, 20*time.Millisecond, func() bool { return false }, "never %s", "true")
	})
	if !out.Failed || !strings.Contains(out.Message, "never true") {
		t.Errorf("outcome %+v", out)
	}
}
