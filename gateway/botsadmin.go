package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/bot/conversation"
)

// Conversations is the conversation log as the operators' routes use it,
// bound to no end user (the admin key authenticates the caller);
// *conversation.Log satisfies it.
type Conversations interface {
	List(ctx context.Context, bot, after string, limit int) ([]conversation.Conversation, string, error)
	Read(ctx context.Context, bot, id string) (*conversation.Conversation, []conversation.Turn, error)
	// AddAgentMessage appends a human agent's reply to a handed-off
	// conversation, where the customer's transcript shows it.
	AddAgentMessage(ctx context.Context, bot, id, agent, text string) (conversation.Turn, error)
	EraseUser(ctx context.Context, bot, user string) (int, error)
	Export(ctx context.Context, w io.Writer, o conversation.ExportOptions) (conversation.ExportStats, error)
}

// maxListLimit bounds one page of the conversation list.
const maxListLimit = 1000

// routeBotsAdmin serves the operators' and help desks' side of the bots,
// behind the admin key:
//
//	GET    /admin/bots/{bot}/conversations?after=&limit=   a page of conversations
//	GET    /admin/bots/{bot}/conversations/{id}            the whole transcript
//	POST   /admin/bots/{bot}/conversations/{id}/messages   {"agent","content"}: a human's reply
//	DELETE /admin/bots/{bot}/users/{user}                  erase an end user
//	GET    /admin/conversations/export?format=&bot=&from=&to=&outcome=&redact=   JSONL
func (s *Server) routeBotsAdmin(r *request) {
	if s.cfg.Conversations == nil {
		r.fail(errRouteNotFound(r.method, r.path))
		return
	}
	raw := string(r.ctx.Request.URI().PathOriginal())
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if raw == "/admin/conversations/export" {
		s.methodOnly(r, fasthttp.MethodGet, s.withAdmin(s.handleExport))
		return
	}
	seg := strings.Split(strings.TrimPrefix(raw, "/admin/bots/"), "/")
	for i, v := range seg {
		var ok bool
		if seg[i], ok = unescape(v); !ok || seg[i] == "" {
			r.fail(errRouteNotFound(r.method, r.path))
			return
		}
	}
	if len(seg) < 2 || s.cfg.Bots[seg[0]] == nil {
		if len(seg) >= 2 {
			r.fail(errBotNotFound(seg[0]))
			return
		}
		r.fail(errRouteNotFound(r.method, r.path))
		return
	}
	bot := seg[0]
	r.logAttrs = append(r.logAttrs, slog.String("bot", bot))
	switch {
	case len(seg) == 2 && seg[1] == "conversations":
		s.methodOnly(r, fasthttp.MethodGet, s.withAdmin(func(r *request) { s.handleAdminList(r, bot) }))
	case len(seg) == 3 && seg[1] == "conversations":
		s.methodOnly(r, fasthttp.MethodGet, s.withAdmin(func(r *request) { s.handleAdminRead(r, bot, seg[2]) }))
	case len(seg) == 4 && seg[1] == "conversations" && seg[3] == "messages":
		s.methodOnly(r, fasthttp.MethodPost, s.withAdmin(func(r *request) { s.handleAgentMessage(r, bot, seg[2]) }))
	case len(seg) == 3 && seg[1] == "users":
		s.methodOnly(r, fasthttp.MethodDelete, s.withAdmin(func(r *request) { s.handleEraseUser(r, bot, seg[2]) }))
	default:
		r.fail(errRouteNotFound(r.method, r.path))
	}
}

// methodOnly answers 405 unless r's method is method (HEAD counting as
// GET).
func (s *Server) methodOnly(r *request, method string, h func(*request)) {
	m := r.method
	if m == fasthttp.MethodHead {
		m = fasthttp.MethodGet
	}
	if m != method {
		r.fail(errMethod(r.method, r.path, method))
		return
	}
	h(r)
}

func errBotNotFound(name string) *APIError {
	return &APIError{Status: fasthttp.StatusNotFound, Type: TypeInvalidRequest, Code: "bot_not_found",
		Message: fmt.Sprintf("The bot '%s' does not exist.", name)}
}

func (s *Server) handleAdminList(r *request, bot string) {
	args := r.ctx.QueryArgs()
	limit := 100
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxListLimit {
			r.fail(errValue("limit", "expected an integer from 1 to %d, but got %q.", maxListLimit, v))
			return
		}
		limit = n
	}
	ctx, cancel := s.botContext(r)
	defer cancel()
	convs, next, err := s.cfg.Conversations.List(ctx, bot, string(args.Peek("after")), limit)
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	out := struct {
		Object string               `json:"object"`
		Data   []conversationObject `json:"data"`
		Next   string               `json:"next,omitempty"`
	}{Object: "list", Data: make([]conversationObject, len(convs)), Next: next}
	for i := range convs {
		out.Data[i] = newConversationObject(&convs[i], "", "", nil)
		out.Data[i].UserID = convs[i].UserID
	}
	writeJSON(r.ctx, fasthttp.StatusOK, out)
}

