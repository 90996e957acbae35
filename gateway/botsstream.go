package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/bot"
	"github.com/infergate/infergate/bot/conversation"
)

// handleBotMessage answers POST …/conversations/{id}/messages: as an
// event stream (Accept: text/event-stream, or "stream": true) or as one
// JSON response. The conversation is looked up first, so that an unknown
// (or another user's) conversation is a 404 and a resolved one a 409
// with a status code, not an event in a 200 stream.
func (s *Server) handleBotMessage(r *request, p botPath, c *botCaller) {
	m, e := parseMessageRequest(r.ctx.PostBody())
	if e != nil {
		r.fail(e)
		return
	}
	stream := m.stream || bytes.Contains(r.ctx.Request.Header.Peek("Accept"), []byte("text/event-stream"))
	ctx, cancel := s.botContext(r)
	conv, _, err := c.bot.Transcript(ctx, p.conv, c.owner)
	if err == nil && conv.Status == conversation.StatusResolved {
		err = conversation.ErrResolved
	}
	if err != nil {
		cancel()
		r.fail(s.fromBot(err))
		return
	}
	if stream {
		s.startBotStream(r, ctx, cancel, p, c, m.content)
		return
	}
	// Without a stream fasthttp cannot tell that the client left; the
	// turn is bounded by the bot's max_tokens and the server's shutdown.
	defer cancel()
	out := messageObject{Object: "bot.message", ConversationID: p.conv, Citations: []bot.Citation{}}
	_, err = c.bot.Answer(ctx, p.conv, c.owner, m.content, func(ev bot.Event) error {
		out.fold(ev)
		return nil
	})
	if err != nil {
		r.fail(s.fromBot(err))
		return
	}
	writeJSON(r.ctx, fasthttp.StatusOK, out)
}

// botStream is one streamed turn: the bot's Answer runs on its own
// goroutine and hands its events over a channel to the stream writer, so
// that the writer can send keep-alives while the bot retrieves and
// prefills, and cancel the turn as soon as a write fails.
type botStream struct {
	s      *Server
	r      *request
	ctx    context.Context
	cancel context.CancelFunc
	name   string
	conv   string
	events chan bot.Event
	result chan error
	status int
	// endpoint labels the request metrics; encode renders an event and
	// errorEvent an error after the stream started, in the stream's wire
	// format: the conversation API's typed events (convEncode) or OpenAI's
	// chunks (botChatStream).
	endpoint   string
	encode     func(bot.Event) ([]byte, error)
	errorEvent func(*APIError) []byte
	// mapErr maps the turn's error to the API's; nil: Server.fromBot.
	mapErr func(error) *APIError
}

func (s *Server) startBotStream(r *request, ctx context.Context, cancel context.CancelFunc, p botPath, c *botCaller, content string) {
	st := &botStream{s: s, r: r, ctx: ctx, cancel: cancel, name: p.bot, conv: p.conv, endpoint: "bot_messages",
		errorEvent: func(e *APIError) []byte { return botEvent(bot.EventError, e.appendJSON(nil)) }}
	st.encode = st.convEncode
	st.start(func(emit bot.Sink) error {
		_, err := c.bot.Answer(ctx, p.conv, c.owner, content, emit)
		return err
	})
}

// start runs turn on its own goroutine, its events going to the stream
// writer.
func (st *botStream) start(turn func(bot.Sink) error) {
	st.events, st.result = make(chan bot.Event, 16), make(chan error, 1)
	go func() {
		defer close(st.events)
		st.result <- turn(func(ev bot.Event) error {
			select {
			case st.events <- ev:
				return nil
			case <-st.ctx.Done():
				return st.ctx.Err()
			}
		})
	}()
	st.s.startEventStream(st.r, st.write)
}

// write runs on fasthttp's stream goroutine until the turn ends or the
// client goes away, which cancels the turn (and so the generation).
func (st *botStream) write(w *bufio.Writer, conn net.Conn) {
	s := st.s
	st.status = fasthttp.StatusOK
	defer func() {
		st.cancel()
		for range st.events { // let the bot's goroutine finish
		}
		s.metrics.streams.Dec()
		s.observeBot(st.endpoint, st.name, st.status, st.r.start)
		st.r.finish(st.status)
	}()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic while streaming a bot turn", "request_id", st.r.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			e := errInternal(fmt.Errorf("panic: %v", p))
			st.status, st.r.err = e.Status, e
			_, _ = w.Write(st.errorEvent(e))
			_ = w.Flush()
		}
	}()
	flush := func() bool {
		if conn != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(s.lim.WriteTimeout))
		}
		return w.Flush() == nil
	}
	tick := time.NewTicker(s.lim.StreamKeepAlive)
	defer tick.Stop()
	sentError := false
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				if err := <-st.result; err != nil && !sentError && st.ctx.Err() == nil {
					st.fail(err)
					_, _ = w.Write(st.errorEvent(st.r.err))
					_ = flush()
				}
				return
			}
			b, err := st.encode(ev)
			if err != nil {
				st.fail(err)
				b = st.errorEvent(st.r.err)
			}
			sentError = sentError || ev.Kind == bot.EventError
			_, _ = w.Write(b)
			if len(st.events) > 0 {
				continue // several events ready go out in one write
			}
		case <-tick.C:
			_, _ = w.WriteString(sseKeepAlive)
		}
		if !flush() {
			// The client left or stalled past the write deadline:
			// nginx's 499, and the turn is cancelled by the defer.
			st.status = 499
			st.r.logAttrs = append(st.r.logAttrs, slog.Bool("client_gone", true))
			return
		}
	}
}

// fail records the turn's failure for the access log and metrics.
func (st *botStream) fail(err error) {
	mapErr := st.mapErr
	if mapErr == nil {
		mapErr = st.s.fromBot
	}
	e := mapErr(err)
	st.status, st.r.err = e.Status, e
}

// convEncode renders one event as SSE: event: <kind>, data: its JSON.
func (st *botStream) convEncode(ev bot.Event) ([]byte, error) {
	var v any
	switch ev.Kind {
	case bot.EventDelta, bot.EventReplace:
		v = struct {
			Text string `json:"text"`
		}{ev.Text}
	case bot.EventCitations:
		v = struct {
			Citations []bot.Citation `json:"citations"`
		}{ev.Citations}
	case bot.EventHandoff:
		v = ev.Handoff
	case bot.EventDone:
		v = struct {
			ConversationID string `json:"conversation_id"`
			*bot.Done
		}{st.conv, ev.Done}
	case bot.EventError:
		st.fail(ev.Err)
		return botEvent(ev.Kind, st.r.err.appendJSON(nil)), nil
	default:
		return nil, fmt.Errorf("gateway: unknown bot event %q", ev.Kind)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("gateway: encoding the %s event: %w", ev.Kind, err)
	}
	return botEvent(ev.Kind, b), nil
}

func botEvent(kind bot.EventKind, data []byte) []byte {
	b := make([]byte, 0, len(kind)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, kind...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}
