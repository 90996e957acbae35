// Package gateway is infergate's HTTP front: an OpenAI-compatible API on
// fasthttp (chat and text completions with server-sent-event streaming,
// embeddings, models), with API keys, per-key rate limits, request limits,
// health and readiness probes, an admin status endpoint, Prometheus metrics
// and graceful shutdown. It reaches models only through the Generator and
// Embedder interfaces, so a router can stand between it and the schedulers.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/infergate/infergate/router"
)

// Limits bound what clients may do. Zero values take the defaults noted.
type Limits struct {
	// RequestsPerMinute and TokensPerMinute are the per-key defaults
	// (per client address when no keys are configured); 0 is unlimited.
	RequestsPerMinute int
	TokensPerMinute   int

	MaxBodyBytes int // request body (413 beyond); default 4 MiB
	// MaxIngestBodyBytes is the body limit of the one route that takes
	// documents, POST /v1/collections/{name}/documents; default 64 MiB.
	MaxIngestBodyBytes int
	MaxHeaderBytes     int // request line and headers (431 beyond); default 16 KiB
	MaxMessages        int // chat messages per request; default 1024
	MaxStop            int // stop sequences; default 16
	MaxPrompts         int // prompts per /v1/completions request; default 16
	MaxEmbeddingInputs int // inputs per /v1/embeddings request; default 2048

	MaxConns      int // open connections (503 beyond); default 10000
	MaxConnsPerIP int // open connections per client address; 0 is unlimited

	// ReadTimeout bounds reading one request, headers and body, so slow
	// senders cannot hold a connection; default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of a response: a non-streamed body as
	// a whole, a stream per event, so that long streams live while a client
	// that stops reading is dropped; default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long; default 120s.
	IdleTimeout time.Duration
	// StreamKeepAlive is the interval of SSE comment lines sent while a
	// stream waits (queued, or a slow step), which keeps proxies from
	// timing it out and detects clients that left; default 10s.
	StreamKeepAlive time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxBodyBytes, 4<<20)
	def(&l.MaxIngestBodyBytes, 64<<20)
	def(&l.MaxHeaderBytes, 16<<10)
	def(&l.MaxConns, 10000)
	defDur(&l.ReadTimeout, 30*time.Second)
	defDur(&l.WriteTimeout, 60*time.Second)
	defDur(&l.IdleTimeout, 120*time.Second)
	defDur(&l.StreamKeepAlive, 10*time.Second)
	return l
}

// Config configures a Server.
type Config struct {
	// Models are the served models; at least one.
	Models []Model
	// Keys are the accepted API keys. With none, the inference endpoints
	// are open (and rate limits apply per client address).
	Keys []APIKey
	// AdminKeys guard /admin/*. With none, /admin/* is open only when Keys
	// is empty too (a development setup) and refused otherwise.
	AdminKeys []KeyHash
	// MetricsRequireAdmin puts /metrics behind an admin key; by default it
	// is open, as Prometheus scrapers expect.
	MetricsRequireAdmin bool
	Limits              Limits
	// Logger receives JSON access and error logs; slog.Default() if nil.
	Logger *slog.Logger
	// Version is reported by /admin/status.
	Version string
	// DrainDelay is how long Shutdown keeps serving, with /readyz already
	// answering 503, before it stops accepting connections: the time a
	// load balancer needs to notice and send traffic elsewhere.
	DrainDelay time.Duration
	// TrustedProxies are the reverse proxies and load balancers whose
	// X-Forwarded-For (or Forwarded) header names the client: per-address
	// rate limits then key on that client, and their connections are not
	// held to MaxConnsPerIP. Those headers from any other peer are
	// ignored.
	TrustedProxies []netip.Prefix
	// KB is the knowledge base served under /v1/collections; nil for none.
	KB KB
	// DataDir is the data directory; POST /admin/backup writes into its
	// backups folder.
	DataDir string
	// Bots are the support bots served under /v1/bots/{name}, by name;
	// nil for none.
	Bots map[string]Bot
	// Conversations is the bots' conversation log for the admin routes
	// (/admin/bots/..., /admin/conversations/export); nil: no such routes.
	Conversations Conversations
	// Collectors are further metrics served on /metrics from the server's
	// own registry (the routers' series, for one).
	Collectors []prometheus.Collector
}

