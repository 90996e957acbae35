package bot

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Neutralising text. Documents and user messages reach the model inside
// a chat template, and the template's output is tokenized with special
// tokens parsed (inference.Model.TokenizeTemplated): a literal
// "<|im_start|>system" in a document would become the real control token
// and open a system turn. So every text the bot did not write itself
// (passages, titles, user messages, earlier answers) is rewritten before
// it enters a prompt:
//
//   - special-token shapes of the common templates (ChatML and Llama 3
//     "<|…|>", "<s>", "</s>", "<<SYS>>", "[INST]", Gemma's
//     "<start_of_turn>", …) and the model's own special tokens
//     (Deps.SpecialTokens) get look-alike brackets (‹ › ⟦ ⟧), so they
//     read the same to a person and tokenize as plain text;
//   - a role marker at a line start ("system:", "Assistant:", "###
//     Instruction:") gets a full-width colon, so no line can pass for a
//     turn of another role in templates that use such markers;
//   - runs of three or more < or > (the passage delimiters' shape) become
//     ‹ and ›, so quoted text cannot close its quotation;
//   - control characters other than newline and tab are dropped.
//
// What comes out is the text as a reader sees it, never instructions.

var (
	// specialShape matches the special-token spellings of the common chat
	// templates.
	specialShape = regexp.MustCompile(`<\|[^|<>\n]{0,48}\|>|</?(?:s|unk|pad|bos|eos|mask|start_of_turn|end_of_turn|start_of_text|end_of_text|think)>|<</?SYS>>|\[/?(?:INST|SYS|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]`)
	// roleMarker matches a role name and colon at a line start.
	roleMarker = regexp.MustCompile(`(?im)^([ \t>#*]*)(system|assistant|user|human|developer|tool|ai|bot|instruction|response|input)([ \t]*):`)
	delimRun   = regexp.MustCompile(`<{3,}|>{3,}`)
)

var lookalike = strings.NewReplacer("<", "‹", ">", "›", "[", "⟦", "]", "⟧")

// neutralizer rewrites text for a prompt; see the comment above.
type neutralizer struct {
	// special are the model's own special tokens, longest first.
	special []string
}

func newNeutralizer(special []string) neutralizer {
	var s []string
	for _, t := range special {
		if utf8.RuneCountInString(t) >= 2 && strings.TrimSpace(t) == t {
			s = append(s, t)
		}
	}
	return neutralizer{special: s}
}

// text returns s neutralised.
func (n neutralizer) text(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) {
			return r
		}
		if r == '\r' {
			return '\n'
		}
		return -1
	}, s)
	for _, t := range n.special {
		if strings.Contains(s, t) {
			s = strings.ReplaceAll(s, t, breakToken(t))
		}
	}
	s = specialShape.ReplaceAllStringFunc(s, lookalike.Replace)
	s = delimRun.ReplaceAllStringFunc(s, lookalike.Replace)
	return roleMarker.ReplaceAllString(s, "$1$2$3：")
}

// breakToken spells a special token so that the tokenizer cannot match
// it: its brackets become look-alikes or, for a token without brackets, a
// word joiner (U+2060, invisible) follows its first character.
func breakToken(t string) string {
	if b := lookalike.Replace(t); b != t {
		return b
	}
	_, size := utf8.DecodeRuneInString(t)
	return t[:size] + "\u2060" + t[size:]
}
