package pgstore_test

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
)

// TestQuery_StoredValuesThatCannotBeServed: rows written by hand with times JSON cannot encode (years before 1
// or after 9999, the infinities) never break a read. Every page answers, serialises to valid JSON, pages by
// cursor visit every row exactly once in every sort order, and each bad row is logged with the logger of the
// context (the request's, carrying its request id).
func TestQuery_StoredValuesThatCannotBeServed(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	good := loadEvents(t)[:3]
	_, err := s.Append(t.Context(), good)
	require.NoError(t, err)
	bad := map[string]string{ // event_id: timestamp, received_at
		"bad-year-minus-1": "'0002-12-31 23:00:00+00 BC', now()",
		"bad-year-10000":   "'10000-01-01 00:00:00+00', now()",
		"bad-infinity":     "'infinity', now()",
		"bad-neg-infinity": "'-infinity', '-infinity'",
		"bad-received-at":  "now(), '20000-06-01 00:00:00+00'",
	}
	for id, times := range bad {
		_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, received_at, event_type,
			event_name, properties) VALUES ($1, $2, `+times+`, 'error', 'poison', '{"a":1}')`, testSource, id)
		require.NoError(t, err, id)
	}
	total := len(good) + len(bad)

	var logs logingesttest.LogBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil)).With(slog.String("request_id", "req-poison"))
	ctx := logingest.ContextWithLogger(t.Context(), logger)
	for _, sortBy := range []logingest.SortField{logingest.SortTimestamp, logingest.SortReceivedAt, logingest.SortEventName} {
		for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
			var seen []string
			f := logingest.Filter{Source: testSource, SortBy: sortBy, SortOrder: order, Limit: 2}
			for range total + 1 {
				page, err := s.Query(ctx, f)
				require.NoError(t, err, "sort %s %s after %d events", sortBy, order, len(seen))
				body, err := json.Marshal(page.Events)
				require.NoError(t, err)
				require.True(t, json.Valid(body))
				for _, e := range page.Events {
					seen = append(seen, e.EventID)
					if _, isBad := bad[e.EventID]; isBad {
						year := e.Timestamp.Year()
						require.True(t, e.Timestamp.IsZero() || (year >= 1 && year <= 9999), "%s: %v", e.EventID, e.Timestamp)
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
	// A time range in received_at order compares received_at with timestamp (skewsplit.go): the infinities
	// must neither fail it nor be lost.
	for _, r := range []struct {
		from, to time.Time
		want     []string
	}{
		{time.Time{}, time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), []string{"bad-neg-infinity", "bad-year-minus-1"}},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, []string{"bad-infinity", "bad-year-10000"}},
	} {
		page, err := s.Query(ctx, logingest.Filter{Source: testSource, StartTime: r.from, EndTime: r.to})
		require.NoError(t, err)
		var got []string
		for _, e := range page.Events {
			got = append(got, e.EventID)
		}
		slices.Sort(got)
		require.Equal(t, r.want, got)
	}
	for id := range bad {
		require.Contains(t, logs.String(), `"event_id":"`+id+`"`)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		require.Contains(t, line, `"request_id":"req-poison"`)
		require.Contains(t, line, "served sanitised")
	}
}
