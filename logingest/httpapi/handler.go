package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/change66/logserver/logingest"
)

// Backend is what a Handler serves: Ingest writes events and Store is read by the read endpoints (the status
// endpoint pings it). *logingest.Ingester implements it, so the store is passed once, to logingest.New.
//
// Ingest follows the contract of (*logingest.Ingester).Ingest: one Result per event in input order, a
// *logingest.LimitError for empty or oversized batches, and errors matching logingest.ErrOverloaded,
// ErrUnavailable or ErrClosed when a retry may succeed. Store returns the same Store on every call.
type Backend interface {
	Ingest(ctx context.Context, source string, events []logingest.Event) (*logingest.BatchResult, error)
	Store() logingest.Store
}

// batchSizer is an optional Backend interface reporting the largest batch Ingest accepts. When present, the
// batch endpoint refuses larger batches before decoding their events.
type batchSizer interface {
	MaxBatchSize() int
}

// checkTimeout bounds the store Ping and Ready checks of the status and health endpoints.
const checkTimeout = 2 * time.Second

// Handler is the logingest HTTP API: the /api/v1 routes, each authenticated and rate limited. It serves no
// operational endpoints (see Ops). It is safe for concurrent use. Create it with New.
type Handler struct {
	ing     Backend
	store   logingest.Store // the API: ing.Store(), read by the query, stats and status endpoints; Ops: pinged
	cfg     Config
	logger  *slog.Logger
	metrics *httpMetrics
	limiter RateLimiter
	keys    logingest.KeyStore // nil: no key routes
	mux     *http.ServeMux
	// patterns are the mux patterns registered, in order.
	patterns []string
	// routeStats are the metrics of each pattern registered, and of "" (no route matched). Written only
	// while the Handler is built.
	routeStats map[string]*routeMetrics
	started    time.Time
	// inflight is the MaxInflightBodyBytes budget; nil when unbounded.
	inflight *semaphore.Weighted
	// clients is the MaxInflightBodyBytesPerClient cap; nil when unbounded.
	clients *clientBudgets
	// streams counts the open live tails (Config.Stream.MaxStreams).
	streams atomic.Int64

	// Set on the Handler inside an Ops only.
	ready func(ctx context.Context) error
	promh http.Handler // nil without a Gatherer
}

var _ http.Handler = (*Handler)(nil)

// New returns the API Handler: it writes through b and reads from b.Store(). A nil cfg uses the defaults (see
// the package doc for what they turn on). It returns an error naming the Config field when cfg is invalid, or
// when its metrics cannot be registered on cfg.Registerer (collectors already registered by another Handler or
// Ops are shared, not an error).
func New(b Backend, cfg *Config) (*Handler, error) {
	if b == nil {
		return nil, errors.New("httpapi: backend must not be nil")
	}
	store := b.Store()
	if store == nil {
		return nil, errors.New("httpapi: backend store must not be nil")
	}
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	h.ing, h.store = b, store
	h.limiter = h.cfg.RateLimiter
	if h.limiter == nil {
		h.limiter = NewLocalLimiter(&LocalLimiterConfig{Now: h.cfg.Now})
	}
	h.keys = h.cfg.Keys
	if h.cfg.MaxInflightBodyBytes > 0 {
		h.inflight = semaphore.NewWeighted(h.cfg.MaxInflightBodyBytes)
	}
	h.clients = newClientBudgets(h.cfg.MaxInflightBodyBytesPerClient)
	h.routes()
	return h, nil
}

// newHandler returns a Handler with its middleware (request IDs, access log, metrics, security headers, CORS,
// JSON 404/405) and no routes.
func newHandler(cfg *Config) (*Handler, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("httpapi: invalid config: %w", err)
	}
	m, err := newHTTPMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	return &Handler{
		cfg:        c,
		logger:     c.Logger,
		metrics:    m,
		mux:        http.NewServeMux(),
		started:    c.Now(),
		routeStats: map[string]*routeMetrics{"": newRouteMetrics(m, routeLabel(""))},
	}, nil
}

func (h *Handler) routes() {
	h.handle("POST /api/v1/ingest", h.api(logingest.ScopeIngest, h.handleIngest))
	h.handle("POST /api/v1/batch-ingest", h.api(logingest.ScopeIngest, h.handleBatchIngest))
	h.handle("GET /api/v1/logs/filter", h.api(logingest.ScopeRead, h.handleFilter))
	h.handle("GET /api/v1/logs/recent", h.api(logingest.ScopeRead, h.handleRecent))
	h.handle("GET /api/v1/metrics", h.api(logingest.ScopeRead, h.handleStats))
	h.handle("GET /api/v1/status", h.api(logingest.ScopeRead, h.handleStatus))
	h.handle("GET /api/v1/logs/export", h.api(logingest.ScopeRead, h.handleExport))
	h.handle("GET /api/v1/logs/stream", h.api(logingest.ScopeRead, h.handleStream))
	if _, ok := h.store.(logingest.Aggregator); ok {
		h.handle("GET /api/v1/dashboard", h.api(logingest.ScopeRead, h.handleDashboard))
	}
	if h.keys != nil {
		h.handle("GET /api/v1/keys", h.api(logingest.ScopeAdmin, h.handleListKeys))
		h.handle("POST /api/v1/keys", h.api(logingest.ScopeAdmin, h.handleCreateKey))
		h.handle("POST /api/v1/keys/{id}/revoke", h.api(logingest.ScopeAdmin, h.handleRevokeKey))
		h.handle("POST /api/v1/keys/{id}/rotate", h.api(logingest.ScopeAdmin, h.handleRotateKey))
	}
	h.handleFunc("GET /api/v1/openapi.json", h.handleOpenAPI)
}

// handle registers pattern on the mux and records it, so tests can check that the OpenAPI document describes
// every route.
func (h *Handler) handle(pattern string, hd http.Handler) {
	h.mux.Handle(pattern, hd)
	h.patterns = append(h.patterns, pattern)
	h.routeStats[pattern] = newRouteMetrics(h.metrics, routeLabel(pattern))
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
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
