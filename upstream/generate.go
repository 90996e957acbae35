package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/infergate/infergate/llm"
)

// drainTimeout bounds reading what follows a stream's end marker (the
// chunked encoding's terminator), which returns the connection to the pool.
const drainTimeout = time.Second

// Generate sends req to the upstream model that model maps to and returns
// the output as a stream whose route is cloud:<name>.
//
// Generate returns once the first text has arrived, or the generation has
// ended without any. So every failure before the first token (a refusal,
// 429, 5xx, connection failure, first-token timeout, malformed or cut
// response, error event) is Generate's error, an *Error with TokensSent
// false, which the router may retry or send elsewhere; nothing has reached
// the client. A failure after that (a cut, a stall, a malformed chunk, an
// error event) ends the stream with Result.Err set to an *Error with
// TokensSent true, never with a clean finish.
//
// Cancelling ctx closes the upstream request: Generate then returns ctx's
// error, or a stream finishes with llm.FinishCancel. A request the
// upstream cannot serve (a grammar, token ids, an unmapped model) fails
// with KindUnsupported before anything is sent.
func (c *Client) Generate(ctx context.Context, model string, req llm.Request) (*llm.Stream, error) {
	remote, ok := c.cfg.Models[model]
	if !ok {
		return nil, c.unknownModel(model)
	}
	stream := !c.cfg.NoStream
	path, body, err := c.proto.request(remote, req, stream, c.cfg.MaxTokens)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Upstream = c.cfg.Name
		}
		return nil, err
	}
	start := time.Now()
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	g := &generation{c: c, ctx: ctx, reqID: req.ID, remote: remote, start: start, queueWait: time.Since(start)}
	return g.run(path, body, stream)
}

// generation is one request to the upstream, from the concurrency slot it
// holds to the end of its body.
type generation struct {
	c      *Client
	ctx    context.Context // the caller's
	rctx   context.Context // the upstream request's: ctx and our timeouts
	cancel context.CancelCauseFunc
	wd     *watchdog
	body   io.ReadCloser
	ended  bool // the end marker was read: drain the body before closing

	reqID     string
	remote    string
	start     time.Time
	queueWait time.Duration
	ttft      time.Duration
	// sent says text has been pushed to the stream; set before any failure
	// can be classified after it, and read by the same goroutine.
	sent bool
}

func (g *generation) run(path string, body []byte, stream bool) (*llm.Stream, error) {
	g.rctx, g.cancel = context.WithCancelCause(g.ctx)
	// The first-token clock runs from here, not from the caller's call:
	// waiting for a concurrency slot is QueueWait, bounded by ctx. A
	// response that is not streamed has no first token before its end.
	limit := g.c.cfg.FirstTokenTimeout
	if !stream {
		limit = g.c.cfg.RequestTimeout
	}
	g.wd = startWatchdog(limit, ErrFirstTokenTimeout, g.cancel)
	handedOff := false
	defer func() {
		if !handedOff {
			g.close()
		}
	}()

	hr, err := g.c.newRequest(g.rctx, path, body, stream)
	if err != nil {
		return nil, err
	}
	g.c.log.LogAttrs(g.ctx, slog.LevelDebug, "upstream request", slog.String("request_id", g.reqID),
		slog.String("model", g.remote), slog.Bool("stream", stream), slog.Duration("queue_wait", g.queueWait))
	resp, err := g.c.http.Do(hr)
	if err != nil {
		return nil, g.fail(err)
	}
	g.body = resp.Body
	if resp.StatusCode/100 != 2 {
		e := g.c.errorResponse(resp)
		g.log(e)
		return nil, e
	}
	// A server that ignores "stream": true answers with a whole JSON
	// response; take it as such rather than call it malformed.
	if !stream || isJSON(resp.Header) {
		return g.whole()
	}
	dec := g.c.proto.decoder(resp.Body)
	for {
		text, done, err := dec.next()
		switch {
		case err != nil:
			return nil, g.fail(err)
		case done:
			g.ended = true
			st := llm.NewStream(g.ctx, g.c.route)
			g.ttft = time.Since(g.start)
			st.Finish(g.result(dec.outcome()))
			return st, nil
		case text != "":
			st := llm.NewStream(g.ctx, g.c.route)
			g.ttft = time.Since(g.start)
			g.push(st, text)
			handedOff = true
			go g.pump(st, dec)
			return st, nil
		}
	}
}