// Server is the gateway. Create it with New, run it with Serve, stop it
// with Shutdown.
type Server struct {
	cfg     Config
	lim     Limits
	plim    parseLimits
	log     *slog.Logger
	models  []*model
	byName  map[string]*model // ids and aliases
	defChat *model            // used when a request names no model
	defEmb  *model
	keys    map[KeyHash]*principal
	admin   []KeyHash
	addrs   addrLimiters
	trusted trustedProxies
	metrics *metrics
	promH   fasthttp.RequestHandler
	http    *fasthttp.Server
	ids     idSource
	started time.Time

	// baseCtx parents every request's context; cancelling it aborts all
	// generations when a shutdown deadline passes.
	baseCtx   context.Context
	cancelAll context.CancelFunc
	draining  atomic.Bool // /readyz says 503
	closing   atomic.Bool // new inference requests get 503
	// active counts requests and streams in progress, streams until their
	// last byte: fasthttp's own shutdown cannot see stream writers.
	active sync.WaitGroup
	nact   atomic.Int64

	lnMu sync.Mutex
	lns  []*connListener

	backupMu sync.Mutex // one backup at a time
}

// New validates cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	if len(cfg.Models) == 0 {
		return nil, errors.New("gateway: no models configured")
	}
	s := &Server{
		cfg:     cfg,
		lim:     cfg.Limits.withDefaults(),
		log:     cfg.Logger,
		byName:  map[string]*model{},
		keys:    map[KeyHash]*principal{},
		admin:   cfg.AdminKeys,
		started: time.Now(),
		ids:     newIDSource(),
		trusted: trustedProxies(cfg.TrustedProxies),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.plim = parseLimits{
		MaxMessages: s.lim.MaxMessages,
		MaxStop:     s.lim.MaxStop,
		MaxPrompts:  s.lim.MaxPrompts,
		MaxInputs:   s.lim.MaxEmbeddingInputs,
	}.withDefaults()
	var chats, embs []*model
	for i := range cfg.Models {
		m := &model{Model: cfg.Models[i]}
		if m.ID == "" {
			return nil, fmt.Errorf("gateway: model %d has no id", i)
		}
		switch m.Kind {
		case KindChat:
			if m.Generator == nil {
				return nil, fmt.Errorf("gateway: chat model %q has no Generator", m.ID)
			}
			chats = append(chats, m)
		case KindEmbedding:
			if m.Embedder == nil {
				return nil, fmt.Errorf("gateway: embedding model %q has no Embedder", m.ID)
			}
			embs = append(embs, m)
		default:
			return nil, fmt.Errorf("gateway: model %q has unknown kind %q", m.ID, m.Kind)
		}
		if m.OwnedBy == "" {
			m.OwnedBy = "infergate"
		}
		m.dims.Store(int64(m.Dimensions))
		m.fp = fingerprint(m.ID, cfg.Version)
		for _, name := range append([]string{m.ID}, m.Aliases...) {
			if _, dup := s.byName[name]; dup {
				return nil, fmt.Errorf("gateway: model name %q is used twice", name)
			}
			s.byName[name] = m
		}
		s.models = append(s.models, m)
	}
	if len(chats) == 1 {
		s.defChat = chats[0]
	}
	if len(embs) == 1 {
		s.defEmb = embs[0]
	}
	now := time.Now()
	for _, k := range cfg.Keys {
		if _, dup := s.keys[k.Hash]; dup {
			return nil, fmt.Errorf("gateway: API key %q is configured twice", k.Name)
		}
		name := k.Name
		if name == "" {
			name = k.Hash.String()[7:15]
		}
		rpm, tpm := k.RequestsPerMinute, k.TokensPerMinute
		if rpm == 0 {
			rpm = s.lim.RequestsPerMinute
		}
		if tpm == 0 {
			tpm = s.lim.TokensPerMinute
		}
		if k.MonthlyBudgetUSD < 0 {
			return nil, fmt.Errorf("gateway: API key %q: monthly budget is negative", name)
		}
		s.keys[k.Hash] = &principal{name: name, limits: newLimiter(rpm, tpm, now), localOnly: k.LocalOnly,
			key: &router.Key{Name: name, MonthlyBudgetUSD: k.MonthlyBudgetUSD}}
	}
	s.addrs = addrLimiters{rpm: s.lim.RequestsPerMinute, tpm: s.lim.TokensPerMinute}
	s.metrics = newMetrics(s.models)
	if cfg.KB != nil {
		s.metrics.reg.MustRegister(cfg.KB.Collector())
	}
	for _, c := range cfg.Collectors {
		if err := s.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: registering metrics: %w", err)
		}
	}
	s.promH = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	}))
	s.baseCtx, s.cancelAll = context.WithCancel(context.Background())
	s.http = &fasthttp.Server{
		Handler:      s.handle,
		ErrorHandler: s.handleReadError,
		Name:         "infergate",
		ReadTimeout:  s.lim.ReadTimeout,
		WriteTimeout: s.lim.WriteTimeout,
		IdleTimeout:  s.lim.IdleTimeout,
		// The larger limit, which only document uploads get: bodyLimit
		// lowers it per request from the head, and route checks again.
		MaxRequestBodySize: max(s.lim.MaxBodyBytes, s.lim.MaxIngestBodyBytes),
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{MaxRequestBodySize: s.bodyLimit(h)}
		},
		ReadBufferSize: s.lim.MaxHeaderBytes,
		// The connection limit is enforced (with a JSON error) by
		// connListener; this only has to stay out of its way.
		Concurrency:                  s.lim.MaxConns + 64,
		CloseOnShutdown:              true,
		DisablePreParseMultipartForm: true,
		TCPKeepalive:                 true,
		Logger:                       fasthttpLogger{s.log},
	}
	return s, nil
}

