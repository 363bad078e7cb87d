package logingest

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Compare with errors.Is; implementations wrap them with %w.
var (
	// ErrNotFound means the requested object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized means the request carried no valid credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means the credentials are valid but lack the scope the operation needs.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid means the input is malformed or breaks a limit. *ValidationError and *LimitError match it.
	ErrInvalid = errors.New("invalid input")
	// ErrTooLarge means a request body exceeds a size limit. *LimitError with TooLarge set matches it.
	ErrTooLarge = errors.New("too large")
	// ErrClosed means the Ingester or Store has been closed.
	ErrClosed = errors.New("closed")
	// ErrOverloaded means the ingest queue is full; the caller should retry later.
	ErrOverloaded = errors.New("overloaded")
	// ErrUnavailable means a dependency (usually the Store) failed or timed out; the caller may retry safely.
	ErrUnavailable = errors.New("unavailable")
	// ErrRateLimited means the caller exceeded a rate limit.
	ErrRateLimited = errors.New("rate limited")
)

// FieldError is one validation failure: the JSON name of the field and why it was rejected.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every problem found in one input. It matches ErrInvalid.
type ValidationError struct {
	Errors []FieldError
}

// Error joins the field errors as "field: reason; field: reason".
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Field)
		b.WriteString(": ")
		b.WriteString(fe.Reason)
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// LimitError reports a whole-request limit that was exceeded, such as the number of events in a batch.
// It matches ErrInvalid, and also ErrTooLarge when TooLarge is set.
type LimitError struct {
	// Field is the request field or parameter the limit applies to, for example "logs" or "body".
	Field string
	// Limit is the configured maximum.
	Limit int64
	// Unit is what Limit counts, for example "events" or "bytes".
	Unit string
	// TooLarge marks byte-size limits (HTTP 413) as opposed to count limits (HTTP 400).
	TooLarge bool
}

// Error describes the limit, for example "logs: exceeds limit of 1000 events".
func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: exceeds limit of %d %s", e.Field, e.Limit, e.Unit)
}

// Is reports whether target is ErrInvalid, or ErrTooLarge for byte-size limits.
func (e *LimitError) Is(target error) bool {
	return target == ErrInvalid || (e.TooLarge && target == ErrTooLarge)
}
