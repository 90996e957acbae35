package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/infergate/infergate/llm"
)

// Every way an upstream can fail ends in a typed error: before the first
// text, as Generate's error; after it, as the stream's Result.Err. Never
// as a clean finish. Timeouts are configured short and the assertions are
// on the error's kind, never on how long anything took.
func TestFailures(t *testing.T) {
	short := func(c *Config) { c.FirstTokenTimeout = 100 * time.Millisecond }
	stall := func(c *Config) { c.IdleTimeout = 250 * time.Millisecond }
	type failCase struct {
		name    string
		api     API
		config  func(*Config)
		handler func(t *testing.T, w http.ResponseWriter, r *http.Request)
		kind    ErrorKind
		sent    bool   // text reached the stream before the failure
		text    string // the text delivered before it
		retry   bool   // Retryable
		check   func(t *testing.T, e *Error)
		wantCut bool // errors.Is(ErrStreamCut)
	}
	status := func(code int, h http.Header, body string) func(*testing.T, http.ResponseWriter, *http.Request) {
		return func(_ *testing.T, w http.ResponseWriter, _ *http.Request) {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			write(w, body)
		}
	}
	sse := func(parts ...any) func(*testing.T, http.ResponseWriter, *http.Request) {
		return func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			for _, p := range parts {
				switch p := p.(type) {
				case string:
					write(w, p)
				case func(*testing.T, http.ResponseWriter, *http.Request):
					p(t, w, r)
				}
			}
		}
	}
	hangUp := func(_ *testing.T, _ http.ResponseWriter, r *http.Request) { hang(r) }
	cutConn := func(t *testing.T, w http.ResponseWriter, _ *http.Request) { cutConnection(t, w) }

	tests := []failCase{
		// OpenAI-compatible.
		{name: "429 with Retry-After", api: APIOpenAI, kind: KindRateLimited, retry: true,
			handler: status(429, http.Header{"Retry-After": {"7"}}, oaErrorBody("requests", "rate_limit_exceeded", "Rate limit reached")),
			check: func(t *testing.T, e *Error) {
				if e.Status != 429 || e.RetryAfter != 7*time.Second || e.Code != "rate_limit_exceeded" || e.Message != "Rate limit reached" {
					t.Errorf("%+v", e)
				}
			}},
		{name: "429 out of quota", api: APIOpenAI, kind: KindRateLimited, retry: false,
			handler: status(429, nil, oaErrorBody("insufficient_quota", "insufficient_quota", "You exceeded your current quota"))},
		{name: "500", api: APIOpenAI, kind: KindServer, retry: true,
			handler: status(500, nil, oaErrorBody("server_error", "", "The server had an error")),
			check: func(t *testing.T, e *Error) {
				if e.Status != 500 || e.Code != "server_error" {
					t.Errorf("%+v", e)
				}
			}},
		{name: "503 with retry-after-ms", api: APIOpenAI, kind: KindServer, retry: true,
			handler: status(503, http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}}, `upstream unavailable`),
			check: func(t *testing.T, e *Error) {
				if e.RetryAfter != 1500*time.Millisecond || e.Message != "upstream unavailable" {
					t.Errorf("%+v", e)
				}
			}},
		{name: "401", api: APIOpenAI, kind: KindAuth, retry: false,
			handler: status(401, nil, oaErrorBody("invalid_request_error", "invalid_api_key", "Incorrect API key provided"))},
		{name: "400", api: APIOpenAI, kind: KindClient, retry: false,
			handler: status(400, nil, oaErrorBody("invalid_request_error", "context_length_exceeded", "too long")),
			check: func(t *testing.T, e *Error) {
				if e.Code != "context_length_exceeded" {
					t.Errorf("code %q", e.Code)
				}
			}},
		{name: "no response headers in time", api: APIOpenAI, config: short, kind: KindTimeoutFirstToken, retry: true,
			handler: hangUp},
		{name: "not streamed, no answer in time", api: APIOpenAI, kind: KindTimeoutFirstToken, retry: true,
			config:  func(c *Config) { c.NoStream = true; c.RequestTimeout = 100 * time.Millisecond },
			handler: hangUp},
		{name: "slow first token", api: APIOpenAI, config: short, kind: KindTimeoutFirstToken, retry: true,
			handler: sse(oaRoleChunk, ": keep-alive\n\n", hangUp)},
		{name: "stall mid-stream", api: APIOpenAI, config: stall, kind: KindStalled, sent: true, text: "Hello, wor", retry: true,
			handler: sse(oaRoleChunk+oaTextChunk("Hello")+oaTextChunk(", wor"), hangUp)},
		{name: "cut mid-stream", api: APIOpenAI, kind: KindConnection, sent: true, text: "Hello", retry: true, wantCut: true,
			handler: sse(oaRoleChunk + oaTextChunk("Hello"))},
		{name: "cut after finish, before [DONE]", api: APIOpenAI, kind: KindConnection, sent: true, text: "Hello", retry: true, wantCut: true,
			handler: sse(oaRoleChunk + oaTextChunk("Hello") + oaFinishChunk("stop") + oaUsageChunk)},
		{name: "cut inside a chunk", api: APIOpenAI, kind: KindConnection, sent: true, text: "Hello", retry: true, wantCut: true,
			handler: sse(oaRoleChunk + oaTextChunk("Hello") + `data: {"choices":[{"index":0,"delta":{"content":"wor`)},
		{name: "cut before any text", api: APIOpenAI, kind: KindConnection, retry: true, wantCut: true,
			handler: sse(oaRoleChunk)},
		{name: "connection dropped mid-stream", api: APIOpenAI, kind: KindConnection, sent: true, text: "Hello", retry: true, wantCut: true,
			handler: sse(oaRoleChunk+oaTextChunk("Hello"), cutConn)},
		{name: "malformed chunk mid-stream", api: APIOpenAI, kind: KindMalformed, sent: true, text: "Hello",
			handler: sse(oaRoleChunk+oaTextChunk("Hello")+"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":7}}]}\n\n", hangUp)},
		{name: "malformed chunk first", api: APIOpenAI, kind: KindMalformed,
			handler: sse("data: this is not json\n\n", hangUp)},
		{name: "error chunk mid-stream", api: APIOpenAI, kind: KindServer, sent: true, text: "Hello", retry: true,
			handler: sse(oaRoleChunk+oaTextChunk("Hello")+`data: {"error":{"message":"engine crashed","type":"server_error","code":null}}`+"\n\n", hangUp),
			check: func(t *testing.T, e *Error) {
				if e.Message != "engine crashed" || e.Code != "server_error" || e.CanRetry() {
					t.Errorf("%+v, CanRetry %v", e, e.CanRetry())
				}
			}},

		// Anthropic.
		{name: "429 with Retry-After", api: APIAnthropic, kind: KindRateLimited, retry: true,
			handler: status(429, http.Header{"Retry-After": {"30"}}, anErrorBody("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")),
			check: func(t *testing.T, e *Error) {
				if e.RetryAfter != 30*time.Second || e.Code != "rate_limit_error" {
					t.Errorf("%+v", e)
				}
			}},
		{name: "529 overloaded", api: APIAnthropic, kind: KindServer, retry: true,
			handler: status(529, nil, anErrorBody("overloaded_error", "Overloaded")),
			check: func(t *testing.T, e *Error) {
				if e.Status != 529 || e.Code != "overloaded_error" || e.Message != "Overloaded" {
					t.Errorf("%+v", e)
				}
			}},
		{name: "500", api: APIAnthropic, kind: KindServer, retry: true,
			handler: status(500, nil, anErrorBody("api_error", "Internal server error"))},
		{name: "401", api: APIAnthropic, kind: KindAuth,
			handler: status(401, nil, anErrorBody("authentication_error", "invalid x-api-key"))},
		{name: "400", api: APIAnthropic, kind: KindClient,
			handler: status(400, nil, anErrorBody("invalid_request_error", "max_tokens: too large"))},
		{name: "slow first token", api: APIAnthropic, config: short, kind: KindTimeoutFirstToken, retry: true,
			handler: sse(anMessageStart+anBlockStart+anPing, hangUp)},
		{name: "pings are not progress", api: APIAnthropic, config: stall, kind: KindStalled, sent: true, text: "Hello", retry: true,
			handler: sse(anMessageStart+anBlockStart+anTextDelta("Hello"), func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				for r.Context().Err() == nil {
					write(w, anPing)
					select {
					case <-r.Context().Done():
					case <-time.After(20 * time.Millisecond): // a server's ping cadence, not synchronisation
					}
				}
			})},
		{name: "stall mid-stream", api: APIAnthropic, config: stall, kind: KindStalled, sent: true, text: "Hello, wor", retry: true,
			handler: sse(anMessageStart+anBlockStart+anTextDelta("Hello")+anTextDelta(", wor"), hangUp)},
		{name: "cut mid-stream", api: APIAnthropic, kind: KindConnection, sent: true, text: "Hello", retry: true, wantCut: true,
			handler: sse(anMessageStart + anBlockStart + anTextDelta("Hello"))},
		{name: "cut before message_stop", api: APIAnthropic, kind: KindConnection, sent: true, text: "Hello", retry: true, wantCut: true,
			handler: sse(anMessageStart + anBlockStart + anTextDelta("Hello") + anBlockStop + anMessageDelta("end_turn"))},
		{name: "cut before any text", api: APIAnthropic, kind: KindConnection, retry: true, wantCut: true,
			handler: sse(anMessageStart + anBlockStart)},
		{name: "connection dropped mid-stream", api: APIAnthropic, kind: KindConnection, sent: true, text: "Hello", retry: true, wantCut: true,
			handler: sse(anMessageStart+anBlockStart+anTextDelta("Hello"), cutConn)},
		{name: "malformed event mid-stream", api: APIAnthropic, kind: KindMalformed, sent: true, text: "Hello",
			handler: sse(anMessageStart+anBlockStart+anTextDelta("Hello")+"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":\n\n", hangUp)},
		{name: "malformed message_start", api: APIAnthropic, kind: KindMalformed,
			handler: sse("event: message_start\ndata: {\"type\":\"message_start\"}\n\n", hangUp)},
		{name: "error event mid-stream", api: APIAnthropic, kind: KindServer, sent: true, text: "Hello", retry: true,
			handler: sse(anMessageStart+anBlockStart+anTextDelta("Hello")+anErrorEvent("overloaded_error", "Overloaded"), hangUp),
			check: func(t *testing.T, e *Error) {
				if e.Code != "overloaded_error" || e.Message != "Overloaded" || e.Status != 0 {
					t.Errorf("%+v", e)
				}
			}},
		{name: "rate limit event mid-stream", api: APIAnthropic, kind: KindRateLimited, sent: true, text: "Hello", retry: true,
			handler: sse(anMessageStart+anBlockStart+anTextDelta("Hello")+anErrorEvent("rate_limit_error", "slow down"), hangUp)},
		{name: "error event first", api: APIAnthropic, kind: KindServer, retry: true,
			handler: sse(anMessageStart+anErrorEvent("api_error", "Internal server error"), hangUp)},
	}
	for _, tc := range tests {
		t.Run(string(tc.api)+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { tc.handler(t, w, r) })
			change := []func(*Config){}
			if tc.config != nil {
				change = append(change, tc.config)
			}
			c := f.client(t, tc.api, change...)
			st, err := c.Generate(t.Context(), "local", chatRequest())
			if !tc.sent {
				if st != nil {
					o := drain(st)
					t.Fatalf("Generate returned a stream (%q, %+v), want an error", o.text, o.res)
				}
				e := wantError(t, err, tc.kind, false)
				checkFailure(t, tc.retry, tc.wantCut, e, tc.check)
				return
			}
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			o := drain(st)
			if o.text != tc.text {
				t.Errorf("text before the failure %q, want %q", o.text, tc.text)
			}
			if o.res.Err == nil {
				t.Fatalf("the stream ended cleanly (%+v), want an error", o.res)
			}
			e := wantError(t, o.res.Err, tc.kind, true)
			if e.CanRetry() {
				t.Error("CanRetry after text was sent")
			}
			checkFailure(t, tc.retry, tc.wantCut, e, tc.check)
		})
	}
}