// Registry is the server's Prometheus registry, for callers that add
// their own collectors.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown, else the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	cl := newConnListener(ln, s.lim.MaxConns, s.lim.MaxConnsPerIP)
	cl.trusted = s.trusted
	cl.refused = func(e *APIError) { s.metrics.errors.WithLabelValues(e.Type, e.Code).Inc() }
	cl.dropped = s.metrics.connsDropped.Inc
	s.lnMu.Lock()
	s.lns = append(s.lns, cl)
	s.lnMu.Unlock()
	s.log.Info("listening", "addr", ln.Addr().String())
	err := s.http.Serve(cl)
	if s.draining.Load() {
		return nil
	}
	return err
}

// ListenAndServe listens on addr (host:port) and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Shutdown stops the server gracefully: /readyz turns 503, requests are
// still served for Config.DrainDelay, then the listeners close, idle connections are closed, and requests and streams in progress
// run to their end until ctx is done. Then every remaining generation is
// cancelled (streams end with an error event) and the remaining
// connections are closed. It returns ctx's error if it had to cut
// requests short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.log.Info("shutting down", "in_flight", s.nact.Load(), "drain_delay", s.cfg.DrainDelay.String())
	if s.cfg.DrainDelay > 0 {
		t := time.NewTimer(s.cfg.DrainDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	s.closing.Store(true)
	err := s.http.ShutdownWithContext(ctx)
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	if err == nil {
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		s.log.Warn("shutdown deadline passed: cancelling requests in progress", "in_flight", s.nact.Load())
		s.cancelAll()
		// Give the cancelled streams a moment to write their final error
		// event and fasthttp to send it and close the connections.
		grace := time.NewTimer(2 * time.Second)
		defer grace.Stop()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-grace.C:
				break wait
			case <-tick.C:
				select {
				case <-done:
					if s.openConns() == 0 {
						break wait
					}
				default:
				}
			}
		}
		s.lnMu.Lock()
		for _, l := range s.lns {
			l.closeAll()
		}
		s.lnMu.Unlock()
	}
	s.cancelAll()
	s.log.Info("shut down")
	return err
}

