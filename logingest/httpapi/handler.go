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
// Bodies may be gzip-compressed (Content-Encoding: gzip); Config.MaxBodyBytes bounds them before and after
// decompression.
//
// # Authentication and limits
//
// Every /api/v1 request is authenticated by Config.Authenticator; ingest routes need logingest.ScopeIngest and
// read routes logingest.ScopeRead. Reads only ever see the caller's own source. Each API key has a token bucket
// (Config.RequestsPerMinute, Config.Burst); a refused request gets 429 with Retry-After and RateLimit-* headers.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	limiter *keyLimiter // nil when rate limiting is disabled
	mux     *http.ServeMux
	promh   http.Handler // nil without a Gatherer
	started time.Time
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
	if c.RequestsPerMinute > 0 {
		h.limiter = newKeyLimiter(c.RequestsPerMinute, c.Burst)
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
	h.mux.Handle("POST /api/v1/ingest", h.api(logingest.ScopeIngest, h.handleIngest))
	h.mux.Handle("POST /api/v1/batch-ingest", h.api(logingest.ScopeIngest, h.handleBatchIngest))
	h.mux.Handle("GET /api/v1/logs/filter", h.api(logingest.ScopeRead, h.handleFilter))
	h.mux.Handle("GET /api/v1/logs/recent", h.api(logingest.ScopeRead, h.handleRecent))
	h.mux.Handle("GET /api/v1/metrics", h.api(logingest.ScopeRead, h.handleStats))
	h.mux.Handle("GET /api/v1/status", h.api(logingest.ScopeRead, h.handleStatus))
	h.mux.HandleFunc("GET /health", h.handleHealth)
	h.mux.HandleFunc("GET /readiness", h.handleReadiness)
	h.mux.HandleFunc("GET /liveness", h.handleLiveness)
	h.mux.HandleFunc("GET /metrics", h.handleMetrics)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r) }

// api wraps an /api/v1 handler with authentication, the scope check and the per-key rate limit. The handler
// finds the Principal with logingest.FromContext.
func (h *Handler) api(need logingest.Scope, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.authenticate(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if ri := infoFrom(r.Context()); ri != nil {
			ri.logger = ri.logger.With(slog.String("key_id", p.KeyID))
		}
		if !p.Scopes.Has(need) {
			h.metrics.authFailures.WithLabelValues(authForbidden).Inc()
			h.writeError(w, r, fmt.Errorf("scope %s: %w", need, logingest.ErrForbidden))
			return
		}
		if h.limiter != nil {
			d := h.limiter.take(p.KeyID, h.cfg.Now())
			h.limiter.setHeaders(w.Header(), d)
			if !d.allowed {
				h.metrics.rateLimited.Inc()
				h.writeError(w, r, logingest.ErrRateLimited)
				return
			}
		}
		next(w, r.WithContext(logingest.NewContext(r.Context(), p)))
	})
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

// envelope is the body of every successful API answer.
type envelope struct {
	Success   bool   `json:"success"`
	Message   string `json:"message,omitempty"`
	Data      any    `json:"data,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

func (h *Handler) writeOK(w http.ResponseWriter, r *http.Request, status int, msg string, data any) {
	writeJSON(w, status, envelope{Success: true, Message: msg, Data: data, RequestID: requestIDFrom(r.Context())})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are marshalled; they always encode.
		body = []byte(`{"success":false,"error":"internal error","code":"internal"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
