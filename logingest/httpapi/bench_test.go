package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/memstore"
)

// acceptAll is an Ingester that validates nothing and stores nothing, so the benchmark measures the HTTP layer:
// body reading, decoding, auth, limits, encoding the answer.
type acceptAll struct{ store logingest.Store }

func (a acceptAll) Store() logingest.Store { return a.store }

func (acceptAll) Ingest(_ context.Context, _ string, events []logingest.Event) (*logingest.BatchResult, error) {
	res := &logingest.BatchResult{Results: make([]logingest.Result, len(events)), Accepted: len(events)}
	for i := range events {
		res.Results[i] = logingest.Result{Index: i, EventID: events[i].EventID, Status: logingest.StatusAccepted}
	}
	return res, nil
}

func benchBodies(b *testing.B) (single []byte, batch100 []byte) {
	b.Helper()
	data, err := os.ReadFile("../../testdata/events.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	logs := make([]json.RawMessage, 100)
	for i := range logs {
		logs[i] = json.RawMessage(lines[i])
	}
	batch100, err = json.Marshal(map[string]any{"logs": logs})
	if err != nil {
		b.Fatal(err)
	}
	return []byte(lines[0]), batch100
}

// BenchmarkIngestHTTP measures the handler's own cost per event for single events and batches of 100.
func BenchmarkIngestHTTP(b *testing.B) {
	single, batch := benchBodies(b)
	h, err := httpapi.New(acceptAll{store: memstore.New()}, &httpapi.Config{
		Logger:            slog.New(slog.DiscardHandler),
		Authenticator:     logingest.NewStaticKeys([]string{"k"}, logingest.ScopeIngest, ""),
		RequestsPerMinute: -1,
		EventsPerMinute:   -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   []byte
		events int
	}{
		{"single", "/api/v1/ingest", single, 1},
		{"batch100", "/api/v1/batch-ingest", batch, 100},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				req := httptest.NewRequestWithContext(b.Context(), http.MethodPost, tc.path, bytes.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-API-Key", "k")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.N*tc.events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
