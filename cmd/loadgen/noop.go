package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// noopHandler is the baseline of `make bench`: a net/http server that reads and decodes the JSON body of each
// ingest request exactly as sent (an object, or {"logs":[...]}) and answers 201 with the counts loadgen reads,
// storing nothing. logserver's single-event throughput is quoted as a ratio to it.
func noopHandler() http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, body)
	}
	mux.HandleFunc("POST /api/v1/ingest", func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		answer(w, `{"success":true,"data":{"status":"accepted"}}`)
	})
	mux.HandleFunc("POST /api/v1/batch-ingest", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Logs []map[string]any `json:"logs"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		answer(w, fmt.Sprintf(`{"success":true,"data":{"accepted":%d,"duplicates":0,"rejected":0}}`, len(b.Logs)))
	})
	return mux
}

// runNoop serves noopHandler on addr (a loopback address) until ctx ends, printing its URL to stdout first.
func runNoop(ctx context.Context, addr string, stdout io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !isLoopbackHost(host) {
		return usageError{fmt.Errorf("noop-server: -addr %q must be a loopback host:port", addr)}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: noopHandler(), ReadHeaderTimeout: 10 * time.Second}
	_, _ = fmt.Fprintf(stdout, "noop server listening on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
