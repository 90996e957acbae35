package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/router"
)

// clientCheckInterval is how often a non-streamed generation checks that
// its client is still connected.
const clientCheckInterval = 250 * time.Millisecond

// defaultReserve is the completion length assumed for rate limiting when a
// request sets no max_tokens; the real count settles it afterwards.
const defaultReserve = 256

// parseFor is the common head of the inference handlers: it refuses new
// work while draining, parses the body and resolves the model. On failure
// it has answered r and returns ok false.
func parseFor[T any](s *Server, r *request, kind ModelKind, parse func([]byte, parseLimits) (*T, *APIError),
	name func(*T) string) (req *T, m *model, ok bool) {
	if req, ok = parseRequest(s, r, parse); !ok {
		return nil, nil, false
	}
	var e *APIError
	if m, e = s.resolve(name(req), kind); e != nil {
		r.fail(e)
		return nil, nil, false
	}
	return req, m, true
}

// parseRequest is parseFor without the model: it refuses new work while
// draining and parses the body.
func parseRequest[T any](s *Server, r *request, parse func([]byte, parseLimits) (*T, *APIError)) (*T, bool) {
	if s.closing.Load() {
		r.fail(errDraining())
		return nil, false
	}
	req, e := parse(r.ctx.PostBody(), s.plim)
	if e != nil {
		r.fail(e)
		return nil, false
	}
	return req, true
}

func (s *Server) handleChat(r *request) {
	cr, ok := parseRequest(s, r, parseChatRequest)
	if !ok {
		return
	}
	if name, isBot := isBotModel(cr.Model); isBot && len(s.cfg.Bots) > 0 {
		s.handleBotChat(r, cr, name)
		return
	}
	m, e := s.resolve(cr.Model, KindChat)
	if e != nil {
		r.fail(e)
		return
	}
	chars := 0
	for _, msg := range cr.Messages {
		chars += len(msg.Content)
	}
	est := chars/4 + 4*len(cr.Messages) + reserveFor(cr.MaxTokens)
	req := llm.Request{ID: r.id, Messages: cr.Messages, MaxTokens: cr.MaxTokens, Stop: cr.Stop, IgnoreEOS: cr.IgnoreEOS, Sampling: cr.Sampling}
	s.generate(r, m, true, &cr.genParams, []llm.Request{req}, nil, est)
}

func (s *Server) handleCompletions(r *request) {
	cr, m, ok := parseFor(s, r, KindChat, parseCompletionRequest, func(cr *completionRequest) string { return cr.Model })
	if !ok {
		return
	}
	for i, p := range cr.Prompts {
		param := "prompt"
		if len(cr.Prompts) > 1 {
			param = indexParam("prompt", i)
		}
		if e := m.checkTokens(p.Tokens, param); e != nil {
			r.fail(e)
			return
		}
	}
	reqs := make([]llm.Request, len(cr.Prompts))
	var echo []string
	if cr.Echo {
		echo = make([]string, len(cr.Prompts))
	}
	est := 0
	for i, p := range cr.Prompts {
		if cr.Echo {
			if p.Tokens != nil {
				r.fail(errUnsupportedValue("echo", "echo is supported only for text prompts, not token ids."))
				return
			}
			echo[i] = p.Text
		}
		reqs[i] = llm.Request{ID: r.id, Prompt: p.Text, PromptTokens: p.Tokens, MaxTokens: cr.MaxTokens, Stop: cr.Stop,
			IgnoreEOS: cr.IgnoreEOS, Sampling: cr.Sampling}
		est += len(p.Text)/4 + len(p.Tokens) + reserveFor(cr.MaxTokens)
	}
	s.generate(r, m, false, &cr.genParams, reqs, echo, est)
}

func reserveFor(maxTokens int) int {
	if maxTokens > 0 {
		return maxTokens
	}
	return defaultReserve
}

