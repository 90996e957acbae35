package batcher

import (
	"context"
	"strings"
	"sync"
)

// Stream delivers one generation's output. Read Deltas until it is closed,
// then Result. Cancelling the context given to Generate stops the
// generation and frees its slot within one scheduler step.
//
// The scheduler never blocks on a slow reader: it appends text under a
// mutex and a per-stream goroutine hands it to the reader, coalescing
// whatever piled up meanwhile.
type Stream struct {
	deltas chan Delta
	done   chan struct{}
	result Result

	mu      sync.Mutex
	pending strings.Builder
	tokens  int
	closed  bool // no more text will be pushed
	wake    chan struct{}
}

func newStream(ctx context.Context) *Stream {
	s := &Stream{
		deltas: make(chan Delta),
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
	go s.forward(ctx)
	return s
}

// Deltas yields text as it is generated; it is closed when the generation ends.
func (s *Stream) Deltas() <-chan Delta { return s.deltas }

// Result blocks until the generation has ended and returns its outcome.
func (s *Stream) Result() Result {
	<-s.done
	return s.result
}

// push queues text for the reader. Called by the scheduler only.
func (s *Stream) push(text string, tokens int) {
	if text == "" && tokens == 0 {
		return
	}
	s.mu.Lock()
	s.pending.WriteString(text)
	s.tokens += tokens
	s.mu.Unlock()
	s.signal()
}

// finish records the result and ends the stream. Called by the scheduler
// once per stream.
func (s *Stream) finish(r Result) {
	s.result = r
	s.mu.Lock()
	s.closed = true
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
			// The reader is gone; drop what is left once the scheduler has
			// seen the cancellation.
			<-s.done
			return
		}
		s.mu.Lock()
		d := Delta{Text: s.pending.String(), Tokens: s.tokens}
		s.pending.Reset()
		s.tokens = 0
		closed := s.closed
		s.mu.Unlock()
		if d.Text != "" || d.Tokens > 0 {
			select {
			case s.deltas <- d:
			case <-ctx.Done():
				<-s.done
				return
			}
		}
		if closed {
			// Text pushed before finish was taken above, as finish takes
			// the lock after the last push.
			return
		}
	}
}
