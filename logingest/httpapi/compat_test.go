package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests of this file assert, per endpoint, the fields the original server's two clients read
// (/work/shared/seed/original-api.md): the Flutter app and the original web log viewer. Each is named after the
// client that needs the fields, so a failure says who breaks.

// jsonBody decodes an answer into a generic map, as a JavaScript or Dart client sees it.
func jsonBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &m), "body: %s", w.Body)
	return m
}

func requireKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		require.Contains(t, m, k, "field %q missing in %v", k, m)
	}
}

func obj(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "%s must be an object, got %T (%v)", what, v, v)
	return m
}

// requireSuccessEnvelope checks the original's {success: true, message, data}.
func requireSuccessEnvelope(t *testing.T, m map[string]any) {
	t.Helper()
	requireKeys(t, m, "success", "message", "data")
	require.Equal(t, true, m["success"])
	require.IsType(t, "", m["message"])
	require.NotEmpty(t, m["message"])
}

func TestFlutterApp_IngestAnswerCarriesEventIDAndID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json"))
	require.Equal(t, http.StatusCreated, w.Code, "only 201 counts as delivered: %s", w.Body)
	m := jsonBody(t, w)
	requireSuccessEnvelope(t, m)
	data := obj(t, m["data"], "data")
	requireKeys(t, data, "event_id", "id")
	var sent struct {
		EventID string `json:"event_id"`
	}
	require.NoError(t, json.Unmarshal(readFile(t, "single.json"), &sent))
	require.Equal(t, sent.EventID, data["event_id"])
	require.IsType(t, float64(0), data["id"], "id is the stored row's number")
	id := data["id"].(float64)
	require.Positive(t, id)

	// A resend is a duplicate carrying the id of the first delivery, and the log object has the same id.
	w = do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json"))
	require.Equal(t, http.StatusCreated, w.Code)
	require.InDelta(t, id, obj(t, jsonBody(t, w)["data"], "data")["id"], 0)
	w = do(t, e.h, http.MethodGet, "/api/v1/logs/recent", keyRead, nil)
	logs := jsonBody(t, w)["data"].([]any)
	require.InDelta(t, id, obj(t, logs[0], "log")["id"], 0)
}

// TestFlutterApp_ResendingIsSafe resends the same event as the app does after any non-201: every answer is 201
// and the event is stored once.
func TestFlutterApp_ResendingIsSafe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for range 3 {
		w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json"))
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	}
	require.EqualValues(t, 1, countStored(t, e.store, "app"))
}

func TestFlutterApp_BatchIngestAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json"))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	m := jsonBody(t, w)
	requireSuccessEnvelope(t, m)
	data := obj(t, m["data"], "data")
	requireKeys(t, data, "logs_processed", "total_received")
	require.EqualValues(t, 50, data["logs_processed"])
	require.EqualValues(t, 50, data["total_received"])

	w = do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json"))
	data = obj(t, jsonBody(t, w)["data"], "data")
	require.EqualValues(t, 50, data["logs_processed"], "duplicates are stored events too")
}

// TestFlutterApp_AdminScreenReadsStatus: the admin screen reads data.service.uptime and data.metrics.total_logs.
func TestFlutterApp_AdminScreenReadsStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{Version: "2.1.0"})
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json")).Code)
	e.clock.Advance(2*time.Hour + 3*time.Minute + 4500*time.Millisecond)
	w := do(t, e.h, http.MethodGet, "/api/v1/status", keyFull, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	m := jsonBody(t, w)
	requireSuccessEnvelope(t, m)
	data := obj(t, m["data"], "data")
	requireKeys(t, data, "service", "database", "metrics")
	svc := obj(t, data["service"], "service")
	requireKeys(t, svc, "name", "version", "uptime", "started_at")
	require.Equal(t, "2h3m4.5s", svc["uptime"], "a Go duration string")
	require.Equal(t, "2.1.0", svc["version"])
	db := obj(t, data["database"], "database")
	requireKeys(t, db, "status", "total_logs")
	require.EqualValues(t, 50, db["total_logs"])
	metrics := obj(t, data["metrics"], "metrics")
	require.EqualValues(t, 50, metrics["total_logs"])
}