// genJob is one chat or text completion request in flight: one or more
// generations (one per prompt) and what the response and the metrics need.
type genJob struct {
	s       *Server
	r       *request
	m       *model
	chat    bool
	p       *genParams
	echo    []string
	est     int
	route   string
	id      string
	created int64

	ctx     context.Context
	cancel  context.CancelFunc
	streams []Stream
	src     *eventSource

	results []llm.Result
	done    []bool
	lastAt  []time.Time
	firstAt time.Time
	gaps    []float64
	status  int
}

func (s *Server) generate(r *request, m *model, chat bool, p *genParams, reqs []llm.Request, echo []string, est int) {
	// Data that must stay on the premises: the router then never sends
	// the request to a cloud API.
	policy, ok := routePolicy(r)
	if !ok {
		return
	}
	if !r.admit(est) {
		return
	}
	j := &genJob{
		s: s, r: r, m: m, chat: chat, p: p, echo: echo, est: est, route: "local",
		created: r.start.Unix(),
		results: make([]llm.Result, len(reqs)),
		done:    make([]bool, len(reqs)),
		lastAt:  make([]time.Time, len(reqs)),
	}
	if chat {
		j.id = "chatcmpl-" + r.id
	} else {
		j.id = "cmpl-" + r.id
	}
	r.logAttrs = append(r.logAttrs, slog.String("model", m.ID), slog.Bool("stream", p.Stream))
	if p.JSONMode != "" {
		r.logAttrs = append(r.logAttrs, slog.String("response_format", p.JSONMode))
	}
	// The key reaches the router for its per-key budget.
	j.ctx, j.cancel = context.WithCancel(r.who.routeContext(router.WithPolicy(s.baseCtx, policy)))
	for _, req := range reqs {
		st, err := m.Generator.Generate(j.ctx, req)
		if err != nil {
			j.cancel()
			for _, st := range j.streams {
				drain(st)
			}
			param := "messages"
			if !chat {
				param = "prompt"
			}
			e := fromBackend(err, param)
			if e.Code == "server_overloaded" {
				s.metrics.overloaded.WithLabelValues(m.ID).Inc()
			}
			j.status = e.Status
			j.record()
			r.fail(e)
			return
		}
		j.streams = append(j.streams, st)
	}
	if rt, ok := j.streams[0].(Routed); ok {
		j.route = rt.Route()
	}
	r.ctx.Response.Header.Set("X-Infergate-Route", j.route)
	j.src = newEventSource(j.ctx, j.streams)
	if p.Stream {
		j.startStream()
		return
	}
	j.collect()
}

// drain consumes a stream to its end, so that its producer never blocks.
func drain(st Stream) llm.Result {
	for range st.Deltas() {
	}
	return st.Result()
}

// onDelta records token timing.
func (j *genJob) onDelta(idx int, d llm.Delta, now time.Time) {
	if j.firstAt.IsZero() {
		j.firstAt = now
	}
	if last := j.lastAt[idx]; !last.IsZero() && d.Tokens > 0 {
		j.gaps = append(j.gaps, now.Sub(last).Seconds()/float64(d.Tokens))
	}
	if d.Tokens > 0 {
		j.lastAt[idx] = now
	}
}

// failure returns the error to report for a generation that did not end
// normally, or nil.
func (j *genJob) failure(res llm.Result) *APIError {
	if res.Err != nil {
		return fromBackend(res.Err, "")
	}
	if res.FinishReason == llm.FinishCancel {
		if j.s.baseCtx.Err() != nil || j.s.closing.Load() {
			return &APIError{Status: fasthttp.StatusServiceUnavailable, Type: TypeUnavailable, Code: "shutting_down",
				Message: "The server shut down before the generation finished; retry.", RetryAfter: 5 * time.Second}
		}
		return &APIError{Status: fasthttp.StatusServiceUnavailable, Type: TypeUnavailable, Code: "generation_cancelled",
			Message: "The generation was cancelled by the server; retry.", RetryAfter: time.Second}
	}
	return nil
}

