package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/upstream"
)

// Error types as they appear in the "type" field of an error body. They
// follow OpenAI's names so that client libraries classify them as they
// would an OpenAI error.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeOverloaded     = "overloaded_error"
	TypeUnavailable    = "service_unavailable_error"
	TypeServer         = "server_error"
)

// APIError is an error that the gateway sends to a client as an OpenAI error
// body, {"error":{"message","type","param","code"}}, with Status as the HTTP
// status code.
type APIError struct {
	Status  int
	Message string
	Type    string
	Param   string // the offending request field, "" for none
	Code    string // a machine-readable reason, "" for none
	// RetryAfter, when positive, is sent as Retry-After (whole seconds,
	// rounded up) and retry-after-ms.
	RetryAfter time.Duration
	// Err is the underlying cause, kept for logs and errors.Is/As; never
	// sent to the client.
	Err error

	allow string // the Allow header of a 405
}

func (e *APIError) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Type, e.Param, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

func (e *APIError) Unwrap() error { return e.Err }

// appendJSON appends the OpenAI error body.
func (e *APIError) appendJSON(b []byte) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendJSONString(b, e.Message)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"param":`...)
	b = appendJSONStringOrNull(b, e.Param)
	b = append(b, `,"code":`...)
	b = appendJSONStringOrNull(b, e.Code)
	return append(b, "}}"...)
}

func appendJSONStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// writeError replaces whatever response ctx holds with e's error body.
func writeError(ctx *fasthttp.RequestCtx, e *APIError) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("application/json")
	if e.RetryAfter > 0 {
		setRetryAfter(&ctx.Response.Header, e.RetryAfter)
	}
	if e.allow != "" {
		ctx.Response.Header.Set("Allow", e.allow)
	}
	buf := ctx.Response.Body()[:0]
	buf = e.appendJSON(buf)
	ctx.Response.SetBodyRaw(append([]byte(nil), buf...))
}

// setRetryAfter sets Retry-After in whole seconds, never 0 (clients read 0
// as "retry now" and hammer the server), plus retry-after-ms, which OpenAI's
// own client libraries prefer when present.
func setRetryAfter(h *fasthttp.ResponseHeader, d time.Duration) {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	h.Set("retry-after-ms", strconv.FormatInt(ms, 10))
}

func errInvalidJSON(err error) *APIError {
	return &APIError{
		Status:  fasthttp.StatusBadRequest,
		Type:    TypeInvalidRequest,
		Code:    "invalid_json",
		Message: "We could not parse the JSON body of your request: " + err.Error() + ". The body must be one JSON object.",
		Err:     err,
	}
}

// badRequest is a 400 invalid_request_error about param.
func badRequest(param, code, msg string) *APIError {
	return &APIError{Status: fasthttp.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Code: code, Message: msg}
}

func errMissing(param string) *APIError {
	return badRequest(param, "missing_required_parameter", fmt.Sprintf("Missing required parameter: '%s'.", param))
}

func errType(param, want, got string) *APIError {
	return badRequest(param, "invalid_type",
		fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", param, want, got))
}

func errValue(param, format string, args ...any) *APIError {
	return badRequest(param, "invalid_value", "Invalid '"+param+"': "+fmt.Sprintf(format, args...))
}

func errUnsupported(param, format string, args ...any) *APIError {
	return badRequest(param, "unsupported_parameter", fmt.Sprintf(format, args...))
}

func errUnsupportedValue(param, format string, args ...any) *APIError {
	return badRequest(param, "unsupported_value", fmt.Sprintf(format, args...))
}

func errModelNotFound(model string) *APIError {
	return &APIError{
		Status:  fasthttp.StatusNotFound,
		Type:    TypeInvalidRequest,
		Param:   "model",
		Code:    "model_not_found",
		Message: fmt.Sprintf("The model '%s' does not exist or you do not have access to it.", model),
	}
}

func errRouteNotFound(method, path string) *APIError {
	return &APIError{
		Status:  fasthttp.StatusNotFound,
		Type:    TypeInvalidRequest,
		Code:    "unknown_url",
		Message: fmt.Sprintf("Invalid URL (%s %s).", method, path),
	}
}

func errMethod(method, path, allow string) *APIError {
	return &APIError{
		Status:  fasthttp.StatusMethodNotAllowed,
		Type:    TypeInvalidRequest,
		Code:    "method_not_allowed",
		allow:   allow,
		Message: fmt.Sprintf("Method %s is not allowed on %s; use %s.", method, path, allow),
	}
}

func errBodyTooLarge(limit int) *APIError {
	return &APIError{
		Status:  fasthttp.StatusRequestEntityTooLarge,
		Type:    TypeInvalidRequest,
		Code:    "request_too_large",
		Message: fmt.Sprintf("The request body exceeds the limit of %d bytes.", limit),
	}
}

func errInternal(err error) *APIError {
	return &APIError{
		Status:  fasthttp.StatusInternalServerError,
		Type:    TypeServer,
		Code:    "internal_error",
		Message: "The server had an error while processing your request. The request id in X-Request-Id identifies it in the server's logs.",
		Err:     err,
	}
}

func errDraining() *APIError {
	return &APIError{
		Status:     fasthttp.StatusServiceUnavailable,
		Type:       TypeUnavailable,
		Code:       "draining",
		Message:    "The server is shutting down and accepts no new requests; retry on another instance.",
		RetryAfter: 5 * time.Second,
	}
}

// fromBackend maps an error from Generate or Embed to what the client sees.
func fromBackend(err error, param string) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var over *llm.OverloadedError
	if errors.As(err, &over) {
		ra := over.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		return &APIError{
			Status:     fasthttp.StatusTooManyRequests,
			Type:       TypeOverloaded,
			Code:       "server_overloaded",
			Message:    "The model's queue is full; retry after the time given in Retry-After.",
			RetryAfter: ra,
			Err:        err,
		}
	}
	var long *llm.PromptTooLongError
	if errors.As(err, &long) {
		return &APIError{
			Status: fasthttp.StatusBadRequest,
			Type:   TypeInvalidRequest,
			Param:  param,
			Code:   "context_length_exceeded",
			Message: fmt.Sprintf("This model's maximum context length is %d tokens. However, your input has %d tokens. Please reduce the length of the input.",
				long.Limit, long.Tokens),
			Err: err,
		}
	}
	var bad *llm.RequestError
	if errors.As(err, &bad) {
		if p := requestErrorParam(bad.Field); p != "" {
			param = p
		}
		return &APIError{
			Status:  fasthttp.StatusBadRequest,
			Type:    TypeInvalidRequest,
			Param:   param,
			Code:    "invalid_request",
			Message: bad.Err.Error(),
			Err:     err,
		}
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		// The cloud API failed before any text: not the client's doing.
		ra := ue.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		return &APIError{Status: fasthttp.StatusBadGateway, Type: TypeUnavailable, Code: "upstream_error",
			Message: "The cloud model behind this server failed; retry after the time given in Retry-After.", RetryAfter: ra, Err: err}
	}
	if errors.Is(err, router.ErrNoRoute) {
		return &APIError{Status: fasthttp.StatusServiceUnavailable, Type: TypeUnavailable, Code: "no_route",
			Message: "No engine can take this request now (the local model is busy or absent and the cloud is unavailable or not allowed by " +
				HeaderRoutePolicy + "); retry later.", RetryAfter: time.Second, Err: err}
	}
	if errors.Is(err, batcher.ErrClosed) {
		return &APIError{
			Status:     fasthttp.StatusServiceUnavailable,
			Type:       TypeUnavailable,
			Code:       "model_unavailable",
			Message:    "The model is not loaded (it was shut down); retry later.",
			RetryAfter: 5 * time.Second,
			Err:        err,
		}
	}
	return errInternal(err)
}

// requestErrorParam names on the wire the request field a batcher
// RequestError points at; "" keeps the handler's own param.
func requestErrorParam(field string) string {
	switch field {
	case llm.FieldGrammar:
		return "response_format"
	case llm.FieldMessages:
		return "messages"
	}
	return ""
}
