package router

import (
	"testing"

	"github.com/infergate/infergate/llm"
)

// An Anthropic upstream through the router, end to end over a real HTTP
// server speaking the Messages API's events: the text arrives exactly, in
// order, with the finish reason and usage translated to OpenAI's terms,
// and the spend is the usage at the upstream's prices.
func TestAnthropicThroughRouter(t *testing.T) {
	tests := []struct {
		stop   string
		finish string
	}{
		{"end_turn", llm.FinishStop},
		{"stop_sequence", llm.FinishStop},
		{"max_tokens", llm.FinishLength},
		{"refusal", llm.FinishContentFilter},
	}
	for _, tc := range tests {
		t.Run(tc.stop, func(t *testing.T) {
			a := newAnthropicCloud(t, tc.stop, "Hello", ", wor", "ld! ünï 日本", "")
			h := newHarness(t, Config{}, (*fakeLocal)(nil), a.client(t, "claude"))
			text, res, d, err := h.generate(t, t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if text != "Hello, world! ünï 日本" || d.Route != "cloud:claude" || d.Reason != ReasonCloudOnly {
				t.Errorf("%q via %s/%s", text, d.Route, d.Reason)
			}
			if res.Err != nil || res.FinishReason != tc.finish || res.PromptTokens != anPrompt || res.CachedTokens != anCached ||
				res.CompletionTokens != anCompletion || res.Route != "cloud:claude" || res.Model != "claude-test-2025" {
				t.Errorf("result %+v, want finish %s and usage %d (%d cached) + %d", res, tc.finish, anPrompt, anCached, anCompletion)
			}
			if want := (anPrompt*3.0 + anCompletion*15.0) / 1e6; h.budget.Spent() != want {
				t.Errorf("spent %g, want %g", h.budget.Spent(), want)
			}
			if a.calls.Load() != 1 {
				t.Errorf("%d requests", a.calls.Load())
			}
		})
	}
}
