package batcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/infergate/infergate/inference"
	"github.com/infergate/infergate/llm"
)

// job is one generation request on its way through the scheduler.
type job struct {
	ctx    context.Context
	prompt []inference.Token
	req    llm.Request
	stream *llm.Stream
	// sampler was built, and its grammar parsed and checked, on the
	// caller's goroutine; the slot that serves the job takes it over.
	sampler  *inference.Sampler
	arrived  time.Time
	admitted time.Time
	ttft     time.Duration
	// predicted is the uncorrected time to first token predicted at
	// arrival; its error against ttft calibrates PredictedTTFT.
	predicted time.Duration
}

// slotState is where a slot is in serving a request. A slot goes
// idle → prefilling → generating → idle; a request can also end while
// prefilling (cancelled, or a failed decode).
type slotState uint8

const (
	// slotIdle: no request. The cells of the last one stay (cached) for
	// prefix reuse.
	slotIdle slotState = iota
	// slotPrefilling: decoding the prompt, possibly over several steps
	// (chunked prefill), until its last token's logits give the first
	// sampled token.
	slotPrefilling
	// slotGenerating: every step decodes the last sampled token and
	// samples the next.
	slotGenerating
)

func (st slotState) String() string {
	switch st {
	case slotIdle:
		return "idle"
	case slotPrefilling:
		return "prefilling"
	case slotGenerating:
		return "generating"
	}
	return fmt.Sprintf("slotState(%d)", uint8(st))
}

// slot is one sequence of the shared context. Its id is the llama.cpp
// sequence id. cached lists the tokens whose KV cells the sequence holds,
// in position order: after a request ends they stay for prefix reuse.
type slot struct {
	id     int
	state  slotState
	cached []inference.Token

	job     *job   // set unless idle
	order   uint64 // admission order, for FIFO prefill
	prefill int    // index in job.prompt of the next prompt token to decode
	outIdx  int    // batch index of this slot's output in the current step; -1 none
	sampler *inference.Sampler
	decoder *inference.TextDecoder
	stops   stopMatcher
	nGen    int
	reused  int
	// undecoded: the last token in cached was sampled but has no KV cell
	// yet; the next step decodes it.
	undecoded bool
	stopHit   bool // a stop string ended the text: nothing after it is sent
	lastUsed  time.Time
}

func (s *slot) busy() bool { return s.state != slotIdle }

// Generate tokenizes the request on the caller's goroutine and queues it.
// It fails at once with *llm.PromptTooLongError when the prompt cannot fit a
// sequence, *llm.OverloadedError when the queue is full, or *llm.RequestError for
// a request the model cannot serve (an empty prompt, a grammar llama.cpp
// refuses, messages the chat template cannot format).
func (b *Batcher) Generate(ctx context.Context, req llm.Request) (*llm.Stream, error) {
	if b.gen == nil {
		return nil, fmt.Errorf("model %s serves embeddings, not text generation", b.id)
	}
	arrived := time.Now()
	// Held until the job is queued, so Close cannot slip between admission
	// and the send and leave the job unseen by the scheduler.
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.exit()
	prompt, sampler, err := b.prepare(req)
	if err != nil {
		return nil, err
	}
	if err := b.admit(); err != nil {
		sampler.Close()
		return nil, err
	}
	j := &job{ctx: ctx, prompt: prompt, req: req, stream: llm.NewStream(ctx, llm.RouteLocal), sampler: sampler,
		arrived: arrived, predicted: b.predictTTFT()}
	// admit reserved room in the channel: this send does not block.
	b.jobs <- j
	return j.stream, nil
}

