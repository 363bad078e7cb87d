package pgstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestDashboard_UserAndSessionPlannedForTheirValues checks the dashboard of one user and of one session (the
// direct queries of rollupsql) against the events, and that those queries are not prepared statements: after
// five executions PostgreSQL may plan a prepared statement generically, without the user, and at 5 million
// events that plan intersected the user's index entries with every entry of the 24 h window (~1 s instead of a
// few ms, issue 12). The source's dashboard (from the rollups) stays prepared, which shows that the check sees
// the pool's prepared statements.
func TestDashboard_UserAndSessionPlannedForTheirValues(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	events := loadEvents(t)
	for i := range events {
		events[i].ReceivedAt = now.Add(-time.Duration(i) * 10 * time.Minute) // 300 events over 50 hours
	}
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)

	var user, session string
	for _, e := range events {
		if user == "" && e.UserID != "" {
			user = e.UserID
		}
		if session == "" && e.SessionID != "" {
			session = e.SessionID
		}
	}
	require.NotEmpty(t, user, "testdata must have events with a user")
	require.NotEmpty(t, session, "testdata must have events with a session")

	for _, f := range []logingest.Filter{{Source: testSource, UserID: user}, {Source: testSource, SessionID: session}} {
		var wantDay, wantHour, wantRange, wantErrors int64
		types := map[string]int64{}
		for _, e := range events {
			if (f.UserID != "" && e.UserID != f.UserID) || (f.SessionID != "" && e.SessionID != f.SessionID) ||
				!e.ReceivedAt.After(now.Add(-24*time.Hour)) || e.ReceivedAt.After(now) {
				continue
			}
			wantDay++
			if e.ReceivedAt.After(now.Add(-time.Hour)) {
				wantHour++
			}
			if e.ReceivedAt.Before(now) { // the timeline's range is [now-24h, now)
				wantRange++
				types[string(e.EventType)]++
				if e.EventType == logingest.EventTypeError {
					wantErrors++
				}
			}
		}
		require.Positive(t, wantDay, "filter %+v must match events of the last day", f)
		for range 8 { // more than the five executions after which a prepared statement may go generic
			d, err := s.Dashboard(t.Context(), logingest.DashboardQuery{Filter: f, Now: now})
			require.NoError(t, err)
			require.True(t, d.Exact, "filter %+v", f)
			require.Equal(t, wantDay, d.Totals.LogsLastDay, "filter %+v", f)
			require.Equal(t, wantHour, d.Totals.LogsLastHour, "filter %+v", f)
			var sum, errs int64
			for _, p := range d.Timeline {
				sum, errs = sum+p.Count, errs+p.Errors
			}
			require.Equal(t, wantRange, sum, "filter %+v", f)
			require.Equal(t, wantErrors, errs, "filter %+v", f)
			got := map[string]int64{}
			for _, vc := range d.EventTypes {
				got[vc.Value] = vc.Count
			}
			require.Equal(t, types, got, "filter %+v", f)
		}
	}
	_, err = s.Dashboard(t.Context(), logingest.DashboardQuery{Filter: logingest.Filter{Source: testSource}, Now: now})
	require.NoError(t, err)

	conns := s.Pool().AcquireAllIdle(t.Context())
	require.NotEmpty(t, conns)
	var direct, rollup int
	for _, c := range conns {
		var d, r int
		require.NoError(t, c.QueryRow(t.Context(), `SELECT
			count(*) FILTER (WHERE statement LIKE '%FROM analytics_logs WHERE%user_id = $%'
				OR statement LIKE '%FROM analytics_logs WHERE%session_id = $%'),
			count(*) FILTER (WHERE statement LIKE '%FROM analytics_rollup_%')
			FROM pg_prepared_statements WHERE statement NOT LIKE '%pg_prepared_statements%'`).Scan(&d, &r))
		direct, rollup = direct+d, rollup+r
		c.Release()
	}
	require.Zero(t, direct, "the dashboard's queries of a user or a session must be planned for their values, not prepared")
	require.Positive(t, rollup, "the source's dashboard (rollups) must stay prepared")
}
