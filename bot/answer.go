package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/infergate/infergate/bot/conversation"
	"github.com/infergate/infergate/index"
	"github.com/infergate/infergate/llm"
)

// turn is one run of Answer: its inputs and what it learned so far.
type turn struct {
	b       *Bot
	ctx     context.Context
	id      string
	j       journal
	text    string
	emit    Sink
	start   time.Time
	conv    *conversation.Conversation
	history []conversation.Turn
	// firstText is when the first answer text was released (the TTFT the
	// customer sees), zero before.
	firstText time.Time
}

// Answer runs one turn of conversation id for owner: the customer wrote
// text. It sends the turn's events to emit (see EventKind for their
// order) and returns the done event's payload once the turn is logged.
//
// The steps, each of which may end the turn:
//
//  1. a conversation a human owns gets no answer: the message is logged
//     for the human (RoleUser) and done says "with_human";
//  2. escalation before retrieval: a request for a person, a sensitive
//     topic, or too many unresolved turns hands off;
//  3. retrieval for the conversation so far (query.go) and the
//     answerability gate (gate.go): below it, the unanswerable message
//     or a handoff, without generating;
//  4. the prompt (prompt.go) and the generation, streamed through the
//     hold-back (guard.go): a leak is replaced with the refusal, the
//     cannot-help marker hands off, invalid citations are removed;
//  5. the turn is logged with its citations, scores, latencies, route,
//     model and tokens, and done is sent.
//
// Errors are wrapped; conversation.ErrNotFound, ErrResolved and
// ErrHandedOff come through for the caller to map. An error from emit
// stops the turn and is returned.
func (b *Bot) Answer(ctx context.Context, id string, owner conversation.Owner, text string, emit Sink) (Done, error) {
	return b.answer(ctx, id, logged{b: b, id: id, owner: owner}, text, emit)
}

// Reply answers the conversation of an OpenAI client (model "bot:<name>"
// on /v1/chat/completions), which keeps the conversation itself and sends
// it whole: msgs, whose last message is the question (see fromMessages;
// errors are *ClientHistoryError). The turn runs as Answer's does, except
// that nothing is logged and a handoff is only signalled: the handoff
// event has no ticket and done says StatusHandedOff, for the client's
// system to route the conversation to a human.
func (b *Bot) Reply(ctx context.Context, msgs []llm.Message, emit Sink) (Done, error) {
	turns, text, err := fromMessages(msgs)
	if err != nil {
		return Done{}, err
	}
	j := &clientHistory{conv: conversation.Conversation{Bot: b.cfg.Name, Status: conversation.StatusBot, Turns: uint32(len(turns))}, turns: turns}
	return b.answer(ctx, "", j, text, emit)
}

func (b *Bot) answer(ctx context.Context, id string, j journal, text string, emit Sink) (Done, error) {
	t := &turn{b: b, ctx: ctx, id: id, j: j, text: strings.TrimSpace(text), emit: emit, start: b.d.Now()}
	if t.text == "" {
		return Done{}, ErrEmptyMessage
	}
	d, err := t.run()
	if err != nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "bot turn failed", slog.String("conversation", id), slog.Any("err", err))
		if id == "" {
			return Done{}, fmt.Errorf("bot %q: %w", b.cfg.Name, err)
		}
		return Done{}, fmt.Errorf("bot %q: conversation %q: %w", b.cfg.Name, id, err)
	}
	b.m.latency.WithLabelValues(b.cfg.Name).Observe(b.d.Now().Sub(t.start).Seconds())
	return d, nil
}

func (t *turn) run() (Done, error) {
	b, cfg := t.b, t.b.cfg
	var err error
	if t.conv, t.history, err = t.j.load(t.ctx); err != nil {
		return Done{}, err
	}
	if t.conv.Status != conversation.StatusBot {
		return t.withHuman()
	}
	if p, ok := b.asks.match(t.text); ok {
		return t.handoff(ReasonAskedForHuman, "asked: "+p, nil, false)
	}
	if p, ok := b.sensitive.match(t.text); ok {
		return t.handoff(ReasonSensitiveTopic, "topic: "+p, nil, false)
	}
	if n := cfg.Escalation.MaxUnresolvedTurns; n > 0 && unresolvedTurns(t.history) >= n {
		return t.handoff(ReasonUnresolvedTurns, fmt.Sprintf("%d unresolved turns", n), nil, false)
	}
	q := index.Query{Text: retrievalQuery(t.history, t.text), K: cfg.Retrieval.K, Mode: cfg.Retrieval.Mode}
	if f := cfg.Retrieval.Filter; f != nil {
		q.Filter = &f.Filter
	}
	hits, err := b.d.Retriever.Search(t.ctx, cfg.Collection, q)
	if err != nil {
		return Done{}, t.fail(fmt.Errorf("retrieval: %w", err))
	}
	passages := usable(hits, cfg.Retrieval)
	v := judge(passages, cfg.Retrieval.Mode, cfg.Answerability)
	b.log.LogAttrs(t.ctx, slog.LevelDebug, "bot gate", slog.String("conversation", t.id), slog.Bool("answerable", v.answerable),
		slog.String("reason", v.reason), slog.Float64("similarity", v.bestSim), slog.Float64("fused", v.bestFused), slog.Bool("exact", v.exact))
	if !v.answerable {
		b.m.unanswered.WithLabelValues(cfg.Name, v.reason).Inc()
		if cfg.Escalation.OnUnanswerable == OnUnanswerableHandoff {
			return t.handoff(ReasonUnanswerable, v.reason, passages, false)
		}
		return t.reply(cfg.UnanswerableMessage, v.reason, passages)
	}
	p, err := b.prompts.build(t.history, t.text, passages)
	if err != nil {
		return Done{}, t.fail(err)
	}
	return t.generate(p)
}

