package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Limits on what an upstream may send, so that a broken or hostile one
// cannot make us buffer without bound.
const (
	maxSSELine  = 1 << 20 // one line of an event stream
	maxSSEEvent = 4 << 20 // one event's data, all its lines together
	maxBody     = 32 << 20
	maxErrBody  = 64 << 10
)

// Why an event stream could not be read.
var (
	errTruncatedLine = errors.New("event stream ended inside a line")
	errEventTooLarge = errors.New("event stream: event too large")
)

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	Event string // the event field; "" when absent ("message")
	Data  []byte // the data lines joined by "\n"; valid until the next call
}

// sseReader reads server-sent events as the HTML standard defines them
// (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// lines ended by CRLF, LF or CR, "field: value" lines, comments, and a
// blank line dispatching the event.
type sseReader struct {
	sc      *bufio.Scanner
	started bool
	event   []byte
	data    []byte
	hasData bool
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSSELine)
	sc.Split(splitSSELines)
	return &sseReader{sc: sc}
}

// splitSSELines is a bufio.SplitFunc for the three line endings. A body
// that ends without a final line ending ends inside a line: it was cut.
func splitSSELines(data []byte, atEOF bool) (int, []byte, error) {
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0:
		if atEOF && len(data) > 0 {
			return 0, nil, errTruncatedLine
		}
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	}
	// A CR at the end of what has arrived: wait to see whether LF follows.
	return 0, nil, nil
}

// next returns the next event. At the end of the body it returns io.EOF,
// or errTruncatedLine when the body stopped inside a line; read errors are
// returned as they are. An event whose blank line never came is dispatched
// at the end of the body: its lines were complete, and the decoders judge
// whether the stream had ended properly.
func (s *sseReader) next() (sseEvent, error) {
	s.event, s.data, s.hasData = s.event[:0], s.data[:0], false
	for s.sc.Scan() {
		line := s.sc.Bytes()
		if !s.started {
			s.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if len(line) == 0 {
			if !s.hasData {
				// The standard: an event without data is not dispatched.
				s.event = s.event[:0]
				continue
			}
			return s.dispatch(), nil
		}
		if line[0] == ':' {
			continue // a comment, e.g. a keep-alive
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			s.event = append(s.event[:0], value...)
		case "data":
			if len(s.data)+len(value)+1 > maxSSEEvent {
				return sseEvent{}, errEventTooLarge
			}
			if s.hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			s.hasData = true
		}
		// id and retry steer a browser's reconnection; a request cannot be
		// resumed, so they are ignored, as are unknown fields.
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return sseEvent{}, errEventTooLarge
		}
		return sseEvent{}, err
	}
	if s.hasData {
		return s.dispatch(), nil
	}
	return sseEvent{}, io.EOF
}

func (s *sseReader) dispatch() sseEvent {
	s.hasData = false
	return sseEvent{Event: string(s.event), Data: s.data}
}
