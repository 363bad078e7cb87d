package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/change66/logserver/logingest/store/pgstore"
)

// importOriginal brings the events of the original server's database over, when migration 001 found its tables,
// in the background: the server serves (and is ready) meanwhile, and retries of original events stay duplicates.
// It logs progress at most every 10 s and exports it as logingest_original_import_* gauges. It returns when
// every event is imported or ctx ends; an error is logged and retried a minute later.
func importOriginal(ctx context.Context, s *pgstore.Store, logger *slog.Logger, reg prometheus.Registerer) {
	imported := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "logingest_original_import_imported_events",
		Help: "Events of the original server's database imported so far (kept across restarts).",
	})
	remaining := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "logingest_original_import_remaining_events",
		Help: "Events of the original server's database still to import; 0 when done.",
	})
	for _, c := range []prometheus.Collector{imported, remaining} {
		if err := reg.Register(c); err != nil {
			logger.Warn("register original import metric", slog.Any("error", err))
		}
	}
	logger.Info("importing the original server's events in the background")
	start := time.Now()
	var lastLog time.Time
	progress := func(p pgstore.ImportProgress) {
		imported.Set(float64(p.Imported))
		remaining.Set(float64(p.Remaining))
		if time.Since(lastLog) >= 10*time.Second || p.Done {
			lastLog = time.Now()
			logger.Info("original import progress", slog.Int64("imported", p.Imported), slog.Int64("skipped", p.Skipped),
				slog.Int64("remaining", p.Remaining), slog.Int64("last_id", p.LastID))
		}
	}
	for {
		p, err := s.ImportOriginal(ctx, &pgstore.ImportOptions{Progress: progress})
		switch {
		case err == nil:
			remaining.Set(0)
			logger.Info("original import done", slog.Int64("imported", p.Imported), slog.Int64("skipped", p.Skipped),
				slog.Duration("took", time.Since(start).Round(time.Second)))
			return
		case errors.Is(err, pgstore.ErrNoOriginal), ctx.Err() != nil:
			return
		}
		logger.Error("original import failed; retrying in a minute", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}
