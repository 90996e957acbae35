package batcher

// Stream delivers one generation's output. Read Deltas until it is closed,
// then Result. Cancelling the context given to Generate stops the
// generation and frees its slot within one scheduler step.
type Stream struct {
	deltas chan Delta
	done   chan struct{}
	result Result
}

// Deltas yields text as it is generated; it is closed when the generation ends.
func (s *Stream) Deltas() <-chan Delta { return s.deltas }

// Result blocks until the generation has ended and returns its outcome.
func (s *Stream) Result() Result {
	<-s.done
	return s.result
}
