package upstream

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSSEReader(t *testing.T) {
	type ev struct{ event, data string }
	tests := []struct {
		name string
		in   string
		want []ev
		end  error
	}{
		{"lf", "data: a\n\ndata: b\n\n", []ev{{"", "a"}, {"", "b"}}, io.EOF},
		{"crlf", "data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\n", []ev{{"", "a"}, {"x", "b"}}, io.EOF},
		{"cr", "data: a\r\rdata: b\r\r", []ev{{"", "a"}, {"", "b"}}, io.EOF},
		{"multi-line data", "data: a\ndata:b\ndata:  c\n\n", []ev{{"", "a\nb\n c"}}, io.EOF},
		{"comments and unknown fields", ": keep-alive\nid: 7\nretry: 10\nfoo: bar\ndata: a\n\n", []ev{{"", "a"}}, io.EOF},
		{"event without data is dropped", "event: ping\n\nevent: x\ndata: y\n\n", []ev{{"x", "y"}}, io.EOF},
		{"field without colon", "data\n\n", []ev{{"", ""}}, io.EOF},
		{"bom", "\xEF\xBB\xBFdata: a\n\n", []ev{{"", "a"}}, io.EOF},
		{"last blank line missing", "data: a\n", []ev{{"", "a"}}, io.EOF},
		{"cut inside a line", "data: a\n\ndata: {\"x", []ev{{"", "a"}}, errTruncatedLine},
		{"empty", "", nil, io.EOF},
		{"colon in value", "data: {\"a\":\"b:c\"}\n\n", []ev{{"", `{"a":"b:c"}`}}, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time too, so that line endings split across
			// reads are exercised.
			for _, r := range []io.Reader{strings.NewReader(tc.in), &oneByteReader{s: tc.in}} {
				s := newSSEReader(r)
				var got []ev
				var err error
				for {
					var e sseEvent
					if e, err = s.next(); err != nil {
						break
					}
					got = append(got, ev{e.Event, string(e.Data)})
				}
				if !errors.Is(err, tc.end) {
					t.Errorf("end %v, want %v", err, tc.end)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("events %q, want %q", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("event %d %q, want %q", i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

func TestSSEReaderLimits(t *testing.T) {
	long := "data: " + strings.Repeat("x", maxSSELine) + "\n\n"
	if _, err := newSSEReader(strings.NewReader(long)).next(); !errors.Is(err, errEventTooLarge) {
		t.Errorf("long line: %v", err)
	}
	line := "data: " + strings.Repeat("x", maxSSELine/2) + "\n"
	many := strings.Repeat(line, maxSSEEvent/(maxSSELine/2)+1) + "\n"
	if _, err := newSSEReader(strings.NewReader(many)).next(); !errors.Is(err, errEventTooLarge) {
		t.Errorf("large event: %v", err)
	}
}

type oneByteReader struct {
	s string
	i int
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.s[r.i]
	r.i++
	return 1, nil
}