// generate streams the model's answer through the hold-back and logs it.
func (t *turn) generate(p prompt) (Done, error) {
	b, cfg := t.b, t.b.cfg
	gctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	st, err := b.d.Generator.Generate(gctx, llm.Request{Messages: p.Messages, MaxTokens: cfg.Generation.MaxTokens,
		Sampling: llm.Sampling{Temperature: cfg.Generation.Temperature}})
	if err != nil {
		return Done{}, t.fail(fmt.Errorf("generate: %w", err))
	}
	hb := &holdback{check: newLeakChecker(p.Hidden, cfg.Guardrails.LeakChars), refs: len(p.Passages)}
	var shown strings.Builder
	var sinkErr error
	for d := range st.Deltas() {
		if sinkErr != nil || hb.Leaked || hb.CannotHelp {
			continue // drain until the cancelled stream ends
		}
		if out := hb.push(d.Text); out != "" {
			sinkErr = t.delta(out, &shown)
		}
		if sinkErr != nil || hb.Leaked || hb.CannotHelp {
			cancel()
		}
	}
	res := st.Result()
	stopped := hb.Leaked || hb.CannotHelp
	switch {
	case sinkErr != nil:
		return Done{}, sinkErr
	case t.ctx.Err() != nil:
		return Done{}, t.ctx.Err()
	case res.Err != nil && !stopped:
		return Done{}, t.fail(&GenerationError{Route: res.Route, Err: res.Err})
	}
	if hb.CannotHelp {
		return t.handoff(ReasonModelCannotHelp, "the model found no answer in the passages", hits(p.Passages), shown.Len() > 0)
	}
	logTurn := conversation.Turn{Role: conversation.RoleBot, User: t.text, Scores: scores(p.Passages),
		Route: res.Route, Model: cmp.Or(res.Model, cfg.Model), PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens}
	reason := ""
	var cites []Citation
	if hb.Leaked {
		reason = guardPromptLeak
		b.m.guardrail.WithLabelValues(cfg.Name, guardPromptLeak).Inc()
		b.log.LogAttrs(t.ctx, slog.LevelWarn, "answer refused: it repeats the hidden instructions", slog.String("conversation", t.id))
		logTurn.Answer = cfg.RefusalMessage
		if err := t.send(Event{Kind: EventReplace, Text: cfg.RefusalMessage}); err != nil {
			return Done{}, err
		}
	} else {
		if err := t.delta(hb.finish(), &shown); err != nil {
			return Done{}, err
		}
		if hb.Dropped > 0 {
			b.m.guardrail.WithLabelValues(cfg.Name, guardInvalidCitation).Add(float64(hb.Dropped))
		}
		logTurn.Answer = shown.String()
		if strings.TrimSpace(logTurn.Answer) == "" {
			reason = "empty_answer"
			logTurn.Answer = cfg.UnanswerableMessage
			if err := t.send(Event{Kind: EventReplace, Text: logTurn.Answer}); err != nil {
				return Done{}, err
			}
		} else if cites = citations(logTurn.Answer, p.Passages); len(cites) > 0 {
			if err := t.send(Event{Kind: EventCitations, Citations: cites}); err != nil {
				return Done{}, err
			}
		}
	}
	logTurn.Citations = logCitations(cites)
	return t.log(logTurn, reason == "", reason)
}

// delta releases text to the customer.
func (t *turn) delta(text string, shown *strings.Builder) error {
	if text == "" {
		return nil
	}
	if t.firstText.IsZero() {
		t.firstText = t.b.d.Now()
		t.b.m.ttft.WithLabelValues(t.b.cfg.Name).Observe(t.firstText.Sub(t.start).Seconds())
	}
	shown.WriteString(text)
	return t.send(Event{Kind: EventDelta, Text: text})
}

