package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/retryafter"
)

// ErrorKind classifies an upstream failure for the router: whether to
// retry, fail over, or count it against the upstream's breaker.
type ErrorKind string

// The kinds of failure.
const (
	// KindRateLimited: 429 or Anthropic's rate_limit_error; RetryAfter
	// says when, if the upstream said.
	KindRateLimited ErrorKind = "rate_limited"
	// KindServer: a 5xx (Anthropic's 529 overloaded included), or an error
	// the upstream reported inside the stream.
	KindServer ErrorKind = "server"
	// KindTimeoutFirstToken: no text within FirstTokenTimeout of sending
	// (within RequestTimeout for a request that is not streamed).
	KindTimeoutFirstToken ErrorKind = "timeout_first_token"
	// KindStalled: text had started and then none came for IdleTimeout.
	KindStalled ErrorKind = "stalled"
	// KindMalformed: a response or chunk that does not parse as the API's
	// wire format.
	KindMalformed ErrorKind = "malformed"
	// KindConnection: connecting failed, or the connection broke or was
	// closed before the stream's end marker (a cut; Err is ErrStreamCut).
	KindConnection ErrorKind = "connection"
	// KindAuth: 401 or 403, the upstream refused our key. The operator's
	// mistake, not the client's: fail over, do not retry here.
	KindAuth ErrorKind = "auth"
	// KindClient: another 4xx. The upstream refused this request as given
	// (too long for its context, a parameter it rejects, an unknown model).
	KindClient ErrorKind = "client"
	// KindUnsupported: the request needs something this upstream cannot
	// do (a GBNF grammar, a tokenised prompt, embeddings not declared
	// identical); nothing was sent.
	KindUnsupported ErrorKind = "unsupported"
)

// Sentinels that an *Error's Err may wrap.
var (
	// ErrStreamCut: the body ended before [DONE] or message_stop.
	ErrStreamCut = errors.New("stream ended before its end marker")
	// ErrFirstTokenTimeout and ErrStalled are the causes the timeouts
	// cancel the upstream request with.
	ErrFirstTokenTimeout = errors.New("no first token within the timeout")
	ErrStalled           = errors.New("no token within the idle timeout")
	// ErrUnsupported: see KindUnsupported.
	ErrUnsupported = errors.New("not supported by this upstream")
	// ErrUnknownModel: the upstream has no mapping for the model asked for.
	ErrUnknownModel = errors.New("model not served by this upstream")
)

// Error is a failed upstream call. It says what the router needs to decide
// what to do next: Retryable, TokensSent and RetryAfter.
type Error struct {
	Upstream string // the Config's Name
	Kind     ErrorKind
	// Status is the HTTP status of the response, 0 if there was none (or
	// the failure came inside a 200 stream).
	Status int
	// Code and Message are the upstream's own words, when it sent an error
	// body or event: OpenAI's error.code (or error.type), Anthropic's
	// error.type.
	Code    string
	Message string
	// RetryAfter is the upstream's Retry-After (or retry-after-ms), 0 when
	// absent.
	RetryAfter time.Duration
	// Retryable says the failure is transient: the same request may succeed
	// if sent again, here after a backoff or elsewhere. It does not say that
	// a retry is allowed: see TokensSent.
	Retryable bool
	// TokensSent says text had already been pushed to the llm.Stream, so a
	// client may have seen it: no retry and no switch then, the client's
	// stream must end with an error.
	TokensSent bool
	Err        error // the cause, when there is one
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("upstream ")
	b.WriteString(e.Upstream)
	b.WriteString(": ")
	b.WriteString(string(e.Kind))
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.TokensSent {
		b.WriteString(" (after text was sent)")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// CanRetry reports whether the router may send the request again, here or
// elsewhere: the failure is transient and no text reached the stream.
func (e *Error) CanRetry() bool { return e.Retryable && !e.TokensSent }

// statusError classifies a non-2xx response.
func statusError(upstream string, status int, h http.Header, code, msg string, now time.Time) *Error {
	e := &Error{Upstream: upstream, Status: status, Code: code, Message: msg, RetryAfter: retryAfter(h, now)}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
		// OpenAI's answer when the account is out of credit: waiting does
		// not help, another route does.
		e.Retryable = code != "insufficient_quota"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = KindAuth
	case status == http.StatusRequestTimeout:
		e.Kind, e.Retryable = KindServer, true
	case status >= 500:
		e.Kind = KindServer
		e.Retryable = status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported
	default:
		e.Kind = KindClient
	}
	return e
}

// anthropicErrorKind classifies Anthropic's error.type, as sent in an error
// body or an error event.
func anthropicErrorKind(typ string) (ErrorKind, bool) {
	switch typ {
	case "rate_limit_error":
		return KindRateLimited, true
	case "overloaded_error", "api_error", "timeout_error":
		return KindServer, true
	case "authentication_error", "permission_error", "billing_error":
		return KindAuth, false
	case "invalid_request_error", "not_found_error", "request_too_large":
		return KindClient, false
	}
	// An error type added after this was written: an upstream failure.
	return KindServer, true
}

// retryAfter reads Retry-After (delay-seconds or an HTTP date) and
// OpenAI's retry-after-ms, preferring the finer one; 0 when absent or
// unparsable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return retryafter.Parse(h.Get("Retry-After"), now)
}