func (s *Server) handleAdminRead(r *request, bot, id string) {
	ctx, cancel := s.botContext(r)
	defer cancel()
	c, turns, err := s.cfg.Conversations.Read(ctx, bot, id)
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	o := newConversationObject(c, "", "", turns)
	o.UserID = c.UserID
	writeJSON(r.ctx, fasthttp.StatusOK, o)
}

func (s *Server) handleAgentMessage(r *request, bot, id string) {
	o, e := decodeObject(r.ctx.PostBody(), "")
	if e != nil {
		r.fail(e)
		return
	}
	agent, _, e := o.str("agent")
	if e != nil {
		r.fail(e)
		return
	}
	content, ok, e := o.str("content")
	switch {
	case e != nil:
		r.fail(e)
		return
	case !ok:
		r.fail(errMissing("content"))
		return
	case strings.TrimSpace(content) == "":
		r.fail(errValue("content", "expected the agent's message, but got an empty string."))
		return
	}
	ctx, cancel := s.botContext(r)
	defer cancel()
	t, err := s.cfg.Conversations.AddAgentMessage(ctx, bot, id, strings.TrimSpace(agent), content)
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	writeJSON(r.ctx, fasthttp.StatusCreated, turnObject{N: t.N, Role: t.Role, Answer: t.Answer, Agent: t.Agent, CreatedAt: unix(t.CreatedAt)})
}

func (s *Server) handleEraseUser(r *request, bot, user string) {
	ctx, cancel := s.botContext(r)
	defer cancel()
	n, err := s.cfg.Conversations.EraseUser(ctx, bot, user)
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	r.logAttrs = append(r.logAttrs, slog.Int("erased_conversations", n))
	writeJSON(r.ctx, fasthttp.StatusOK, struct {
		Object  string `json:"object"`
		Deleted int    `json:"deleted_conversations"`
	}{"bot.user_erased", n})
}

// handleExport streams the log as JSONL (conversation.Export). The
// options are checked before the first byte; an error after it (the
// status is sent) ends the body early, and is logged.
func (s *Server) handleExport(r *request) {
	o, e := parseExportQuery(r.ctx.QueryArgs())
	if e != nil {
		r.fail(e)
		return
	}
	if o.Bot != "" && s.cfg.Bots[o.Bot] == nil {
		r.fail(errBotNotFound(o.Bot))
		return
	}
	r.ctx.SetContentType("application/x-ndjson")
	ctx, cancel := s.botContext(r)
	log := s.log
	r.ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		st, err := s.cfg.Conversations.Export(ctx, w, o)
		if err != nil {
			log.Error("conversation export failed", "error", err.Error(), "records", st.Records)
		}
		_ = w.Flush()
	})
}

// parseExportQuery reads the export's options: format (chat, pairs),
// bot, from and to (RFC 3339 or a date), outcome (repeatable), redact,
// include_agent, include_handoff, pairs_history (booleans).
func parseExportQuery(a *fasthttp.Args) (conversation.ExportOptions, *APIError) {
	var o conversation.ExportOptions
	o.Format = conversation.Format(a.Peek("format"))
	if o.Format == "" {
		o.Format = conversation.FormatChat
	}
	if !o.Format.Valid() {
		return o, errValue("format", "expected %q or %q, but got %q.", conversation.FormatChat, conversation.FormatPairs, o.Format)
	}
	o.Bot = string(a.Peek("bot"))
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"from", &o.From}, {"to", &o.To}} {
		v := string(a.Peek(f.name))
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return o, errValue(f.name, "expected an RFC 3339 time or a date (2006-01-02), but got %q.", v)
			}
		}
		*f.to = t
	}
	for _, v := range a.PeekMulti("outcome") {
		oc := conversation.Outcome(v)
		if !oc.Valid() {
			return o, errValue("outcome", "expected resolved, handed_off, contained or rated_up, but got %q.", v)
		}
		o.Outcomes = append(o.Outcomes, oc)
	}
	for _, f := range []struct {
		name string
		to   *bool
	}{{"redact", &o.Redact}, {"include_agent", &o.IncludeAgent}, {"include_handoff", &o.IncludeHandoff}, {"pairs_history", &o.PairsHistory}} {
		v := string(a.Peek(f.name))
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, errValue(f.name, "expected true or false, but got %q.", v)
		}
		*f.to = b
	}
	return o, nil
}
