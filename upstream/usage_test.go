package upstream

import (
	"testing"

	"github.com/infergate/infergate/llm"
)

func TestMaxUsage(t *testing.T) {
	chat := []llm.Message{{Role: llm.RoleSystem, Content: "Be terse."}, {Role: llm.RoleUser, Content: "héllo"}}
	tests := []struct {
		name               string
		maxTokens          int // the upstream's Config.MaxTokens
		req                llm.Request
		prompt, completion int
	}{
		// 9 + 6 bytes (é is two), two messages.
		{"messages", 0, llm.Request{Messages: chat, MaxTokens: 100}, 16 + 2*8 + 15, 100},
		{"no limit takes the default", 0, llm.Request{Messages: chat}, 16 + 2*8 + 15, DefaultMaxTokens},
		{"no limit takes the configured one", 500, llm.Request{Messages: chat}, 16 + 2*8 + 15, 500},
		{"prompt", 0, llm.Request{Prompt: "once upon", MaxTokens: 16}, 16 + 9, 16},
		{"token ids", 0, llm.Request{PromptTokens: []int32{1, 2, 3}, MaxTokens: 1}, 16 + 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{Name: "a", Kind: APIAnthropic, MaxTokens: tc.maxTokens}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			p, n := c.MaxUsage(tc.req)
			if p != tc.prompt || n != tc.completion {
				t.Errorf("MaxUsage = %d, %d; want %d, %d", p, n, tc.prompt, tc.completion)
			}
		})
	}
}
