package pgstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// TestQuery_TimeRangeAcrossPartitions checks the pages of a timestamp range in the past against the events:
// the range spans three partitions, and holds events received when they happened, events with old timestamps
// received days later (offline devices), and events whose timestamp is ahead of their received_at (a wrong
// clock). Every sort field and both orders are paged by cursor and by offset. The pages of one user and of one session (whose keys Query
// chooses from the covering index before reading the rows) are checked the same way.
func TestQuery_TimeRangeAcrossPartitions(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	require.NoError(t, s.MaintainPartitions(t.Context(), now.Add(-5*24*time.Hour)))

	start := now.Add(-3 * 24 * time.Hour).Truncate(time.Hour) // three days ago: its own partition
	end := start.Add(time.Hour)
	names := []string{"alpha", "bravo", "charlie"}
	var events []logingest.Event
	add := func(kind string, i int, ts, recv time.Time) {
		events = append(events, logingest.Event{
			Source: testSource, EventID: fmt.Sprintf("%s-%d", kind, i), Timestamp: ts, ReceivedAt: recv,
			EventType: logingest.EventTypeBehavioral, EventName: names[i%len(names)], Priority: logingest.PriorityNormal,
			UserID: fmt.Sprintf("user%d", i%4), SessionID: fmt.Sprintf("session%d", i%5), AppVersion: "1.0.0",
		})
	}
	for i := range 30 { // received as they happen, inside the range and around it
		ts := start.Add(-10*time.Minute + time.Duration(i)*3*time.Minute)
		add("live", i, ts, ts.Add(2*time.Second))
	}
	for i := range 12 { // buffered offline: timestamps in the range, received up to three days later (today's partition)
		ts := start.Add(time.Duration(i) * 4 * time.Minute)
		add("late", i, ts, now.Add(-time.Duration(i)*5*time.Hour))
	}
	for i := range 5 { // a clock a day ahead: timestamps in the range, received the day before (an older partition)
		ts := start.Add(time.Duration(i) * 11 * time.Minute)
		add("ahead", i, ts, ts.Add(-25*time.Hour))
	}
	for i := range 6 { // same timestamp and received_at: ties broken by id
		add("tie", i, start.Add(30*time.Minute), start.Add(31*time.Minute))
	}
	// At the edges of the on-time band of Query's split (skewsplit.go): a minute late or early is on time, a
	// microsecond more is skewed; at the range's edges too.
	for i, lag := range []time.Duration{time.Minute, time.Minute + time.Microsecond, -time.Minute, -time.Minute - time.Microsecond} {
		add("edge-start", i, start, start.Add(lag))
		add("edge-end", i, end.Add(-time.Microsecond), end.Add(-time.Microsecond).Add(lag))
		add("edge-out", i, end, end.Add(lag))
	}
	for i := range 4 { // received 40 days before their timestamps (a clock far ahead): the DEFAULT partition
		add("default-ahead", i, start.Add(time.Duration(i)*7*time.Minute), start.Add(-40*24*time.Hour))
	}
	old := now.Add(-40 * 24 * time.Hour).Truncate(time.Hour) // no partition: a range whose events are all in DEFAULT
	for i := range 9 {
		ts := old.Add(-5*time.Minute + time.Duration(i)*9*time.Minute)
		add("old-live", i, ts, ts.Add(time.Second))
		add("old-late", i, ts, now.Add(-time.Duration(i)*time.Hour))
	}
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)
	var inDefault int
	require.NoError(t, s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM analytics_logs_default`).Scan(&inDefault))
	require.Equal(t, 4+9, inDefault, "the DEFAULT partition must hold the events received 40 days ago")

	f := logingest.Filter{Source: testSource, StartTime: start, EndTime: end}
	var want []string
	for _, e := range events {
		if !e.Timestamp.Before(start) && e.Timestamp.Before(end) {
			want = append(want, e.EventID)
		}
	}
	slices.Sort(want)
	require.Len(t, want, 20+12+5+6+2*4+4)

	// pages returns the events of every page of f, in order, after checking that the pages by cursor and by
	// offset agree and hold each event of want once.
	pages := func(t *testing.T, f logingest.Filter, want []string) []logingest.Event {
		t.Helper()
		f.Limit = 7
		var byCursor, byOffset []logingest.Event
		for {
			p, err := s.Query(t.Context(), f)
			require.NoError(t, err)
			require.EqualValues(t, len(want), p.Total)
			require.False(t, p.TotalIsEstimate)
			byCursor = append(byCursor, p.Events...)
			if p.NextCursor == "" {
				break
			}
			f.After = p.NextCursor
		}
		f.After = ""
		for f.Offset = 0; ; f.Offset += f.Limit {
			p, err := s.Query(t.Context(), f)
			require.NoError(t, err)
			byOffset = append(byOffset, p.Events...)
			if len(p.Events) < f.Limit {
				break
			}
		}
		ids := func(es []logingest.Event) []string {
			out := make([]string, len(es))
			for i, e := range es {
				out[i] = e.EventID
			}
			return out
		}
		require.Equal(t, ids(byCursor), ids(byOffset), "cursor and offset pages differ")
		got := ids(byCursor)
		slices.Sort(got)
		require.Equal(t, want, got, "the pages must hold every event of the range once")
		return byCursor
	}

	// One user's and one session's pages, whose keys Query chooses from the covering index first.
	for _, f := range []logingest.Filter{{Source: testSource, UserID: "user1"}, {Source: testSource, SessionID: "session2"}} {
		var want []string
		for _, e := range events {
			if (f.UserID == "" || e.UserID == f.UserID) && (f.SessionID == "" || e.SessionID == f.SessionID) {
				want = append(want, e.EventID)
			}
		}
		slices.Sort(want)
		require.NotEmpty(t, want)
		for _, sortBy := range logingest.SortFields() {
			for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
				f.SortBy, f.SortOrder = sortBy, order
				t.Logf("%+v", f)
				got := pages(t, f, want)
				nf, err := f.Normalize()
				require.NoError(t, err)
				requireSorted(t, nf, got)
			}
		}
	}

	// The time ranges (Query splits those in received_at order into on-time and skewed events): the range;
	// its type (one of two); only a start or only an end; a range whose partition does not exist (all of its
	// events in DEFAULT) and one without a match.
	inRange := func(e logingest.Event, from, to time.Time) bool {
		return (from.IsZero() || !e.Timestamp.Before(from)) && (to.IsZero() || e.Timestamp.Before(to))
	}
	for i := range events {
		if i%2 == 1 {
			events[i].EventType = logingest.EventTypeError
		}
	}
	_, err = s.Pool().Exec(t.Context(), `UPDATE analytics_logs SET event_type = 'error' WHERE event_id = ANY($1)`,
		func() []string {
			var ids []string
			for _, e := range events {
				if e.EventType == logingest.EventTypeError {
					ids = append(ids, e.EventID)
				}
			}
			return ids
		}())
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		f    logingest.Filter
	}{
		{"range", f},
		{"range+type", logingest.Filter{Source: testSource, StartTime: start, EndTime: end, EventType: logingest.EventTypeError}},
		{"start only", logingest.Filter{Source: testSource, StartTime: start}},
		{"end only", logingest.Filter{Source: testSource, EndTime: end}},
		{"range in DEFAULT", logingest.Filter{Source: testSource, StartTime: old, EndTime: old.Add(time.Hour)}},
		{"no match", logingest.Filter{Source: testSource, StartTime: now.Add(-20 * 24 * time.Hour), EndTime: now.Add(-19 * 24 * time.Hour)}},
	} {
		want := []string{}
		for _, e := range events {
			if inRange(e, c.f.StartTime, c.f.EndTime) && (c.f.EventType == "" || e.EventType == c.f.EventType) {
				want = append(want, e.EventID)
			}
		}
		slices.Sort(want)
		if c.name != "no match" {
			require.NotEmpty(t, want, c.name)
		}
		for _, sortBy := range logingest.SortFields() {
			for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
				f := c.f
				f.SortBy, f.SortOrder = sortBy, order
				t.Logf("%s: sort %s %s", c.name, sortBy, order)
				nf, err := f.Normalize()
				require.NoError(t, err)
				if q, _ := pgstore.PageSQLForTest(f); nf.SortBy == logingest.SortReceivedAt {
					require.Contains(t, q, "UNION ALL", "the on-time and skewed split")
				}
				requireSorted(t, nf, pages(t, f, want))
			}
		}
	}
}

// requireSorted checks events against the order of f (normalized) for the sort fields whose values compare the
// same in Go and in PostgreSQL (times and numbers; text depends on the database's collation).
func requireSorted(t *testing.T, f logingest.Filter, events []logingest.Event) {
	t.Helper()
	switch f.SortBy {
	case logingest.SortReceivedAt, logingest.SortTimestamp, logingest.SortID:
	default:
		return
	}
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b logingest.Event) int {
		c := storequery.At(&a, a.ID, f.SortBy).Compare(storequery.At(&b, b.ID, f.SortBy))
		if f.SortOrder == logingest.SortDesc {
			return -c
		}
		return c
	})
	require.Equal(t, sorted, events, "pages out of %s %s order", f.SortBy, f.SortOrder)
}
