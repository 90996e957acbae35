package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/bot"
	"github.com/infergate/infergate/bot/conversation"
	"github.com/infergate/infergate/bot/identity"
	"github.com/infergate/infergate/llm"
)

// Bot is one support bot as the gateway serves it under
// /v1/bots/{name}/conversations. The gateway owns only the HTTP side:
// who the caller is (from the headers below, checked by Verify), the
// wire format and the status codes; the turn itself, the conversation
// log and the handoff are the bot's. Every method taking an Owner treats
// another owner's conversation as conversation.ErrNotFound.
type Bot interface {
	// Verify checks the end user's credentials; errors are
	// *identity.TokenError.
	Verify(c identity.Credentials) (identity.User, error)
	Start(ctx context.Context, owner conversation.Owner, co conversation.CreateOptions) (c *conversation.Conversation, secret, greeting string, err error)
	Answer(ctx context.Context, id string, owner conversation.Owner, text string, emit bot.Sink) (bot.Done, error)
	// Reply answers an OpenAI client's conversation, sent whole (model
	// "bot:<name>" on /v1/chat/completions); nothing is logged.
	Reply(ctx context.Context, msgs []llm.Message, emit bot.Sink) (bot.Done, error)
	Transcript(ctx context.Context, id string, owner conversation.Owner) (*conversation.Conversation, []conversation.Turn, error)
	Feedback(ctx context.Context, id string, owner conversation.Owner, n uint32, rating conversation.Rating, comment string) (ticket string, err error)
	Resolve(ctx context.Context, id string, owner conversation.Owner, csat int) (*conversation.Conversation, error)
}

// The end-user identity headers of the bot routes. Authorization is left
// to the API key, which a server-to-server caller may still send.
const (
	HeaderUserID             = "X-Infergate-User-Id"
	HeaderUserHash           = "X-Infergate-User-Hash"
	HeaderUserToken          = "X-Infergate-User-Token"
	HeaderConversationSecret = "X-Infergate-Conversation-Secret"
)

// botCaller is who calls a bot route: the rate-limit principal and the
// conversation owner.
type botCaller struct {
	bot   Bot
	name  string
	owner conversation.Owner
	user  identity.User
}

// routeBots serves /v1/bots/... The routes authenticate the end user, not
// an API key: the widget calls them from a browser, where a key would be
// public. An API key is optional (a backend may send one to be limited and
// billed as itself); a wrong one is still a 401.
func (s *Server) routeBots(r *request) {
	p, ok := parseBotPath(string(r.ctx.Request.URI().PathOriginal()))
	if !ok {
		r.fail(errRouteNotFound(r.method, r.path))
		return
	}
	r.logAttrs = append(r.logAttrs, slog.String("bot", p.bot))
	if p.conv != "" {
		r.logAttrs = append(r.logAttrs, slog.String("conversation", p.conv))
	}
	method := r.method
	if method == fasthttp.MethodHead {
		method = fasthttp.MethodGet
	}
	var h func(*request, botPath, *botCaller)
	var endpoint, allow string
	switch {
	case p.action == "" && p.conv == "":
		h, endpoint, allow = s.handleBotCreate, "bot_conversations", fasthttp.MethodPost
	case p.action == "":
		h, endpoint, allow = s.handleBotGet, "bot_conversations", fasthttp.MethodGet
	case p.action == "messages":
		h, endpoint, allow = s.handleBotMessage, "bot_messages", fasthttp.MethodPost
	case p.action == "feedback":
		h, endpoint, allow = s.handleBotFeedback, "bot_feedback", fasthttp.MethodPost
	default: // resolve
		h, endpoint, allow = s.handleBotResolve, "bot_resolve", fasthttp.MethodPost
	}
	if method != allow {
		r.fail(errMethod(r.method, r.path, allow))
		return
	}
	if s.closing.Load() {
		r.fail(errDraining())
		return
	}
	b, ok := s.cfg.Bots[p.bot]
	if !ok {
		r.fail(&APIError{Status: fasthttp.StatusNotFound, Type: TypeInvalidRequest, Code: "bot_not_found",
			Message: fmt.Sprintf("The bot '%s' does not exist.", p.bot)})
		return
	}
	if !s.botPrincipal(r) || !r.admit(0) {
		return
	}
	c, e := botIdentity(r, b)
	if e != nil {
		r.fail(e)
		return
	}
	c.name = p.bot
	h(r, p, c)
	if !r.streaming {
		s.observeBot(endpoint, p.bot, r.ctx.Response.StatusCode(), r.start)
	}
}

