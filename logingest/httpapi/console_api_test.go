package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
	"github.com/change66/logserver/logingest/store/pgstore"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// consoleBackends are the stores the console endpoints are tested on: memstore (the reference), SQLite and
// PostgreSQL (real servers; see internal/pgtest).
func consoleBackends() map[string]func(t *testing.T) logingest.Store {
	return map[string]func(t *testing.T) logingest.Store{
		"memstore": func(*testing.T) logingest.Store { return memstore.New() },
		"sqlite": func(t *testing.T) logingest.Store {
			t.Helper()
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "logingest.db"), &sqlite.Config{AutoMigrate: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"postgres": func(t *testing.T) logingest.Store {
			t.Helper()
			s, err := pgstore.Open(context.Background(), pgtest.Schema(t),
				&pgstore.Config{AutoMigrate: true, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

// seedConsole stores 5 events of source "app" (received at the test clock's now) and one of "other".
func seedConsole(t *testing.T, e *env) {
	t.Helper()
	batch := `{"logs":[
	 {"event_id":"c1","timestamp":"2025-08-27T11:00:00Z","event_type":"behavioral","event_name":"habit_completed",
	  "user_id":"u1","session_id":"s1","app_version":"2.0.1","priority":"normal","properties":{"habit_name":"Morning Run"},
	  "device_info":{"platform":"ios"}},
	 {"event_id":"c2","timestamp":"2025-08-27T11:01:00Z","event_type":"telemetry","event_name":"api_call",
	  "user_id":"u2","session_id":"s2","app_version":"2.0.1","priority":"normal","properties":{"duration_ms":120},
	  "device_info":{"platform":"android"}},
	 {"event_id":"c3","timestamp":"2025-08-27T11:02:00Z","event_type":"telemetry","event_name":"api_call",
	  "user_id":"u1","session_id":"s1","app_version":"2.0.2","priority":"normal","properties":{"duration_ms":80},
	  "device_info":{"platform":"ios"}},
	 {"event_id":"c4","timestamp":"2025-08-27T11:03:00Z","event_type":"error","event_name":"sync_failed",
	  "user_id":"u3","session_id":"s3","app_version":"2.0.2","priority":"high","properties":{"message":"=HYPERLINK(\"x\")"},
	  "device_info":{"platform":"android"}},
	 {"event_id":"c5","timestamp":"2025-08-27T11:04:00Z","event_type":"observability","event_name":"provider_state",
	  "app_version":"2.0.2","properties":{"provider_name":"NFC_notifier"}}
	]}`
	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, []byte(batch))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.Equal(t, 5, decodeData[batchData](t, w).Accepted)
	other := `{"event_id":"o1","timestamp":"2025-08-27T11:00:00Z","event_type":"error","event_name":"habit_completed","user_id":"u1"}`
	w = do(t, e.h, http.MethodPost, "/api/v1/ingest", keyOther, []byte(other))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
}

//nolint:paralleltest // the subtests of each backend share one env and run in order
func TestConsoleAPI(t *testing.T) {
	t.Parallel()
	for name, open := range consoleBackends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnvStore(t, open(t), &Config{Stream: StreamConfig{PollInterval: 20 * time.Millisecond, Heartbeat: 50 * time.Millisecond}})
			seedConsole(t, e)
			e.clock.Advance(time.Minute)
			// The subtests share e and run in order: each builds on what the previous ones stored.
			t.Run("Search", func(t *testing.T) { testSearch(t, e) })
			t.Run("Dashboard", func(t *testing.T) { testDashboard(t, e) })
			t.Run("Export", func(t *testing.T) { testExport(t, e) })
			t.Run("Stream", func(t *testing.T) { testStream(t, e) })
		})
	}
}

func testSearch(t *testing.T, e *env) {
	t.Helper()
	for search, want := range map[string][]string{
		"habit_comp":   {"c1"},
		"morning RUN":  {"c1"},
		"nfc_NOTIFIER": {"c5"},
		"api_call 120": {"c2"},
		"nothing-here": {},
	} {
		target := "/api/v1/logs/filter?sort_by=timestamp&sort_order=asc&search=" + strings.ReplaceAll(search, " ", "+")
		w := do(t, e.h, http.MethodGet, target, keyRead, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		got := decodeData[filterData](t, w)
		require.Equal(t, want, ids(got.Logs), "search %q (only the caller's source)", search)
		require.EqualValues(t, len(want), got.TotalCount)
	}
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?search=ab", keyRead, nil)
	requireError(t, w, http.StatusBadRequest, "validation_failed", "search")
}

func testDashboard(t *testing.T, e *env) {
	t.Helper()
	w := do(t, e.h, http.MethodGet, "/api/v1/dashboard", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	d := decodeData[dashboardData](t, w)
	now := e.clock.Now().UTC()
	require.Equal(t, int64(3600), d.Range.BucketSeconds)
	require.Equal(t, now.Truncate(time.Hour).Add(time.Hour), d.Range.To)
	require.Equal(t, d.Range.To.Add(-24*time.Hour), d.Range.From)
	require.Len(t, d.Timeline, 24)
	require.Equal(t, dashboardTotals{
		TotalLogs: 5, LogsLastHour: 5, LogsLastDay: 5, LogsToday: 5, ErrorRatePercent: 20, AverageLatencyMs: 100,
		ActiveSessions: 3, ActiveUsers: 3,
	}, d.Totals)
	last := d.Timeline[23]
	require.Equal(t, timelinePoint{Start: now.Truncate(time.Hour), Count: 5, Errors: 1}, last)
	require.Equal(t, []logingest.ValueCount{
		{Value: "telemetry", Count: 2},
		{Value: "behavioral", Count: 1},
		{Value: "error", Count: 1},
		{Value: "observability", Count: 1},
	}, d.EventTypes)
	require.Equal(t, []logingest.ValueCount{{Value: "android", Count: 2}, {Value: "ios", Count: 2}, {Value: "", Count: 1}}, d.Platforms)
	require.True(t, d.Exact)
	require.Empty(t, d.Estimated)

	// A rollup dimension and a filter the rollups cannot answer.
	w = do(t, e.h, http.MethodGet, "/api/v1/dashboard?event_type=telemetry", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	d = decodeData[dashboardData](t, w)
	require.EqualValues(t, 2, d.Totals.TotalLogs)
	require.InDelta(t, 100, d.Totals.AverageLatencyMs, 1e-9)
	require.Equal(t, []logingest.ValueCount{{Value: "2.0.1", Count: 1}, {Value: "2.0.2", Count: 1}}, d.AppVersions)
	w = do(t, e.h, http.MethodGet, "/api/v1/dashboard?user_id=u1&search=api_call", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	d = decodeData[dashboardData](t, w)
	require.EqualValues(t, 1, d.Totals.TotalLogs)
	require.Equal(t, []logingest.ValueCount{{Value: "api_call", Count: 1}}, d.TopEventNames)

	// An explicit one-hour range: two-minute buckets.
	from := now.Add(-time.Hour).Format(time.RFC3339)
	w = do(t, e.h, http.MethodGet, "/api/v1/dashboard?from="+from+"&to="+now.Format(time.RFC3339), keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	d = decodeData[dashboardData](t, w)
	require.Equal(t, int64(120), d.Range.BucketSeconds)
	require.Equal(t, now.Add(-time.Hour).Truncate(2*time.Minute), d.Range.From)
	require.Equal(t, now.Truncate(2*time.Minute).Add(2*time.Minute), d.Range.To, "widened to whole buckets")
	require.Len(t, d.Timeline, 31)
	var sum int64
	for _, p := range d.Timeline {
		sum += p.Count
	}
	require.EqualValues(t, 5, sum)

	w = do(t, e.h, http.MethodGet, "/api/v1/dashboard?from="+now.Format(time.RFC3339)+"&to="+from, keyRead, nil)
	requireError(t, w, http.StatusBadRequest, "validation_failed", "to")
	w = do(t, e.h, http.MethodGet, "/api/v1/dashboard", keyIngest, nil)
	require.Equal(t, http.StatusForbidden, w.Code)
}

func testExport(t *testing.T, e *env) {
	t.Helper()
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/export?sort_by=timestamp&sort_order=asc", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "application/x-ndjson", w.Header().Get("Content-Type"))
	require.Regexp(t, `^attachment; filename="logs-app-\d{8}T\d{6}Z\.ndjson"$`, w.Header().Get("Content-Disposition"))
	var got []string
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		var ev logingest.Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		got = append(got, ev.EventID)
	}
	require.Equal(t, []string{"c1", "c2", "c3", "c4", "c5"}, got)

	w = do(t, e.h, http.MethodGet, "/api/v1/logs/export?format=csv&event_type=error", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "text/csv; charset=utf-8", w.Header().Get("Content-Type"))
	recs, err := csv.NewReader(w.Body).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, exportColumns, recs[0])
	require.Equal(t, "c4", recs[1][1])
	require.True(t, strings.HasPrefix(recs[1][12], `{`), "properties as JSON: %q", recs[1][12])

	w = do(t, e.h, http.MethodGet, "/api/v1/logs/export?format=xml", keyRead, nil)
	requireError(t, w, http.StatusBadRequest, "validation_failed", "format")
	w = do(t, e.h, http.MethodGet, "/api/v1/logs/export", keyIngest, nil)
	require.Equal(t, http.StatusForbidden, w.Code)
}

// sseReader reads Server-Sent Events frames.
type sseReader struct{ sc *bufio.Scanner }

// next returns the next frame's lines (comments included), or fails the test when the stream ends.
func (r *sseReader) next(t *testing.T) []string {
	t.Helper()
	var lines []string
	for r.sc.Scan() {
		if r.sc.Text() == "" {
			if len(lines) > 0 {
				return lines
			}
			continue
		}
		lines = append(lines, r.sc.Text())
	}
	t.Fatalf("stream ended: %v", r.sc.Err())
	return nil
}

// nextLog skips comments and returns the id and event of the next "log" frame.
func (r *sseReader) nextLog(t *testing.T) (string, logingest.Event) {
	t.Helper()
	for {
		var id, data string
		isLog := false
		for _, l := range r.next(t) {
			switch {
			case strings.HasPrefix(l, "id: "):
				id = strings.TrimPrefix(l, "id: ")
			case l == "event: log":
				isLog = true
			case strings.HasPrefix(l, "data: "):
				data = strings.TrimPrefix(l, "data: ")
			}
		}
		if isLog {
			var ev logingest.Event
			require.NoError(t, json.Unmarshal([]byte(data), &ev))
			return id, ev
		}
	}
}

func openStream(t *testing.T, srv *httptest.Server, query, lastID string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // fails the read, not the test's timing
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/logs/stream"+query, nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", keyRead)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return &sseReader{sc: bufio.NewScanner(resp.Body)}
}

func ingestOne(t *testing.T, e *env, id, typ string) {
	t.Helper()
	body := fmt.Sprintf(`{"event_id":%q,"timestamp":"2025-08-27T11:30:00Z","event_type":%q,"event_name":"live_%s"}`, id, typ, id)
	w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(body))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
}

func testStream(t *testing.T, e *env) {
	t.Helper()
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)

	// Only events stored after the stream opened, matching its filter, in order.
	s := openStream(t, srv, "?event_type=error", "")
	require.Equal(t, []string{": connected", "retry: 2000"}, s.next(t))
	ingestOne(t, e, "live1", "behavioral")
	ingestOne(t, e, "live2", "error")
	id2, ev := s.nextLog(t)
	require.Equal(t, "live2", ev.EventID)
	require.Equal(t, "live_live2", ev.EventName)

	// Heartbeats while idle.
	require.Equal(t, []string{": heartbeat"}, s.next(t))

	// Resuming after live2 sends what arrived since, and not live2 again.
	e.clock.Advance(time.Second)
	ingestOne(t, e, "live3", "error")
	ingestOne(t, e, "live4", "error")
	r := openStream(t, srv, "?event_type=error", id2)
	_, ev = r.nextLog(t)
	require.Equal(t, "live3", ev.EventID)
	_, ev = r.nextLog(t)
	require.Equal(t, "live4", ev.EventID)

	req := request(t, http.MethodGet, "/api/v1/logs/stream", keyRead, nil)
	req.Header.Set("Last-Event-ID", "garbage")
	requireError(t, serve(e.h, req), http.StatusBadRequest, "validation_failed", "Last-Event-ID")
}
