package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/infergate/infergate/bot/conversation"
	"github.com/infergate/infergate/llm"
)

// journal is where a turn reads its history and records its outcome. A
// turn of the conversation API journals in the conversation log (logged);
// a turn of an OpenAI client, which keeps the conversation itself and
// sends it whole with every request, journals nowhere (clientHistory).
// The pipeline between (escalation, retrieval, the gate, generation, the
// guardrails) is the same for both.
type journal interface {
	// load returns the conversation and its turns so far.
	load(ctx context.Context) (*conversation.Conversation, []conversation.Turn, error)
	// appendTurn records a finished turn and returns it numbered.
	appendTurn(ctx context.Context, t conversation.Turn) (conversation.Turn, error)
	// handoff hands the conversation to a human and returns its new state
	// and the ticket's reference ("" when there is no conversation to
	// hand off, only the signal to pass on).
	handoff(ctx context.Context, req conversation.HandoffRequest) (*conversation.Conversation, string, error)
}

// logged is a conversation of the conversation log, for its owner.
type logged struct {
	b     *Bot
	id    string
	owner conversation.Owner
}

func (j logged) load(ctx context.Context) (*conversation.Conversation, []conversation.Turn, error) {
	return j.b.d.Log.Get(ctx, j.b.cfg.Name, j.id, j.owner)
}

func (j logged) appendTurn(ctx context.Context, t conversation.Turn) (conversation.Turn, error) {
	return j.b.d.Log.AppendTurn(ctx, j.b.cfg.Name, j.id, j.owner, t)
}

func (j logged) handoff(ctx context.Context, req conversation.HandoffRequest) (*conversation.Conversation, string, error) {
	c, tk, err := j.b.d.Log.Handoff(ctx, j.b.cfg.Name, j.id, j.owner, req)
	return c, tk.ID, err
}

// clientHistory is a conversation the client keeps: its history comes
// with the request, nothing is stored, and a handoff is only signalled
// (the client's system owns the conversation and routes it to a human).
type clientHistory struct {
	conv  conversation.Conversation
	turns []conversation.Turn
}

func (j *clientHistory) load(context.Context) (*conversation.Conversation, []conversation.Turn, error) {
	return &j.conv, j.turns, nil
}

func (j *clientHistory) appendTurn(_ context.Context, t conversation.Turn) (conversation.Turn, error) {
	t.N = uint32(len(j.turns))
	return t, nil
}

func (j *clientHistory) handoff(_ context.Context, req conversation.HandoffRequest) (*conversation.Conversation, string, error) {
	c := j.conv
	c.Status, c.HandoffReason, c.Turns = conversation.StatusHandedOff, req.Reason, uint32(len(j.turns))+1
	return &c, "", nil
}

// ClientHistoryError is an OpenAI-style message list a bot cannot answer;
// it wraps ErrInvalidHistory.
type ClientHistoryError struct {
	// Index is the offending message's index, -1 for the list as a whole.
	Index int
	Msg   string
}

func (e *ClientHistoryError) Error() string {
	if e.Index < 0 {
		return "messages: " + e.Msg
	}
	return fmt.Sprintf("messages[%d]: %s", e.Index, e.Msg)
}

func (e *ClientHistoryError) Unwrap() error { return ErrInvalidHistory }

// fromMessages turns an OpenAI client's messages into the bot's history
// and the question to answer, the last message, which must be the user's.
// System messages are dropped: the bot's own instructions govern, and a
// client's system message would be a way around its scope and guardrails.
// A user message followed by an assistant message is one turn; several
// user messages in a row are one question, joined by blank lines; an
// assistant message without a question before it (a greeting) is kept as
// a turn without user text.
func fromMessages(msgs []llm.Message) ([]conversation.Turn, string, error) {
	var turns []conversation.Turn
	var asked []string
	last := -1
	for i, m := range msgs {
		switch m.Role {
		case llm.RoleSystem:
			continue
		case llm.RoleUser:
			asked = append(asked, m.Content)
		case llm.RoleAssistant:
			turns = append(turns, conversation.Turn{N: uint32(len(turns)), Role: conversation.RoleBot,
				User: strings.Join(asked, "\n\n"), Answer: m.Content, Citations: citedIn(m.Content)})
			asked = asked[:0]
		default:
			return nil, "", &ClientHistoryError{Index: i, Msg: fmt.Sprintf("a bot answers user and assistant messages, not %q", m.Role)}
		}
		last = i
	}
	if last < 0 || msgs[last].Role != llm.RoleUser {
		return nil, "", &ClientHistoryError{Index: -1, Msg: "the last message (after any system message) must be the user's question"}
	}
	return turns, strings.Join(asked, "\n\n"), nil
}

// citedIn stands for the citations of a past answer the client sent: one
// empty citation per reference. Only their number matters (escalation
// counts an answer without citations as unresolved); which passages they
// were is not the client's to say, and they are never shown.
func citedIn(answer string) []conversation.Citation {
	n := len(refPattern.FindAllStringIndex(answer, -1))
	if n == 0 {
		return nil
	}
	return make([]conversation.Citation, n)
}

var (
	_ journal = logged{}
	_ journal = (*clientHistory)(nil)
)