// botPrincipal sets r.who: the API key's principal when one is presented
// (and must then be valid), else the client address's.
func (s *Server) botPrincipal(r *request) bool {
	key, presented := presentedKey(&r.ctx.Request.Header)
	if len(s.keys) == 0 || !presented {
		r.who = &principal{name: "end-user", limits: s.addrs.get(s.clientAddr(r.ctx), r.start)}
		return true
	}
	p, ok := s.keys[HashKey(string(key))]
	if !ok {
		r.fail(errBadKey())
		return false
	}
	r.who = p
	return true
}

// botIdentity verifies the end user's headers. A refusal is a 401 that
// never says which check failed (that would help a forger); the reason is
// logged.
func botIdentity(r *request, b Bot) (*botCaller, *APIError) {
	h := &r.ctx.Request.Header
	u, err := b.Verify(identity.Credentials{
		UserID: string(h.Peek(HeaderUserID)), UserHash: string(h.Peek(HeaderUserHash)), Bearer: string(h.Peek(HeaderUserToken)),
	})
	if err != nil {
		var te *identity.TokenError
		reason := "invalid"
		if errors.As(err, &te) {
			reason = string(te.Reason)
		}
		r.logAttrs = append(r.logAttrs, slog.String("identity_refused", reason))
		e := &APIError{Status: fasthttp.StatusUnauthorized, Type: TypeAuthentication, Code: "invalid_identity", Err: err,
			Message: "The end-user identity is missing, forged or expired: send " + HeaderUserID + " with " + HeaderUserHash + ", or " + HeaderUserToken + "."}
		if errors.Is(err, identity.ErrMissingCredentials) {
			e.Code = "identity_required"
		}
		return nil, e
	}
	c := &botCaller{bot: b, user: u}
	if u.Anonymous() {
		c.owner = conversation.Owner{Secret: string(h.Peek(HeaderConversationSecret))}
	} else {
		c.owner = conversation.Owner{UserID: u.ID, Verified: u.Verified}
		r.logAttrs = append(r.logAttrs, slog.Bool("user_verified", u.Verified))
	}
	return c, nil
}

// observeBot records a finished bot request in the request metrics, with
// the bot as the model label.
func (s *Server) observeBot(endpoint, name string, status int, start time.Time) {
	sc := statusClass(status)
	s.metrics.requests.WithLabelValues(endpoint, "bot:"+name, "local", sc).Inc()
	s.metrics.e2e.WithLabelValues(endpoint, "bot:"+name, "local", sc).Observe(time.Since(start).Seconds())
}

// botContext is the context of a bot call: the server's, so that a
// shutdown deadline aborts it, carrying the API key for the router's
// budget when one was presented.
func (s *Server) botContext(r *request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(s.baseCtx)
	return r.who.routeContext(ctx), cancel
}

func (s *Server) handleBotCreate(r *request, _ botPath, c *botCaller) {
	if e := parseCreateConversation(r.ctx.PostBody()); e != nil {
		r.fail(e)
		return
	}
	ctx, cancel := s.botContext(r)
	defer cancel()
	conv, secret, greeting, err := c.bot.Start(ctx, c.owner, conversation.CreateOptions{})
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	r.logAttrs = append(r.logAttrs, slog.String("conversation", conv.ID))
	writeJSON(r.ctx, fasthttp.StatusCreated, newConversationObject(conv, greeting, secret, nil))
}

