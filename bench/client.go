package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RouteHeader is the response header in which infergate says which route
// served a request ("local" or "cloud"). Other servers do not send it.
const RouteHeader = "X-Infergate-Route"

// maxBodyBytes bounds a non-streamed response body (an embeddings batch of
// 2048 × 4096 floats as JSON stays below it).
const maxBodyBytes = 256 << 20

// errRequestTimeout is the cause of a request context that ran past
// --timeout, to tell it from the run being cancelled.
var errRequestTimeout = errors.New("request timeout")

// outcome is everything measured about one request.
type outcome struct {
	start, end   time.Time
	firstToken   time.Time // zero when no token was seen
	itls         []time.Duration
	promptTokens int
	outputTokens int
	fromUsage    bool // token counts came from the server's usage
	streamed     bool
	route        string
	turn         int // 1-based turn in its conversation
	estPrompt    int // the prompt length the harness asked for (estimate)
	inputs       int // embeddings: texts in the batch
	errKind      string
	errMsg       string
	canceled     bool // the run was interrupted while this was in flight
	reply        string
}

func (o *outcome) ok() bool { return o.errKind == "" && !o.canceled }

// ttft is the time to first token. For a response that is not streamed
// the client sees the first token with the whole body, so it is the
// end-to-end latency.
func (o *outcome) ttft() time.Duration {
	if !o.streamed || o.firstToken.IsZero() {
		return o.end.Sub(o.start)
	}
	return o.firstToken.Sub(o.start)
}

// tpot is the mean time per output token after the first; defined only for
// streamed responses with at least two tokens.
func (o *outcome) tpot() (time.Duration, bool) {
	if !o.streamed || o.firstToken.IsZero() || o.outputTokens < 2 {
		return 0, false
	}
	return o.end.Sub(o.firstToken) / time.Duration(o.outputTokens-1), true
}

// client sends requests to one OpenAI-compatible server.
type client struct {
	http    *http.Client
	base    string // ends in /v1
	apiKey  string
	headers http.Header
	timeout time.Duration
	now     func() time.Time
}

// apiBase normalises --url to the API root: a bare host gets /v1 appended,
// so http://127.0.0.1:8080 and http://127.0.0.1:8080/v1 both work.
func apiBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("--url %q: scheme must be http or https", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("--url %q: no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("--url: put credentials in --api-key, not in the URL")
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/v1") {
		p += "/v1"
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = p, "", "", ""
	return u, nil
}

// checkTarget refuses a host that is not loopback unless remote targets
// are allowed. A name must resolve to loopback addresses only; the dialer
// checks again at connect time (see loopbackOnly), so a name that later
// resolves elsewhere is still refused.
func checkTarget(ctx context.Context, host string, allowRemote bool, lookup func(context.Context, string) ([]net.IPAddr, error)) error {
	if allowRemote {
		return nil
	}
	refuse := fmt.Errorf("target %q is not a loopback address; pass --allow-remote to benchmark a remote server", host)
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return refuse
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return fmt.Errorf("resolving %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return refuse
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return refuse
		}
	}
	return nil
}

// loopbackOnly is a net.Dialer Control hook that refuses non-loopback
// peers: the enforcement behind checkTarget.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to non-loopback %s (see --allow-remote)", address)
	}
	return nil
}

func newClient(cfg *config, base *url.URL, maxConns int) *client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !cfg.AllowRemote {
		dialer.Control = loopbackOnly
	}
	tr := &http.Transport{
		// No proxy: the harness measures the server, and a proxy from
		// the environment would also bypass the loopback check.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: maxConns + 8,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// Compression would make the transport buffer SSE chunks and
		// distort inter-token latency.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
	return &client{
		http: &http.Client{
			Transport: tr,
			// A redirect is a misconfigured --url; following it could also
			// leave loopback.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base:    strings.TrimRight(base.String(), "/"),
		apiKey:  cfg.APIKey,
		headers: cfg.Headers,
		timeout: cfg.Timeout,
		now:     time.Now,
	}
}

// close releases idle connections between runs.
func (c *client) close() { c.http.CloseIdleConnections() }

// do posts body to path and lets handle read a 200 response. It fills in
// timing, route and error classification; handle returns an error to mark
// the request failed.
func (c *client) do(ctx context.Context, path string, body []byte, stream bool, o *outcome, handle func(resp *http.Response, o *outcome) error) {
	rctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		o.errKind, o.errMsg = errConnection, err.Error()
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "infergate-bench")
	// Marks the POST replayable for net/http: when a server has closed a
	// kept-alive connection just as the request is sent (llama-server closes
	// them after a few requests), the request is retried on a new one
	// instead of counting as a connection error. It is never retried once
	// written, so no request runs twice.
	req.Header.Set("X-Idempotency-Key", "infergate-bench")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	for k, vs := range c.headers {
		req.Header[k] = vs
	}

	o.start = c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		o.end = c.now()
		c.fail(ctx, rctx, o, err)
		return
	}
	defer resp.Body.Close()
	o.route = resp.Header.Get(RouteHeader)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		o.end = c.now()
		o.errKind = "http_" + strconv.Itoa(resp.StatusCode)
		o.errMsg = errorMessage(msg)
		if ctx.Err() != nil {
			o.canceled = true
		}
		return
	}
	err = handle(resp, o)
	o.end = c.now()
	if err != nil {
		c.fail(ctx, rctx, o, err)
		return
	}
	// Drain what little may follow (the end of a chunked body) so the
	// connection is reused rather than torn down and redialled.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
}

