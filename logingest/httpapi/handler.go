// Package httpapi serves the logingest HTTP API: event ingestion, filtering, stats, health and metrics, as one
// http.Handler that can be served directly or mounted under a prefix.
//
// It holds no SQL and imports no store backend: it talks to an Ingester for writes and a Reader for reads,
// both declared here as small consumer-side interfaces (*logingest.Ingester and every logingest.Store satisfy
// them).
//
// # Routes
//
//	POST /api/v1/ingest        one event                              201, 400, 401, 403, 413, 415, 429, 503
//	POST /api/v1/batch-ingest  {"logs":[...]}                         201, 400, 401, 403, 413, 415, 429, 503
//	GET  /api/v1/logs/filter   filter, sort and page events           200, 400, 401, 403, 429, 503
//	GET  /api/v1/logs/recent   newest received events (?limit=)       200, 400, 401, 403, 429, 503
//	GET  /api/v1/metrics       Stats of the caller's source           200, 401, 403, 429, 503
//	GET  /api/v1/status        version, uptime, store reachability    200, 401, 403, 429
//	GET  /api/v1/keys          the caller's source's keys (admin)     200, 401, 403, 429, 503
//	POST /api/v1/keys          create a key, secret shown once        201, 400, 401, 403, 429, 503
//	POST /api/v1/keys/{id}/revoke   revoke a key                      200, 401, 403, 404, 429, 503
//	POST /api/v1/keys/{id}/rotate   new key, old one expires after grace  201, 400, 401, 403, 404, 429, 503
//	GET  /health               store reachable                        200, 503
//	GET  /readiness            store reachable and Config.Ready       200, 503
//	GET  /liveness             process alive                          200
//	GET  /metrics              Prometheus exposition of Gatherer      200, 404 when no Gatherer
//
// Unknown paths answer 404 and known paths with another method 405 (with Allow), both as JSON.
//
// # Ingestion semantics
//
// Both ingest endpoints are idempotent on event_id: a resent event is reported "duplicate" with 201, so a client
// that retries until it sees 201 never loops. The single endpoint answers 400 when its event is rejected.
// The batch endpoint decodes every element of "logs" on its own, so one malformed or invalid event is rejected
// with its field errors while the other events of the batch are stored; it answers 201 with per-event results
// whenever the request itself is well-formed, even if every event was rejected, because resending the same
// batch cannot succeed. Whole-request problems (malformed envelope, missing or empty "logs", too many events,
// body too large, wrong Content-Type or Content-Encoding) store nothing and answer 400, 413 or 415.
// Bodies may be compressed (Content-Encoding: gzip or zstd); Config.MaxBodyBytes bounds them before and after
// decompression, so a compression bomb costs at most that much memory.
//
// # Authentication and limits
//
// Every /api/v1 request is authenticated by Config.Authenticator; ingest routes need logingest.ScopeIngest,
// read routes logingest.ScopeRead and key routes (present when Config.Keys is set) logingest.ScopeAdmin. Reads
// and key management only ever see the caller's own source. Unknown, malformed, expired and revoked keys get
// the same 401 answer.
//
// Each API key has a request bucket (Config.RequestsPerMinute, Config.Burst) and an event bucket
// (Config.EventsPerMinute, Config.EventsBurst; a batch of n events costs n), both overridable per key through
// logingest.Principal.Limits. Failed authentications are limited per client IP (Config.AuthFailuresPerMinute);
// once a client is over that limit, every request from it gets 429 until it recovers, valid key or not, so the
// answer never tells a guessed key from a wrong one. A refused request gets 429 with Retry-After and
// RateLimit-* headers. A request refused after it was charged gives back what it took: the event tokens
// whenever the whole request fails, and its request token too when the failure is a 429 or 5xx (a retry is
// expected). A request that fails with another 4xx keeps its request token, because the ingest key ships in the
// app and anyone may hold it: malformed requests must not be free. Config.RateLimiter decides where the buckets
// live (in memory by default; shared by replicas with a Redis implementation).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"

	"github.com/change66/logserver/logingest"
)

// Ingester validates and stores events. *logingest.Ingester implements it; see its Ingest method for the
// contract this package relies on: one Result per event in input order, a *logingest.LimitError for empty or
// oversized batches, and errors matching logingest.ErrOverloaded, ErrUnavailable or ErrClosed when a retry may
// succeed.
type Ingester interface {
	Ingest(ctx context.Context, source string, events []logingest.Event) (*logingest.BatchResult, error)
}

// Reader answers the read endpoints. Every logingest.Store implements it, with the same contracts.
type Reader interface {
	// Query returns one page of events matching f; an invalid f gives an error matching logingest.ErrInvalid.
	Query(ctx context.Context, f logingest.Filter) (*logingest.Page, error)
	// Stats summarises the events of q.Source.
	Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error)
	// Ping returns a non-nil error when the backend is unreachable.
	Ping(ctx context.Context) error
}

