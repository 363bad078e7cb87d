package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// seed ingests five events on source "app" (through keyIngest) and one on "other", returned in timestamp order.
func seed(t *testing.T, e *env) {
	t.Helper()
	appBatch := `{"logs":[
	 {"event_id":"e1","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"habit_completed",
	  "user_id":"u1","session_id":"s1","app_version":"2.0.1","priority":"normal","sequence_number":1},
	 {"event_id":"e2","timestamp":"2025-08-27T09:01:00Z","event_type":"behavioral","event_name":"habit_skipped",
	  "user_id":"u2","session_id":"s2","app_version":"2.0.1","priority":"high","sequence_number":2},
	 {"event_id":"e3","timestamp":"2025-08-27T09:02:00Z","event_type":"observability","event_name":"provider_state",
	  "user_id":"u1","session_id":"s1","app_version":"2.0.2","properties":{"provider_name":"nfc_notifier"},"sequence_number":3},
	 {"event_id":"e4","timestamp":"2025-08-27T09:03:00Z","event_type":"error","event_name":"crash",
	  "user_id":"u3","session_id":"s3","app_version":"2.0.2","priority":"high","sequence_number":4},
	 {"event_id":"e5","timestamp":"2025-08-27T09:04:00Z","event_type":"observability","event_name":"provider_state",
	  "user_id":"u2","session_id":"s2","app_version":"2.0.2","properties":{"provider_name":"deep_link_notifier"},"sequence_number":5}
	]}`
	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, []byte(appBatch))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.Equal(t, 5, decodeData[batchData](t, w).Accepted)
	other := `{"event_id":"o1","timestamp":"2025-08-27T09:02:30Z","event_type":"behavioral","event_name":"habit_completed","user_id":"u1"}`
	w = do(t, e.h, http.MethodPost, "/api/v1/ingest", keyOther, []byte(other))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
}

func ids(evs []logObject) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.EventID)
	}
	return out
}

func TestFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed(t, e)
	tests := []struct {
		query string
		want  []string
		total int64
	}{
		{"", []string{"e5", "e4", "e3", "e2", "e1"}, 5},
		{"event_type=observability", []string{"e5", "e3"}, 2},
		{"event_name=habit_completed", []string{"e1"}, 1},
		{"user_id=u1", []string{"e3", "e1"}, 2},
		{"session_id=s2", []string{"e5", "e2"}, 2},
		{"app_version=2.0.2", []string{"e5", "e4", "e3"}, 3},
		{"priority=high", []string{"e4", "e2"}, 2},
		{"provider_name=nfc_notifier", []string{"e3"}, 1},
		{"start_time=2025-08-27T09:01:00Z&end_time=2025-08-27T09:03:00Z", []string{"e3", "e2"}, 2},
		{"start_time=2025-08-27T11:03:00%2B02:00", []string{"e5", "e4"}, 2},
		{"sort_by=timestamp&sort_order=asc", []string{"e1", "e2", "e3", "e4", "e5"}, 5},
		{"sort_by=sequence_number&sort_order=DeSc", []string{"e5", "e4", "e3", "e2", "e1"}, 5},
		{"sort_by=event_name&sort_order=ASC&event_type=behavioral", []string{"e1", "e2"}, 2},
		{"page_size=2", []string{"e5", "e4"}, 5},
		{"page_size=2&page=3", []string{"e1"}, 5},
		{"page_size=2&page=4", []string{}, 5},
		{"user_id=u1&event_type=observability", []string{"e3"}, 1},
		{"user_id=nobody", []string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+tt.query, keyRead, nil)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			got := decodeData[filterData](t, w)
			require.Equal(t, tt.want, ids(got.Logs))
			require.Equal(t, tt.total, got.TotalCount)
			for _, ev := range got.Logs {
				require.Equal(t, "app", ev.Source, "a caller only ever reads its own source")
			}
		})
	}
}

func TestFilterPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed(t, e)
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?page_size=2&page=2", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got := decodeData[filterData](t, w)
	require.Equal(t, 2, got.Page)
	require.Equal(t, 2, got.PageSize)
	require.EqualValues(t, 5, got.TotalCount)
	require.EqualValues(t, 3, got.TotalPages)
	require.False(t, got.TotalIsEstimate)
	require.Equal(t, []string{"e3", "e2"}, ids(got.Logs))
}

func TestFilterCursorWalk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed(t, e)
	var all []string
	cursor := ""
	for range 10 {
		q := url.Values{"page_size": {"2"}, "sort_order": {"asc"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+q.Encode(), keyRead, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		got := decodeData[filterData](t, w)
		all = append(all, ids(got.Logs)...)
		if got.NextCursor == "" {
			break
		}
		cursor = got.NextCursor
	}
	require.Equal(t, []string{"e1", "e2", "e3", "e4", "e5"}, all)
}

func TestFilterOtherSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed(t, e)
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?user_id=u1", keyOther, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, []string{"o1"}, ids(decodeData[filterData](t, w).Logs))
}

func TestFilterInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tests := []struct {
		query string
		field string
	}{
		{"page=0", "page"},
		{"page=-1", "page"},
		{"page=two", "page"},
		{"page=99999999999999999999", "page"},
		{"page_size=0", "page_size"},
		{"page_size=1001", "page_size"},
		{"page_size=x", "page_size"},
		{"sort_by=password", "sort_by"},
		{"sort_by=timestamp%3Bdrop", "sort_by"},
		{"event_type=behavioral;drop", "query"},
		{"user_id=%zz", "query"},
		{"sort_order=sideways", "sort_order"},
		{"event_type=click", "event_type"},
		{"priority=urgent", "priority"},
		{"start_time=yesterday", "start_time"},
		{"end_time=2025-13-01T00:00:00Z", "end_time"},
		{"start_time=2025-08-27T10:00:00Z&end_time=2025-08-27T09:00:00Z", "end_time"},
		{"cursor=abc&page=2", "cursor"},
		{"cursor=not-a-cursor", "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+tt.query, keyRead, nil)
			requireError(t, w, http.StatusBadRequest, "validation_failed", tt.field)
		})
	}
}

func TestFilterReportsEveryBadParameter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?page=0&page_size=5000&sort_by=x&sort_order=y", keyRead, nil)
	resp := requireError(t, w, http.StatusBadRequest, "validation_failed", "")
	require.ElementsMatch(t, []string{"page", "page_size", "sort_by", "sort_order"}, fields(resp.Errors))
	for _, fe := range resp.Errors {
		if fe.Field == "page_size" {
			require.Equal(t, "must be an integer between 1 and 1000", fe.Reason)
		}
	}
}