// fail classifies err. A request in flight when the run is cancelled is
// neither a success nor a server error: it is counted apart.
func (c *client) fail(ctx, rctx context.Context, o *outcome, err error) {
	var be *benchError
	switch {
	case ctx.Err() != nil:
		o.canceled = true
		o.errKind, o.errMsg = "canceled", "run interrupted"
	case rctx.Err() != nil && errors.Is(context.Cause(rctx), errRequestTimeout):
		o.errKind, o.errMsg = errTimeout, fmt.Sprintf("no complete response within %s", c.timeout)
	case errors.As(err, &be):
		o.errKind, o.errMsg = be.kind, be.msg
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			o.errKind = errTimeout
		} else {
			o.errKind = errConnection
		}
		o.errMsg = clip(err.Error(), 200)
	}
}

// isJSON reports whether a response is a JSON document rather than an
// event stream; some servers answer a streaming request that fails early
// with a plain JSON error and status 200.
func isJSON(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt == "application/json"
}

// completionResponse is the non-streamed chat.completion / text_completion.
type completionResponse struct {
	Choices []struct {
		Message struct {
			Content          *string `json:"content"`
			ReasoningContent string  `json:"reasoning_content"`
		} `json:"message"`
		Text string `json:"text"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// generate sends one chat or completions request.
func (c *client) generate(ctx context.Context, cfg *config, body []byte, o *outcome) {
	path := "/chat/completions"
	if cfg.API == "completions" {
		path = "/completions"
	}
	c.do(ctx, path, body, cfg.Stream, o, func(resp *http.Response, o *outcome) error {
		if cfg.Stream && !isJSON(resp) {
			o.streamed = true
			res, err := consumeStream(resp.Body, c.now)
			o.firstToken, o.itls, o.reply = res.firstToken, res.itls, res.text
			o.outputTokens, o.fromUsage = res.outputTokens()
			if res.usage != nil {
				o.promptTokens = res.usage.PromptTokens
			}
			return err
		}
		return c.readCompletion(resp, o)
	})
	if !o.fromUsage && o.promptTokens == 0 {
		o.promptTokens = o.estPrompt
	}
}

func (c *client) readCompletion(resp *http.Response, o *outcome) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxBodyBytes {
		return &benchError{errMalformed, "response body larger than 256 MiB"}
	}
	var r completionResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return &benchError{errMalformed, fmt.Sprintf("bad JSON %s: %v", clip(string(data), 80), err)}
	}
	if len(r.Error) > 0 && string(r.Error) != "null" {
		return &benchError{errAPI, errorMessage(data)}
	}
	if len(r.Choices) == 0 {
		return &benchError{errMalformed, "response has no choices"}
	}
	ch := r.Choices[0]
	if ch.Message.Content != nil {
		o.reply = *ch.Message.Content
	} else {
		o.reply = ch.Text
	}
	if r.Usage != nil {
		o.promptTokens, o.outputTokens, o.fromUsage = r.Usage.PromptTokens, r.Usage.CompletionTokens, true
	} else if o.reply != "" || ch.Message.ReasoningContent != "" {
		o.outputTokens = estimateTokens(o.reply + ch.Message.ReasoningContent)
	}
	return nil
}

// embed sends one /v1/embeddings request for the batch in body.
func (c *client) embed(ctx context.Context, body []byte, o *outcome) {
	c.do(ctx, "/embeddings", body, false, o, func(resp *http.Response, o *outcome) error {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
		if err != nil {
			return err
		}
		if len(data) > maxBodyBytes {
			return &benchError{errMalformed, "response body larger than 256 MiB"}
		}
		var r struct {
			Data []struct {
				Embedding json.RawMessage `json:"embedding"`
			} `json:"data"`
			Usage *usage          `json:"usage"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return &benchError{errMalformed, fmt.Sprintf("bad JSON %s: %v", clip(string(data), 80), err)}
		}
		if len(r.Error) > 0 && string(r.Error) != "null" {
			return &benchError{errAPI, errorMessage(data)}
		}
		if len(r.Data) != o.inputs {
			return &benchError{errMalformed, fmt.Sprintf("%d embeddings for %d inputs", len(r.Data), o.inputs)}
		}
		for i, d := range r.Data {
			if len(d.Embedding) < 2 {
				return &benchError{errMalformed, fmt.Sprintf("embedding %d is empty", i)}
			}
		}
		if r.Usage != nil {
			o.promptTokens, o.fromUsage = max(r.Usage.PromptTokens, r.Usage.TotalTokens), true
		}
		return nil
	})
	if !o.fromUsage {
		o.promptTokens = o.estPrompt
	}
}

// waitReady polls GET /models until the server answers 200, for a server
// that was just started and is still loading its models.
func waitReady(ctx context.Context, c *client, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/models", nil)
		if err != nil {
			return err
		}
		if c.apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+c.apiKey)
		}
		resp, err := c.http.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET /models: %s", resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready after %s: %w", limit, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
