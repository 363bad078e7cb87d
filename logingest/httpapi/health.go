package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// healthBody is the answer of the health endpoints. Checks maps each check to "ok" or a short failure that
// reveals no internal detail (the detail is logged).
type healthBody struct {
	Status  string            `json:"status"`
	Version string            `json:"version,omitempty"`
	Checks  map[string]string `json:"checks,omitempty"`
	Time    time.Time         `json:"time"`
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

// handleHealth answers 200 "healthy" when the store is reachable, else 503 naming the failing check.
func (h *Handler) handleHealth(w http.ResponseWriter, r *http.Request) {
	h.runChecks(w, r, "healthy", "unhealthy", false)
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
