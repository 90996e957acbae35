package bot

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The output check. The system prompt and the bot's rules (the prompt's
// hidden part, everything but the passages) must never reach the
// customer, whatever the customer or a document asked for. An answer
// leaks when it holds a span of at least Guardrails.LeakChars characters
// of the hidden text verbatim, compared with case folded and whitespace
// runs as one space (leakFold). A leaking answer is replaced with
// RefusalMessage, and the turn is recorded with the refusal and counted
// (guardrail reason prompt_leak).
//
// # Streaming hold-back
//
// Deltas are checked before they are released. The stream holds back the
// last LeakChars folded characters of what was generated (and a trailing
// "[" that may still become a citation, and never splits a citation), so
// that when a leaking span completes, at most its first character has
// been sent: a leaking span of L characters is detected the moment its
// last character arrives, and all but its first character are then still
// held. The same hold-back keeps CannotHelpMarker, which is shorter than
// LeakChars, from ever being released. The cost is latency: the customer
// sees each character about LeakChars characters (a dozen tokens) after
// the model wrote it; the check itself is a set lookup per character.

// leakFold is the form the check compares in: each rune lowercased and
// every whitespace run one space. It maps runes one to one, except that
// whitespace runs collapse, which the hold-back's counting follows.
func leakFold(s string) []rune {
	out := make([]rune, 0, len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !space {
				out = append(out, ' ')
			}
			space = true
			continue
		}
		space = false
		out = append(out, unicode.ToLower(r))
	}
	return out
}

// leakChecker finds verbatim spans of a hidden text.
type leakChecker struct {
	n     int
	spans map[string]struct{}
}

// newLeakChecker indexes every span of n folded runes of hidden.
func newLeakChecker(hidden string, n int) *leakChecker {
	f := leakFold(hidden)
	c := &leakChecker{n: n, spans: make(map[string]struct{}, max(0, len(f)-n+1))}
	for i := 0; i+n <= len(f); i++ {
		c.spans[string(f[i:i+n])] = struct{}{}
	}
	return c
}

// leaks reports whether text holds a span of the hidden text.
func (c *leakChecker) leaks(text string) bool {
	f := leakFold(text)
	for i := 0; i+c.n <= len(f); i++ {
		if _, ok := c.spans[string(f[i:i+c.n])]; ok {
			return true
		}
	}
	return false
}

// holdback is the stream's output gate: it accumulates generated text and
// says what may be released (see above).
type holdback struct {
	check    *leakChecker
	refs     int // passages in the prompt: references 1..refs are valid
	text     strings.Builder
	released int // bytes of text already released
	// folded is the folded form of text, and checked the number of its
	// runes whose spans ending there were checked.
	folded  []rune
	space   bool
	checked int
	// Leaked and CannotHelp say why the stream was stopped.
	Leaked, CannotHelp bool
	// Dropped counts references removed as invalid.
	Dropped int
}

// push adds generated text and returns the text now safe to release,
// with invalid references removed. After Leaked or CannotHelp it returns
// nothing more; the caller stops the generation.
func (h *holdback) push(s string) string {
	if h.Leaked || h.CannotHelp {
		return ""
	}
	h.text.WriteString(s)
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !h.space {
				h.folded = append(h.folded, ' ')
			}
			h.space = true
			continue
		}
		h.space = false
		h.folded = append(h.folded, unicode.ToLower(r))
	}
	n := h.check.n
	for end := max(h.checked, n); end <= len(h.folded); end++ {
		if _, ok := h.check.spans[string(h.folded[end-n:end])]; ok {
			h.Leaked = true
			return ""
		}
	}
	h.checked = len(h.folded)
	full := h.text.String()
	if strings.Contains(full, CannotHelpMarker) {
		h.CannotHelp = true
		return ""
	}
	return h.release(holdStart(full, h.check.n))
}

// finish returns the rest of the text once the generation has ended.
func (h *holdback) finish() string {
	if h.Leaked || h.CannotHelp {
		return ""
	}
	return h.release(h.text.Len())
}

// release releases text up to byte end, never splitting a reference.
func (h *holdback) release(end int) string {
	full := h.text.String()
	if end < len(full) {
		if i := openRef(full[:end]); i >= 0 {
			end = i
		}
	}
	if end <= h.released {
		return ""
	}
	out, dropped := dropInvalidRefs(full[h.released:end], h.refs)
	h.Dropped += dropped
	h.released = end
	return out
}

// holdStart is the byte offset in s after which the last n folded runes
// begin: s[:holdStart] may be released.
func holdStart(s string, n int) int {
	count, i := 0, len(s)
	inSpace := false
	for i > 0 && count < n {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if unicode.IsSpace(r) {
			if !inSpace {
				count++
			}
			inSpace = true
		} else {
			count++
			inSpace = false
		}
		i -= size
	}
	// Keep a whitespace run whole on the held side, so the folded count
	// stays right.
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) || !inSpace {
			break
		}
		i -= size
	}
	return i
}
