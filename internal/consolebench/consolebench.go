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

// nfcNotifier is a provider name of both data sets.
const nfcNotifier = "nfc_notifier"

// Terms names values that exist in a loaded data set, for the benchmarks' filters and searches.
type Terms struct {
	// Rows is how many events of Source were loaded, received in the day before Now.
	Rows int
	Now  time.Time
	// User and Session return an existing user id and session id.
	User, Session func(r *rand.Rand) string
	// Common are search terms that match many events; Rare returns one that matches few.
	Common []string
	Rare   func(r *rand.Rand) string
	// Providers are values of properties.provider_name.
	Providers []string
	// EventName is an event name of a few percent of the events.
	EventName string
}

// Run runs RunTerms over the synthetic data set the stores' SQL loaders generate: users "user_<n>"
// (n < 50000), sessions "session_<n>" (n < 500000), event names from a fixed list.
func Run(b *testing.B, s logingest.Store, rows int, now time.Time) {
	b.Helper()
	RunTerms(b, s, Terms{
		Rows: rows, Now: now,
		User:      func(r *rand.Rand) string { return fmt.Sprintf("user_%d", r.IntN(50000)) },
		Session:   func(r *rand.Rand) string { return fmt.Sprintf("session_%d", r.IntN(500000)) },
		Common:    []string{"habit_completed", "sync_failed", nfcNotifier, "iPhone"},
		Rare:      func(r *rand.Rand) string { return fmt.Sprintf("user_%d", 10000+r.IntN(40000)) },
		Providers: []string{"habit_provider", nfcNotifier, "auth_provider"},
		EventName: "sync_failed",
	})
}

// Terms returns the Terms of d.
func (d *Data) Terms() Terms {
	return Terms{
		Rows: d.Rows, Now: d.Now,
		User:    func(r *rand.Rand) string { return d.UserID(r.IntN(d.Users)) },
		Session: func(r *rand.Rand) string { return d.SessionID(r.IntN(d.Users), r.IntN(d.SessionsPerUser)) },
		// ~40 %, ~8 %, ~12 % (two words), ~10 % of the events.
		Common:    []string{"habit", "sync_finished", "Connection closed", "/profile"},
		Rare:      func(r *rand.Rand) string { return d.SessionID(r.IntN(d.Users), r.IntN(d.SessionsPerUser)) },
		Providers: []string{"deep_link_notifier", "auth_provider", nfcNotifier, "habit_provider"},
		EventName: "network_error",
	}
}

// RunTerms runs the read benchmarks over s: /api/v1/metrics (Stats), the dashboard aggregates, search with
// and without its total, the list queries of the explorer (RunLists) and export.
func RunTerms(b *testing.B, s logingest.Store, t Terms) {
	b.Helper()
	ctx := context.Background()
	now := t.Now
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
			return logingest.DashboardQuery{Filter: logingest.Filter{Source: Source, UserID: t.User(r)}, Now: now}
		}},
		{"dashboard/24h+session", func(r *rand.Rand) logingest.DashboardQuery {
			return logingest.DashboardQuery{Filter: logingest.Filter{Source: Source, SessionID: t.Session(r)}, Now: now}
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
		{"search/rare", t.Rare},
		{"search/common", func(r *rand.Rand) string { return t.Common[r.IntN(len(t.Common))] }},
		{"search/none", func(r *rand.Rand) string { return fmt.Sprintf("zq%dxv", r.IntN(1000)) }},
	} {
		b.Run(c.name, func(b *testing.B) { // with Page.Total, as GET /api/v1/logs/filter
			var estimated int
			timed(b, func(r *rand.Rand) error {
				p, err := s.Query(ctx, logingest.Filter{Source: Source, Search: c.term(r)})
				if err == nil && p.TotalIsEstimate {
					estimated++
				}
				return err
			})
			b.ReportMetric(100*float64(estimated)/float64(b.N), "estimated_%")
		})
		b.Run(c.name+"/page-only", func(b *testing.B) { // without Page.Total (SkipTotal)
			timed(b, func(r *rand.Rand) error {
				_, err := s.Query(ctx, logingest.Filter{Source: Source, Search: c.term(r), SkipTotal: true})
				return err
			})
		})
	}
	RunLists(b, s, t)
	// Export about a million rows: every event, or the telemetry events (a quarter) of larger data sets.
	filter, want := "", t.Rows
	if t.Rows > 1_500_000 {
		filter, want = "&event_type=telemetry", t.Rows/4
	}
	b.Run("export/ndjson", func(b *testing.B) { exportBench(b, s, want, "format=ndjson"+filter) })
	b.Run("export/csv", func(b *testing.B) { exportBench(b, s, want, "format=csv"+filter) })
}

