// Package consolebench holds the big, opt-in benchmarks of the console's read paths (issue 12): Stats
// (/api/v1/metrics), the dashboard aggregates, search and export, run by the SQL stores' benchmark files
// over millions of rows they bulk-load with SQL. They run only with LOGINGEST_BIG_BENCH=1.
package consolebench

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/httpapi"
)

// Source is the source of the generated events.
const Source = "habit-tracker-prod"

// Enabled skips b unless LOGINGEST_BIG_BENCH=1, and returns the row count: LOGINGEST_BIG_BENCH_ROWS or def.
func Enabled(b *testing.B, def int) int {
	b.Helper()
	if os.Getenv("LOGINGEST_BIG_BENCH") != "1" {
		b.Skip("set LOGINGEST_BIG_BENCH=1 to run (bulk-loads millions of rows; takes minutes)")
	}
	if v := os.Getenv("LOGINGEST_BIG_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("LOGINGEST_BIG_BENCH_ROWS=%q: want a positive integer", v)
		}
		return n
	}
	return def
}

// Percentiles reports p50_ms and p99_ms of d.
func Percentiles(b *testing.B, d []time.Duration) {
	b.Helper()
	slices.Sort(d)
	pct := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

func timed(b *testing.B, fn func(r *rand.Rand) error) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	d := make([]time.Duration, 0, b.N)
	for range b.N {
		t0 := time.Now()
		if err := fn(r); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	Percentiles(b, d)
}

// Run runs the read benchmarks over s, which holds rows events of Source received in the day before now,
// generated like the stores' bulk loaders: users "user_<n>" (n < 50000), event names from a fixed list.
func Run(b *testing.B, s logingest.Store, rows int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	ag, _ := s.(logingest.Aggregator)
	b.Run("metrics", func(b *testing.B) {
		timed(b, func(*rand.Rand) error {
			_, err := s.Stats(ctx, logingest.StatsQuery{Source: Source, Now: now, TopN: 10})
			return err
		})
	})
	for _, c := range []struct {
		name string
		q    func(r *rand.Rand) logingest.DashboardQuery
	}{
		{"dashboard/24h", func(*rand.Rand) logingest.DashboardQuery {
			return logingest.DashboardQuery{Filter: logingest.Filter{Source: Source}, Now: now}
		}},
		{"dashboard/1h", func(*rand.Rand) logingest.DashboardQuery {
			return logingest.DashboardQuery{Filter: logingest.Filter{Source: Source}, From: now.Add(-time.Hour), To: now, Now: now}
		}},
		{"dashboard/7d", func(*rand.Rand) logingest.DashboardQuery {
			return logingest.DashboardQuery{Filter: logingest.Filter{Source: Source}, From: now.Add(-7 * 24 * time.Hour), To: now, Now: now}
		}},
		{"dashboard/24h+type", func(r *rand.Rand) logingest.DashboardQuery {
			types := logingest.EventTypes()
			return logingest.DashboardQuery{Filter: logingest.Filter{Source: Source, EventType: types[r.IntN(len(types))]}, Now: now}
		}},
		{"dashboard/24h+user", func(r *rand.Rand) logingest.DashboardQuery {
			return logingest.DashboardQuery{Filter: logingest.Filter{Source: Source, UserID: fmt.Sprintf("user_%d", r.IntN(50000))}, Now: now}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			if ag == nil {
				b.Skip("not an Aggregator")
			}
			timed(b, func(r *rand.Rand) error {
				_, err := ag.Dashboard(ctx, c.q(r))
				return err
			})
		})
	}
	for _, c := range []struct {
		name string
		term func(r *rand.Rand) string
	}{
		{"search/rare", func(r *rand.Rand) string { return fmt.Sprintf("user_%d", 10000+r.IntN(40000)) }},
		{"search/common", func(r *rand.Rand) string {
			return []string{"habit_completed", "sync_failed", "nfc_notifier", "iPhone"}[r.IntN(4)]
		}},
		{"search/none", func(r *rand.Rand) string { return fmt.Sprintf("zq%dxv", r.IntN(1000)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			timed(b, func(r *rand.Rand) error {
				_, err := s.Query(ctx, logingest.Filter{Source: Source, Search: c.term(r)})
				return err
			})
		})
		b.Run(c.name+"/page-only", func(b *testing.B) { // without Page.Total (SkipTotal)
			timed(b, func(r *rand.Rand) error {
				_, err := s.Query(ctx, logingest.Filter{Source: Source, Search: c.term(r), SkipTotal: true})
				return err
			})
		})
	}
	// Export about a million rows: every event, or one event type (a fifth) of larger data sets.
	filter, want := "", rows
	if rows > 1_500_000 {
		filter, want = "&event_type=behavioral", rows/5
	}
	b.Run("export/ndjson", func(b *testing.B) { exportBench(b, s, want, "format=ndjson"+filter) })
	b.Run("export/csv", func(b *testing.B) { exportBench(b, s, want, "format=csv"+filter) })
}

// countingWriter is an http.ResponseWriter that counts and discards the body.
type countingWriter struct {
	h     http.Header
	bytes atomic.Int64
	lines atomic.Int64
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Flush()              {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.bytes.Add(int64(len(p)))
	w.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// exportBench exports every event of Source through the real handler, reporting rows/s and the peak heap
// in use (sampled every 5 ms) above the heap before the export.
func exportBench(b *testing.B, s logingest.Store, rows int, query string) {
	b.Helper()
	ing, err := logingest.New(s, &logingest.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ing.Close(context.Background()) }()
	h, err := httpapi.New(ing, &httpapi.Config{
		Logger: slog.New(slog.DiscardHandler),
		Authenticator: logingest.AuthenticatorFunc(func(*http.Request) (logingest.Principal, error) {
			return logingest.Principal{KeyID: "bench", Source: Source, Scopes: logingest.ScopeRead}, nil
		}),
		RequestsPerMinute: 1 << 30, Burst: 1 << 30,
	})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	})
	var total int64
	b.ResetTimer()
	for range min(b.N, 2) { // an export of a million rows takes seconds: b.N beyond 2 adds nothing
		w := &countingWriter{h: http.Header{}}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/api/v1/logs/export?"+query, nil)
		req.Header.Set("X-API-Key", "bench")
		h.ServeHTTP(w, req)
		n := w.lines.Load()
		if strings.Contains(query, "csv") {
			n-- // header
		}
		if n < int64(rows)*9/10 {
			b.Fatalf("exported %d rows, want about %d (bytes %d)", n, rows, w.bytes.Load())
		}
		total += n
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric((float64(peak.Load())-float64(before.HeapInuse))/(1<<20), "peak_heap_MiB")
}
