package sqlite_test

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// TestQuery_StoredValuesThatCannotBeServed: rows written by hand with values JSON cannot carry (times before
// year 1 or after 9999, text that is no time, invalid UTF-8 inside properties and device_info, properties
// that are not an object) never break a read. Every page answers and serialises to valid JSON, pages by cursor
// visit every row exactly once in every sort order, and each bad row is logged with the logger of the context
// (the request's, carrying its request id).
func TestQuery_StoredValuesThatCannotBeServed(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	good := loadEvents(t, "app")[:3]
	_, err := s.Append(t.Context(), good)
	require.NoError(t, err)

	// A busy timeout: the store's background indexer may be writing after the Append.
	db, err := sqlite.OpenDB(b.path, url.Values{"_pragma": {"busy_timeout(10000)"}})
	require.NoError(t, err)
	defer db.Close()
	const now = "2025-08-27T12:00:00.000000000Z"
	bad := []struct{ id, ts, recv, props, device string }{
		{"bad-year-minus-1", "-0001-12-31T23:00:00.000000000Z", now, `{"a":1}`, `{}`},
		{"bad-year-0", "0000-06-01T00:00:00.000000000Z", now, `{"a":1}`, `{}`},
		{"bad-year-10000", "10000-01-01T00:00:00.000000000Z", now, `{"a":1}`, `{}`},
		{"bad-not-a-time", "yesterday", "soon", `{"a":1}`, `{}`},
		{"bad-utf8-props", now, now, "{\"a\":\"\xff\xfe\"}", "{\"\xe2\x82\":1}"},
		{"bad-props-array", now, now, `[1,2]`, `"x"`},
	}
	for _, r := range bad {
		_, err := db.ExecContext(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
			event_name, properties, device_info, priority, received_at, created_at)
			VALUES ('app', ?, ?, 'error', 'poison', ?, ?, 'normal', ?, ?)`, r.id, r.ts, r.props, r.device, r.recv, now)
		require.NoError(t, err, r.id)
	}
	total := len(good) + len(bad)

	var logs logingesttest.LogBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil)).With(slog.String("request_id", "req-poison"))
	ctx := logingest.ContextWithLogger(t.Context(), logger)
	for _, sortBy := range []logingest.SortField{logingest.SortTimestamp, logingest.SortReceivedAt, logingest.SortEventName} {
		for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
			var seen []string
			f := logingest.Filter{Source: "app", SortBy: sortBy, SortOrder: order, Limit: 2}
			for range total + 1 {
				page, err := s.Query(ctx, f)
				require.NoError(t, err, "sort %s %s after %d events", sortBy, order, len(seen))
				body, err := json.Marshal(page.Events)
				require.NoError(t, err)
				require.True(t, json.Valid(body), "%s", body)
				for _, e := range page.Events {
					seen = append(seen, e.EventID)
					if y := e.Timestamp.Year(); !e.Timestamp.IsZero() && (y < 1 || y > 9999) {
						t.Errorf("%s served with timestamp %v", e.EventID, e.Timestamp)
					}
				}
				if page.NextCursor == "" {
					break
				}
				f.After = page.NextCursor
			}
			slices.Sort(seen)
			require.Len(t, seen, total, "sort %s %s: %v", sortBy, order, seen)
			require.Len(t, slices.Compact(slices.Clone(seen)), len(seen), "sort %s %s: a row came twice", sortBy, order)
		}
	}
	for _, r := range bad {
		require.Contains(t, logs.String(), `"event_id":"`+r.id+`"`)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		require.Contains(t, line, `"request_id":"req-poison"`)
		require.Contains(t, line, "served sanitised")
	}

	// The sanitised forms, per the documented rule.
	page, err := s.Query(ctx, logingest.Filter{Source: "app", EventName: "poison", Limit: 100})
	require.NoError(t, err)
	byID := map[string]logingest.Event{}
	for _, e := range page.Events {
		byID[e.EventID] = e
	}
	require.JSONEq(t, `{"a":"\ufffd"}`, string(byID["bad-utf8-props"].Properties))
	require.JSONEq(t, `{"\ufffd":1}`, string(byID["bad-utf8-props"].DeviceInfo))
	require.Nil(t, byID["bad-props-array"].Properties)
	require.Nil(t, byID["bad-props-array"].DeviceInfo)
	require.True(t, byID["bad-year-10000"].Timestamp.IsZero())
	require.True(t, byID["bad-not-a-time"].ReceivedAt.IsZero())
}