// batchSizer is an optional Ingester interface reporting the largest batch Ingest accepts. When present, the
// batch endpoint refuses larger batches before decoding their events.
type batchSizer interface {
	MaxBatchSize() int
}

// checkTimeout bounds the store Ping and Ready checks of the health endpoints.
const checkTimeout = 2 * time.Second

// Handler is the logingest HTTP API. It is safe for concurrent use. Create it with New.
type Handler struct {
	ing     Ingester
	store   Reader
	cfg     Config
	logger  *slog.Logger
	metrics *httpMetrics
	limiter RateLimiter
	keys    KeyManager // nil: no key routes
	mux     *http.ServeMux
	// patterns are the mux patterns registered, in order.
	patterns []string
	promh    http.Handler // nil without a Gatherer
	started  time.Time
	// inflight is the MaxInflightBodyBytes budget; nil when unbounded.
	inflight *semaphore.Weighted
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler that writes through ing and reads from store. A nil cfg uses the defaults. It returns an
// error naming the Config field when cfg is invalid, or when its metrics cannot be registered on
// cfg.Registerer (collectors already registered by another Handler are shared, not an error).
func New(ing Ingester, store Reader, cfg *Config) (*Handler, error) {
	if ing == nil {
		return nil, errors.New("httpapi: ingester must not be nil")
	}
	if store == nil {
		return nil, errors.New("httpapi: store must not be nil")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("httpapi: invalid config: %w", err)
	}
	m, err := newHTTPMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	h := &Handler{
		ing:     ing,
		store:   store,
		cfg:     c,
		logger:  c.Logger,
		metrics: m,
		mux:     http.NewServeMux(),
		started: c.Now(),
	}
	h.limiter = c.RateLimiter
	if h.limiter == nil {
		h.limiter = NewLocalLimiter(&LocalLimiterConfig{Now: c.Now})
	}
	h.keys = c.Keys
	if c.MaxInflightBodyBytes > 0 {
		h.inflight = semaphore.NewWeighted(c.MaxInflightBodyBytes)
	}
	if c.Gatherer != nil {
		h.promh = promhttp.HandlerFor(c.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(c.Logger.Handler(), slog.LevelError),
			ErrorHandling: promhttp.ContinueOnError,
		})
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	h.handle("POST /api/v1/ingest", h.api(logingest.ScopeIngest, h.handleIngest))
	h.handle("POST /api/v1/batch-ingest", h.api(logingest.ScopeIngest, h.handleBatchIngest))
	h.handle("GET /api/v1/logs/filter", h.api(logingest.ScopeRead, h.handleFilter))
	h.handle("GET /api/v1/logs/recent", h.api(logingest.ScopeRead, h.handleRecent))
	h.handle("GET /api/v1/metrics", h.api(logingest.ScopeRead, h.handleStats))
	h.handle("GET /api/v1/status", h.api(logingest.ScopeRead, h.handleStatus))
	if h.keys != nil {
		h.handle("GET /api/v1/keys", h.api(logingest.ScopeAdmin, h.handleListKeys))
		h.handle("POST /api/v1/keys", h.api(logingest.ScopeAdmin, h.handleCreateKey))
		h.handle("POST /api/v1/keys/{id}/revoke", h.api(logingest.ScopeAdmin, h.handleRevokeKey))
		h.handle("POST /api/v1/keys/{id}/rotate", h.api(logingest.ScopeAdmin, h.handleRotateKey))
	}
	h.handleFunc("GET /api/v1/openapi.json", h.handleOpenAPI)
	h.handleFunc("GET /health", h.handleHealth)
	h.handleFunc("GET /readiness", h.handleReadiness)
	h.handleFunc("GET /liveness", h.handleLiveness)
	h.handleFunc("GET /metrics", h.handleMetrics)
}

// handle registers pattern on the mux and records it, so tests can check that the OpenAPI document describes
// every route.
func (h *Handler) handle(pattern string, hd http.Handler) {
	h.mux.Handle(pattern, hd)
	h.patterns = append(h.patterns, pattern)
}

func (h *Handler) handleFunc(pattern string, f http.HandlerFunc) { h.handle(pattern, f) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r) }