// prepare tokenizes the request and builds its sampler: whatever a request
// can get wrong fails here, as the caller's error, not in the scheduler.
func (b *Batcher) prepare(req llm.Request) ([]inference.Token, *inference.Sampler, error) {
	prompt, err := b.tokenizeRequest(req)
	if err != nil {
		return nil, nil, err
	}
	if len(prompt) == 0 {
		return nil, nil, &llm.RequestError{Field: promptField(req), Err: errors.New("the prompt is empty")}
	}
	// At least one position must be left for the answer.
	if len(prompt) >= b.seqCtx {
		return nil, nil, &llm.PromptTooLongError{Tokens: len(prompt), Limit: b.seqCtx}
	}
	// Penalties count generated tokens only, as OpenAI defines them.
	sampler, err := b.gen.NewSampler(toSampling(req.Sampling))
	if err != nil {
		return nil, nil, &llm.RequestError{Field: llm.FieldGrammar, Err: err}
	}
	return prompt, sampler, nil
}

// promptField is the part of req that holds its prompt.
func promptField(req llm.Request) string {
	if len(req.Messages) > 0 {
		return llm.FieldMessages
	}
	return llm.FieldPrompt
}

// Tokenize returns the tokens the model sees for text, as Generate would
// for llm.Request.Prompt.
func (b *Batcher) Tokenize(text string) ([]inference.Token, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.exit()
	return b.model.Tokenize(text)
}

func (b *Batcher) tokenizeRequest(req llm.Request) ([]inference.Token, error) {
	switch {
	case len(req.PromptTokens) > 0:
		vocab := int32(b.model.Info().VocabSize)
		for i, t := range req.PromptTokens {
			if t < 0 || t >= vocab {
				return nil, &llm.RequestError{Field: llm.FieldPrompt,
					Err: fmt.Errorf("token %d at index %d is outside the vocabulary [0,%d)", t, i, vocab)}
			}
		}
		return append([]inference.Token(nil), req.PromptTokens...), nil
	case len(req.Messages) > 0:
		msgs := make([]inference.Message, len(req.Messages))
		for i, m := range req.Messages {
			msgs[i] = inference.Message{Role: m.Role, Content: m.Content}
		}
		// The template was checked when the model loaded: what fails
		// now is what these messages ask of it (a role it lacks).
		text, err := b.model.ApplyTemplate(msgs)
		if err != nil {
			return nil, &llm.RequestError{Field: llm.FieldMessages, Err: fmt.Errorf("the chat template cannot format these messages: %w", err)}
		}
		toks, err := b.model.TokenizeTemplated(text)
		if err != nil {
			return nil, &llm.RequestError{Field: llm.FieldMessages, Err: err}
		}
		return toks, nil
	default:
		toks, err := b.model.Tokenize(req.Prompt)
		if err != nil {
			return nil, &llm.RequestError{Field: llm.FieldPrompt, Err: err}
		}
		return toks, nil
	}
}

// scheduler is the state owned by the scheduler goroutine.
type scheduler struct {
	b       *Batcher
	slots   []*slot
	waiting []*job
	order   uint64

	// Chunked prefill (see chunkBudget): the fitted time per prompt token
	// and the current budget of a step that also generates.
	tokenCost     time.Duration
	lastTokenCost time.Duration
	chunk         int
	order_        []*slot // scratch for prefillOrder
	left, plan    []int   // scratch for planPrefill
	entries       []entry // scratch: the batch being built
}

// entry is one slot's tokens in the batch being built: they are added to
// llama.cpp's batch only when it is decoded, so that a batch that does not
// fit can be split by slot (see decodeEntries).
type entry struct {
	sl     *slot
	pos    int
	tokens []inference.Token
	output bool
}

func (b *Batcher) runGenerate() {
	defer close(b.exited)
	// Every decode on one OS thread, which the kernel keeps on one core
	// with the model's and the KV cells' cache lines, rather than on
	// whichever thread the goroutine last woke on. Measured over HTTP,
	// medians of 6 interleaved runs: 4 streams 2843 tok/s against 2380,
	// 16 streams 2872 against 2466.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := &scheduler{b: b, slots: make([]*slot, b.cfg.Parallel), chunk: min(16, b.cfg.PrefillChunk)}
	for i := range s.slots {
		s.slots[i] = &slot{id: i, outIdx: -1}
	}
	for {
		if !s.collect() {
			s.shutdown()
			return
		}
		s.dropCancelled()
		s.assign()
		s.step()
	}
}