func TestRecent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// Receive order differs from timestamp order: recent sorts by received_at.
	for i, ts := range []string{"2025-08-27T09:05:00Z", "2025-08-27T09:00:00Z", "2025-08-27T09:03:00Z"} {
		body := fmt.Sprintf(`{"event_id":"r%d","timestamp":%q,"event_type":"telemetry","event_name":"tick"}`, i, ts)
		w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(body))
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		e.clock.Advance(time.Second)
	}
	w := do(t, e.h, http.MethodGet, "/api/v1/logs/recent?limit=2", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got := decodeData[[]logObject](t, w)
	require.Equal(t, []string{"r2", "r1"}, ids(got))
	var meta struct {
		Count int `json:"count"`
		Limit int `json:"limit"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &meta))
	require.Equal(t, 2, meta.Count)
	require.Equal(t, 2, meta.Limit)

	w = do(t, e.h, http.MethodGet, "/api/v1/logs/recent", keyRead, nil)
	require.Equal(t, []string{"r2", "r1", "r0"}, ids(decodeData[[]logObject](t, w)))

	for _, bad := range []string{"0", "1001", "many"} {
		w = do(t, e.h, http.MethodGet, "/api/v1/logs/recent?limit="+bad, keyRead, nil)
		requireError(t, w, http.StatusBadRequest, "validation_failed", "limit")
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed(t, e)
	w := do(t, e.h, http.MethodGet, "/api/v1/metrics", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got := decodeData[metricsData](t, w)
	require.EqualValues(t, 5, got.TotalLogs, "only the caller's source")
	require.EqualValues(t, 5, got.LogsLastHour)
	require.EqualValues(t, 5, got.LogsLastDay)
	require.EqualValues(t, 3, got.ActiveUsers)
	require.EqualValues(t, 3, got.ActiveSessions)
	require.Equal(t, []eventTypeCount{
		{EventType: "behavioral", Count: 2}, {EventType: "observability", Count: 2}, {EventType: "error", Count: 1},
	},
		got.TopEventTypes, "ties ordered by value")
}

func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{Version: "1.2.3"})
	e.clock.Advance(90 * time.Second)
	w := do(t, e.h, http.MethodGet, "/api/v1/status", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got := decodeData[statusData](t, w)
	require.Equal(t, "1.2.3", got.Service.Version)
	require.Equal(t, "1m30s", got.Service.Uptime)
	require.EqualValues(t, 90, got.Service.UptimeSeconds)
	require.Equal(t, "healthy", got.Database.Status)
	require.Equal(t, "ok", got.Status)
	require.NotNil(t, got.Metrics)
	require.Equal(t, e.clock.Now(), got.Time)
}

// TestReadErrors drives store failures through a fake Reader: transient ones are 503 with Retry-After, unknown
// ones 500 without detail.
func TestReadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		retry  bool
	}{
		{"unavailable", fmt.Errorf("query: %w: dial tcp 10.1.2.3:5432: refused", logingest.ErrUnavailable), 503, true},
		{"closed", logingest.ErrClosed, 503, true},
		{"unknown", errors.New("pq: relation analytics_logs does not exist"), 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rd := &fakeReader{
				query: func(context.Context, logingest.Filter) (*logingest.Page, error) { return nil, tt.err },
				stats: func(context.Context, logingest.StatsQuery) (*logingest.Stats, error) { return nil, tt.err },
			}
			h, err := New(&fakeIngester{reader: rd}, &Config{Authenticator: testAuth(), Logger: testLogger(nil)})
			require.NoError(t, err)
			for _, path := range []string{"/api/v1/logs/filter", "/api/v1/logs/recent", "/api/v1/metrics"} {
				w := do(t, h, http.MethodGet, path, keyRead, nil)
				require.Equal(t, tt.status, w.Code, path)
				require.Equal(t, tt.retry, w.Header().Get("Retry-After") != "", path)
				require.NotContains(t, w.Body.String(), "10.1.2.3")
				require.NotContains(t, w.Body.String(), "analytics_logs")
			}
		})
	}
}

func TestFilterPassesSourceAndDefaults(t *testing.T) {
	t.Parallel()
	var got logingest.Filter
	rd := &fakeReader{query: func(_ context.Context, f logingest.Filter) (*logingest.Page, error) {
		got = f
		return &logingest.Page{Total: -1}, nil
	}}
	// An authenticator that leaves Source empty must not widen the read to every source.
	auth := logingest.AuthenticatorFunc(func(*http.Request) (logingest.Principal, error) {
		return logingest.Principal{KeyID: "k", Scopes: logingest.ScopeRead}, nil
	})
	h, err := New(&fakeIngester{reader: rd}, &Config{Authenticator: auth, Logger: testLogger(nil)})
	require.NoError(t, err)
	w := do(t, h, http.MethodGet, "/api/v1/logs/filter?source=evil", "x", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, logingest.DefaultSource, got.Source)
	require.Equal(t, logingest.DefaultQueryLimit, got.Limit)
	require.Equal(t, logingest.SortReceivedAt, got.SortBy, "the default is created_at DESC")
	require.Equal(t, logingest.SortDesc, got.SortOrder)
	data := decodeData[filterData](t, w)
	require.EqualValues(t, -1, data.TotalPages)
	require.NotNil(t, data.Logs)
}
