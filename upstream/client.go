package upstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/infergate/infergate/llm"
)

// Options are a Client's dependencies, as opposed to its configuration.
type Options struct {
	// Transport sends the requests. Nil: a transport of this client's own,
	// from NewTransport with the Config's ConnectTimeout. Pass one to share
	// a connection pool between clients; its dial and TLS timeouts then
	// apply instead of ConnectTimeout.
	Transport http.RoundTripper
	// Logger receives the clients' failures and (at debug) its requests;
	// nil: slog.Default().
	Logger *slog.Logger
	// Getenv reads the API key's variable; nil: os.Getenv.
	Getenv func(string) string
}

// NewTransport returns an http.Transport pooled for streaming to a cloud
// API: many long-lived requests to one host, so many idle connections are
// kept per host (the default of 2 would mean a TCP and TLS handshake for
// most requests under load).
func NewTransport(connectTimeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connectTimeout,
		ExpectContinueTimeout: time.Second,
		// No ResponseHeaderTimeout: the first-token timeout covers the wait
		// for headers, which some servers send only with the first token.
	}
}

// protocol is what differs between the two APIs.
type protocol interface {
	// request returns the path (under BaseURL) and body of a generation.
	request(model string, req llm.Request, stream bool, defMaxTokens int) (string, []byte, error)
	header(h http.Header, key string)
	decodeResponse(body []byte) (string, outcome, error)
	decoder(body io.Reader) decoder
}

// Client talks to one configured upstream. It is safe for concurrent use.
type Client struct {
	cfg   Config
	key   string
	route string
	proto protocol
	http  *http.Client
	sem   chan struct{} // nil: no concurrency cap
	log   *slog.Logger

	mu       sync.Mutex
	inFlight int
}

// New validates cfg, applies its defaults and reads its API key.
func New(cfg Config, opts Options) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var key string
	if cfg.APIKeyEnv != "" {
		if key = getenv(cfg.APIKeyEnv); key == "" {
			return nil, fmt.Errorf("upstream %q: %s: %w", cfg.Name, cfg.APIKeyEnv, ErrNoAPIKey)
		}
	}
	tr := opts.Transport
	if tr == nil {
		tr = NewTransport(cfg.ConnectTimeout)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Client{
		cfg:   cfg,
		key:   key,
		route: llm.CloudRoute(cfg.Name),
		http: &http.Client{
			Transport: tr,
			// An API does not redirect; one that does has the wrong
			// base_url, and following a 301/302 would turn the POST into
			// a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log: log.With(slog.String("upstream", cfg.Name)),
	}
	switch cfg.Kind {
	case APIOpenAI:
		c.proto = openAI{}
	case APIAnthropic:
		c.proto = anthropic{}
	}
	if cfg.MaxConcurrency > 0 {
		c.sem = make(chan struct{}, cfg.MaxConcurrency)
	}
	return c, nil
}

// Name is the upstream's configured name.
func (c *Client) Name() string { return c.cfg.Name }

// Route is what the upstream's streams report: cloud:<name>.
func (c *Client) Route() string { return c.route }

// Config is the configuration in effect, defaults applied; its maps are
// copies.
func (c *Client) Config() Config {
	cfg := c.cfg
	cfg.Models = maps.Clone(cfg.Models)
	cfg.EmbeddingModels = maps.Clone(cfg.EmbeddingModels)
	return cfg
}

// Price is the configured price, for budgets.
func (c *Client) Price() Price { return c.cfg.PricePerMTok }

// Cost is what a generation's usage costs at the configured price.
func (c *Client) Cost(r llm.Result) float64 {
	return c.cfg.PricePerMTok.Cost(r.PromptTokens, r.CompletionTokens)
}

// InFlight is the number of requests holding a concurrency slot.
func (c *Client) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inFlight
}

// Saturated reports whether a request now would wait for a concurrency
// slot.
func (c *Client) Saturated() bool {
	return c.sem != nil && c.InFlight() >= cap(c.sem)
}

// Serves reports whether model is mapped to a chat model of this upstream.
func (c *Client) Serves(model string) bool {
	_, ok := c.cfg.Models[model]
	return ok
}

// ServesEmbeddings reports whether this upstream is declared to compute
// model's embeddings identically.
func (c *Client) ServesEmbeddings(model string) bool {
	_, ok := c.cfg.EmbeddingModels[model]
	return ok
}

// Model binds the client to one model id, as the llm interfaces want.
// It fails with ErrUnknownModel when the upstream maps the id to neither a
// chat nor an embedding model.
func (c *Client) Model(id string) (*Model, error) {
	if !c.Serves(id) && !c.ServesEmbeddings(id) {
		return nil, c.unknownModel(id)
	}
	return &Model{c: c, id: id}, nil
}

// CloseIdleConnections closes the transport's idle connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Model is a Client bound to one model id; it implements llm.Generator
// and llm.Embedder.
type Model struct {
	c  *Client
	id string
}

var (
	_ llm.Generator = (*Model)(nil)
	_ llm.Embedder  = (*Model)(nil)
)

// Generate implements llm.Generator: see Client.Generate.
func (m *Model) Generate(ctx context.Context, req llm.Request) (*llm.Stream, error) {
	return m.c.Generate(ctx, m.id, req)
}

// Embed implements llm.Embedder: see Client.Embed.
func (m *Model) Embed(ctx context.Context, req llm.EmbedRequest) (llm.EmbedResult, error) {
	return m.c.Embed(ctx, m.id, req)
}

func unsupported(why string) *Error {
	return &Error{Kind: KindUnsupported, Err: fmt.Errorf("%w: %s", ErrUnsupported, why)}
}

func (c *Client) unknownModel(id string) *Error {
	return &Error{Upstream: c.cfg.Name, Kind: KindUnsupported, Err: fmt.Errorf("%w: %q", ErrUnknownModel, id)}
}

// acquire takes a concurrency slot, waiting as long as ctx allows.
func (c *Client) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("upstream %s: %w", c.cfg.Name, err)
	}
	if c.sem != nil {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("upstream %s: waiting for a concurrency slot: %w", c.cfg.Name, ctx.Err())
		}
	}
	c.mu.Lock()
	c.inFlight++
	c.mu.Unlock()
	return nil
}

func (c *Client) release() {
	c.mu.Lock()
	c.inFlight--
	c.mu.Unlock()
	if c.sem != nil {
		<-c.sem
	}
}

// newRequest builds a POST to path under BaseURL.
func (c *Client) newRequest(ctx context.Context, path string, body []byte, stream bool) (*http.Request, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", c.cfg.Name, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if stream {
		hr.Header.Set("Accept", "text/event-stream")
	} else {
		hr.Header.Set("Accept", "application/json")
	}
	hr.Header.Set("User-Agent", "infergate")
	c.proto.header(hr.Header, c.key)
	return hr, nil
}

// errorResponse turns a non-2xx response into an *Error.
func (c *Client) errorResponse(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
	code, msg := parseErrorBody(b)
	return statusError(c.cfg.Name, resp.StatusCode, resp.Header, code, msg, time.Now())
}

// isJSON reports whether a response's Content-Type is JSON.
func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "application/json" || mt == "application/problem+json")
}

// readBody reads a whole response body, bounded.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, malformed("response larger than %d bytes", maxBody)
	}
	return b, nil
}
