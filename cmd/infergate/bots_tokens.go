package main

// cloudContextTokens is the context assumed for a cloud-only bot model,
// whose tokenizer and window infergate does not know: 8k is below every
// current chat model's window, so a prompt fitted to it is never refused.
const cloudContextTokens = 8192

// estimateTokenizer counts tokens for a model whose tokenizer is remote,
// at the common four bytes a token, rounded up: English BPE text runs at
// about that, so prompts fit with a margin; the ids are meaningless and
// only their number is used (bot.Tokenizer fits prompts by count).
type estimateTokenizer struct{ seqCtx int }

func (e estimateTokenizer) Tokenize(text string) ([]int32, error) {
	return make([]int32, (len(text)+3)/4), nil
}

func (e estimateTokenizer) SeqCtx() int { return e.seqCtx }
