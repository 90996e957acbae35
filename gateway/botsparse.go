package gateway

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/infergate/infergate/bot/conversation"
)

// botPath is a bot route's path split into its parts:
// /v1/bots/{bot}/conversations[/{id}[/messages[/{turn}/feedback]|/resolve]].
type botPath struct {
	bot    string
	conv   string // "": the conversations themselves (create)
	action string // "", "messages", "feedback" or "resolve"
	turn   uint32 // feedback's turn number
}

// parseBotPath splits a raw (still percent-encoded) path; ok is false for
// a path that is no bot route. Bot names and conversation ids hold no
// slashes, so each segment is unescaped on its own.
func parseBotPath(raw string) (p botPath, ok bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	raw = strings.TrimPrefix(raw, "/v1")
	rest, ok := strings.CutPrefix(raw, "/bots/")
	if !ok {
		return p, false
	}
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		if seg[i], ok = unescape(s); !ok || seg[i] == "" {
			return p, false
		}
	}
	if len(seg) < 2 || seg[1] != "conversations" {
		return p, false
	}
	p.bot = seg[0]
	switch len(seg) {
	case 2:
		return p, true
	case 3:
		p.conv = seg[2]
		return p, true
	case 4:
		p.conv, p.action = seg[2], seg[3]
		return p, p.action == "messages" || p.action == "resolve"
	case 6:
		n, err := strconv.ParseUint(seg[4], 10, 32)
		if err != nil || seg[3] != "messages" || seg[5] != "feedback" {
			return p, false
		}
		p.conv, p.action, p.turn = seg[2], "feedback", uint32(n)
		return p, true
	}
	return p, false
}

// The bot requests are infergate's own and parsed strictly, as the
// knowledge base's are: an unknown field is a 400.

// botObject parses a body that may be empty (nothing to say) or one JSON
// object with only the allowed keys.
func botObject(body []byte, allowed ...string) (object, *APIError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return object{}, nil
	}
	return kbObject(body, allowed...)
}

// parseCreateConversation decodes POST /v1/bots/{bot}/conversations,
// which takes no fields yet: the identity is in the headers.
func parseCreateConversation(body []byte) *APIError {
	_, e := botObject(body)
	return e
}

// messageRequest is POST …/conversations/{id}/messages.
type messageRequest struct {
	content string
	stream  bool
}

func parseMessageRequest(body []byte) (messageRequest, *APIError) {
	var m messageRequest
	o, e := kbObject(body, "content", "stream")
	if e != nil {
		return m, e
	}
	var ok bool
	if m.content, ok, e = o.str("content"); e != nil {
		return m, e
	} else if !ok || strings.TrimSpace(m.content) == "" {
		return m, errMissing("content")
	}
	if m.stream, _, e = o.boolean("stream"); e != nil {
		return m, e
	}
	return m, nil
}

// feedbackRequest is POST …/messages/{turn}/feedback.
type feedbackRequest struct {
	rating  conversation.Rating
	comment string
}

func parseFeedbackRequest(body []byte) (feedbackRequest, *APIError) {
	var f feedbackRequest
	o, e := kbObject(body, "rating", "comment")
	if e != nil {
		return f, e
	}
	rating, ok, e := o.str("rating")
	switch {
	case e != nil:
		return f, e
	case !ok:
		return f, errMissing("rating")
	case rating != string(conversation.RatingUp) && rating != string(conversation.RatingDown):
		return f, errValue("rating", "'%s' is not one of up, down.", rating)
	}
	f.rating = conversation.Rating(rating)
	if f.comment, _, e = o.str("comment"); e != nil {
		return f, e
	}
	return f, nil
}

// parseResolveRequest decodes POST …/resolve: an optional csat, 1 to 5.
func parseResolveRequest(body []byte) (int, *APIError) {
	o, e := botObject(body, "csat")
	if e != nil {
		return 0, e
	}
	if o.fields == nil {
		return 0, nil
	}
	v, _, e := o.integer("csat", 1, 5)
	return int(v), e
}
