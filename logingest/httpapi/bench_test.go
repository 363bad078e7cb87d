package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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

func benchBodies(b testing.TB) (single []byte, batch100 []byte) {
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
				if rec := postAsClient(b.Context(), h, tc.path, tc.body); rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.N*tc.events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// postAsClient posts body to path through h as the benchmarks' client does (JSON, X-API-Key "k") and returns
// the recorded answer.
func postAsClient(ctx context.Context, h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", "k")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// appendNothing is a Store whose Append stores nothing and reports every event inserted, so a benchmark over
// a real Ingester measures the Handler and the Ingester (validation, group commit), not a database.
type appendNothing struct{ logingest.Store }

func (appendNothing) Append(_ context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	out := make([]logingest.AppendResult, len(events))
	for i := range out {
		out[i] = logingest.AppendResult{Status: logingest.AppendInserted, ID: int64(i + 1)}
	}
	return out, nil
}

// BenchmarkIngestSingleServer measures what logserver spends per single-event request beyond the database:
// 64 concurrent requests (as make bench's single-event row), the production middleware with the JSON logger at
// warn level, static keys, and a real Ingester whose store stores nothing. The rate limits are off, as in make
// bench, or on (limits=on, with rates no request reaches) to include the limiter's cost. Its allocs/op is the
// figure to watch: on two cores every allocation is paid by the clients and the database too.
func BenchmarkIngestSingleServer(b *testing.B) {
	single, _ := benchBodies(b)
	for _, limits := range []bool{false, true} {
		name := "limits=off"
		rpm := -1.0
		if limits {
			name, rpm = "limits=on", 1e9
		}
		b.Run(name, func(b *testing.B) {
			// The server's handler, not slog.DiscardHandler: what a request's logger costs depends on it.
			logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})) //nolint:sloglint // see above
			// No queue-wait bound: a write that a busy machine delays must not turn into 503s here.
			ing, err := logingest.New(appendNothing{memstore.New()}, &logingest.Config{Logger: logger, MaxQueueWait: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = ing.Close(context.Background()) })
			h, err := httpapi.New(ing, &httpapi.Config{
				Logger:            logger,
				Authenticator:     logingest.NewStaticKeys([]string{"k"}, logingest.ScopeIngest, ""),
				RequestsPerMinute: rpm,
				Burst:             1 << 30,
				EventsPerMinute:   rpm,
				EventsBurst:       1 << 30,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(32) // 64 goroutines on 2 CPUs
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if rec := postAsClient(b.Context(), h, "/api/v1/ingest", single); rec.Code != http.StatusCreated {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}