func (s *Server) openConns() int {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	n := 0
	for _, l := range s.lns {
		n += l.open()
	}
	return n
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// fasthttpLogger sends fasthttp's own messages to slog.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "fasthttp")
}

// handleReadError answers requests that fasthttp could not read.
func (s *Server) handleReadError(ctx *fasthttp.RequestCtx, err error) {
	var e *APIError
	var small *fasthttp.ErrSmallBuffer
	var nerr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = errBodyTooLarge(s.bodyLimit(&ctx.Request.Header))
		discardUnread(ctx.Conn())
	case errors.As(err, &small):
		e = &APIError{Status: fasthttp.StatusRequestHeaderFieldsTooLarge, Type: TypeInvalidRequest, Code: "headers_too_large",
			Message: fmt.Sprintf("The request line and headers exceed %d bytes.", s.lim.MaxHeaderBytes)}
	case errors.As(err, &nerr) && nerr.Timeout():
		e = &APIError{Status: fasthttp.StatusRequestTimeout, Type: TypeInvalidRequest, Code: "request_timeout",
			Message: fmt.Sprintf("The request was not received within %s.", s.lim.ReadTimeout)}
	default:
		e = &APIError{Status: fasthttp.StatusBadRequest, Type: TypeInvalidRequest, Code: "malformed_request",
			Message: "The HTTP request could not be parsed."}
	}
	id := s.ids.next()
	s.metrics.errors.WithLabelValues(e.Type, e.Code).Inc()
	s.log.Info("unreadable request", "request_id", id, "status", e.Status, "error", err.Error(), "remote", ctx.RemoteAddr().String())
	ctx.Response.Header.Set("X-Request-Id", id)
	writeError(ctx, e)
}

// discardUnread reads and drops what the client is still sending, for a
// little while, before a refused request's connection is closed: closing a
// socket with unread data resets it, and the client then sees a broken
// pipe instead of the 413 it was sent. Bounded in time and bytes, so a
// client cannot hold the connection with it.
func discardUnread(c net.Conn) {
	if c == nil {
		return
	}
	const maxBytes, maxTime, idle = 64 << 20, 2 * time.Second, 200 * time.Millisecond
	end := time.Now().Add(maxTime)
	buf := make([]byte, 32<<10)
	for total := 0; total < maxBytes && time.Now().Before(end); {
		d := time.Now().Add(idle)
		if d.After(end) {
			d = end
		}
		_ = c.SetReadDeadline(d)
		n, err := c.Read(buf)
		total += n
		if err != nil {
			return
		}
	}
}

// request is the per-request state that handlers share.
type request struct {
	s     *Server
	ctx   *fasthttp.RequestCtx // only until the handler returns
	id    string
	start time.Time
	who   *principal
	// method and path are copied out of ctx so that a stream writer, which
	// must not touch ctx, can log them.
	method, path string
	// streaming is set once a stream writer owns the rest of the request
	// (its logging, metrics and the active count).
	streaming bool
	logAttrs  []slog.Attr
	err       *APIError
}

func (r *request) fail(e *APIError) {
	r.err = e
	writeError(r.ctx, e)
}

