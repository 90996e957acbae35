package batcher

import (
	"testing"

	"github.com/infergate/infergate/llm"
)

func TestEndText(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stops      []string
		sent       string // text added during the generation
		pending    string // what the decoder flushes at the end
		reason     string
		wantText   string // returned at the end
		wantReason string
	}{
		{"nothing held", []string{"END"}, "abc", "", llm.FinishLength, "", llm.FinishLength},
		{"held prefix of a stop is answer text", []string{"END"}, "abcEN", "", llm.FinishLength, "EN", llm.FinishLength},
		{"pending bytes complete the stop", []string{"EN\uFFFD"}, "abcEN", "\uFFFD", llm.FinishLength, "", llm.FinishStop},
		{"pending text before a stop", []string{"x\uFFFD"}, "ab", "x\uFFFD", llm.FinishLength, "", llm.FinishStop},
		{"pending text that is no stop", []string{"END"}, "abcE", "\uFFFD", llm.FinishLength, "E\uFFFD", llm.FinishLength},
		{"end of generation keeps its reason", nil, "abc", "\uFFFD", llm.FinishStop, "\uFFFD", llm.FinishStop},
	} {
		m := stopMatcher{stops: tc.stops}
		if _, hit := m.add(tc.sent); hit {
			t.Fatalf("%s: the stop matched before the end", tc.name)
		}
		text, reason := endText(&m, tc.pending, tc.reason)
		if text != tc.wantText || reason != tc.wantReason {
			t.Errorf("%s: endText = %q, %s; want %q, %s", tc.name, text, reason, tc.wantText, tc.wantReason)
		}
	}
}
