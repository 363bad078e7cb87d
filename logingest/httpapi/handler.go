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
	// clients is the MaxInflightBodyBytesPerClient cap; nil when unbounded.
	clients *clientBudgets
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
	h.clients = newClientBudgets(c.MaxInflightBodyBytesPerClient)
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