func (j *genJob) usage() usage {
	var u usage
	for _, res := range j.results {
		u.PromptTokens += res.PromptTokens
		u.CompletionTokens += res.CompletionTokens
		u.PromptTokensDetails.CachedTokens += res.CachedTokens
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// record settles the rate limit and observes the request's metrics; it is
// called exactly once per job.
func (j *genJob) record() {
	s, m := j.s, j.m
	sc := statusClass(j.status)
	endpoint := "completions"
	if j.chat {
		endpoint = "chat.completions"
	}
	u := j.usage()
	j.r.who.limits.settle(j.est, u.TotalTokens)
	s.metrics.requests.WithLabelValues(endpoint, m.ID, j.route, sc).Inc()
	s.metrics.e2e.WithLabelValues(endpoint, m.ID, j.route, sc).Observe(time.Since(j.r.start).Seconds())
	if u.PromptTokens > 0 {
		s.metrics.promptTokens.WithLabelValues(m.ID, j.route).Add(float64(u.PromptTokens))
	}
	if u.CompletionTokens > 0 {
		s.metrics.completionTokens.WithLabelValues(m.ID, j.route).Add(float64(u.CompletionTokens))
	}
	if c := u.PromptTokensDetails.CachedTokens; c > 0 {
		s.metrics.cachedTokens.WithLabelValues(m.ID, j.route).Add(float64(c))
	}
	if !j.firstAt.IsZero() {
		s.metrics.ttft.WithLabelValues(m.ID, j.route, sc).Observe(j.firstAt.Sub(j.r.start).Seconds())
	}
	if len(j.gaps) > 0 {
		h := s.metrics.itl.WithLabelValues(m.ID, j.route, sc)
		for _, g := range j.gaps {
			h.Observe(g)
		}
	}
	for i, res := range j.results {
		if j.done[i] && res.QueueWait > 0 {
			s.metrics.queueWait.WithLabelValues(m.ID, j.route, sc).Observe(res.QueueWait.Seconds())
		}
	}
	attrs := []slog.Attr{
		slog.String("route", j.route),
		slog.Int("prompt_tokens", u.PromptTokens),
		slog.Int("completion_tokens", u.CompletionTokens),
		slog.Int("cached_tokens", u.PromptTokensDetails.CachedTokens),
	}
	if !j.firstAt.IsZero() {
		attrs = append(attrs, slog.Float64("ttft_ms", float64(j.firstAt.Sub(j.r.start).Microseconds())/1000))
	}
	if len(j.results) > 0 && j.done[0] {
		attrs = append(attrs, slog.String("finish_reason", j.results[0].FinishReason),
			slog.Float64("queue_wait_ms", float64(j.results[0].QueueWait.Microseconds())/1000))
	}
	j.r.logAttrs = append(j.r.logAttrs, attrs...)
}

// Non-streamed responses.

type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []chatChoice `json:"choices"`
	Usage             usage        `json:"usage"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason string      `json:"finish_reason"`
}

type chatMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type textCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []textChoice `json:"choices"`
	Usage             usage        `json:"usage"`
}

type textChoice struct {
	Index        int       `json:"index"`
	Text         string    `json:"text"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

// collect runs a non-streamed request to its end and writes the response.
func (j *genJob) collect() {
	defer j.cancel()
	texts := make([]strings.Builder, len(j.streams))
	for i, e := range j.echo {
		texts[i].WriteString(e)
	}
	conn := j.r.ctx.Conn()
	tick := time.NewTicker(clientCheckInterval)
	defer tick.Stop()
	for j.src.left > 0 {
		ev, idle := j.src.next(tick.C)
		if idle {
			if peerClosed(conn) {
				j.status = 499
				j.s.metrics.disconnects.WithLabelValues(j.m.ID).Inc()
				j.r.logAttrs = append(j.r.logAttrs, slog.Bool("client_gone", true))
				j.cancel()
				j.drainAll()
				j.record()
				j.r.ctx.SetStatusCode(499)
				j.r.ctx.SetConnectionClose()
				return
			}
			continue
		}
		if ev.done {
			j.results[ev.idx], j.done[ev.idx] = ev.res, true
			continue
		}
		j.onDelta(ev.idx, ev.delta, time.Now())
		texts[ev.idx].WriteString(ev.delta.Text)
	}
	for _, res := range j.results {
		if e := j.failure(res); e != nil {
			j.status = e.Status
			j.record()
			j.r.fail(e)
			return
		}
	}
	var body []byte
	var err error
	fp := j.m.fp
	if j.chat {
		resp := chatCompletion{ID: j.id, Object: "chat.completion", Created: j.created, Model: j.m.ID,
			SystemFingerprint: fp, Usage: j.usage()}
		for i := range texts {
			resp.Choices = append(resp.Choices, chatChoice{Index: i, FinishReason: j.results[i].FinishReason,
				Message: chatMessage{Role: "assistant", Content: texts[i].String()}})
		}
		body, err = json.Marshal(resp)
	} else {
		resp := textCompletion{ID: j.id, Object: "text_completion", Created: j.created, Model: j.m.ID,
			SystemFingerprint: fp, Usage: j.usage()}
		for i := range texts {
			resp.Choices = append(resp.Choices, textChoice{Index: i, Text: texts[i].String(), FinishReason: j.results[i].FinishReason})
		}
		body, err = json.Marshal(resp)
	}
	if err != nil {
		j.status = 500
		j.record()
		j.r.fail(errInternal(fmt.Errorf("encoding the response: %w", err)))
		return
	}
	j.status = fasthttp.StatusOK
	j.record()
	j.r.ctx.SetContentType("application/json")
	j.r.ctx.SetBody(body)
}

// startStream answers 200 with an event stream and hands the rest of the
// request to a stream writer. It must be the handler's last act: fasthttp
// starts the writer at once.
func (j *genJob) startStream() { j.s.startEventStream(j.r, j.writeStream) }

// startEventStream answers r with 200 and an event stream written by
// write on fasthttp's stream goroutine, which gets the connection to renew
// its write deadline before every event (so that the deadline bounds a
// stalled client, not the stream's length). write must decrement the
// streams gauge when it returns. It must be the handler's last act:
// fasthttp starts the writer at once.
func (s *Server) startEventStream(r *request, write func(w *bufio.Writer, conn net.Conn)) {
	ctx := r.ctx
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	// Tell nginx-style proxies not to buffer the stream.
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	conn := ctx.Conn()
	_ = ctx.SetWriteDeadline(time.Now().Add(s.lim.WriteTimeout))
	r.streaming = true
	s.metrics.streams.Inc()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) { write(w, conn) })
}