func TestFlutterApp_ErrorBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	bad := `{"event_id":"e1","timestamp":"2025-08-27T09:00:00Z","event_type":"nope","event_name":"x"}`
	w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(bad))
	require.Equal(t, http.StatusBadRequest, w.Code)
	m := jsonBody(t, w)
	requireKeys(t, m, "error", "message", "details")
	require.Equal(t, "validation_error", m["error"])
	details, ok := m["details"].([]any)
	require.True(t, ok)
	require.Equal(t, "event_type", obj(t, details[0], "details[0]")["field"])
	require.NotEmpty(t, obj(t, details[0], "details[0]")["message"])

	w = do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(`{"event_id":`))
	require.Equal(t, "invalid_json", jsonBody(t, w)["error"])
	w = do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, []byte(`{"logs":[]}`))
	require.Equal(t, "empty_batch", jsonBody(t, w)["error"])
}

// TestWebViewer_RecentLogsDataIsArray: the dashboard crashes unless data is the array of logs.
func TestWebViewer_RecentLogsDataIsArray(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json")).Code)
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/recent?limit=7", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code)
	m := jsonBody(t, w)
	requireSuccessEnvelope(t, m)
	logs, ok := m["data"].([]any)
	require.True(t, ok, "data must be an array, got %T", m["data"])
	require.Len(t, logs, 7)

	empty := newEnv(t, nil)
	w = do(t, empty.h, http.MethodGet, "/api/v1/logs/recent", keyRead, nil)
	require.JSONEq(t, `[]`, string(mustRaw(t, jsonBody(t, w)["data"])), "no logs is an empty array, not null")
}

func mustRaw(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// originalLogFields are the fields of the original's log object.
var originalLogFields = []string{
	"id", "event_id", "timestamp", "event_type", "event_name", "properties", "user_id", "session_id",
	"app_version", "device_info", "sequence_number", "priority", "created_at", "processed_at",
}

// TestWebViewer_LogObject: every field of the original's log object, null for absent optional ones.
func TestWebViewer_LogObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	bare := []byte(`{"event_id":"bare-1","timestamp":"2025-08-27T09:00:00Z","event_type":"telemetry","event_name":"tick"}`)
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, bare).Code)
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json")).Code)

	for _, path := range []string{"/api/v1/logs/recent", "/api/v1/logs/filter"} {
		w := do(t, e.h, http.MethodGet, path, keyRead, nil)
		require.Equal(t, http.StatusOK, w.Code)
		data := jsonBody(t, w)["data"]
		var logs []any
		if path == "/api/v1/logs/filter" {
			logs = obj(t, data, "data")["logs"].([]any)
		} else {
			logs = data.([]any)
		}
		require.Len(t, logs, 2)
		for _, l := range logs {
			lo := obj(t, l, "log")
			requireKeys(t, lo, originalLogFields...)
			requireKeys(t, lo, "source", "received_at", "original_timestamp")
			require.NotNil(t, lo["processed_at"], "the store knows when it wrote the event")
			require.Positive(t, lo["id"])
			require.Equal(t, lo["created_at"], lo["received_at"], "created_at is the receive time")
			if lo["event_id"] != "bare-1" {
				require.NotNil(t, lo["sequence_number"], "single.json sends one")
			}
			if lo["event_id"] == "bare-1" {
				for _, f := range []string{"user_id", "session_id", "app_version", "sequence_number", "original_timestamp"} {
					require.Nil(t, lo[f], "%s: absent must be null, not %v", f, lo[f])
				}
				// processed_at is when the store wrote the event; null only for events imported without one.
				require.IsType(t, "", lo["processed_at"])
				require.Positive(t, lo["id"])
			}
		}
	}
}

