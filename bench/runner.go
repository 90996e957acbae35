package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxRequestsPerLevel caps a level run by --duration alone, so memory for
// its samples stays bounded.
const maxRequestsPerLevel = 1_000_000

// lateThreshold is how far behind its scheduled time an open-loop arrival
// may start before it counts as late (the --max-inflight cap held it).
const lateThreshold = 5 * time.Millisecond

// level is one point of the sweep: closed loop with a fixed number of
// concurrent sessions, or open loop at a fixed arrival rate.
type level struct {
	concurrency int     // > 0: closed loop
	rate        float64 // > 0: open loop, requests (conversations) per second
}

func (l level) label() string {
	if l.rate > 0 {
		return "rate=" + strconv.FormatFloat(l.rate, 'g', -1, 64)
	}
	return fmt.Sprintf("c=%d", l.concurrency)
}

// levelRun is the live state of one level.
type levelRun struct {
	lv       level
	ctx      context.Context
	start    time.Time
	deadline time.Time // zero: none
	limit    int64
	tickets  atomic.Int64

	mu       sync.Mutex
	outcomes []outcome

	done, failed, outTokens atomic.Int64
	lateStarts              atomic.Int64
	maxLag                  atomic.Int64 // nanoseconds
}

// take claims the right to send one more request, false once the level's
// request budget or duration is spent or the run is cancelled.
func (lr *levelRun) take() bool {
	if lr.ctx.Err() != nil {
		return false
	}
	if !lr.deadline.IsZero() && !time.Now().Before(lr.deadline) {
		return false
	}
	return lr.tickets.Add(1) <= lr.limit
}

func (lr *levelRun) record(o outcome) {
	if !o.canceled {
		lr.done.Add(1)
		if !o.ok() {
			lr.failed.Add(1)
		}
		lr.outTokens.Add(int64(o.outputTokens))
	}
	o.reply = "" // not needed after the session used it; keep memory small
	lr.mu.Lock()
	lr.outcomes = append(lr.outcomes, o)
	lr.mu.Unlock()
}

// runner drives the levels of one run.
type runner struct {
	cfg      *config
	client   *client
	work     *workload
	progress io.Writer // nil: no output while a level runs
	live     bool      // progress is a terminal: redraw one line
}

// limitFor is the number of requests of a level: --requests, or with
// --duration alone the safety cap, or else a default long enough to reach
// a steady state at that level.
func (r *runner) limitFor(lv level) int64 {
	switch {
	case r.cfg.Requests > 0:
		return int64(r.cfg.Requests)
	case r.cfg.Duration > 0:
		return maxRequestsPerLevel
	case lv.rate > 0:
		return int64(min(max(100, lv.rate*20), 10000))
	default:
		return int64(max(100, 4*lv.concurrency))
	}
}

// runLevel runs one level to completion (or cancellation) and returns its
// samples. Requests already in flight when the level's budget is spent are
// waited for; each is bounded by --timeout.
func (r *runner) runLevel(ctx context.Context, lv level, limit int64, dur time.Duration, index uint64) *levelRun {
	lr := &levelRun{lv: lv, ctx: ctx, limit: limit, start: time.Now()}
	if dur > 0 {
		lr.deadline = lr.start.Add(dur)
	}
	stopProgress := r.startProgress(lr)
	var wg sync.WaitGroup
	if lv.rate > 0 {
		r.openLoop(lr, &wg, index)
	} else {
		for range lv.concurrency {
			wg.Go(func() {
				for lr.take() {
					r.session(ctx, lr)
				}
			})
		}
	}
	wg.Wait()
	stopProgress()
	return lr
}