// whole reads a response that is not streamed.
func (g *generation) whole() (*llm.Stream, error) {
	b, err := readBody(g.body)
	if err != nil {
		return nil, g.fail(err)
	}
	text, out, err := g.c.proto.decodeResponse(b)
	if err != nil {
		return nil, g.fail(err)
	}
	g.ended = true
	g.ttft = time.Since(g.start)
	st := llm.NewStream(g.ctx, g.c.route)
	tokens := out.usage.completion
	if tokens == 0 && text != "" {
		tokens = 1
	}
	st.Push(text, tokens)
	st.Finish(g.result(out))
	return st, nil
}

// pump reads the rest of a stream whose first text Generate has pushed.
func (g *generation) pump(st *llm.Stream, dec decoder) {
	defer g.close()
	for {
		text, done, err := dec.next()
		switch {
		case err != nil:
			res := g.result(dec.outcome())
			if g.ctx.Err() != nil {
				res.FinishReason = llm.FinishCancel
			} else {
				res.Err = g.fail(err)
			}
			st.Finish(res)
			return
		case done:
			g.ended = true
			st.Finish(g.result(dec.outcome()))
			return
		case text != "":
			g.push(st, text)
		}
	}
}

// push hands text to the stream and restarts the idle clock. Each chunk is
// counted as one token: both APIs send about one per chunk, and the exact
// count comes with the usage at the end.
func (g *generation) push(st *llm.Stream, text string) {
	st.Push(text, 1)
	g.sent = true
	g.wd.arm(g.c.cfg.IdleTimeout, ErrStalled)
}

func (g *generation) result(out outcome) llm.Result {
	model := out.model
	if model == "" {
		model = g.remote
	}
	return llm.Result{
		FinishReason:     out.finish,
		PromptTokens:     out.usage.prompt,
		CompletionTokens: out.usage.completion,
		CachedTokens:     out.usage.cached,
		QueueWait:        g.queueWait,
		TimeToFirstToken: g.ttft,
		Route:            g.c.route,
		Model:            model,
	}
}

// fail classifies err, which ended the request. Our own timeouts cancel
// the request, so they surface as whatever the transport or body returns
// then: the context's cause says which it was.
func (g *generation) fail(err error) error {
	if ctxErr := g.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("upstream %s: %w", g.c.cfg.Name, ctxErr)
	}
	var e *Error
	switch cause := context.Cause(g.rctx); {
	case errors.Is(cause, ErrFirstTokenTimeout):
		e = &Error{Kind: KindTimeoutFirstToken, Retryable: true, Err: ErrFirstTokenTimeout}
	case errors.Is(cause, ErrStalled):
		e = &Error{Kind: KindStalled, Retryable: true, Err: ErrStalled}
	default:
		var ue *Error
		if errors.As(err, &ue) {
			cp := *ue
			e = &cp
		} else {
			e = &Error{Kind: KindConnection, Retryable: true, Err: err}
		}
	}
	e.Upstream = g.c.cfg.Name
	e.TokensSent = g.sent
	g.log(e)
	return e
}

func (g *generation) log(e *Error) {
	g.c.log.LogAttrs(g.ctx, slog.LevelWarn, "upstream failed", slog.String("request_id", g.reqID),
		slog.String("model", g.remote), slog.String("kind", string(e.Kind)), slog.Int("status", e.Status),
		slog.Bool("tokens_sent", e.TokensSent), slog.String("error", e.Error()))
}

// close ends the request and frees its concurrency slot.
func (g *generation) close() {
	if g.body != nil {
		if g.ended {
			g.wd.arm(drainTimeout, ErrStalled)
			_, _ = io.CopyN(io.Discard, g.body, 4<<10)
		}
		_ = g.body.Close()
	}
	g.wd.stop()
	g.cancel(nil)
	g.c.release()
}

// watchdog cancels a request when its clock runs out, with the cause that
// the last arm gave, so that fail can tell a first-token timeout from a
// stall.
type watchdog struct {
	timer *time.Timer
	mu    sync.Mutex
	cause error
}

func startWatchdog(d time.Duration, cause error, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{cause: cause}
	w.timer = time.AfterFunc(d, func() {
		w.mu.Lock()
		c := w.cause
		w.mu.Unlock()
		cancel(c)
	})
	return w
}

// arm restarts the clock with d and cause. A clock that ran out already
// has cancelled the request; arming it again changes nothing then.
func (w *watchdog) arm(d time.Duration, cause error) {
	w.mu.Lock()
	w.cause = cause
	w.mu.Unlock()
	w.timer.Reset(d)
}

func (w *watchdog) stop() { w.timer.Stop() }