// TestWebViewer_MetricsCards: the cards read logs_last_hour, logs_last_day, top_event_types[].event_type, the
// latency and error-rate cards, and active sessions.
func TestWebViewer_MetricsCards(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json")).Code)
	w := do(t, e.h, http.MethodGet, "/api/v1/metrics", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code)
	m := jsonBody(t, w)
	requireSuccessEnvelope(t, m)
	data := obj(t, m["data"], "data")
	requireKeys(t, data, "total_logs", "logs_last_hour", "logs_last_day", "average_latency_ms", "error_rate_percent",
		"active_sessions", "top_event_types", "active_users", "top_event_names")
	require.EqualValues(t, 50, data["logs_last_hour"])
	require.EqualValues(t, 50, data["logs_last_day"])
	types := data["top_event_types"].([]any)
	require.NotEmpty(t, types)
	require.LessOrEqual(t, len(types), 10)
	for _, tc := range types {
		requireKeys(t, obj(t, tc, "top_event_types[]"), "event_type", "count")
	}
	for _, tc := range data["top_event_names"].([]any) {
		requireKeys(t, obj(t, tc, "top_event_names[]"), "event_name", "count")
	}
	// batch-50.json holds 5 error events among 50 received in the last hour, and performance events whose
	// properties carry duration_ms: neither card may be the original's constant 0.
	var batch struct {
		Logs []struct {
			EventType  string `json:"event_type"`
			Properties struct {
				DurationMs *float64 `json:"duration_ms"`
			} `json:"properties"`
		} `json:"logs"`
	}
	require.NoError(t, json.Unmarshal(readFile(t, "batch-50.json"), &batch))
	var errs, n int
	var sum float64
	for _, l := range batch.Logs {
		if l.EventType == "error" {
			errs++
		}
		if d := l.Properties.DurationMs; d != nil {
			sum += *d
			n++
		}
	}
	require.Positive(t, errs)
	require.Positive(t, n)
	require.InDelta(t, 100*float64(errs)/float64(len(batch.Logs)), data["error_rate_percent"], 1e-9)
	require.InDelta(t, sum/float64(n), data["average_latency_ms"], 1e-6)
}

// TestWebViewer_FilterPages: the viewer computes its pages from total_count.
func TestWebViewer_FilterPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json")).Code)
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?page=2&page_size=20", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code)
	data := obj(t, jsonBody(t, w)["data"], "data")
	requireKeys(t, data, "logs", "total_count", "page", "page_size", "total_pages")
	require.EqualValues(t, 50, data["total_count"])
	require.EqualValues(t, 2, data["page"])
	require.EqualValues(t, 20, data["page_size"])
	require.EqualValues(t, 3, data["total_pages"])
	require.Len(t, data["logs"], 20)
}

// TestWebViewer_AppVersionWithPlus: the original's examples write app_version=2.0.0+6 unencoded.
func TestWebViewer_AppVersionWithPlus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i, v := range []string{"2.0.0+6", "2.0.0+6", "2.0.1+7", "2.0.0"} {
		body := fmt.Sprintf(`{"event_id":"v%d","timestamp":"2025-08-27T09:00:00Z","event_type":"telemetry",`+
			`"event_name":"tick","app_version":%q}`, i, v)
		require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(body)).Code)
	}
	for _, q := range []string{"app_version=2.0.0+6", "app_version=2.0.0%2B6", "app_version=2.0.0%206"} {
		w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+q, keyRead, nil)
		require.Equal(t, http.StatusOK, w.Code, q)
		data := decodeData[filterData](t, w)
		require.EqualValues(t, 2, data.TotalCount, q)
		for _, l := range data.Logs {
			require.Equal(t, "2.0.0+6", *l.AppVersion, q)
		}
	}
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?app_version=2.0.0", keyRead, nil)
	require.EqualValues(t, 1, decodeData[filterData](t, w).TotalCount, "a version without a build suffix is untouched")
}

// TestWebViewer_FilterErrorCodes: the original's codes for bad filter parameters.
func TestWebViewer_FilterErrorCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for q, code := range map[string]string{
		"event_type=nope":      "invalid_event_type",
		"start_time=yesterday": "invalid_start_time",
		"end_time=2020":        "invalid_end_time",
		"priority=urgent":      "invalid_priority",
		"page_size=0":          "validation_error",
	} {
		w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+q, keyRead, nil)
		require.Equal(t, http.StatusBadRequest, w.Code, q)
		m := jsonBody(t, w)
		require.Equal(t, code, m["error"], q)
		requireKeys(t, m, "message", "details", "code")
	}
}

