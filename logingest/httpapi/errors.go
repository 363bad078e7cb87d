package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/change66/logserver/logingest"
)

// retryAfterSeconds is the Retry-After sent with 503 answers: the failure is transient and a retry is safe.
const retryAfterSeconds = 5

// statusClientClosed is logged (nginx style) when the client went away before the answer was ready.
const statusClientClosed = 499

// Names of request parts in FieldError.Field (and LimitError.Field) that are not Event fields: the raw request
// body, the batch envelope's "logs" array, and one element of it that cannot be decoded as an event.
const (
	fieldBody  = "body"
	fieldLogs  = "logs"
	fieldEvent = "event"
)

// Errors raised by the HTTP layer itself; the table in classify maps them like the logingest sentinels.
var (
	errMethodNotAllowed = errors.New("method not allowed")
	errRouteNotFound    = fmt.Errorf("route %w", logingest.ErrNotFound)
)

// mediaTypeError reports an unsupported Content-Type or Content-Encoding (HTTP 415). Its message is safe to send.
type mediaTypeError struct{ msg string }

func (e *mediaTypeError) Error() string { return e.msg }

// problem is how one error is answered: the status, a stable machine-readable code and a message safe to send.
type problem struct {
	status  int
	code    string
	message string
	errors  []logingest.FieldError
	limit   int64
	retry   bool // send Retry-After: the failure is transient and retrying is safe
	log     bool // log the error's detail: it is not the client's fault
}

// classify is the one table from errors to HTTP answers. Unknown errors become 500 "internal error"; their
// detail is logged by writeError, never sent.
func classify(err error) problem {
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
			status: http.StatusBadRequest, code: "validation_failed", message: "validation failed",
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
		return problem{
			status: http.StatusServiceUnavailable, code: "overloaded", message: "server overloaded, retry later",
			retry: true, log: true,
		}
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

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Success   bool                   `json:"success"`
	Error     string                 `json:"error"`
	Code      string                 `json:"code"`
	Errors    []logingest.FieldError `json:"errors,omitempty"`
	Limit     int64                  `json:"limit,omitempty"`
	RequestID string                 `json:"request_id,omitempty"`
}

// writeError answers r with err mapped through classify, logging the detail of server-side failures.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
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
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	if p.status == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close") // the rest of the body is not worth waiting for
	}
	if p.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", unauthorizedChallenge(err))
	}
	writeJSON(w, p.status, errorBody{
		Error:     p.message,
		Code:      p.code,
		Errors:    p.errors,
		Limit:     p.limit,
		RequestID: requestIDFrom(r.Context()),
	})
}
