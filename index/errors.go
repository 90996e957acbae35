package index

import (
	"errors"
	"fmt"
)

// Sentinel errors; every error the package returns for these conditions
// wraps one of them.
var (
	// ErrNotFound: no such collection or document (NotFoundError says which).
	ErrNotFound = errors.New("index: not found")
	// ErrExists: a collection of that name exists already.
	ErrExists = errors.New("index: already exists")
	// ErrModelUnavailable: the collection's embedding model is not served by
	// this process, so nothing can be embedded for it; lexical search still
	// works.
	ErrModelUnavailable = errors.New("index: embedding model unavailable")
	// ErrClosed: the knowledge base was closed.
	ErrClosed = errors.New("index: closed")
)

// NotFoundError names what was not found.
type NotFoundError struct {
	Kind string // "collection" or "document"
	Name string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q does not exist", e.Kind, e.Name) }

// Unwrap makes errors.Is(err, ErrNotFound) hold.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// RequestError is a caller's mistake in one field of a request: an invalid
// name, an empty document, a vector of the wrong dimension. Nothing was
// written. Field is a JSON path such as "documents[3].html".
type RequestError struct {
	Field string
	Err   error
}

func (e *RequestError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }

func (e *RequestError) Unwrap() error { return e.Err }

// TooLargeError is a request over one of the limits (documents per
// request, bytes per document); the HTTP layer answers 413.
type TooLargeError struct {
	Field string
	What  string
	Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: %s exceeds the limit of %d", e.Field, e.What, e.Limit)
}

func badField(field, format string, args ...any) error {
	return &RequestError{Field: field, Err: fmt.Errorf(format, args...)}
}