func checkFailure(t *testing.T, retry, cut bool, e *Error, check func(*testing.T, *Error)) {
	t.Helper()
	if e.Retryable != retry {
		t.Errorf("Retryable %v, want %v: %v", e.Retryable, retry, e)
	}
	if cut != errors.Is(e, ErrStreamCut) {
		t.Errorf("errors.Is(ErrStreamCut) = %v, want %v: %v", !cut, cut, e)
	}
	if check != nil {
		check(t, e)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	for _, api := range []API{APIOpenAI, APIAnthropic} {
		c, err := New(Config{Name: "fake", Kind: api, BaseURL: "http://" + addr + "/v1", Models: map[string]string{"local": "m"}}, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Generate(t.Context(), "local", chatRequest())
		e := wantError(t, err, KindConnection, false)
		if !e.CanRetry() {
			t.Errorf("%s: a refused connection is not retryable: %v", api, e)
		}
		if c.InFlight() != 0 {
			t.Errorf("%s: slot not released", api)
		}
	}
}

// Cancelling the caller's context closes the upstream request (the server
// sees its request end) and finishes the stream with FinishCancel, no
// error: the client is gone.
func TestCancelClosesUpstreamRequest(t *testing.T) {
	for _, api := range []API{APIOpenAI, APIAnthropic} {
		t.Run(string(api), func(t *testing.T) {
			closed := make(chan struct{})
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				startSSE(w)
				if api == APIOpenAI {
					write(w, oaRoleChunk+oaTextChunk("Hello"))
				} else {
					write(w, anMessageStart+anBlockStart+anTextDelta("Hello"))
				}
				hang(r)
				close(closed)
			})
			c := f.client(t, api, func(c *Config) { c.MaxConcurrency = 1 })
			ctx, cancel := context.WithCancel(t.Context())
			st, err := c.Generate(ctx, "local", chatRequest())
			if err != nil {
				t.Fatal(err)
			}
			if d := <-st.Deltas(); d.Text != "Hello" {
				t.Fatalf("first delta %q", d.Text)
			}
			cancel()
			<-closed
			o := drain(st)
			if o.res.FinishReason != llm.FinishCancel || o.res.Err != nil {
				t.Errorf("result %+v, want a cancelled finish without error", o.res)
			}
			// Cancelling before sending: the caller's error, nothing sent.
			n := len(f.requests())
			if _, err := c.Generate(ctx, "local", chatRequest()); !errors.Is(err, context.Canceled) {
				t.Errorf("Generate with a cancelled context: %v", err)
			}
			if len(f.requests()) != n {
				t.Error("a request was sent with a cancelled context")
			}
		})
	}
}

