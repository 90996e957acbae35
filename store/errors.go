package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps one of them or a
// Pebble or operating-system error; test with errors.Is.
var (
	// ErrClosed: the store (or the snapshot, iterator or batch) was closed.
	ErrClosed = errors.New("store: closed")
	// ErrNotFound: Get found no record under the key.
	ErrNotFound = errors.New("store: not found")
	// ErrNotStore: the directory exists but holds no infergate store.
	ErrNotStore = errors.New("store: not an infergate store")
	// ErrNewerFormat: the store was written by a newer infergate, in a format
	// this build does not know; it is left untouched.
	ErrNewerFormat = errors.New("store: format is newer than this build supports")
	// ErrOlderFormat: the store is in an older format that this build cannot
	// upgrade (no upgrade step, or the store was opened read-only).
	ErrOlderFormat = errors.New("store: format is older and cannot be upgraded")
	// ErrInvalidKey: a key is empty, malformed, or of an unknown kind.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrReservedKey: the key (or a range) covers the store's own format
	// record, which only the store writes.
	ErrReservedKey = errors.New("store: reserved key")
	// ErrBatchTooLarge: a batch grew past MaxBatchBytes.
	ErrBatchTooLarge = errors.New("store: batch too large")
	// ErrReadOnly: a write on a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("store: read-only")
	// ErrFailed: Pebble hit an error it cannot recover from (a WAL write or
	// sync failed, for example on a full disk). The write that saw it was not
	// acknowledged, and the store refuses every further call, reads included,
	// so that nothing observes a write that may not be on disk; Close it and
	// Open the directory again to recover from what is durable.
	ErrFailed = errors.New("store: failed; close and reopen")
)

// OpError is the error of a store operation that failed in Pebble or in the
// file system: Op names the operation ("open", "commit", "get", ...), Dir the
// store's directory.
type OpError struct {
	Op  string
	Dir string
	Err error
}

func (e *OpError) Error() string { return fmt.Sprintf("store: %s %s: %v", e.Op, e.Dir, e.Err) }

func (e *OpError) Unwrap() error { return e.Err }

// FormatError says why Open refused a directory's format: Err is ErrNotStore,
// ErrNewerFormat or ErrOlderFormat.
type FormatError struct {
	Dir       string
	Found     uint32 // the format version on disk; 0 when there is none
	Supported uint32 // FormatVersion of this build
	Reason    string
	Err       error
}

func (e *FormatError) Error() string {
	switch {
	case errors.Is(e.Err, ErrNewerFormat), errors.Is(e.Err, ErrOlderFormat):
		s := fmt.Sprintf("store: %s: format version %d, this build supports %d", e.Dir, e.Found, e.Supported)
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		return s + " (" + e.Err.Error() + ")"
	}
	if e.Reason != "" {
		return fmt.Sprintf("%v: %s: %s", e.Err, e.Dir, e.Reason)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Dir)
}

func (e *FormatError) Unwrap() error { return e.Err }

// KeyError is the error of a key that cannot be parsed or written: Err is
// ErrInvalidKey or ErrReservedKey.
type KeyError struct {
	Key    []byte
	Kind   Kind
	Reason string
	Err    error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%v: %s (%s key %q)", e.Err, e.Reason, e.Kind, e.Key)
}

func (e *KeyError) Unwrap() error { return e.Err }