// TestWebViewer_CORSWildcard: ALLOWED_ORIGINS=* lets the viewer call from any origin, never with credentials.
func TestWebViewer_CORSWildcard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{CORS: CORS{AllowedOrigins: []string{"*"}}})
	r := request(t, http.MethodOptions, "/api/v1/logs/recent", "", nil)
	r.Header.Set("Origin", "http://localhost:3000")
	r.Header.Set("Access-Control-Request-Method", "GET")
	w := serve(e.h, r)
	require.Equal(t, http.StatusNoContent, w.Code)
	require.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
	require.Contains(t, w.Header().Get("Access-Control-Allow-Headers"), "X-API-Key")
	require.Empty(t, w.Header().Get("Access-Control-Allow-Credentials"))

	r = request(t, http.MethodGet, "/api/v1/logs/recent", keyRead, nil)
	r.Header.Set("Origin", "http://localhost:3000")
	w = serve(e.h, r)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
	require.Empty(t, w.Header().Get("Access-Control-Allow-Credentials"))
}

// TestOperator_HealthShape: the original's /health {status, timestamp, version, services, uptime}.
func TestOperator_HealthShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ops, err := NewOps(e.store, &OpsConfig{Version: "3.0.0", Now: e.clock.Now, Logger: testLogger(nil)})
	require.NoError(t, err)
	e.clock.Advance(90 * time.Second)
	w := do(t, ops, http.MethodGet, "/health", "", nil)
	require.Equal(t, http.StatusOK, w.Code)
	m := jsonBody(t, w)
	requireKeys(t, m, "status", "timestamp", "version", "services", "uptime")
	require.Equal(t, "healthy", m["status"])
	require.Equal(t, "3.0.0", m["version"])
	require.Equal(t, "1m30s", m["uptime"])
	svc := obj(t, m["services"], "services")
	require.Equal(t, "healthy", svc["database"])
	require.Equal(t, "healthy", svc["database_queries"])
}

// TestWebViewer_SortByOriginalFields: every sort_by of the original's list is accepted, created_at DESC is the
// default, and ids increase in insertion order.
func TestWebViewer_SortByOriginalFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i, ts := range []string{"2025-08-27T09:05:00Z", "2025-08-27T09:00:00Z", "2025-08-27T09:03:00Z"} {
		body := fmt.Sprintf(`{"event_id":"s%d","timestamp":%q,"event_type":"telemetry","event_name":"tick"}`, i, ts)
		require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(body)).Code)
		e.clock.Advance(time.Second)
	}
	ids := func(q string) []string {
		t.Helper()
		w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+q, keyRead, nil)
		require.Equal(t, http.StatusOK, w.Code, "%s: %s", q, w.Body)
		var out []string
		for _, l := range decodeData[filterData](t, w).Logs {
			out = append(out, l.EventID)
		}
		return out
	}
	require.Equal(t, []string{"s2", "s1", "s0"}, ids(""), "default: created_at DESC")
	require.Equal(t, []string{"s2", "s1", "s0"}, ids("sort_by=created_at"))
	require.Equal(t, []string{"s0", "s1", "s2"}, ids("sort_by=id&sort_order=asc"))
	require.Equal(t, []string{"s0", "s1", "s2"}, ids("sort_by=event_id&sort_order=ASC"))
	require.Equal(t, []string{"s1", "s2", "s0"}, ids("sort_by=timestamp&sort_order=asc"))
	for _, f := range []string{"event_type", "event_name", "user_id", "session_id", "app_version", "priority"} {
		require.Len(t, ids("sort_by="+f), 3, f)
	}
}

// TestWebViewer_SequenceNumberZeroIsKept: 0 is a sequence number, apart from absent (null).
func TestWebViewer_SequenceNumberZeroIsKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, body := range []string{
		`{"event_id":"zero","timestamp":"2025-08-27T09:00:00Z","event_type":"telemetry","event_name":"tick","sequence_number":0}`,
		`{"event_id":"none","timestamp":"2025-08-27T09:00:00Z","event_type":"telemetry","event_name":"tick"}`,
	} {
		require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(body)).Code)
	}
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/recent", keyRead, nil)
	got := map[any]any{}
	for _, l := range jsonBody(t, w)["data"].([]any) {
		lo := obj(t, l, "log")
		require.Contains(t, lo, "sequence_number")
		got[lo["event_id"]] = lo["sequence_number"]
	}
	require.Equal(t, map[any]any{"zero": 0.0, "none": nil}, got)
}
