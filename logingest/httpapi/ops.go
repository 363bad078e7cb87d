package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/change66/logserver/logingest"
)

// OpsConfig configures an Ops handler. A nil *OpsConfig and the zero value of every field are reasonable
// defaults.
type OpsConfig struct {
	// Logger receives the access log and the failures of health checks. Defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the HTTP metrics of the operational routes (the same collectors as the API Handler's,
	// shared when both use one registry). Defaults to nil: metrics are kept but not registered.
	Registerer prometheus.Registerer
	// Gatherer is served on GET /metrics in the Prometheus exposition format. Defaults to nil: /metrics
	// answers 404.
	Gatherer prometheus.Gatherer
	// Ready is an extra readiness check run by GET /readiness after the store Ping, for example a check that
	// the server is not draining. A non-nil error makes /readiness answer 503. Defaults to nil (no extra check).
	Ready func(ctx context.Context) error
	// Version is reported by GET /health and GET /readiness. Defaults to "".
	Version string
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// TrustedProxyHeader names the header carrying the client IP that the access log reports, as in Config.
	// Defaults to "": the connection's remote address.
	TrustedProxyHeader string
	// PathPrefix is removed from the request path before routing, as in Config. Defaults to "".
	PathPrefix string
}

// Ops serves the operational endpoints, without authentication, rate limits or CORS:
//
//	GET /health     store reachable (and answering queries)  200, 503
//	GET /readiness  store reachable and OpsConfig.Ready    200, 503
//	GET /liveness   process alive                         200
//	GET /metrics    Prometheus exposition of Gatherer     200, 404 when no Gatherer
//
// Other paths answer 404 and other methods 405, as JSON. Mount it where only operators and probes reach it, or
// next to the API on the same server as cmd/logserver does. It is safe for concurrent use. Create it with
// NewOps.
type Ops struct {
	h *Handler
}

var _ http.Handler = (*Ops)(nil)

// OpsPaths lists the paths Ops serves, for routers that send only those paths to it.
func OpsPaths() []string { return []string{"/health", "/readiness", "/liveness", "/metrics"} }

// NewOps returns the operational handler; its health checks ping store and read one event from it. A nil cfg
// uses the defaults. It returns an error when cfg is invalid or its metrics cannot be registered on
// cfg.Registerer.
func NewOps(store logingest.Store, cfg *OpsConfig) (*Ops, error) {
	if store == nil {
		return nil, errors.New("httpapi: store must not be nil")
	}
	var oc OpsConfig
	if cfg != nil {
		oc = *cfg
	}
	h, err := newHandler(&Config{
		Logger:             oc.Logger,
		Registerer:         oc.Registerer,
		Now:                oc.Now,
		Version:            oc.Version,
		TrustedProxyHeader: oc.TrustedProxyHeader,
		PathPrefix:         oc.PathPrefix,
	})
	if err != nil {
		return nil, err
	}
	h.store, h.ready = store, oc.Ready
	if oc.Gatherer != nil {
		h.promh = promhttp.HandlerFor(oc.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(h.logger.Handler(), slog.LevelError),
			ErrorHandling: promhttp.ContinueOnError,
		})
	}
	h.handleFunc("GET /health", h.handleHealth)
	h.handleFunc("GET /readiness", h.handleReadiness)
	h.handleFunc("GET /liveness", h.handleLiveness)
	h.handleFunc("GET /metrics", h.handleMetrics)
	return &Ops{h: h}, nil
}

// ServeHTTP implements http.Handler.
func (o *Ops) ServeHTTP(w http.ResponseWriter, r *http.Request) { o.h.serve(w, r) }

// healthBody is the answer of GET /readiness and GET /liveness. Checks maps each check to "ok" or a short
// failure that reveals no internal detail (the detail is logged).
type healthBody struct {
	Status  string            `json:"status"`
	Version string            `json:"version,omitempty"`
	Checks  map[string]string `json:"checks,omitempty"`
	Time    time.Time         `json:"time"`
}

