package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/change66/logserver/logingest"
)

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

func (h *Handler) ready(ctx context.Context) error {
	if h.cfg.Ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := h.cfg.Ready(ctx); err != nil {
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

// handleReadiness answers 200 when the store is reachable and Config.Ready passes, else 503.
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
	if withReady && h.cfg.Ready != nil {
		body.Checks["ready"] = "ok"
		if err := h.ready(r.Context()); err != nil {
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
