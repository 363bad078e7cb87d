package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"

	"github.com/change66/logserver/logingest"
)

// retryAfterSeconds is the mean Retry-After sent with 503 answers that carry no time of their own (store
// unavailable, shutting down, a Backend without a retry schedule): the failure is transient and a retry is
// safe. Each answer spreads it at random over retryAfterSeconds ± retryAfterSpread, so clients refused together
// do not come back together.
const (
	retryAfterSeconds = 5
	retryAfterSpread  = 2
)

// spreadRetryAfter returns a Retry-After in seconds spread over retryAfterSeconds ± retryAfterSpread.
func spreadRetryAfter() int64 {
	return int64(retryAfterSeconds - retryAfterSpread + rand.IntN(2*retryAfterSpread+1))
}

// statusClientClosed is logged (nginx style) when the client went away before the answer was ready.
const statusClientClosed = 499

// Names of request parts in FieldError.Field (and LimitError.Field) that are not Event fields: the raw request
// body, the batch envelope's "logs" array, and one element of it that cannot be decoded as an event.
const (
	fieldBody = "body"
	fieldLogs = "logs"
	// fieldSentAt is the device clock at sending, on an event or on the batch envelope.
	fieldSentAt = "sent_at"
	fieldEvent  = "event"
)

// Errors raised by the HTTP layer itself; the table in classify maps them like the logingest sentinels.
var (
	errMethodNotAllowed = errors.New("method not allowed")
	errRouteNotFound    = fmt.Errorf("route %w", logingest.ErrNotFound)
)

// mediaTypeError reports an unsupported Content-Type or Content-Encoding (HTTP 415). Its message is safe to send.
type mediaTypeError struct{ msg string }

func (e *mediaTypeError) Error() string { return e.msg }

// Machine codes of the original server, sent in the error body's "error" field. Answers the original had no
// code for carry our own code there too, so "error" is always a stable snake_case code.
const (
	wireInvalidJSON      = "invalid_json"
	wireEmptyBatch       = "empty_batch"
	wireBatchTooLarge    = "batch_too_large"
	wireValidation       = "validation_error"
	wireDatabase         = "database_error"
	wireInvalidEventType = "invalid_event_type"
	wireInvalidStartTime = "invalid_start_time"
	wireInvalidEndTime   = "invalid_end_time"
	wireInvalidPriority  = "invalid_priority"
)

// errQueryParams marks a *logingest.ValidationError about query parameters, whose first field picks the
// original's invalid_<parameter> code.
var errQueryParams = errors.New("invalid query parameters")

// paramCodes are the original's codes for invalid filter parameters.
var paramCodes = map[string]string{
	"event_type": wireInvalidEventType,
	"start_time": wireInvalidStartTime,
	"end_time":   wireInvalidEndTime,
	"priority":   wireInvalidPriority,
}

// readerError marks an error returned by the Reader, so a 5xx it causes is answered with database_error.
type readerError struct {
	op  string
	err error
}

func (e *readerError) Error() string { return e.op + ": " + e.err.Error() }
func (e *readerError) Unwrap() error { return e.err }

// problem is how one error is answered: the status, the original's machine code (wire), our finer code, and a
// message safe to send.
type problem struct {
	status  int
	wire    string // "error": the original's machine code, or code when the original had none
	code    string
	message string
	errors  []logingest.FieldError
	limit   int64
	retry   bool // send Retry-After: the failure is transient and retrying is safe
	// retryAfter is the Retry-After in seconds when the error says (a *logingest.OverloadedError: the
	// Ingester's retry schedule); 0 sends spreadRetryAfter.
	retryAfter int64
	log        bool // log the error's detail: it is not the client's fault
}

// classify is the one table from errors to HTTP answers. Unknown errors become 500 "internal error"; their
// detail is logged by writeError, never sent.
func classify(err error) problem {
	p := classifyStatus(err)
	p.wire = wireCode(err, p)
	return p
}

// wireCode picks the original's machine code for an answer (see the wire* constants), or p.code when the
// original had none for it.
func wireCode(err error, p problem) string {
	var (
		le *logingest.LimitError
		ve *logingest.ValidationError
		sf *readerError
	)
	switch {
	case errors.As(err, &le) && !le.TooLarge && le.Field == fieldLogs:
		return wireBatchTooLarge
	case errors.As(err, &ve) && len(ve.Errors) > 0:
		first := ve.Errors[0]
		switch {
		case errors.Is(err, errQueryParams) && paramCodes[first.Field] != "":
			return paramCodes[first.Field]
		case first.Field == fieldBody && len(ve.Errors) == 1:
			return wireInvalidJSON
		case first.Field == fieldLogs && len(ve.Errors) == 1 && strings.Contains(first.Reason, "at least one"):
			return wireEmptyBatch
		}
		return wireValidation
	case p.status == http.StatusBadRequest && p.code == "invalid":
		return wireValidation
	case p.status >= 500 && errors.As(err, &sf):
		return wireDatabase
	}
	return p.code
}

