package upstream

import "github.com/infergate/infergate/llm"

// What a chat format adds to the text of a prompt, in tokens: OpenAI's
// counts 3 to 4 per message (the role and the message boundaries) and 3
// for priming the reply; Anthropic's are of the same order. The bounds are
// generous because they only have to be above the truth: a budget reserves
// them and settles to the usage reported.
const (
	requestOverheadTokens = 16
	messageOverheadTokens = 8
)

// MaxUsage bounds the usage the upstream can bill req for, so that a
// budget can reserve the worst case before the request is sent.
//
// The prompt bound is the prompt's length in bytes plus the chat format's
// tokens: the cloud APIs' tokenizers (byte-level BPE) never make more
// tokens of a text than it has bytes. It is about four times the real
// count for English, which costs little as input is the cheaper side; the
// reservation is settled to the reported usage when the stream ends.
//
// The completion bound is req.MaxTokens or, for a request that sets none,
// Config.MaxTokens. Anthropic is sent that limit, so it is a bound there;
// an OpenAI-compatible API is sent no limit, so for it this is an
// estimate, and a budget can be exceeded by what such requests generate
// beyond it (set max_tokens on requests to make it a bound).
func (c *Client) MaxUsage(req llm.Request) (promptTokens, completionTokens int) {
	promptTokens = requestOverheadTokens + len(req.PromptTokens) + len(req.Prompt)
	for _, m := range req.Messages {
		promptTokens += messageOverheadTokens + len(m.Content)
	}
	completionTokens = req.MaxTokens
	if completionTokens <= 0 {
		completionTokens = c.cfg.MaxTokens
	}
	return promptTokens, completionTokens
}
