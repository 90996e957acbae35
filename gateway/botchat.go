package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/bot"
)

// BotModelPrefix names a bot as a model of /v1/chat/completions:
// "bot:acme" is the bot acme, for OpenAI clients that keep the
// conversation themselves (bot.Bot.Reply).
const BotModelPrefix = "bot:"

// botChatCompletion is the chat.completion of a bot: OpenAI's object with
// the answer's citations and, when the bot would hand off, the handoff
// (no ticket: the client's system owns the conversation), as extra fields
// that OpenAI clients ignore.
type botChatCompletion struct {
	chatCompletion
	Citations []bot.Citation `json:"citations"`
	Handoff   *bot.Handoff   `json:"handoff,omitempty"`
}

// handleBotChat answers a chat completion whose model is "bot:<name>".
// The client's sampling parameters are not the bot's: its generation
// settings govern, as its instructions do (client system messages are
// dropped, see bot.Bot.Reply).
func (s *Server) handleBotChat(r *request, cr *chatRequest, name string) {
	b, ok := s.cfg.Bots[name]
	if !ok {
		r.fail(errModelNotFound(cr.Model))
		return
	}
	r.logAttrs = append(r.logAttrs, slog.String("bot", name), slog.Bool("stream", cr.Stream))
	chars := 0
	for _, m := range cr.Messages {
		chars += len(m.Content)
	}
	if !r.admit(chars/4 + 4*len(cr.Messages) + defaultReserve) {
		return
	}
	ctx, cancel := s.botContext(r)
	id, created := "chatcmpl-"+r.id, r.start.Unix()
	if cr.Stream {
		st := &botStream{s: s, r: r, ctx: ctx, cancel: cancel, name: name, endpoint: "chat_completions",
			errorEvent: errorEvent, mapErr: s.fromBotChat}
		enc := newChunkEncoder(true, id, created, cr.Model, "", cr.IncludeUsage)
		st.encode = func(ev bot.Event) ([]byte, error) { return botChunk(enc, ev, cr.IncludeUsage, st) }
		st.start(func(emit bot.Sink) error {
			if err := emit(bot.Event{Kind: bot.EventKind("role")}); err != nil {
				return err
			}
			_, err := b.Reply(ctx, cr.Messages, emit)
			return err
		})
		return
	}
	defer cancel()
	var fold messageObject
	fold.Citations = []bot.Citation{}
	d, err := b.Reply(ctx, cr.Messages, func(ev bot.Event) error {
		fold.fold(ev)
		return nil
	})
	if err != nil {
		r.fail(s.fromBotChat(err))
		s.observeBot("chat_completions", name, r.ctx.Response.StatusCode(), r.start)
		return
	}
	out := botChatCompletion{chatCompletion: chatCompletion{ID: id, Object: "chat.completion", Created: created, Model: cr.Model,
		Choices: []chatChoice{{Message: chatMessage{Role: "assistant", Content: fold.Content}, FinishReason: "stop"}},
		Usage:   usage{PromptTokens: d.PromptTokens, CompletionTokens: d.CompletionTokens, TotalTokens: d.PromptTokens + d.CompletionTokens}},
		Citations: fold.Citations, Handoff: fold.Handoff}
	writeJSON(r.ctx, fasthttp.StatusOK, out)
	s.observeBot("chat_completions", name, fasthttp.StatusOK, r.start)
}

// fromBotChat maps a bot's error on the OpenAI route: a message list it
// cannot answer is the client's mistake, on "messages".
func (s *Server) fromBotChat(err error) *APIError {
	var he *bot.ClientHistoryError
	if errors.As(err, &he) {
		param := "messages"
		if he.Index >= 0 {
			param = indexParam("messages", he.Index)
		}
		return &APIError{Status: fasthttp.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Code: "invalid_value",
			Message: "Invalid 'messages' for a bot: " + he.Msg + ".", Err: err}
	}
	e := s.fromBot(err)
	if e.Param == "content" {
		e.Param = "messages"
	}
	return e
}

// botChunk renders one bot event as OpenAI chunks. A replace (the output
// check refused what was shown) is a content chunk flagged
// "infergate_replace": true, which a client that knows it uses to discard
// the text so far; citations and a handoff travel in chunks with no
// choices, before the finish chunk.
func botChunk(enc *chunkEncoder, ev bot.Event, includeUsage bool, st *botStream) ([]byte, error) {
	switch ev.Kind {
	case "role":
		return bytes.Clone(enc.role(0)), nil
	case bot.EventDelta:
		return bytes.Clone(enc.text(0, ev.Text)), nil
	case bot.EventReplace:
		b := enc.text(0, ev.Text)
		return bytes.Replace(b, []byte(`},"logprobs"`), []byte(`,"infergate_replace":true},"logprobs"`), 1), nil
	case bot.EventCitations, bot.EventHandoff:
		field, v := "citations", any(ev.Citations)
		if ev.Kind == bot.EventHandoff {
			field, v = "handoff", ev.Handoff
		}
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("gateway: encoding the %s chunk: %w", ev.Kind, err)
		}
		b := bytes.Clone(enc.head)
		b = append(b, `],"`...)
		b = append(b, field...)
		b = append(b, `":`...)
		b = append(b, data...)
		return append(b, "}\n\n"...), nil
	case bot.EventDone:
		b := bytes.Clone(enc.finish(0, "stop"))
		if includeUsage {
			d := ev.Done
			b = append(b, enc.usage(usage{PromptTokens: d.PromptTokens, CompletionTokens: d.CompletionTokens,
				TotalTokens: d.PromptTokens + d.CompletionTokens})...)
		}
		return append(b, sseDone...), nil
	case bot.EventError:
		st.fail(ev.Err)
		return errorEvent(st.r.err), nil
	}
	return nil, fmt.Errorf("gateway: unknown bot event %q", ev.Kind)
}

// isBotModel reports whether a chat request names a bot, and which.
func isBotModel(model string) (string, bool) { return strings.CutPrefix(model, BotModelPrefix) }