// writeStream runs on fasthttp's stream goroutine until the generation
// ends or the client goes away.
func (j *genJob) writeStream(w *bufio.Writer, conn net.Conn) {
	s := j.s
	j.status = fasthttp.StatusOK
	defer func() {
		j.cancel()
		j.record()
		s.metrics.streams.Dec()
		j.r.finish(j.status)
	}()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic while streaming", "request_id", j.r.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			e := errInternal(fmt.Errorf("panic: %v", p))
			j.status, j.r.err = e.Status, e
			_, _ = w.Write(errorEvent(e))
			_ = w.Flush()
			j.cancel()
			j.drainAll()
		}
	}()

	enc := newChunkEncoder(j.chat, j.id, j.created, j.m.ID, j.m.fp, j.p.IncludeUsage)
	deadline := s.lim.WriteTimeout
	flush := func() bool {
		if conn != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(deadline))
		}
		return w.Flush() == nil
	}
	gone := func() {
		// The pipe to the connection broke: the client left or stalled
		// past the write deadline. Stop generating for it.
		j.status = 499 // nginx's "client closed request"
		s.metrics.disconnects.WithLabelValues(j.m.ID).Inc()
		j.r.logAttrs = append(j.r.logAttrs, slog.Bool("client_gone", true))
		j.cancel()
		j.drainAll()
	}

	for i := range j.streams {
		if j.chat {
			_, _ = w.Write(enc.role(i))
		}
		if j.echo != nil && j.echo[i] != "" {
			_, _ = w.Write(enc.text(i, j.echo[i]))
		}
	}
	if !flush() {
		gone()
		return
	}
	tick := time.NewTicker(s.lim.StreamKeepAlive)
	defer tick.Stop()
	lastWrite := time.Now()
	for j.src.left > 0 {
		ev, idle := j.src.next(tick.C)
		now := time.Now()
		if idle {
			if now.Sub(lastWrite) < s.lim.StreamKeepAlive/2 {
				continue
			}
			_, _ = w.WriteString(sseKeepAlive)
			if !flush() {
				gone()
				return
			}
			lastWrite = now
			continue
		}
		if ev.done {
			j.results[ev.idx], j.done[ev.idx] = ev.res, true
			if e := j.failure(ev.res); e != nil {
				j.status, j.r.err = e.Status, e
				_, _ = w.Write(errorEvent(e))
				_ = flush()
				j.cancel()
				j.drainAll()
				return
			}
			_, _ = w.Write(enc.finish(ev.idx, ev.res.FinishReason))
		} else {
			j.onDelta(ev.idx, ev.delta, now)
			if ev.delta.Text == "" {
				continue
			}
			_, _ = w.Write(enc.text(ev.idx, ev.delta.Text))
		}
		// Several events ready at once (a step that finished many tokens,
		// or several prompts) go out in one write.
		if j.src.pending() {
			continue
		}
		if !flush() {
			gone()
			return
		}
		lastWrite = now
	}
	if j.p.IncludeUsage {
		_, _ = w.Write(enc.usage(j.usage()))
	}
	_, _ = w.WriteString(sseDone)
	if !flush() {
		gone()
	}
}