// reply answers with a message of the bot's own (no generation) and logs
// it; reason says why.
func (t *turn) reply(msg, reason string, passages []index.Hit) (Done, error) {
	var shown strings.Builder
	if err := t.delta(msg, &shown); err != nil {
		return Done{}, err
	}
	return t.log(conversation.Turn{Role: conversation.RoleBot, User: t.text, Answer: msg, Scores: hitScores(passages)}, false, reason)
}

// log appends the bot's turn and sends done.
func (t *turn) log(lt conversation.Turn, answered bool, reason string) (Done, error) {
	t.stamp(&lt)
	got, err := t.j.appendTurn(t.ctx, lt)
	if errors.Is(err, conversation.ErrHandedOff) {
		// A human took over while the bot was answering: the answer
		// is not logged as the bot's; the customer's message is kept.
		return t.withHuman()
	}
	if err != nil {
		return Done{}, t.fail(fmt.Errorf("logging the turn: %w", err))
	}
	if answered {
		t.b.m.answers.WithLabelValues(t.b.cfg.Name).Inc()
	}
	d := Done{Turn: got.N, Status: conversation.StatusBot, Answered: answered, Reason: reason,
		Model: lt.Model, PromptTokens: lt.PromptTokens, CompletionTokens: lt.CompletionTokens}
	return d, t.send(Event{Kind: EventDone, Done: &d})
}

// handoff hands the conversation off for reason, with the handoff message
// as the bot's side of this turn (replacing text already shown when
// replace is set).
func (t *turn) handoff(reason, detail string, passages []index.Hit, replace bool) (Done, error) {
	b, cfg := t.b, t.b.cfg
	ht := conversation.Turn{User: t.text, Answer: cfg.HandoffMessage, Scores: hitScores(passages)}
	t.stamp(&ht)
	c, ticket, err := t.j.handoff(t.ctx, conversation.HandoffRequest{
		Reason: reason, Detail: detail, Target: b.target(t.conv), Turn: &ht, Passages: ticketPassages(passages)})
	var te *conversation.TransitionError
	if errors.As(err, &te) && te.From == conversation.StatusHandedOff {
		return t.withHuman()
	}
	if err != nil {
		return Done{}, t.fail(fmt.Errorf("handoff: %w", err))
	}
	b.m.handoffs.WithLabelValues(cfg.Name, reason).Inc()
	b.log.LogAttrs(t.ctx, slog.LevelInfo, "conversation handed off", slog.String("conversation", t.id),
		slog.String("reason", reason), slog.String("ticket", ticket))
	kind := EventDelta
	if replace {
		kind = EventReplace
	}
	if err := t.send(Event{Kind: kind, Text: cfg.HandoffMessage}); err != nil {
		return Done{}, err
	}
	if err := t.send(Event{Kind: EventHandoff, Handoff: &Handoff{Reason: reason, Ticket: ticket}}); err != nil {
		return Done{}, err
	}
	d := Done{Turn: c.Turns - 1, Status: c.Status, Reason: reason}
	return d, t.send(Event{Kind: EventDone, Done: &d})
}

// withHuman logs the customer's message for the human who owns the
// conversation; the bot says nothing.
func (t *turn) withHuman() (Done, error) {
	got, err := t.j.appendTurn(t.ctx, conversation.Turn{Role: conversation.RoleUser, User: t.text})
	if err != nil {
		return Done{}, err // ErrResolved for a conversation that is over
	}
	d := Done{Turn: got.N, Status: conversation.StatusHandedOff, Reason: "with_human"}
	return d, t.send(Event{Kind: EventDone, Done: &d})
}

// stamp sets a turn's latencies.
func (t *turn) stamp(lt *conversation.Turn) {
	now := t.b.d.Now()
	lt.Latency = now.Sub(t.start)
	if !t.firstText.IsZero() {
		lt.TTFT = t.firstText.Sub(t.start)
	}
}

func (t *turn) send(e Event) error {
	if err := t.emit(e); err != nil {
		return fmt.Errorf("sending %s: %w", e.Kind, err)
	}
	return nil
}

// fail sends err as the error event and returns it.
func (t *turn) fail(err error) error {
	if serr := t.send(Event{Kind: EventError, Err: err}); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

func hits(ps []passage) []index.Hit {
	out := make([]index.Hit, len(ps))
	for i, p := range ps {
		out[i] = p.Hit
	}
	return out
}

func scores(ps []passage) []float64 { return hitScores(hits(ps)) }

func hitScores(hs []index.Hit) []float64 {
	if len(hs) == 0 {
		return nil
	}
	out := make([]float64, len(hs))
	for i, h := range hs {
		out[i] = h.Score
	}
	return out
}