// handle is the fasthttp handler: request id, panic recovery, routing and
// the access log.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	s.active.Add(1)
	s.nact.Add(1)
	s.metrics.inflight.Inc()
	r := &request{s: s, ctx: ctx, start: time.Now(), id: s.ids.fromHeader(ctx.Request.Header.Peek("X-Request-Id")),
		method: string(ctx.Method()), path: string(ctx.Path())}
	ctx.Response.Header.Set("X-Request-Id", r.id)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic while handling a request", "request_id", r.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if r.streaming {
				// The writer already runs; resetting the body closes its
				// pipe, so it sees a dead client, cancels and finishes the
				// request itself.
				ctx.Response.ResetBody()
				ctx.SetConnectionClose()
				return
			}
			r.fail(errInternal(fmt.Errorf("panic: %v", p)))
		}
		if !r.streaming {
			r.finish(ctx.Response.StatusCode())
		}
	}()
	s.route(r)
}

// finish ends a request: access log, error metrics, in-flight accounting.
// Streams call it from their writer when the last byte is out.
func (r *request) finish(status int) {
	s := r.s
	if r.err != nil {
		s.metrics.errors.WithLabelValues(r.err.Type, errorCodeLabel(r.err.Code)).Inc()
	}
	r.log(status)
	s.metrics.inflight.Dec()
	s.nact.Add(-1)
	s.active.Done()
}

func (r *request) log(status int) {
	attrs := make([]slog.Attr, 0, 8+len(r.logAttrs))
	attrs = append(attrs,
		slog.String("request_id", r.id),
		slog.String("method", r.method),
		slog.String("path", r.path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(r.start).Microseconds())/1000),
	)
	if r.who != nil {
		attrs = append(attrs, slog.String("key", r.who.name))
	}
	attrs = append(attrs, r.logAttrs...)
	level := slog.LevelInfo
	if r.err != nil {
		attrs = append(attrs, slog.String("error", r.err.Error()))
		if r.err.Err != nil {
			attrs = append(attrs, slog.String("cause", r.err.Err.Error()))
		}
		if r.err.Status >= 500 {
			level = slog.LevelError
		}
	}
	r.s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

func (s *Server) route(r *request) {
	path, method := r.path, r.method
	// Clients configured with a base URL without /v1 still work, as with
	// llama.cpp's server.
	api := path
	if strings.HasPrefix(path, "/v1/") {
		api = path[len("/v1"):]
	}
	post := func(h func(*request)) {
		if method != fasthttp.MethodPost {
			r.fail(errMethod(method, path, fasthttp.MethodPost))
			return
		}
		h(r)
	}
	get := func(h func(*request)) {
		if method != fasthttp.MethodGet && method != fasthttp.MethodHead {
			r.fail(errMethod(method, path, fasthttp.MethodGet))
			return
		}
		h(r)
	}
	if s.cfg.KB != nil && (api == "/collections" || strings.HasPrefix(api, "/collections/")) {
		s.routeKB(r) // which applies its own body limits
		return
	}
	// fasthttp admits bodies up to the ingestion limit when it is larger.
	if len(r.ctx.PostBody()) > s.lim.MaxBodyBytes {
		r.fail(errBodyTooLarge(s.lim.MaxBodyBytes))
		return
	}
	switch {
	case len(s.cfg.Bots) > 0 && strings.HasPrefix(api, "/bots/"):
		s.routeBots(r) // which authenticates the end user, not a key
	case api == "/chat/completions":
		post(s.withKey(s.handleChat))
	case api == "/completions":
		post(s.withKey(s.handleCompletions))
	case api == "/embeddings":
		post(s.withKey(s.handleEmbeddings))
	case api == "/models":
		get(s.withKey(s.handleListModels))
	case strings.HasPrefix(api, "/models/"):
		get(s.withKey(s.handleGetModel))
	case path == "/healthz":
		get(s.handleHealthz)
	case path == "/readyz":
		get(s.handleReadyz)
	case path == "/metrics":
		if s.cfg.MetricsRequireAdmin {
			get(s.withAdmin(s.handleMetrics))
		} else {
			get(s.handleMetrics)
		}
	case path == "/admin/status":
		get(s.withAdmin(s.handleStatus))
	case path == "/admin/backup":
		post(s.withAdmin(s.handleBackup))
	case strings.HasPrefix(path, "/admin/bots/") || path == "/admin/conversations/export":
		s.routeBotsAdmin(r) // each route behind the admin key
	default:
		r.fail(errRouteNotFound(method, path))
	}
}

