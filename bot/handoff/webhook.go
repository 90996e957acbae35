package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/retryafter"
)

// DefaultRequestTimeout bounds one delivery attempt. A receiver that has
// not answered by then is treated as down and the deliverer retries later,
// which is safe because every attempt carries the same Idempotency-Key.
const DefaultRequestTimeout = 10 * time.Second

// maxErrorBody is how much of a refusing receiver's body is kept in the
// error, enough for its message without letting it fill the log.
const maxErrorBody = 512

// WebhookConfig configures a generic webhook target.
type WebhookConfig struct {
	// URL is the receiver's endpoint, http or https.
	URL string
	// Secret signs every request (SignatureHeader); it is the bot's
	// webhook secret, shared with the receiver.
	Secret []byte
	// Timeout bounds one request; zero means DefaultRequestTimeout.
	Timeout time.Duration
	// Client sends the requests; nil means a client of its own. Its
	// redirect policy is not used: a webhook is never redirected.
	Client *http.Client
	// Now is the clock for the signature timestamp; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per attempt; nil means slog.Default().
	Logger *slog.Logger
}

// Webhook is the generic webhook Target: it POSTs the Ticket as JSON,
// signed, with the ticket id as Idempotency-Key.
type Webhook struct {
	url     string
	secret  []byte
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
	log     *slog.Logger
}

var _ Target = (*Webhook)(nil)

// NewWebhook returns a webhook target for cfg.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := parseEndpoint("webhook url", cfg.URL)
	if err != nil {
		return nil, err
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("handoff: webhook: a signing secret is required")
	}
	w := &Webhook{
		url:     u.String(),
		secret:  append([]byte(nil), cfg.Secret...),
		timeout: cfg.Timeout,
		now:     cfg.Now,
		log:     cfg.Logger,
	}
	if w.timeout <= 0 {
		w.timeout = DefaultRequestTimeout
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.client = noRedirects(cfg.Client)
	return w, nil
}

// Name implements Target.
func (w *Webhook) Name() string { return "webhook" }

// Deliver implements Target. The body is signed afresh on every attempt,
// so a retry hours later is not refused as a replay; the Idempotency-Key
// is what makes it the same ticket to the receiver.
func (w *Webhook) Deliver(ctx context.Context, t Ticket) error {
	body, err := json.Marshal(t)
	if err != nil {
		return &DeliveryError{Target: w.Name(), Permanent: true, Err: fmt.Errorf("encode ticket: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Target: w.Name(), Permanent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "infergate-handoff")
	req.Header.Set("Idempotency-Key", t.ID)
	req.Header.Set(SignatureHeader, Sign(body, w.secret, w.now()))

	start := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		w.log.LogAttrs(ctx, slog.LevelWarn, "handoff webhook unreachable",
			slog.String("ticket", t.ID), slog.String("bot", t.Bot), slog.String("error", err.Error()))
		return &DeliveryError{Target: w.Name(), Err: fmt.Errorf("post %s: %w", w.url, err)}
	}
	defer resp.Body.Close()
	derr := classifyResponse(w.Name(), resp, w.now())
	w.log.LogAttrs(ctx, slog.LevelInfo, "handoff webhook attempt",
		slog.String("ticket", t.ID), slog.String("bot", t.Bot), slog.Int("status", resp.StatusCode),
		slog.Duration("elapsed", time.Since(start)), slog.Bool("delivered", derr == nil))
	if derr != nil {
		return derr
	}
	return nil // not derr: a nil *DeliveryError in an error is not nil
}

// classifyResponse turns a receiver's answer into nil (2xx) or a
// *DeliveryError: 408, 429 and 5xx are worth retrying, with the receiver's
// Retry-After; every other status is the receiver refusing this ticket,
// which the same body cannot change. It drains a little of the body so
// that the connection can be reused.
func classifyResponse(target string, resp *http.Response, now time.Time) *DeliveryError {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	retryable := retryableStatus(code)
	e := &DeliveryError{
		Target:    target,
		Status:    code,
		Permanent: !retryable,
		Err:       fmt.Errorf("receiver answered %s: %s", resp.Status, strings.TrimSpace(string(snippet))),
	}
	if retryable {
		e.RetryAfter = retryafter.Parse(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// retryableStatus says whether an HTTP error status is the receiver's
// passing trouble (408, 429, 5xx) rather than a refusal of the request.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// ErrBadEndpoint says a configured URL is not an absolute http(s) URL.
var ErrBadEndpoint = errors.New("want an absolute http or https URL")

// parseEndpoint parses a configured receiver URL; what names it in errors.
func parseEndpoint(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("handoff: %s: %w", what, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("handoff: %s %q: %w", what, raw, ErrBadEndpoint)
	}
	return u, nil
}

// noRedirects returns a copy of c (or a new client) that does not follow
// redirects: a POST redirected by Go's client becomes a GET without body,
// which would turn a ticket into a silent success on some other page.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}
