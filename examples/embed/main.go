// Command embed shows logingest inside an existing Go backend: the app keeps its own routes, mounts the
// ingestion API under /logs/ and the operational endpoints (health, metrics) under /ops/, and stores events in
// an embedded SQLite database.
//
//	go run ./examples/embed
//	curl -X POST localhost:8090/logs/api/v1/ingest -H 'X-API-Key: dev-key' -H 'Content-Type: application/json' --data @testdata/single.json
//	curl localhost:8090/ops/health
//
// ADDR overrides the listen address (127.0.0.1:8090); the program prints "listening on http://ADDR" once it
// accepts connections, and stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/sqlite"
)

func main() {
	os.Exit(code())
}

// code runs the example and returns the process exit code; its defers run before main exits.
func code() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	if err := run(ctx, addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func run(ctx context.Context, addr string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	reg := prometheus.NewRegistry()

	store, err := sqlite.Open(ctx, "data/embed-example.db", &sqlite.Config{Logger: logger, AutoMigrate: true})
	if err != nil {
		return err
	}
	defer store.Close()

	ing, err := logingest.New(store, &logingest.Config{Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	api, err := httpapi.New(ing, &httpapi.Config{
		Logger:        logger,
		Registerer:    reg,
		Authenticator: logingest.NewStaticKeys([]string{"dev-key"}, logingest.ScopeIngest|logingest.ScopeRead, "habit-tracker-dev"),
	})
	if err != nil {
		return err
	}
	ops, err := httpapi.NewOps(store, &httpapi.OpsConfig{Logger: logger, Registerer: reg, Gatherer: reg})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "my existing backend\n") // a failed write means the client went away; nothing to do
	})
	mux.Handle("/logs/", http.StripPrefix("/logs", api)) // POST /logs/api/v1/ingest, GET /logs/api/v1/logs/filter, …
	mux.Handle("/ops/", http.StripPrefix("/ops", ops))   // GET /ops/health, /ops/readiness, /ops/liveness, /ops/metrics

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan error, 1)
	go func() {
		<-ctx.Done()
		// ctx is canceled by now: shutdown gets its own deadline, detached from ctx's cancellation.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)                    // stop accepting, finish in-flight requests
		stopped <- errors.Join(err, ing.Close(sctx)) // then flush queued events
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-stopped
}
