package llm

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// collect reads a stream to its end.
func collect(st *Stream) (text string, tokens, deltas int, res Result) {
	var b strings.Builder
	for d := range st.Deltas() {
		b.WriteString(d.Text)
		tokens += d.Tokens
		deltas++
	}
	return b.String(), tokens, deltas, st.Result()
}

func TestStreamDeliversInOrder(t *testing.T) {
	tests := []struct {
		name   string
		pushes []Delta
		want   string
		tokens int
	}{
		{"none", nil, "", 0},
		{"one", []Delta{{"hello", 1}}, "hello", 1},
		{"several", []Delta{{"a", 1}, {"b", 1}, {"c", 2}}, "abc", 4},
		{"empty pushes ignored", []Delta{{"", 0}, {"x", 1}, {"", 0}}, "x", 1},
		{"held-back tokens", []Delta{{"", 1}, {"", 1}, {"ab", 0}}, "ab", 2},
		{"multibyte", []Delta{{"日本", 2}, {"語", 1}}, "日本語", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := NewStream(t.Context(), "")
			go func() {
				for _, d := range tc.pushes {
					st.Push(d.Text, d.Tokens)
				}
				st.Finish(Result{FinishReason: FinishStop, CompletionTokens: tc.tokens})
			}()
			text, tokens, _, res := collect(st)
			if text != tc.want || tokens != tc.tokens {
				t.Errorf("got %q (%d tokens), want %q (%d)", text, tokens, tc.want, tc.tokens)
			}
			if res.FinishReason != FinishStop || res.CompletionTokens != tc.tokens {
				t.Errorf("result %+v", res)
			}
			if res.Route != RouteLocal || st.Route() != RouteLocal {
				t.Errorf("route %q / %q, want %q", res.Route, st.Route(), RouteLocal)
			}
		})
	}
}

func TestStreamRoute(t *testing.T) {
	tests := []struct {
		route, resultRoute, want string
	}{
		{"", "", RouteLocal},
		{CloudRoute("openai"), "", "cloud:openai"},
		{CloudRoute("a"), CloudRoute("b"), "cloud:b"}, // the producer's word wins
	}
	for _, tc := range tests {
		st := NewStream(t.Context(), tc.route)
		st.Finish(Result{Route: tc.resultRoute})
		_, _, _, res := collect(st)
		if res.Route != tc.want {
			t.Errorf("NewStream(%q) Finish(%q): route %q, want %q", tc.route, tc.resultRoute, res.Route, tc.want)
		}
	}
}

// A producer that pushes far faster than the consumer reads never blocks,
// and the consumer still gets every byte and token, coalesced.
func TestStreamSlowConsumerCoalesces(t *testing.T) {
	const n = 2000
	st := NewStream(t.Context(), "")
	var want strings.Builder
	for i := range n {
		want.WriteString(strconv.Itoa(i) + " ")
	}
	// The producer runs to completion before the consumer reads anything:
	// if Push or Finish blocked on the reader this would deadlock.
	for i := range n {
		st.Push(strconv.Itoa(i)+" ", 1)
	}
	st.Finish(Result{FinishReason: FinishLength, CompletionTokens: n})
	text, tokens, deltas, res := collect(st)
	if text != want.String() || tokens != n {
		t.Fatalf("got %d bytes, %d tokens; want %d bytes, %d tokens", len(text), tokens, want.Len(), n)
	}
	// The forwarder may have taken the first push before the rest arrived;
	// everything after it arrives as one delta.
	if deltas > 2 {
		t.Errorf("%d deltas, want the backlog coalesced into at most 2", deltas)
	}
	if res.FinishReason != FinishLength {
		t.Errorf("finish %q", res.FinishReason)
	}
}

// Concurrent producer and a consumer that handshakes on every delta (as
// slow as the producer lets it be): nothing lost, nothing duplicated.
func TestStreamConcurrentProducerConsumer(t *testing.T) {
	for round := range 20 {
		st := NewStream(t.Context(), "")
		const n = 500
		go func() {
			for i := range n {
				st.Push("x", 1)
				if i%50 == 0 {
					st.Push("", 1) // tokens without text
				}
			}
			st.Finish(Result{FinishReason: FinishStop})
		}()
		var text strings.Builder
		tokens := 0
		for d := range st.Deltas() {
			if d.Text == "" && d.Tokens == 0 {
				t.Fatal("empty delta delivered")
			}
			text.WriteString(d.Text)
			tokens += d.Tokens
		}
		if text.Len() != n || tokens != n+n/50 {
			t.Fatalf("round %d: %d bytes, %d tokens", round, text.Len(), tokens)
		}
	}
}

// Cancelling the reader's context closes Deltas once the producer has
// finished, drops the backlog, and never blocks the producer.
func TestStreamCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	st := NewStream(ctx, "")
	st.Push("before", 1)
	d := <-st.Deltas()
	if d.Text != "before" {
		t.Fatalf("first delta %q", d.Text)
	}
	cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		// The producer sees the cancellation late and keeps pushing: none of
		// it may block.
		for range 1000 {
			st.Push("after", 1)
		}
		st.Finish(Result{FinishReason: FinishCancel})
	})
	for range st.Deltas() {
		// Some text pushed after the cancellation may still get through
		// before the forwarder notices; the point is that the channel closes.
	}
	wg.Wait()
	if res := st.Result(); res.FinishReason != FinishCancel || res.Err != nil {
		t.Errorf("result %+v", res)
	}
}

// A reader that never reads at all, with its context cancelled: the
// forwarder still exits after Finish.
func TestStreamCancelledWithoutReader(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	st := NewStream(ctx, "")
	st.Push("unread", 1)
	cancel()
	st.Finish(Result{FinishReason: FinishCancel})
	for range st.Deltas() {
	}
	if st.Result().FinishReason != FinishCancel {
		t.Error("wrong result")
	}
}

func TestStreamResultWaitsForFinish(t *testing.T) {
	st := NewStream(t.Context(), "")
	got := make(chan Result)
	go func() { got <- st.Result() }()
	select {
	case <-st.Done():
		t.Fatal("Done closed before Finish")
	default:
	}
	wantErr := errors.New("boom")
	st.Finish(Result{Err: wantErr})
	if r := <-got; !errors.Is(r.Err, wantErr) {
		t.Errorf("Result().Err = %v", r.Err)
	}
	<-st.Done()
	for range st.Deltas() {
	}
}

func TestStreamMisuse(t *testing.T) {
	tests := []struct {
		name string
		do   func(*Stream)
	}{
		{"finish twice", func(s *Stream) { s.Finish(Result{}) }},
		{"push after finish", func(s *Stream) { s.Push("late", 1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := NewStream(t.Context(), "")
			st.Finish(Result{FinishReason: FinishStop})
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
				// The first Finish stands.
				if st.Result().FinishReason != FinishStop {
					t.Error("first result lost")
				}
			}()
			tc.do(st)
		})
	}
}

// Several producers on several streams with readers of their own, under
// -race: streams share nothing.
func TestStreamsIndependent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			st := NewStream(t.Context(), CloudRoute(strconv.Itoa(i)))
			go func() {
				for range 100 {
					st.Push("ab", 1)
				}
				st.Finish(Result{CompletionTokens: 100})
			}()
			text, tokens, _, res := collect(st)
			if len(text) != 200 || tokens != 100 || res.Route != "cloud:"+strconv.Itoa(i) {
				t.Errorf("stream %d: %d bytes, %d tokens, route %q", i, len(text), tokens, res.Route)
			}
		})
	}
	wg.Wait()
}