// openLoop starts conversations at gamma-distributed arrival times,
// independent of how fast the server answers. At most --max-inflight
// conversations run at once so that an overloaded server cannot make the
// harness pile up unbounded goroutines and sockets; arrivals held back by
// that cap are counted as late starts.
func (r *runner) openLoop(lr *levelRun, wg *sync.WaitGroup, index uint64) {
	ctx := lr.ctx
	arr := &arrivals{rng: newRand(r.cfg.Seed, 1<<32+index), rate: lr.lv.rate, shape: r.cfg.Burstiness}
	sem := make(chan struct{}, r.cfg.MaxInflight)
	next := lr.start
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if !lr.deadline.IsZero() && !next.Before(lr.deadline) {
			return
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if !lr.take() {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if lag := time.Since(next); lag > lateThreshold {
			lr.lateStarts.Add(1)
			for {
				old := lr.maxLag.Load()
				if int64(lag) <= old || lr.maxLag.CompareAndSwap(old, int64(lag)) {
					break
				}
			}
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r.session(ctx, lr)
		})
		next = next.Add(arr.next())
	}
}

// session runs one conversation: its first request was already admitted
// by take; each further turn needs its own ticket. A failed turn ends the
// conversation, since the next turn would need the reply as history.
func (r *runner) session(ctx context.Context, lr *levelRun) {
	conv := r.work.next()
	cfg := r.cfg
	if cfg.Embed {
		body, _ := json.Marshal(embedRequest{Model: cfg.Model, Input: conv.inputs, EncodingFormat: "float"})
		o := outcome{turn: 1, inputs: len(conv.inputs)}
		for _, in := range conv.inputs {
			o.estPrompt += estimateTokens(in)
		}
		r.client.embed(ctx, body, &o)
		lr.record(o)
		return
	}
	var history []message
	for i, t := range conv.turns {
		if i > 0 && !lr.take() {
			return
		}
		body, err := buildBody(cfg, conv.system, history, t)
		if err != nil {
			lr.record(outcome{turn: i + 1, errKind: errMalformed, errMsg: err.Error(), start: time.Now(), end: time.Now()})
			return
		}
		o := outcome{turn: i + 1, estPrompt: estimateTokens(conv.system) + t.estTokens}
		for _, m := range history {
			o.estPrompt += estimateTokens(m.Content)
		}
		r.client.generate(ctx, cfg, body, &o)
		reply := o.reply
		ok := o.ok()
		lr.record(o)
		if !ok {
			return
		}
		history = append(history, message{Role: "user", Content: t.user}, message{Role: "assistant", Content: reply})
	}
}

// startProgress shows the level's progress on the terminal (redrawn a few
// times a second) and returns the function that ends it. Off a terminal it
// writes nothing here; the caller prints one line per level instead.
func (r *runner) startProgress(lr *levelRun) func() {
	if r.progress == nil || !r.live {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(r.progress, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprint(r.progress, "\r\x1b[K"+r.progressLine(lr, time.Now()))
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

// progressLine renders a bar of completed requests (or of elapsed time for
// a --duration level with no request budget) and running figures.
func (r *runner) progressLine(lr *levelRun, now time.Time) string {
	el := now.Sub(lr.start)
	done := lr.done.Load()
	frac := 0.0
	switch {
	case r.cfg.Requests > 0 || r.cfg.Duration == 0:
		frac = float64(done) / float64(lr.limit)
	default:
		frac = el.Seconds() / r.cfg.Duration.Seconds()
	}
	frac = min(max(frac, 0), 1)
	const width = 24
	n := int(frac * width)
	bar := strings.Repeat("#", n) + strings.Repeat("-", width-n)
	secs := max(el.Seconds(), 1e-9)
	total := ""
	if r.cfg.Requests > 0 || r.cfg.Duration == 0 {
		total = fmt.Sprintf("/%d", lr.limit)
	}
	return fmt.Sprintf("%-9s [%s] %d%s done, %d failed, %.1f req/s, %.0f out tok/s, %.1fs",
		lr.lv.label(), bar, done, total, lr.failed.Load(), float64(done)/secs, float64(lr.outTokens.Load())/secs, secs)
}
