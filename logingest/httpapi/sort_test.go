package httpapi

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWebViewer_SortFields: every sort field of the original's filtering document, and ours, answers 200, and
// following next_cursor visits every log exactly once. Without sort_by the order is created_at DESC, as the
// original: newest received first.
func TestWebViewer_SortFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{RequestsPerMinute: -1}) // about 250 pages
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json")).Code)
	e.clock.Advance(1)
	require.Equal(t, http.StatusCreated, do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest,
		[]byte(`{"event_id":"newest","timestamp":"2020-01-01T00:00:00Z","event_type":"telemetry","event_name":"late"}`)).Code)
	const total = 51

	w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?page_size=1", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "newest", decodeData[filterData](t, w).Logs[0].EventID, "default: created_at DESC")

	for _, field := range []string{
		"id", "event_id", "timestamp", "event_type", "event_name", "user_id", "session_id", "app_version", "priority",
		"created_at", "received_at", "sequence_number",
	} {
		for _, order := range []string{"asc", "DESC"} {
			seen := map[string]bool{}
			q := url.Values{"sort_by": {field}, "sort_order": {order}, "page_size": {"7"}}
			for range total {
				w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+q.Encode(), keyRead, nil)
				require.Equal(t, http.StatusOK, w.Code, "sort_by=%s: %s", field, w.Body.String())
				d := decodeData[filterData](t, w)
				require.EqualValues(t, total, d.TotalCount)
				for _, l := range d.Logs {
					require.False(t, seen[l.EventID], "sort_by=%s %s: %s seen twice", field, order, l.EventID)
					seen[l.EventID] = true
				}
				if d.NextCursor == "" {
					break
				}
				q.Set("cursor", d.NextCursor)
			}
			require.Len(t, seen, total, "sort_by=%s %s: the cursor walk visits every log", field, order)
		}
	}
}
