package bot

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/infergate/infergate/bot/conversation"
)

// Citations. The model cites passages as [n], n being the passage's
// number in the prompt. Before any text is sent, every reference is
// checked against the passages that were in the prompt: a reference to a
// number that was not there (a hallucinated [7] with four passages) is
// removed from the text, so that the customer never sees a citation the
// bot cannot back, and counted (infergate_bot_guardrail_total, reason
// invalid_citation). The citations event lists the valid ones, in the
// order of their first use.

// refPattern is one reference; references run to three digits.
var refPattern = regexp.MustCompile(`\[(\d{1,3})\]`)

// maxRefChars is the longest reference, "[123]": the hold-back never
// releases a "[" that may still become one.
const maxRefChars = 5

// Citation is one reference of an answer, as the citations event carries
// it.
type Citation struct {
	// Ref is the number the answer cites it by.
	Ref        int     `json:"ref"`
	DocumentID string  `json:"document_id"`
	ChunkID    uint64  `json:"chunk_id"`
	Title      string  `json:"title,omitempty"`
	URL        string  `json:"url,omitempty"`
	Score      float64 `json:"score"`
}

// dropInvalidRefs removes from s the references to passages not in the
// prompt (outside 1..n) and returns how many it removed.
func dropInvalidRefs(s string, n int) (string, int) {
	dropped := 0
	out := refPattern.ReplaceAllStringFunc(s, func(m string) string {
		k, _ := strconv.Atoi(m[1 : len(m)-1])
		if k >= 1 && k <= n {
			return m
		}
		dropped++
		return ""
	})
	return out, dropped
}

// citations returns the passages that text cites, each once, in the order
// of first use. text has been through dropInvalidRefs, but the check is
// repeated: a citation outside the prompt is never returned.
func citations(text string, ps []passage) []Citation {
	var out []Citation
	seen := make(map[int]bool)
	for _, m := range refPattern.FindAllStringSubmatch(text, -1) {
		k, _ := strconv.Atoi(m[1])
		if k < 1 || k > len(ps) || seen[k] {
			continue
		}
		seen[k] = true
		h := ps[k-1].Hit
		out = append(out, Citation{Ref: k, DocumentID: h.DocumentID, ChunkID: h.ChunkID, Title: h.Metadata.Title, URL: h.Metadata.URL, Score: h.Score})
	}
	return out
}

// logCitations are the citations as the conversation log stores them.
func logCitations(cs []Citation) []conversation.Citation {
	out := make([]conversation.Citation, 0, len(cs))
	for _, c := range cs {
		out = append(out, conversation.Citation{Document: c.DocumentID, Title: c.Title, URL: c.URL, Chunk: uint32(c.ChunkID)})
	}
	return out
}

// openRef returns the index in s of a trailing "[" that may still become
// a reference ("[", "[1", "[12"), or -1.
func openRef(s string) int {
	i := strings.LastIndexByte(s, '[')
	if i < 0 || len(s)-i >= maxRefChars {
		return -1
	}
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return -1
		}
	}
	return i
}