// drainAll consumes what is left of every generation, recording results.
func (j *genJob) drainAll() {
	for j.src.left > 0 {
		ev, _ := j.src.next(nil)
		if ev.done {
			j.results[ev.idx], j.done[ev.idx] = ev.res, true
		}
	}
}

// genEvent is a delta of generation idx or, with done, its end.
type genEvent struct {
	idx   int
	delta llm.Delta
	done  bool
	res   llm.Result
}

// eventSource merges the streams of one request. A single stream, the
// common case, is read directly; several are forwarded by one goroutine
// each into a channel.
type eventSource struct {
	streams []Stream
	ch      chan genEvent
	left    int // streams not yet ended
}

func newEventSource(ctx context.Context, streams []Stream) *eventSource {
	es := &eventSource{streams: streams, left: len(streams)}
	if len(streams) > 1 {
		// Room for every stream's final event, so forwarders never block
		// on it once the consumer only drains.
		es.ch = make(chan genEvent, 2*len(streams))
		for i, st := range streams {
			go es.forward(ctx, i, st)
		}
	}
	return es
}

func (es *eventSource) forward(ctx context.Context, idx int, st Stream) {
	for d := range st.Deltas() {
		select {
		case es.ch <- genEvent{idx: idx, delta: d}:
		case <-ctx.Done():
			// Cancelled: deltas are dropped, the stream still drains.
		}
	}
	es.ch <- genEvent{idx: idx, done: true, res: st.Result()}
}

// next returns the next event, or idle when tick fires first.
func (es *eventSource) next(tick <-chan time.Time) (ev genEvent, idle bool) {
	if es.ch == nil {
		st := es.streams[0]
		select {
		case d, ok := <-st.Deltas():
			if !ok {
				es.left = 0
				return genEvent{done: true, res: st.Result()}, false
			}
			return genEvent{delta: d}, false
		case <-tick:
			return genEvent{}, true
		}
	}
	select {
	case ev := <-es.ch:
		if ev.done {
			es.left--
		}
		return ev, false
	case <-tick:
		return genEvent{}, true
	}
}

// pending reports whether an event is ready without waiting.
func (es *eventSource) pending() bool {
	if es.ch == nil {
		return len(es.streams[0].Deltas()) > 0
	}
	return len(es.ch) > 0
}