// collect moves submitted jobs into the waiting queue. With nothing to do
// it blocks until a job arrives. It returns false when the batcher closes.
func (s *scheduler) collect() bool {
	idle := len(s.waiting) == 0
	for _, sl := range s.slots {
		if sl.busy() {
			idle = false
			break
		}
	}
	if idle {
		select {
		case j := <-s.b.jobs:
			s.waiting = append(s.waiting, j)
		case f := <-s.b.ctl:
			f(s)
		case <-s.b.quit:
			return false
		}
	}
	for {
		select {
		case j := <-s.b.jobs:
			s.waiting = append(s.waiting, j)
		case f := <-s.b.ctl:
			f(s)
		case <-s.b.quit:
			return false
		default:
			return true
		}
	}
}

// dropCancelled ends requests whose client went away, freeing their slots
// before the next batch is built.
func (s *scheduler) dropCancelled() {
	for _, sl := range s.slots {
		if sl.busy() && sl.job.ctx.Err() != nil {
			s.finish(sl, llm.FinishCancel, nil)
		}
	}
	kept := s.waiting[:0]
	maxWait := s.b.cfg.MaxQueueWait
	for _, j := range s.waiting {
		if j.ctx.Err() != nil {
			s.drop(j, llm.Result{FinishReason: llm.FinishCancel, PromptTokens: len(j.prompt), QueueWait: time.Since(j.arrived)})
			continue
		}
		if waited := time.Since(j.arrived); maxWait > 0 && waited > maxWait {
			// Queued past the limit: the caller may still serve it
			// elsewhere (the cloud route) instead of waiting longer.
			s.b.refused.Add(1)
			s.drop(j, llm.Result{FinishReason: llm.FinishStop, PromptTokens: len(j.prompt), QueueWait: waited,
				Err: &llm.OverloadedError{RetryAfter: max(time.Second, s.b.predictWait(int(s.b.admitted.Load())))}})
			continue
		}
		kept = append(kept, j)
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
}

// assign gives free slots to waiting jobs in arrival order. Each job takes
// the free slot whose cells hold the longest prefix of its prompt; when a
// busy slot holds a longer one, those cells are shared into the chosen slot.
func (s *scheduler) assign() {
	for len(s.waiting) > 0 {
		j := s.waiting[0]
		dst := s.pickSlot(j.prompt)
		if dst == nil {
			return
		}
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		s.start(dst, j)
	}
}

// drop ends a job that never reached a slot.
func (s *scheduler) drop(j *job, res llm.Result) {
	s.b.release()
	j.sampler.Close()
	j.stream.Finish(res)
}

// pickSlot chooses a free slot for prompt: the one with the longest common
// prefix, else the least recently used.
func (s *scheduler) pickSlot(prompt []inference.Token) *slot {
	var best *slot
	bestN := -1
	for _, sl := range s.slots {
		if sl.busy() {
			continue
		}
		n := commonPrefix(sl.cached, prompt)
		if n > bestN || (n == bestN && sl.lastUsed.Before(best.lastUsed)) {
			best, bestN = sl, n
		}
	}
	return best
}

func (s *scheduler) start(sl *slot, j *job) {
	g := s.b.gen
	// Prefix reuse: keep the cells this slot already holds for the
	// prompt's prefix, or borrow a longer prefix from another slot. At
	// least the last prompt token is decoded again: its logits are needed.
	limit := len(j.prompt) - 1
	own := min(commonPrefix(sl.cached, j.prompt), limit)
	src, shared := sl, own
	if !s.b.model.Info().Recurrent {
		for _, other := range s.slots {
			if other == sl {
				continue
			}
			// Only cells already decoded can be shared.
			if n := min(commonPrefix(other.decodedPrefix(), j.prompt), limit); n > shared {
				src, shared = other, n
			}
		}
	}
	if src != sl {
		g.Forget(sl.id)
		g.Share(src.id, sl.id, shared)
		sl.cached = append(sl.cached[:0], j.prompt[:shared]...)
	} else if !g.Truncate(sl.id, own) {
		g.Forget(sl.id)
		shared = 0
		sl.cached = sl.cached[:0]
	} else {
		sl.cached = sl.cached[:own]
	}

	s.order++
	*sl = slot{
		id:      sl.id,
		state:   slotPrefilling,
		cached:  sl.cached,
		job:     j,
		order:   s.order,
		prefill: shared,
		outIdx:  -1,
		sampler: j.sampler,
		decoder: s.b.model.NewTextDecoder(),
		stops:   stopMatcher{stops: j.req.Stop},
		reused:  shared,
	}
	j.admitted = time.Now()
	s.b.running.Add(1)
	if shared > 0 {
		s.b.prefixHits.Add(1)
		s.b.prefixTokens.Add(uint64(shared))
	}
	s.b.log.Debug("request started", "request_id", j.req.ID, "slot", sl.id,
		"prompt_tokens", len(j.prompt), "reused_tokens", shared, "queue_wait", j.admitted.Sub(j.arrived))
}

// decodedPrefix is the part of the slot's tokens whose cells exist.
func (sl *slot) decodedPrefix() []inference.Token {
	if sl.undecoded {
		return sl.cached[:len(sl.cached)-1]
	}
	return sl.cached
}

func toSampling(p llm.Sampling) inference.Sampling {
	seed := p.Seed
	if !p.HasSeed {
		seed = uint32(time.Now().UnixNano())
	}
	return inference.Sampling{
		Temperature:      p.Temperature,
		TopK:             p.TopK,
		TopP:             p.TopP,
		MinP:             p.MinP,
		RepeatPenalty:    p.RepeatPenalty,
		FrequencyPenalty: p.FrequencyPenalty,
		PresencePenalty:  p.PresencePenalty,
		Seed:             seed,
		Grammar:          p.Grammar,
	}
}

// step runs one scheduler step: the next token of every generating
// sequence in one decode, then a chunk of waiting prompts in a second.
//
// Two decodes, not one mixed batch, because llama.cpp pads a batch's
// attention to its longest sequence: a 1,500-token prompt in the same batch
// would make every generating sequence attend over 1,500 cells. Separately,
// generation costs what it costs without the prompt, the tokens reach
// clients before the prompt chunk runs, and the chunk is sized so that it
// adds at most (PrefillStepFactor-1) times the generation decode to the
// gap between tokens.
func (s *scheduler) step() {
	decodeTime, decoding := s.decodeGenerating()
	budget := s.b.gen.BatchSize()
	if decoding > 0 {
		budget = s.chunkBudget(decodeTime)
	}
	s.decodePrompts(promptRoom(s.b.gen.BatchSize(), s.b.cfg.LongPrefill, budget, decoding > 0), budget)
	// The slots' own count: asking llama.cpp would be two cgo calls per
	// slot every step. TestStress checks that the two agree.
	s.b.kvUsed.Store(int64(s.heldPositions()))
}

// decodeGenerating feeds every generating sequence its last sampled token
// and samples the next. It reports how long the decode took and how many
// sequences it served.
func (s *scheduler) decodeGenerating() (time.Duration, int) {
	es := s.entries[:0]
	for _, sl := range s.slots {
		sl.outIdx = -1
		if sl.state != slotGenerating {
			continue
		}
		es = append(es, entry{sl: sl, pos: len(sl.cached) - 1, tokens: sl.cached[len(sl.cached)-1:], output: true})
		sl.undecoded = false // decoded below, or the slot fails
	}
	s.entries = es
	if len(es) == 0 {
		return 0, 0
	}
	return s.decodeEntries(es), len(es)
}

// promptRoom is how many prompt tokens a step may decode: the whole batch
// while nothing streams; else the chunk budget, or one LongPrefill's worth
// of whole prompts when that is more, so that a burst of new conversations
// does not stall the streaming ones for a full batch. Measured at 16
// streams over HTTP: p99 inter-token time 43 ms instead of 54, median
// time to first token 100 ms instead of 158, the same throughput.
func promptRoom(batch, longPrefill, budget int, streaming bool) int {
	if !streaming {
		return batch
	}
	return min(batch, max(longPrefill, budget))
}

// planPrefill fills plan with how many tokens of each waiting prompt a step
// decodes, given the tokens each has left in admission order (FIFO: no
// prompt starves). Prompts with at most longPrefill tokens left go in whole,
// as one turn of a conversation usually is once its history is cached:
// splitting them would only delay their first token. Longer prompts share
// longBudget tokens (chunked prefill). The total stays within room; the
// prompt that meets the limit takes what is left of it.
func planPrefill(left []int, room, longBudget, longPrefill int, plan []int) []int {
	plan = plan[:0]
	for _, l := range left {
		n := min(l, room)
		if l > longPrefill {
			n = min(n, longBudget)
			longBudget -= n
		}
		n = max(n, 0)
		plan = append(plan, n)
		room -= n
	}
	return plan
}

// decodePrompts decodes the prompt tokens planPrefill picks within room.
func (s *scheduler) decodePrompts(room, longBudget int) {
	order := s.prefillOrder()
	s.left = s.left[:0]
	for _, sl := range order {
		s.left = append(s.left, len(sl.job.prompt)-sl.prefill)
	}
	s.plan = planPrefill(s.left, room, longBudget, s.b.cfg.LongPrefill, s.plan)
	es := s.entries[:0]
	prefill := 0
	for i, sl := range order {
		n := s.plan[i]
		if n == 0 {
			continue
		}
		chunk := sl.job.prompt[sl.prefill : sl.prefill+n]
		es = append(es, entry{sl: sl, pos: sl.prefill, tokens: chunk, output: sl.prefill+n == len(sl.job.prompt)})
		sl.prefill += n
		sl.cached = append(sl.cached, chunk...)
		prefill += n
	}
	s.entries = es
	if prefill == 0 {
		return
	}
	took := s.decodeEntries(es)
	s.fitTokenCost(prefill, took)
}

// decodeEntries decodes the entries in one batch and samples their
// outputs. When llama.cpp finds no KV room for the batch (nothing was
// decoded then), it tries each half on its own, as llama-server halves its
// batch, so that only a sequence that cannot proceed alone fails; any other
// decode error fails the batch's sequences, and only those. It returns the
// time spent decoding.
func (s *scheduler) decodeEntries(es []entry) time.Duration {
	g := s.b.gen
	prompt := 0
	for _, e := range es {
		idx, err := g.Add(e.sl.id, e.pos, e.tokens, e.output)
		if err != nil {
			// Planned within the batch's size, so a fault of ours: what
			// was added must not leak into the next decode.
			g.DiscardPending()
			for _, e := range es {
				s.fail(e.sl, err)
			}
			return 0
		}
		e.sl.outIdx = idx
		if e.sl.state == slotPrefilling { // sampling below may move it on
			prompt += len(e.tokens)
		}
	}
	tokens := g.Pending()
	start := time.Now()
	err := g.Decode()
	took := time.Since(start)
	switch {
	case err == nil:
		s.b.steps.Add(1)
		s.b.stepNanos.Add(int64(took))
		s.b.batchTokens.Add(uint64(tokens))
		s.b.promptTokens.Add(uint64(prompt))
		for _, e := range es {
			if e.sl.outIdx >= 0 && e.sl.busy() {
				s.sample(e.sl)
			}
			e.sl.outIdx = -1
		}
		return took
	case errors.Is(err, inference.ErrNoKVSpace) && len(es) > 1:
		for _, e := range es {
			e.sl.outIdx = -1
		}
		h := len(es) / 2
		return took + s.decodeEntries(es[:h]) + s.decodeEntries(es[h:])
	default:
		for _, e := range es {
			s.fail(e.sl, err)
		}
		return took
	}
}

// fail ends a slot's request after its decode or sampling failed, and
// drops its cells, whose state is then unknown.
func (s *scheduler) fail(sl *slot, err error) {
	if !sl.busy() {
		return
	}
	s.b.log.Error("generation failed", "request_id", sl.job.req.ID, "slot", sl.id, "state", sl.state.String(), "err", err)
	sl.undecoded = false
	s.finish(sl, llm.FinishStop, fmt.Errorf("generation failed: %w", err))
	s.b.gen.Forget(sl.id)
	sl.cached = sl.cached[:0]
}

// chunkBudget is how many prompt tokens may follow a generation decode
// that took decodeTime, from the per-token cost fitted by fitTokenCost.
func (s *scheduler) chunkBudget(decodeTime time.Duration) int {
	cost := max(s.tokenCost, s.lastTokenCost)
	if cost <= 0 {
		return s.chunk
	}
	// The target is three quarters of the factor: the gap a client sees
	// also holds sampling, scheduling and noise, and the p99 gap must stay
	// within the factor, not the mean.
	spare := (0.75*s.b.cfg.PrefillStepFactor - 1) * float64(decodeTime)
	s.chunk = min(s.b.cfg.PrefillChunk, max(1, int(spare/float64(cost))))
	return s.chunk
}

// fitTokenCost tracks the time per prompt token. It grows with the
// prompt's context, so an EWMA of it always lags behind a long prompt:
// the estimate is the larger of the EWMA (weight 1/4, against noise) and
// the last decode's own cost (against the lag).
func (s *scheduler) fitTokenCost(tokens int, took time.Duration) {
	sample := took / time.Duration(tokens)
	if s.tokenCost == 0 {
		s.tokenCost = sample
	} else {
		s.tokenCost += (sample - s.tokenCost) / 4
	}
	s.lastTokenCost = sample
}

// prefillOrder lists the slots still reading their prompt, in admission
// order (FIFO: no prompt starves).
func (s *scheduler) prefillOrder() []*slot {
	s.order_ = s.order_[:0]
	for _, sl := range s.slots {
		if sl.state == slotPrefilling && sl.prefill < len(sl.job.prompt) {
			s.order_ = append(s.order_, sl)
		}
	}
	slices.SortFunc(s.order_, func(a, b *slot) int { return cmp.Compare(a.order, b.order) })
	return s.order_
}

func (s *scheduler) sample(sl *slot) {
	g := s.b.gen
	j := sl.job
	tok, err := g.Sample(sl.sampler, sl.outIdx)
	sl.outIdx = -1
	if err != nil {
		s.fail(sl, err)
		return
	}
	if sl.nGen == 0 {
		j.ttft = time.Since(j.arrived)
		if j.predicted > 0 {
			s.b.ttftErr.observe(float64(j.ttft) / float64(j.predicted))
		}
		sl.state = slotGenerating
	}
	sl.nGen++
	s.b.genTokens.Add(1)

	// A grammar ends at end-of-generation: past it, it admits nothing.
	if s.b.model.IsEOG(tok) && (!j.req.IgnoreEOS || j.req.Sampling.Grammar != "") {
		s.finish(sl, llm.FinishStop, nil)
		return
	}
	// The token's cell is written by the next step's decode; record it now
	// so the next step feeds it back.
	sl.cached = append(sl.cached, tok)
	sl.undecoded = true
	text, stopped := sl.stops.add(sl.decoder.Add(tok))
	j.stream.Push(text, 1)
	switch {
	case stopped:
		sl.stopHit = true
		s.finish(sl, llm.FinishStop, nil)
	case j.req.MaxTokens > 0 && sl.nGen >= j.req.MaxTokens:
		s.finish(sl, llm.FinishLength, nil)
	case len(sl.cached) >= s.b.seqCtx:
		s.finish(sl, llm.FinishLength, nil)
	}
}

// finish ends the slot's request and frees the slot. Its decoded cells stay
// for prefix reuse; the last sampled token was never decoded, so it is
// dropped from the cache.
func (s *scheduler) finish(sl *slot, reason string, err error) {
	j := sl.job
	if reason != llm.FinishCancel && err == nil && !sl.stopHit {
		// Held text was only a possible stop string: it belongs to the
		// answer, as do bytes of an unfinished character.
		var text string
		text, reason = endText(&sl.stops, sl.decoder.Flush(), reason)
		j.stream.Push(text, 0)
	}
	sl.cached = sl.decodedPrefix()
	// Keep exactly the cells cached describes.
	if !s.b.gen.Truncate(sl.id, len(sl.cached)) {
		s.b.gen.Forget(sl.id)
		sl.cached = sl.cached[:0]
	}
	sl.sampler.Close()
	now := time.Now()
	// Counters first: a caller that reads Stats right after llm.Result must
	// see the slot free.
	s.b.recordService(now.Sub(j.admitted))
	if j.ttft > 0 {
		recordEWMA(&s.b.avgFirstToken, j.ttft-j.admitted.Sub(j.arrived))
	}
	s.b.running.Add(-1)
	s.b.release()
	s.b.log.Debug("request finished", "request_id", j.req.ID, "slot", sl.id, "reason", reason,
		"prompt_tokens", len(j.prompt), "completion_tokens", sl.nGen)
	j.stream.Finish(llm.Result{
		FinishReason:     reason,
		PromptTokens:     len(j.prompt),
		CompletionTokens: sl.nGen,
		CachedTokens:     sl.reused,
		QueueWait:        j.admitted.Sub(j.arrived),
		TimeToFirstToken: j.ttft,
		Err:              err,
	})
	*sl = slot{id: sl.id, cached: sl.cached, outIdx: -1, lastUsed: now}
}

// shutdown ends running and waiting requests when the batcher closes.
func (s *scheduler) shutdown() {
	for _, sl := range s.slots {
		if sl.busy() {
			s.finish(sl, llm.FinishStop, ErrClosed)
		}
	}
	for _, j := range s.waiting {
		s.drop(j, llm.Result{FinishReason: llm.FinishStop, Err: ErrClosed})
	}
	s.waiting = nil
	// Requests still in the channel.
	for {
		select {
		case j := <-s.b.jobs:
			s.drop(j, llm.Result{FinishReason: llm.FinishStop, Err: ErrClosed})
		default:
			return
		}
	}
}

// control runs f on the scheduler goroutine between steps and waits for it.
func (b *Batcher) control(f func(*scheduler)) bool {
	done := make(chan struct{})
	select {
	case b.ctl <- func(s *scheduler) { f(s); close(done) }:
		<-done
		return true
	case <-b.quit:
		return false
	}
}

// ClearCache drops the prefix cache: the KV cells that idle slots keep from
// earlier requests. Running requests are not affected.
func (b *Batcher) ClearCache() {
	if b.gen == nil {
		return
	}
	b.control(func(s *scheduler) {
		for _, sl := range s.slots {
			if !sl.busy() {
				b.gen.Forget(sl.id)
				sl.cached = sl.cached[:0]
			}
		}
		b.kvUsed.Store(int64(b.gen.UsedPositions()))
	})
}

// heldPositions is the number of KV positions the slots account for.
func (s *scheduler) heldPositions() int {
	n := 0
	for _, sl := range s.slots {
		n += len(sl.decodedPrefix())
	}
	return n
}

// cachedTokens is the number of positions the slots believe they hold, and
// sets UsedCells to llama.cpp's own count: the two must be equal (a test
// checks that nothing leaks).
func (b *Batcher) cachedTokens() int {
	n := 0
	b.control(func(s *scheduler) {
		n = s.heldPositions()
		b.kvUsed.Store(int64(b.gen.UsedPositions()))
	})
	return n
}

// UsedCells reports the KV positions held by all sequences, cached prefixes
// included, as of the last step (ClearCache sets llama.cpp's own count).
func (b *Batcher) UsedCells() int { return int(b.kvUsed.Load()) }

func commonPrefix(a, b []inference.Token) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
