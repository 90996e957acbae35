package llm

import (
	"context"
	"strings"
	"sync"
)

// Stream delivers one generation's output. The consumer reads Deltas until
// the channel is closed, then Result. The producer calls Push for each piece
// of text and Finish exactly once.
//
// The producer never blocks on a slow reader: Push appends text under a
// mutex and a per-stream goroutine hands it to the reader, coalescing
// whatever piled up meanwhile, so a scheduler stepping many sequences, or a
// client reading a cloud API, is never held up by one slow client.
type Stream struct {
	route  string
	deltas chan Delta
	done   chan struct{}
	result Result

	mu       sync.Mutex
	pending  strings.Builder
	tokens   int
	finished bool // Finish was called: no more text will be pushed
	wake     chan struct{}
}

// NewStream returns a stream whose reader side lives as long as ctx: once
// ctx is done, text not yet delivered is dropped and Deltas is closed as
// soon as the producer has called Finish. route is where the generation
// runs (RouteLocal, CloudRoute(name)); empty means RouteLocal.
func NewStream(ctx context.Context, route string) *Stream {
	if route == "" {
		route = RouteLocal
	}
	s := &Stream{
		route:  route,
		deltas: make(chan Delta),
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
	go s.forward(ctx)
	return s
}

// Route says where the generation runs; it is fixed at creation.
func (s *Stream) Route() string { return s.route }

// Deltas yields text as it is generated; it is closed when the generation
// has ended.
func (s *Stream) Deltas() <-chan Delta { return s.deltas }

// Result blocks until the generation has ended and returns its outcome.
func (s *Stream) Result() Result {
	<-s.done
	return s.result
}

// Done is closed when the producer has called Finish, so a consumer can
// wait for the end alongside other events.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Push queues text for the reader; tokens is how many generated tokens it
// accounts for (text may be empty when tokens were generated but are held
// back, and tokens may be 0 for text released later). It never blocks.
// Push after Finish panics.
func (s *Stream) Push(text string, tokens int) {
	if text == "" && tokens == 0 {
		return
	}
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		panic("llm: Push after Finish")
	}
	s.pending.WriteString(text)
	s.tokens += tokens
	s.mu.Unlock()
	s.signal()
}

// Finish records the outcome and ends the stream. It must be called exactly
// once per stream, also when the context was cancelled (with FinishCancel),
// since the reader side waits for it; a second call panics. An empty Route
// in r is filled in with the stream's.
func (s *Stream) Finish(r Result) {
	if r.Route == "" {
		r.Route = s.route
	}
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		panic("llm: Finish called twice")
	}
	s.finished = true
	// Written under the lock that Finish takes first, and read only after
	// done is closed, so readers never see a partial Result.
	s.result = r
	s.mu.Unlock()
	close(s.done)
	s.signal()
}

func (s *Stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Stream) forward(ctx context.Context) {
	defer close(s.deltas)
	for {
		select {
		case <-s.wake:
		case <-ctx.Done():
			// The reader is gone; drop what is left once the producer has
			// seen the cancellation.
			<-s.done
			return
		}
		s.mu.Lock()
		d := Delta{Text: s.pending.String(), Tokens: s.tokens}
		s.pending.Reset()
		s.tokens = 0
		finished := s.finished
		s.mu.Unlock()
		if d.Text != "" || d.Tokens > 0 {
			select {
			case s.deltas <- d:
			case <-ctx.Done():
				<-s.done
				return
			}
		}
		if finished {
			// Text pushed before Finish was taken above: Finish sets
			// finished under the lock after the last Push.
			return
		}
	}
}