func (s *Server) handleBotGet(r *request, p botPath, c *botCaller) {
	ctx, cancel := s.botContext(r)
	defer cancel()
	conv, turns, err := c.bot.Transcript(ctx, p.conv, c.owner)
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	writeJSON(r.ctx, fasthttp.StatusOK, newConversationObject(conv, "", "", turns))
}

func (s *Server) handleBotFeedback(r *request, p botPath, c *botCaller) {
	fb, e := parseFeedbackRequest(r.ctx.PostBody())
	if e != nil {
		r.fail(e)
		return
	}
	ctx, cancel := s.botContext(r)
	defer cancel()
	ticket, err := c.bot.Feedback(ctx, p.conv, c.owner, p.turn, fb.rating, fb.comment)
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	out := struct {
		Object  string              `json:"object"`
		Turn    uint32              `json:"turn"`
		Rating  conversation.Rating `json:"rating"`
		Handoff *bot.Handoff        `json:"handoff"`
	}{Object: "bot.feedback", Turn: p.turn, Rating: fb.rating}
	if ticket != "" {
		out.Handoff = &bot.Handoff{Reason: bot.ReasonNegativeFeedback, Ticket: ticket}
	}
	writeJSON(r.ctx, fasthttp.StatusOK, out)
}

func (s *Server) handleBotResolve(r *request, p botPath, c *botCaller) {
	csat, e := parseResolveRequest(r.ctx.PostBody())
	if e != nil {
		r.fail(e)
		return
	}
	ctx, cancel := s.botContext(r)
	defer cancel()
	conv, err := c.bot.Resolve(ctx, p.conv, c.owner, csat)
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	writeJSON(r.ctx, fasthttp.StatusOK, newConversationObject(conv, "", "", nil))
}

// fromBot maps the bot's errors: the conversation's absence (or another
// owner's conversation) is a 404, a message to a resolved conversation or
// a second resolve a 409, the caller's mistakes 400, a failed generation
// as the backends' errors are mapped.
func (s *Server) fromBot(err error) *APIError {
	var ge *bot.GenerationError
	switch {
	case errors.Is(err, conversation.ErrNotFound):
		return &APIError{Status: fasthttp.StatusNotFound, Type: TypeInvalidRequest, Code: "conversation_not_found",
			Message: "The conversation does not exist (or is not yours).", Err: err}
	case errors.Is(err, conversation.ErrResolved), errors.Is(err, conversation.ErrInvalidTransition):
		return &APIError{Status: fasthttp.StatusConflict, Type: TypeConflict, Code: "conversation_resolved",
			Message: "The conversation is resolved; start a new one.", Err: err}
	case errors.Is(err, bot.ErrEmptyMessage):
		return &APIError{Status: fasthttp.StatusBadRequest, Type: TypeInvalidRequest, Param: "content", Code: "invalid_value",
			Message: "'content' is empty.", Err: err}
	case errors.Is(err, bot.ErrPromptTooLong):
		return &APIError{Status: fasthttp.StatusBadRequest, Type: TypeInvalidRequest, Param: "content", Code: "context_length_exceeded",
			Message: "The message is too long for the bot's model.", Err: err}
	case errors.Is(err, conversation.ErrInvalid):
		return &APIError{Status: fasthttp.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_value",
			Message: "Invalid request: " + err.Error() + ".", Err: err}
	case errors.Is(err, context.Canceled) && s.baseCtx.Err() != nil:
		return &APIError{Status: fasthttp.StatusServiceUnavailable, Type: TypeUnavailable, Code: "shutting_down",
			Message: "The server is shutting down; retry.", RetryAfter: 5 * time.Second, Err: err}
	case errors.As(err, &ge):
		return fromBackend(ge.Err, "")
	}
	return errInternal(err)
}
