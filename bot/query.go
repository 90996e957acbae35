package bot

import (
	"strings"

	"github.com/infergate/infergate/bot/conversation"
)

// The retrieval query of a turn is the customer's last message in the
// context of the conversation. A follow-up such as "and for Spain?" or
// "how long does it take?" names nothing the knowledge base could match,
// so it is searched together with the previous user message when it is
//
//   - short: fewer than followUpWords words, or
//   - anaphoric: it starts with a continuation ("and", "what about", "y",
//     "et", "und", "e") or holds a pronoun that points back ("it", "that",
//     "this", "they", "eso", "ça", "isso", …), as words, folded.
//
// Only one previous message is added: older ones would drown the new
// question in vector space. The bot's answers are never part of the
// query (they are the model's words, not the customer's).
const followUpWords = 4

var (
	continuations = []string{"and", "but", "also", "what about", "how about", "and if", "y", "pero", "et", "mais", "und", "aber", "e", "mas"}
	anaphora      = map[string]bool{
		"it": true, "its": true, "that": true, "this": true, "those": true, "these": true, "they": true,
		"them": true, "there": true, "one": true,
		"eso": true, "esto": true, "ello": true, "esa": true, "ese": true,
		"ca": true, "cela": true, "ceci": true,
		"dies": true, "dieses": true, "damit": true, "dafur": true,
		"isso": true, "isto": true, "esse": true, "essa": true,
	}
)

// retrievalQuery returns the text to search for text, the customer's new
// message, after turns.
func retrievalQuery(turns []conversation.Turn, text string) string {
	prev := ""
	for i := len(turns) - 1; i >= 0 && prev == ""; i-- {
		prev = strings.TrimSpace(turns[i].User)
	}
	if prev == "" || !isFollowUp(text) {
		return text
	}
	return prev + "\n" + text
}

// isFollowUp reports whether text needs the previous message to be
// searched (the rule above).
func isFollowUp(text string) bool {
	f := fold(text)
	words := strings.Fields(f)
	if len(words) < followUpWords {
		return true
	}
	for _, c := range continuations {
		if f == c || strings.HasPrefix(f, c+" ") {
			return true
		}
	}
	for _, w := range words {
		if anaphora[w] {
			return true
		}
	}
	return false
}