// RunLists measures the explorer's list queries (GET /api/v1/logs/filter: one page of 50 and its total,
// exactly as the API asks the store) for every filter, several sorts and deep pages by offset and by cursor.
// Each reports p50_ms, p99_ms and estimated_% (the share of answers whose total was an estimate).
func RunLists(b *testing.B, s logingest.Store, t Terms) {
	b.Helper()
	ctx := context.Background()
	now := t.Now
	types := logingest.EventTypes()
	hourAt := func(r *rand.Rand) time.Time {
		return now.Add(-time.Duration(1+r.IntN(22)) * time.Hour).Truncate(time.Minute)
	}
	cases := []struct {
		name string
		f    func(r *rand.Rand) logingest.Filter
	}{
		{"list/recent", func(*rand.Rand) logingest.Filter { return logingest.Filter{Source: Source} }},
		{"list/user", func(r *rand.Rand) logingest.Filter { return logingest.Filter{Source: Source, UserID: t.User(r)} }},
		{"list/session", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, SessionID: t.Session(r)}
		}},
		{"list/type", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, EventType: types[r.IntN(len(types))]}
		}},
		{"list/name", func(*rand.Rand) logingest.Filter { return logingest.Filter{Source: Source, EventName: t.EventName} }},
		{"list/provider", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, ProviderName: t.Providers[r.IntN(len(t.Providers))]}
		}},
		{"list/time-1h", func(r *rand.Rand) logingest.Filter {
			from := hourAt(r)
			return logingest.Filter{Source: Source, StartTime: from, EndTime: from.Add(time.Hour)}
		}},
		{"list/type+time-1h", func(r *rand.Rand) logingest.Filter {
			from := hourAt(r)
			return logingest.Filter{Source: Source, EventType: types[r.IntN(len(types))], StartTime: from, EndTime: from.Add(time.Hour)}
		}},
		{"list/name+time-1h", func(r *rand.Rand) logingest.Filter {
			from := hourAt(r)
			return logingest.Filter{Source: Source, EventName: t.EventName, StartTime: from, EndTime: from.Add(time.Hour)}
		}},
		{"list/user+type", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, UserID: t.User(r), EventType: types[r.IntN(len(types))]}
		}},
		{"list/sort=timestamp-asc", func(*rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, SortBy: logingest.SortTimestamp, SortOrder: logingest.SortAsc}
		}},
		{"list/sort=id", func(*rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, SortBy: logingest.SortID}
		}},
		{"list/sort=event_name", func(*rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, SortBy: logingest.SortEventName, SortOrder: logingest.SortAsc}
		}},
		{"list/user+sort=event_type", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: Source, UserID: t.User(r), SortBy: logingest.SortEventType}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var estimated int
			timed(b, func(r *rand.Rand) error {
				p, err := s.Query(ctx, c.f(r))
				if err == nil && p.TotalIsEstimate {
					estimated++
				}
				return err
			})
			b.ReportMetric(100*float64(estimated)/float64(b.N), "estimated_%")
		})
		if strings.Contains(c.name, "time-") {
			b.Run(c.name+"/page-only", func(b *testing.B) { // without Page.Total (SkipTotal): the page's own cost
				timed(b, func(r *rand.Rand) error {
					f := c.f(r)
					f.SkipTotal = true
					_, err := s.Query(ctx, f)
					return err
				})
			})
		}
	}
	// Page 1000 (pages of 50) of the newest-first listing, by offset and by cursor (the cursor of page 999
	// found once, outside the timing).
	const pageSize, pageNo = 50, 1000
	prev, err := s.Query(ctx, logingest.Filter{Source: Source, Limit: pageSize, Offset: (pageNo - 2) * pageSize, SkipTotal: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    logingest.Filter
	}{
		{"list/page1000-offset", logingest.Filter{Source: Source, Limit: pageSize, Offset: (pageNo - 1) * pageSize}},
		{"list/page1000-cursor", logingest.Filter{Source: Source, Limit: pageSize, After: prev.NextCursor}},
	} {
		b.Run(c.name, func(b *testing.B) {
			if prev.NextCursor == "" {
				b.Skip("fewer than 1000 pages")
			}
			timed(b, func(*rand.Rand) error {
				_, err := s.Query(ctx, c.f)
				return err
			})
		})
	}
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

// exportBench exports the events of Source matching query through the real handler, reporting rows/s, the
// peak heap in use and the peak resident set size (both sampled every 5 ms) above their values before the
// export.
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
	rssBefore := rssBytes()
	var peak, peakRSS atomic.Uint64
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
				if r := rssBytes(); r > peakRSS.Load() {
					peakRSS.Store(r)
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
	b.ReportMetric((float64(peakRSS.Load())-float64(rssBefore))/(1<<20), "peak_rss_MiB")
}

// rssBytes is the process's resident set size from /proc/self/statm (0 where there is none).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(max(os.Getpagesize(), 0))
}

// RunExport measures GET /api/v1/logs/export of every event of Source (rows of them) through the real
// handler, as NDJSON and as CSV: rows/s, peak heap and peak RSS above their values before the export. It is the
// export part of RunTerms on its own, for BenchmarkBigExport of the SQL stores.
func RunExport(b *testing.B, s logingest.Store, rows int) {
	b.Helper()
	b.Run("export/ndjson", func(b *testing.B) { exportBench(b, s, rows, "format=ndjson") })
	b.Run("export/csv", func(b *testing.B) { exportBench(b, s, rows, "format=csv") })
}