// withKey authenticates the caller with an API key (or by address when no
// keys are configured).
func (s *Server) withKey(h func(*request)) func(*request) {
	return func(r *request) {
		if len(s.keys) == 0 {
			r.who = &principal{name: "anonymous", limits: s.addrs.get(s.clientAddr(r.ctx), r.start)}
			h(r)
			return
		}
		key, ok := presentedKey(&r.ctx.Request.Header)
		if !ok {
			r.fail(errNoKey())
			return
		}
		p, ok := s.keys[HashKey(string(key))]
		if !ok {
			r.fail(errBadKey())
			return
		}
		r.who = p
		h(r)
	}
}

// withAdmin requires an admin key.
func (s *Server) withAdmin(h func(*request)) func(*request) {
	return func(r *request) {
		if len(s.admin) == 0 {
			if len(s.keys) == 0 {
				h(r)
				return
			}
			r.fail(&APIError{Status: fasthttp.StatusForbidden, Type: TypePermission, Code: "admin_disabled",
				Message: "Admin endpoints are disabled: the server has API keys but no admin key."})
			return
		}
		key, ok := presentedKey(&r.ctx.Request.Header)
		if !ok {
			r.fail(errNoKey())
			return
		}
		if !matchAdmin(s.admin, key) {
			r.fail(errBadKey())
			return
		}
		r.who = &principal{name: "admin"}
		h(r)
	}
}

// admit applies the caller's rate limits to a request estimated at est
// tokens.
func (r *request) admit(est int) bool {
	l := r.who.limits
	if l == nil {
		return true
	}
	ok, kind, retry, st := l.admit(est, r.start)
	st.setHeaders(&r.ctx.Response.Header)
	if !ok {
		r.s.metrics.rateLimited.WithLabelValues(kind).Inc()
		r.fail(errRateLimited(kind, retry, st))
	}
	return ok
}

// resolve finds the model a request names, of the kind the endpoint needs.
func (s *Server) resolve(name string, kind ModelKind) (*model, *APIError) {
	if name == "" {
		def := s.defChat
		if kind == KindEmbedding {
			def = s.defEmb
		}
		if def == nil {
			return nil, errMissing("model")
		}
		return def, nil
	}
	m, ok := s.byName[name]
	if !ok {
		return nil, errModelNotFound(name)
	}
	if m.Kind != kind {
		what := "chat and text completions"
		if kind == KindEmbedding {
			what = "embeddings"
		}
		return nil, errValue("model", "the model '%s' is a %s model and does not serve %s.", name, m.Kind, what)
	}
	return m, nil
}

// idSource makes request ids: a random per-process prefix and a counter,
// unique across restarts without a random read per request.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() idSource {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	var p []byte
	for _, c := range b {
		p = append(p, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return idSource{prefix: string(p)}
}

func (s *idSource) next() string {
	n := s.n.Add(1)
	var buf [32]byte
	b := append(buf[:0], s.prefix...)
	b = append(b, '-')
	var digits [16]byte
	i := len(digits)
	for {
		i--
		digits[i] = hexDigits[n&0xf]
		n >>= 4
		if n == 0 || i == 0 {
			break
		}
	}
	return string(append(b, digits[i:]...))
}

// fromHeader keeps a caller's X-Request-Id when it is a sane token, so
// that a request can be followed across a proxy, and makes one otherwise.
func (s *idSource) fromHeader(v []byte) string {
	if len(v) == 0 || len(v) > 128 {
		return s.next()
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return s.next()
		}
	}
	return string(v)
}
