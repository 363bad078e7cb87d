package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"

	"github.com/change66/logserver/logingest"
)

// Limit kinds, the values of logingest_http_rate_limited_total{limit}.
const (
	limitRequests     = "requests"
	limitEvents       = "events"
	limitAuthFailures = "auth_failures"
)

// charge is tokens a request took, to give back if it fails.
type charge struct {
	key     string
	rate    Rate
	n       int
	request bool // the request token, as opposed to event tokens
}

// giveBack returns what a request that failed with status was charged, when the client may have it back:
//   - event tokens on any failure: they pay for stored events, and none of its events was stored;
//   - the request token only when the failure was not the client's doing (refundable): the server was
//     overloaded or a dependency unavailable. A failure the client caused keeps it: any 4xx (malformed or
//     invalid input, a limit, its own rate limit), a 503 for its own share of the body budget, and a 500,
//     which is our bug but may have been triggered by what it sent. Otherwise a request that fails on purpose
//     would be free, and the ingest key is public.
//
// Request tokens given back are themselves limited per key, at the key's request rate: even a failure wrongly
// taken for the server's (a value the store chokes on, say) cannot be farmed into more than twice the rate.
func (h *Handler) giveBack(r *http.Request, ri *requestInfo, status int) {
	if status < 400 || status == statusClientClosed {
		return
	}
	refund := refundable(ri.failure)
	for _, c := range ri.charges {
		if c.request && (!refund || !h.mayRefund(r, c)) {
			continue
		}
		if err := h.limiter.Return(context.WithoutCancel(r.Context()), c.key, c.rate, c.n); err != nil {
			h.requestLogger(r).LogAttrs(r.Context(), slog.LevelWarn, "rate limiter return failed", slog.Any("error", err))
		}
	}
	ri.charges = nil
}

// refundable reports whether a request that failed with err may have its request token back: the failure is
// the server's (overloaded, a dependency unavailable or closing, a server-side timeout), not the client's.
func refundable(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := errors.AsType[*clientCausedError](err); ok {
		return false
	}
	return errors.Is(err, logingest.ErrOverloaded) || errors.Is(err, logingest.ErrUnavailable) ||
		errors.Is(err, logingest.ErrClosed) || errors.Is(err, context.DeadlineExceeded)
}

// mayRefund takes one token of the key's refund bucket, which has the rate of the request bucket c draws
// from; false means the key had as many request tokens back as its rate allows. A failing limiter allows it.
func (h *Handler) mayRefund(r *http.Request, c charge) bool {
	d, ok := h.take(r, "refund:"+c.key, c.rate, 1)
	return !ok || d.Allowed
}

// take asks the limiter; ok is false when the limiter failed, in which case the request goes through (fail
// open: a broken limiter must not take the API down) and the failure is logged.
func (h *Handler) take(r *http.Request, key string, rate Rate, n int) (RateDecision, bool) {
	d, err := h.limiter.Take(r.Context(), key, rate, n)
	if err != nil {
		h.requestLogger(r).LogAttrs(r.Context(), slog.LevelWarn, "rate limiter failed; letting the request through", slog.Any("error", err))
		return RateDecision{}, false
	}
	return d, true
}

// refuse answers 429 for limit kind, with the limit's headers.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, kind string, rate Rate, d RateDecision) {
	setRateHeaders(w.Header(), rate, d)
	h.metrics.rateLimited.WithLabelValues(kind).Inc()
	h.writeError(w, r, fmt.Errorf("%s limit: %w", kind, logingest.ErrRateLimited))
}

// chargeEvents takes n event tokens of the caller's bucket. It returns an error to answer with when the
// request must be refused: ErrRateLimited (429, after setting the headers), or a *logingest.LimitError when n
// exceeds the bucket's capacity, so no retry can succeed.
func (h *Handler) chargeEvents(w http.ResponseWriter, r *http.Request, n int) error {
	p, _ := logingest.FromContext(r.Context())
	rate, on := h.eventRate(p)
	if !on {
		return nil
	}
	if n > rate.Burst {
		return &logingest.LimitError{Field: fieldLogs, Limit: int64(rate.Burst), Unit: "events per request (event rate limit burst)"}
	}
	key := bucketKey("ev", p)
	d, ok := h.take(r, key, rate, n)
	if !ok {
		return nil
	}
	if !d.Allowed {
		setRateHeaders(w.Header(), rate, d)
		h.metrics.rateLimited.WithLabelValues(limitEvents).Inc()
		return fmt.Errorf("%s limit: %w", limitEvents, logingest.ErrRateLimited)
	}
	if ri := infoFrom(r.Context()); ri != nil {
		ri.charges = append(ri.charges, charge{key: key, rate: rate, n: n})
	}
	return nil
}

// requestRate returns the request limit of p: the Config's, overridden by p.Limits; on is false when unlimited.
func (h *Handler) requestRate(p logingest.Principal) (Rate, bool) {
	r := Rate{PerMinute: h.cfg.RequestsPerMinute, Burst: h.cfg.Burst}
	if p.Limits.RequestsPerMinute != 0 {
		r.PerMinute = p.Limits.RequestsPerMinute
	}
	if p.Limits.RequestBurst > 0 {
		r.Burst = p.Limits.RequestBurst
	}
	return r, r.PerMinute > 0 && r.Burst > 0
}

// eventRate returns the event limit of p, like requestRate.
func (h *Handler) eventRate(p logingest.Principal) (Rate, bool) {
	r := Rate{PerMinute: h.cfg.EventsPerMinute, Burst: h.cfg.EventsBurst}
	if p.Limits.EventsPerMinute != 0 {
		r.PerMinute = p.Limits.EventsPerMinute
	}
	if p.Limits.EventsBurst > 0 {
		r.Burst = p.Limits.EventsBurst
	}
	return r, r.PerMinute > 0 && r.Burst > 0
}

// authRate is the failed-authentication limit per client: AuthFailuresPerMinute failures at once, refilled
// over a minute.
func (h *Handler) authRate() Rate {
	return Rate{PerMinute: h.cfg.AuthFailuresPerMinute, Burst: max(1, int(math.Ceil(h.cfg.AuthFailuresPerMinute)))}
}

// bucketKey names p's bucket of a limit kind ("req", "ev"): its KeyID's or, for a Principal without a KeyID,
// its source's (see logingest.Principal), so tenants never share a bucket. The two forms cannot collide.
func bucketKey(kind string, p logingest.Principal) string {
	if p.KeyID == "" {
		return kind + "-src:" + sourceOf(p)
	}
	return kind + ":" + p.KeyID
}