// Cancelling while waiting for the first token returns the caller's
// error, not an upstream failure the router would count.
func TestCancelBeforeFirstToken(t *testing.T) {
	arrived := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		close(arrived)
		hang(r)
	})
	c := f.client(t, APIOpenAI)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Generate(ctx, "local", chatRequest())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("a cancellation reported as an upstream failure: %v", e)
	}
}

// MaxConcurrency is enforced: a request beyond it waits for a slot without
// reaching the upstream, and gives up when its context does.
func TestMaxConcurrency(t *testing.T) {
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, oaRoleChunk+oaTextChunk("a"))
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		write(w, oaFinishChunk("stop")+oaUsageChunk+oaDone)
	})
	c := f.client(t, APIOpenAI, func(c *Config) { c.MaxConcurrency = 1 })
	first, err := c.Generate(t.Context(), "local", chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	<-arrived
	if !c.Saturated() || c.InFlight() != 1 {
		t.Fatalf("saturated %v, in flight %d", c.Saturated(), c.InFlight())
	}

	ctx, cancel := context.WithCancel(t.Context())
	waited := make(chan error)
	go func() {
		_, err := c.Generate(ctx, "local", chatRequest())
		waited <- err
	}()
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("the waiting request: %v, want context.Canceled", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("the upstream saw %d requests, want 1", n)
	}

	close(release)
	if o := drain(first); o.res.Err != nil || o.text != "a" {
		t.Fatalf("first: %+v", o)
	}
	// The slot is free again (Generate would block forever otherwise).
	second, err := c.Generate(t.Context(), "local", chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	if o := drain(second); o.res.Err != nil {
		t.Fatal(o.res.Err)
	}
}

// A request the upstream cannot serve fails before anything is sent.
func TestUnsupported(t *testing.T) {
	msgs := []llm.Message{{Role: "user", Content: "x"}}
	tests := []struct {
		name  string
		api   API
		model string
		req   llm.Request
		is    error
	}{
		{"unmapped model", APIOpenAI, "other", llm.Request{Messages: msgs}, ErrUnknownModel},
		{"grammar without response_format", APIOpenAI, "local", llm.Request{Messages: msgs, Sampling: llm.Sampling{Grammar: "root ::= \"a\""}}, ErrUnsupported},
		{"token prompt", APIOpenAI, "local", llm.Request{PromptTokens: []int32{1, 2}}, ErrUnsupported},
		{"bad response_format", APIOpenAI, "local", llm.Request{Messages: msgs, Sampling: llm.Sampling{ResponseFormat: "{"}}, ErrUnsupported},
		{"anthropic grammar", APIAnthropic, "local", llm.Request{Messages: msgs, Sampling: llm.Sampling{Grammar: "root ::= \"a\""}}, ErrUnsupported},
		{"anthropic response_format", APIAnthropic, "local", llm.Request{Messages: msgs, Sampling: llm.Sampling{ResponseFormat: `{"type":"json_object"}`}}, ErrUnsupported},
		{"anthropic raw prompt", APIAnthropic, "local", llm.Request{Prompt: "p"}, ErrUnsupported},
		{"anthropic system only", APIAnthropic, "local", llm.Request{Messages: []llm.Message{{Role: "system", Content: "s"}}}, ErrUnsupported},
		{"anthropic unknown role", APIAnthropic, "local", llm.Request{Messages: []llm.Message{{Role: "tool", Content: "s"}}}, ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
			_, err := f.client(t, tc.api).Generate(t.Context(), tc.model, tc.req)
			e := wantError(t, err, KindUnsupported, false)
			if !errors.Is(e, tc.is) || e.Retryable {
				t.Errorf("%v: want %v, not retryable", e, tc.is)
			}
		})
	}
	// An empty request is the client's mistake, in llm's vocabulary.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
	for _, api := range []API{APIOpenAI, APIAnthropic} {
		var re *llm.RequestError
		if _, err := f.client(t, api).Generate(t.Context(), "local", llm.Request{}); !errors.As(err, &re) {
			t.Errorf("%s: empty request: %v, want an *llm.RequestError", api, err)
		}
	}
}
