package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opsMux serves the operator endpoints of METRICS_ADDR: GET /metrics (the Prometheus exposition of reg, unless
// ENABLE_METRICS is false) and the net/http/pprof profiles under /debug/pprof/. They are off the API port: anyone holding the public ingest
// key can reach that port, and profiles cost CPU and reveal internals.
func opsMux(reg *prometheus.Registry, logger *slog.Logger, metrics bool) http.Handler {
	mux := http.NewServeMux()
	if metrics {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			Registry:      reg,
			ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