// api wraps an /api/v1 handler with the authentication failure limit, authentication, the scope check and the
// per-key request limit, and gives back what the request was charged when it fails (see the package doc). The
// handler finds the Principal with logingest.FromContext.
func (h *Handler) api(need logingest.Scope, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		ipKey := ""
		if h.cfg.AuthFailuresPerMinute > 0 {
			ipKey = "auth:" + ipBucket(h.clientIP(r))
			if d, ok := h.take(r, ipKey, h.authRate(), 0); ok && d.Remaining < 1 {
				d.Allowed = false
				h.refuse(w, r, limitAuthFailures, h.authRate(), d)
				return
			}
		}
		p, err := h.authenticate(r)
		if err != nil {
			if ipKey != "" && errors.Is(err, logingest.ErrUnauthorized) {
				if d, ok := h.take(r, ipKey, h.authRate(), 1); ok && !d.Allowed {
					h.refuse(w, r, limitAuthFailures, h.authRate(), d)
					return
				}
			}
			h.writeError(w, r, err)
			return
		}
		if ri != nil {
			ri.logger = ri.logger.With(slog.String("key_id", p.KeyID))
		}
		if !p.Scopes.Has(need) {
			h.metrics.authFailures.WithLabelValues(authForbidden).Inc()
			h.writeError(w, r, fmt.Errorf("scope %s: %w", need, logingest.ErrForbidden))
			return
		}
		if rate, on := h.requestRate(p); on {
			d, ok := h.take(r, "req:"+p.KeyID, rate, 1)
			if ok {
				setRateHeaders(w.Header(), rate, d)
				if !d.Allowed {
					h.refuse(w, r, limitRequests, rate, d)
					return
				}
				if ri != nil {
					ri.charges = append(ri.charges, charge{key: "req:" + p.KeyID, rate: rate, n: 1, request: true})
				}
			}
		}
		next(w, r.WithContext(logingest.NewContext(r.Context(), p)))
		if ri != nil && ri.rec != nil {
			h.giveBack(r, ri, ri.rec.status)
		}
	})
}

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

// giveBack returns the charges of a request that failed with status: event tokens on any failure, the request
// token on 429 and 5xx only.
func (h *Handler) giveBack(r *http.Request, ri *requestInfo, status int) {
	if status < 400 || status == statusClientClosed {
		return
	}
	for _, c := range ri.charges {
		if c.request && status != http.StatusTooManyRequests && status < 500 {
			continue
		}
		if err := h.limiter.Return(context.WithoutCancel(r.Context()), c.key, c.rate, c.n); err != nil {
			h.requestLogger(r).LogAttrs(r.Context(), slog.LevelWarn, "rate limiter return failed", slog.Any("error", err))
		}
	}
	ri.charges = nil
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
	key := "ev:" + p.KeyID
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

// authenticate runs the Authenticator. Every credential failure is reported as the same ErrUnauthorized so the
// answer never reveals why; the reason goes to the auth failure metric only.
func (h *Handler) authenticate(r *http.Request) (logingest.Principal, error) {
	reason := authInvalid
	if logingest.APIKeyFromRequest(r) == "" {
		reason = authMissing
	}
	if h.cfg.Authenticator == nil {
		h.metrics.authFailures.WithLabelValues(reason).Inc()
		return logingest.Principal{}, logingest.ErrUnauthorized
	}
	p, err := h.cfg.Authenticator.Authenticate(r)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, logingest.ErrUnauthorized):
		h.metrics.authFailures.WithLabelValues(reason).Inc()
		return logingest.Principal{}, logingest.ErrUnauthorized
	default:
		h.metrics.authFailures.WithLabelValues(authError).Inc()
		// %v, not %w: only ErrUnavailable may decide the status, whatever the authenticator wrapped.
		return logingest.Principal{}, fmt.Errorf("%w: authenticate: %v", logingest.ErrUnavailable, err) //nolint:errorlint // see above
	}
}

// sourceOf returns the source a principal may read: its own, DefaultSource when empty (as the Ingester stamps
// it), never "every source".
func sourceOf(p logingest.Principal) string {
	if p.Source == "" {
		return logingest.DefaultSource
	}
	return p.Source
}

// envelope is the body of every successful API answer, as the original server wrote it
// ({success, message, data}) plus the request ID.
type envelope struct {
	Success   bool   `json:"success"`
	Message   string `json:"message"`
	Data      any    `json:"data"`
	RequestID string `json:"request_id,omitempty"`
	// Count and Limit accompany GET /api/v1/logs/recent, whose data is the bare array the original sent.
	Count *int `json:"count,omitempty"`
	Limit int  `json:"limit,omitempty"`
}

func (h *Handler) writeOK(w http.ResponseWriter, r *http.Request, status int, msg string, data any) {
	h.writeEnvelope(w, r, status, envelope{Message: msg, Data: data})
}

// writeEnvelope fills in Success and RequestID and writes env.
func (h *Handler) writeEnvelope(w http.ResponseWriter, r *http.Request, status int, env envelope) {
	env.Success = true
	env.RequestID = requestIDFrom(r.Context())
	writeJSON(w, status, env)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are marshalled; they always encode.
		body = []byte(`{"success":false,"error":"internal","message":"internal error","code":"internal","retryable":true}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