// healthReport is the answer of GET /health, in the original's shape ({status, timestamp, version, services,
// uptime}) plus Checks and Time as the other probes write them.
type healthReport struct {
	// Status is healthy, degraded (the store answers pings but not queries) or unhealthy (503).
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
	Version   string    `json:"version"`
	// Services maps database (the store answers a ping) and database_queries (it answers a one-row query)
	// to healthy or unhealthy.
	Services map[string]string `json:"services"`
	// Uptime is a Go duration string such as "2h3m4.5s".
	Uptime string            `json:"uptime"`
	Checks map[string]string `json:"checks"`
	Time   time.Time         `json:"time"`
}

func (h *Handler) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

func (h *Handler) checkReady(ctx context.Context) error {
	if h.ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := h.ready(ctx); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	return nil
}

// handleHealth answers 200 "healthy" when the store answers a ping and a one-row query, 200 "degraded" when it
// answers the ping only, and 503 "unhealthy" when it is unreachable.
func (h *Handler) handleHealth(w http.ResponseWriter, r *http.Request) {
	now := h.cfg.Now()
	body := healthReport{
		Status:    statusHealthy,
		Timestamp: now.UTC(),
		Version:   h.cfg.Version,
		Services:  map[string]string{"database": statusHealthy, "database_queries": statusHealthy},
		Uptime:    now.Sub(h.started).String(),
		Checks:    map[string]string{"store": "ok"},
		Time:      now.UTC(),
	}
	code := http.StatusOK
	if err := h.ping(r.Context()); err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "health check failed", "check", "store", "error", err)
		body.Status = statusUnhealthy
		body.Services["database"], body.Services["database_queries"] = statusUnhealthy, statusUnhealthy
		body.Checks["store"] = "unreachable"
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", fmt.Sprint(retryAfterSeconds))
	} else if err := h.probeQuery(r.Context()); err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "health check failed", "check", "store_query", "error", err)
		body.Status = statusDegraded
		body.Services["database_queries"] = statusUnhealthy
		body.Checks["store_query"] = "failing"
	}
	writeJSON(w, code, body)
}

// probeQuery reads one event of any source, without counting, to check that the store answers queries.
func (h *Handler) probeQuery(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	f := logingest.Filter{Limit: 1, SkipTotal: true, SortBy: logingest.SortReceivedAt, SortOrder: logingest.SortDesc}
	if _, err := h.store.Query(ctx, f); err != nil {
		return fmt.Errorf("probe query: %w", err)
	}
	return nil
}

// handleReadiness answers 200 when the store is reachable and OpsConfig.Ready passes, else 503.
func (h *Handler) handleReadiness(w http.ResponseWriter, r *http.Request) {
	h.runChecks(w, r, "ready", "not_ready", true)
}

func (h *Handler) runChecks(w http.ResponseWriter, r *http.Request, okStatus, failStatus string, withReady bool) {
	body := healthBody{Status: okStatus, Version: h.cfg.Version, Checks: map[string]string{"store": "ok"}}
	code := http.StatusOK
	if err := h.ping(r.Context()); err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "health check failed", "check", "store", "error", err)
		body.Checks["store"] = "unreachable"
		code = http.StatusServiceUnavailable
	}
	if withReady && h.ready != nil {
		body.Checks["ready"] = "ok"
		if err := h.checkReady(r.Context()); err != nil {
			h.requestLogger(r).WarnContext(r.Context(), "health check failed", "check", "ready", "error", err)
			body.Checks["ready"] = "failing"
			code = http.StatusServiceUnavailable
		}
	}
	if code != http.StatusOK {
		body.Status = failStatus
		w.Header().Set("Retry-After", fmt.Sprint(retryAfterSeconds))
	}
	body.Time = h.cfg.Now().UTC()
	writeJSON(w, code, body)
}

// handleLiveness always answers 200: the process is serving requests.
func (h *Handler) handleLiveness(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthBody{Status: "alive", Time: h.cfg.Now().UTC()})
}

// handleMetrics serves the Gatherer, or 404 when none is configured.
func (h *Handler) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if h.promh == nil {
		h.writeError(w, r, errRouteNotFound)
		return
	}
	h.promh.ServeHTTP(w, r)
}