func classifyStatus(err error) problem {
	var (
		ve *logingest.ValidationError
		le *logingest.LimitError
		me *mediaTypeError
		se *slowBodyError
	)
	switch {
	case errors.As(err, &le) && le.TooLarge:
		return problem{
			status: http.StatusRequestEntityTooLarge, code: "too_large", message: le.Error(),
			errors: []logingest.FieldError{{Field: le.Field, Reason: fmt.Sprintf("exceeds limit of %d %s", le.Limit, le.Unit)}},
			limit:  le.Limit,
		}
	case errors.As(err, &le):
		return problem{
			status: http.StatusBadRequest, code: "limit_exceeded", message: le.Error(),
			errors: []logingest.FieldError{{Field: le.Field, Reason: fmt.Sprintf("exceeds limit of %d %s", le.Limit, le.Unit)}},
			limit:  le.Limit,
		}
	case errors.As(err, &se):
		return problem{
			status: http.StatusRequestTimeout, code: "body_too_slow", message: se.Error(),
			errors: []logingest.FieldError{{Field: fieldBody, Reason: fmt.Sprintf(
				"must arrive at %d bytes/s at least and within %s", se.minRate, se.timeout)}},
			limit: se.minRate,
		}
	case errors.As(err, &ve):
		return problem{
			status: http.StatusBadRequest, code: "validation_failed", message: "validation failed: " + ve.Error(),
			errors: ve.Errors,
		}
	case errors.Is(err, logingest.ErrTooLarge):
		return problem{status: http.StatusRequestEntityTooLarge, code: "too_large", message: "request too large"}
	case errors.Is(err, logingest.ErrInvalid):
		return problem{status: http.StatusBadRequest, code: "invalid", message: "invalid request"}
	case errors.As(err, &me):
		return problem{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: me.msg}
	case errors.Is(err, logingest.ErrUnauthorized):
		return problem{status: http.StatusUnauthorized, code: "unauthorized", message: unauthorizedMessage(err)}
	case errors.Is(err, logingest.ErrForbidden):
		return problem{status: http.StatusForbidden, code: "forbidden", message: "API key lacks the scope this endpoint needs"}
	case errors.Is(err, logingest.ErrNotFound):
		return problem{status: http.StatusNotFound, code: "not_found", message: "not found"}
	case errors.Is(err, errMethodNotAllowed):
		return problem{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: "method not allowed"}
	case errors.Is(err, logingest.ErrRateLimited):
		return problem{status: http.StatusTooManyRequests, code: "rate_limited", message: "rate limit exceeded"}
	case errors.Is(err, logingest.ErrOverloaded):
		p := problem{
			status: http.StatusServiceUnavailable, code: "overloaded", message: "server overloaded, retry later",
			retry: true, log: true,
		}
		if oe, ok := errors.AsType[*logingest.OverloadedError](err); ok {
			// Admission refusals are the expected answer under overload: counted, not logged one by one.
			p.retryAfter, p.log = max(1, ceilSeconds(oe.RetryAfter)), false
		}
		return p
	case errors.Is(err, logingest.ErrUnavailable), errors.Is(err, logingest.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return problem{
			status: http.StatusServiceUnavailable, code: "unavailable", message: "service unavailable, retry later",
			retry: true, log: true,
		}
	case errors.Is(err, context.Canceled):
		return problem{status: statusClientClosed, code: "client_closed", message: "request canceled"}
	default:
		return problem{status: http.StatusInternalServerError, code: "internal", message: "internal error", log: true}
	}
}

// errorBody is the JSON body of every error answer: the original's {error, message, details} plus ours.
type errorBody struct {
	Success bool `json:"success"`
	// Error is the original server's machine code (invalid_json, validation_error, ...), or Code when the
	// original had none for this answer.
	Error   string `json:"error"`
	Message string `json:"message"`
	// Details lists the fields at fault, as the original did for validation errors.
	Details []errorDetail `json:"details,omitempty"`
	// Code is logingest's own machine code, finer than Error for limits and transient failures.
	Code      string                 `json:"code"`
	Errors    []logingest.FieldError `json:"errors,omitempty"`
	Limit     int64                  `json:"limit,omitempty"`
	Retryable bool                   `json:"retryable"`
	RequestID string                 `json:"request_id,omitempty"`
}

// errorDetail is one entry of errorBody.Details.
type errorDetail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// writeError answers r with err mapped through classify, logging the detail of server-side failures.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if ri := infoFrom(r.Context()); ri != nil {
		ri.failure = err // for giveBack: was it the client's doing?
	}
	p := classify(err)
	logger := h.requestLogger(r)
	if p.log {
		logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.Int("status", p.status), slog.String("code", p.code), slog.Any("error", err))
	}
	if p.status == statusClientClosed {
		// Nobody is listening; record the status for the access log and metrics only.
		logger.LogAttrs(r.Context(), slog.LevelDebug, "client closed request", slog.Any("error", err))
		w.WriteHeader(p.status)
		return
	}
	if p.retry {
		secs := p.retryAfter
		if secs <= 0 {
			secs = spreadRetryAfter()
		}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if p.status == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close") // the rest of the body is not worth waiting for
	}
	if p.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", unauthorizedChallenge(err))
	}
	body := errorBody{
		Error:     p.wire,
		Message:   p.message,
		Code:      p.code,
		Errors:    p.errors,
		Limit:     p.limit,
		Retryable: p.status == http.StatusTooManyRequests || p.status >= 500,
		RequestID: requestIDFrom(r.Context()),
	}
	for _, fe := range p.errors {
		body.Details = append(body.Details, errorDetail{Field: fe.Field, Message: fe.Field + " " + fe.Reason})
	}
	writeJSON(w, p.status, body)
}
