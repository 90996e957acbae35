package gateway

import (
	"time"

	"github.com/infergate/infergate/bot"
	"github.com/infergate/infergate/bot/conversation"
)

// conversationObject is a conversation on the wire. It is what the end
// user may see: the transcript without the log's internals (retrieval
// scores, routes, token counts), which are for export and review.
type conversationObject struct {
	ID     string              `json:"id"`
	Object string              `json:"object"`
	Bot    string              `json:"bot"`
	Status conversation.Status `json:"status"`
	// UserID is shown on the operators' routes only.
	UserID    string `json:"user_id,omitempty"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
	// Greeting and ConversationSecret come only with the creation; the
	// secret only for an anonymous conversation, and never again.
	Greeting           string       `json:"greeting,omitempty"`
	ConversationSecret string       `json:"conversation_secret,omitempty"`
	Handoff            *bot.Handoff `json:"handoff,omitempty"`
	CSAT               int          `json:"csat,omitempty"`
	Turns              []turnObject `json:"turns,omitempty"`
}

// turnObject is one turn of the transcript.
type turnObject struct {
	N         uint32                  `json:"turn"`
	Role      conversation.Role       `json:"role"`
	User      string                  `json:"user,omitempty"`
	Answer    string                  `json:"answer,omitempty"`
	Agent     string                  `json:"agent,omitempty"`
	Citations []conversation.Citation `json:"citations,omitempty"`
	Handoff   bool                    `json:"handoff,omitempty"`
	Feedback  *conversation.Feedback  `json:"feedback,omitempty"`
	CreatedAt int64                   `json:"created_at"`
}

func newConversationObject(c *conversation.Conversation, greeting, secret string, turns []conversation.Turn) conversationObject {
	o := conversationObject{ID: c.ID, Object: "bot.conversation", Bot: c.Bot, Status: c.Status,
		CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix(), Greeting: greeting, ConversationSecret: secret, CSAT: c.CSAT}
	if c.HandoffReason != "" {
		o.Handoff = &bot.Handoff{Reason: c.HandoffReason, Ticket: c.HandoffTicket}
	}
	if turns != nil {
		o.Turns = make([]turnObject, len(turns))
		for i, t := range turns {
			o.Turns[i] = turnObject{N: t.N, Role: t.Role, User: t.User, Answer: t.Answer, Agent: t.Agent,
				Citations: t.Citations, Handoff: t.Handoff, Feedback: t.Feedback, CreatedAt: unix(t.CreatedAt)}
		}
	}
	return o
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// messageObject is a turn's answer as one JSON response (without
// streaming): the events of the turn folded into their result.
type messageObject struct {
	Object         string              `json:"object"`
	ConversationID string              `json:"conversation_id"`
	Turn           uint32              `json:"turn"`
	Content        string              `json:"content"`
	Citations      []bot.Citation      `json:"citations"`
	Handoff        *bot.Handoff        `json:"handoff"`
	Status         conversation.Status `json:"status"`
	Answered       bool                `json:"answered"`
	Reason         string              `json:"reason,omitempty"`
}

// fold applies one event to the response.
func (m *messageObject) fold(e bot.Event) {
	switch e.Kind {
	case bot.EventDelta:
		m.Content += e.Text
	case bot.EventReplace:
		m.Content = e.Text
	case bot.EventCitations:
		m.Citations = e.Citations
	case bot.EventHandoff:
		m.Handoff = e.Handoff
	case bot.EventDone:
		m.Turn, m.Status, m.Answered, m.Reason = e.Done.Turn, e.Done.Status, e.Done.Answered, e.Done.Reason
	}
}
