package conversation

import "strings"

// The records Export writes, one JSON object a line.
//
// FormatChat, OpenAI's fine-tuning chat format:
//
//	{"messages":[
//	  {"role":"system","content":"<ExportOptions.SystemPrompt>"},   only when set
//	  {"role":"user","content":"<first message>"},
//	  {"role":"assistant","content":"<first answer>","weight":0},
//	  ...
//	  {"role":"user","content":"<the message answered>"},
//	  {"role":"assistant","content":"<the answer exported>"}]}
//
// A record is one answer with the conversation up to it, not the whole
// conversation: the export then has one record per answer, each answer is
// selected by the filters on its own (a rated-up answer in a conversation
// with a rated-down one), and a model learns every answer in the context
// it was given in. Every earlier assistant message carries "weight":0,
// OpenAI's marker for a message that is context, not a target, so that
// each answer is trained on once, in its own record, and answers the
// filters excluded (rated down, handoff messages, agents') are never
// trained on. User messages nobody answered stay in the history, one
// message each, so two user messages can follow each other.
//
// FormatPairs:
//
//	{"prompt":"<the user's message>","completion":"<the answer>"}
//
// The prompt is the user's text since the previous answer (several
// unanswered messages joined by a blank line). With
// ExportOptions.PairsHistory it is the whole conversation before the
// answer instead, one message a paragraph, each as "User: <text>" or
// "Assistant: <text>", the last being the user's.
//
// A record needs a user message before its answer (in FormatPairs
// without PairsHistory, one since the previous answer); an answer without
// one (an agent who writes first, or twice) makes no record. No record carries ids,
// dates or scores: OpenAI refuses keys it does not know, and a training
// file is better without them.

const (
	roleSystem    = "system"
	roleUser      = "user"
	roleAssistant = "assistant"
)

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Weight 0 marks an assistant message as context only; nil (trained
	// on) for the answer a record exports.
	Weight *int `json:"weight,omitempty"`
}

type chatRecord struct {
	Messages []chatMessage `json:"messages"`
}

type pairRecord struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// history is a conversation's messages so far.
type history struct {
	msgs []chatMessage
	// done is how many of msgs have been through prepare.
	done int
}

// prepare passes the messages not yet prepared through fn (redaction),
// once each, just before a record first holds them: so that a message no
// record holds is neither redacted nor counted.
func (h *history) prepare(fn func(string) string) {
	for ; h.done < len(h.msgs); h.done++ {
		h.msgs[h.done].Content = fn(h.msgs[h.done].Content)
	}
}

// add appends a message; an empty one is no message.
func (h *history) add(role, content string) {
	if content != "" {
		h.msgs = append(h.msgs, chatMessage{Role: role, Content: content})
	}
}

var weightZero = 0

// record is the record of the last message, an answer, in o's format,
// or false when no user message precedes it (see the comment above).
func (h *history) record(o ExportOptions) (any, bool) {
	n := len(h.msgs)
	if n < 2 || h.msgs[n-1].Role != roleAssistant {
		return nil, false
	}
	answer, before := h.msgs[n-1], h.msgs[:n-1]
	if !hasUser(before) {
		return nil, false
	}
	if o.Format == FormatPairs {
		p := prompt(before, o.PairsHistory)
		return pairRecord{Prompt: p, Completion: answer.Content}, p != ""
	}
	msgs := make([]chatMessage, 0, n+1)
	if o.SystemPrompt != "" {
		msgs = append(msgs, chatMessage{Role: roleSystem, Content: o.SystemPrompt})
	}
	for _, m := range before {
		if m.Role == roleAssistant {
			m.Weight = &weightZero
		}
		msgs = append(msgs, m)
	}
	return chatRecord{Messages: append(msgs, answer)}, true
}

func hasUser(msgs []chatMessage) bool {
	for _, m := range msgs {
		if m.Role == roleUser {
			return true
		}
	}
	return false
}

// prompt is FormatPairs' prompt for the messages before an answer: the
// user's messages since the last answer, or, with all, every message
// labelled by role.
func prompt(before []chatMessage, all bool) string {
	var b strings.Builder
	if all {
		for i, m := range before {
			if i > 0 {
				b.WriteString("\n\n")
			}
			if m.Role == roleUser {
				b.WriteString("User: ")
			} else {
				b.WriteString("Assistant: ")
			}
			b.WriteString(m.Content)
		}
		return b.String()
	}
	start := len(before)
	for start > 0 && before[start-1].Role == roleUser {
		start--
	}
	for i, m := range before[start:] {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(m.Content)
	}
	return b.String()
}
