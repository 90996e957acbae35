package llm

import (
	"errors"
	"testing"
	"time"
)

func TestResultTotalTokens(t *testing.T) {
	tests := []struct {
		r    Result
		want int
	}{
		{Result{}, 0},
		{Result{PromptTokens: 10, CompletionTokens: 5, CachedTokens: 4}, 15}, // cached are part of prompt
	}
	for _, tc := range tests {
		if got := tc.r.TotalTokens(); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.r, got, tc.want)
		}
	}
}

func TestCloudRoute(t *testing.T) {
	tests := map[string]string{"openai": "cloud:openai", "": "cloud:"}
	for name, want := range tests {
		if got := CloudRoute(name); got != want {
			t.Errorf("CloudRoute(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	cause := errors.New("bad template")
	tests := []struct {
		err  error
		want string
	}{
		{&OverloadedError{RetryAfter: 2 * time.Second}, "server overloaded: admission queue full, retry after 2s"},
		{&PromptTooLongError{Tokens: 9000, Limit: 4096}, "prompt is 9000 tokens, the context holds 4096"},
		{&RequestError{Field: FieldMessages, Err: cause}, "messages: bad template"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%T: %q, want %q", tc.err, got, tc.want)
		}
	}
	if !errors.Is(&RequestError{Field: FieldPrompt, Err: cause}, cause) {
		t.Error("RequestError does not unwrap")
	}
}
