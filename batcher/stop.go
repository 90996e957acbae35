package batcher

import (
	"strings"

	"github.com/infergate/infergate/llm"
)

// stopMatcher finds stop strings in generated text, which may arrive split
// across tokens. Text that could still become a stop string is held back,
// so a client never sees part of one.
type stopMatcher struct {
	stops []string
	held  string
}

// add takes new text and returns what can be sent now, and whether a stop
// string was found (the text before it is returned, the rest dropped).
func (m *stopMatcher) add(text string) (string, bool) {
	if len(m.stops) == 0 {
		return text, false
	}
	buf := m.held + text
	first := -1
	for _, s := range m.stops {
		if i := strings.Index(buf, s); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		m.held = ""
		return buf[:first], true
	}
	keep := 0
	for _, s := range m.stops {
		// Longest suffix of buf that is a proper prefix of s.
		for n := min(len(s)-1, len(buf)); n > keep; n-- {
			if strings.HasSuffix(buf, s[:n]) {
				keep = n
				break
			}
		}
	}
	m.held = buf[len(buf)-keep:]
	return buf[:len(buf)-keep], false
}

// flush returns the held-back text at the end of a generation that did not
// stop on a stop string.
func (m *stopMatcher) flush() string {
	s := m.held
	m.held = ""
	return s
}

// endText is what a generation ending for reason still owes its client:
// pending, the bytes of an unfinished character (which the decoder's Flush
// turned into text), and the text held back as a possible stop string.
// pending can complete a stop string after all: the generation then ends
// with llm.FinishStop, and nothing from the stop string on is sent.
func endText(m *stopMatcher, pending, reason string) (string, string) {
	text, hit := m.add(pending)
	if hit {
		return text, llm.FinishStop
	}
	return text + m.flush(), reason
}
