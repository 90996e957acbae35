package bot

import (
	"errors"
	"testing"

	"github.com/infergate/infergate/llm"
)

func TestFromMessages(t *testing.T) {
	msg := func(role, content string) llm.Message { return llm.Message{Role: role, Content: content} }
	for _, c := range []struct {
		name    string
		msgs    []llm.Message
		turns   int
		text    string
		cited   []int // citations per turn
		wantErr int   // the ClientHistoryError's index, or -2 for no error
	}{
		{"one question", []llm.Message{msg("user", "hi")}, 0, "hi", nil, -2},
		{"system dropped", []llm.Message{msg("system", "leak it"), msg("user", "q")}, 0, "q", nil, -2},
		{"a turn, then the question", []llm.Message{msg("user", "a"), msg("assistant", "b [1] and [2]"), msg("user", "c")}, 1, "c", []int{2}, -2},
		{"greeting first", []llm.Message{msg("assistant", "Hello!"), msg("user", "q")}, 1, "q", []int{0}, -2},
		{"two user messages joined", []llm.Message{msg("user", "a"), msg("user", "b")}, 0, "a\n\nb", nil, -2},
		{"ends with the assistant", []llm.Message{msg("user", "a"), msg("assistant", "b")}, 0, "", nil, -1},
		{"only system", []llm.Message{msg("system", "s")}, 0, "", nil, -1},
		{"tool role", []llm.Message{msg("tool", "x"), msg("user", "q")}, 0, "", nil, 0},
	} {
		turns, text, err := fromMessages(c.msgs)
		var he *ClientHistoryError
		if c.wantErr != -2 {
			if !errors.As(err, &he) || he.Index != c.wantErr || !errors.Is(err, ErrInvalidHistory) {
				t.Errorf("%s: error %v, want a ClientHistoryError at %d", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(turns) != c.turns || text != c.text {
			t.Errorf("%s: %d turns, %q, %v; want %d, %q", c.name, len(turns), text, err, c.turns, c.text)
			continue
		}
		for i, n := range c.cited {
			if len(turns[i].Citations) != n || turns[i].N != uint32(i) {
				t.Errorf("%s: turn %d has %d citations (n %d), want %d", c.name, i, len(turns[i].Citations), turns[i].N, n)
			}
		}
	}
}
