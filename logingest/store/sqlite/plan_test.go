package sqlite

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestQueryPlans checks that the filters the API offers are served by the indexes of the schema, using the
// exact SQL Query builds.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "plan.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	for _, tc := range []struct {
		f         logingest.Filter
		wantIndex string
	}{
		{logingest.Filter{Source: "s"}, "analytics_logs_source_received_at"}, // the default: created_at DESC
		{logingest.Filter{Source: "s", SortBy: logingest.SortTimestamp}, "analytics_logs_source_timestamp"},
		{logingest.Filter{Source: "s", StartTime: time.Unix(1, 0), SortBy: logingest.SortTimestamp}, "analytics_logs_source_timestamp"},
		{logingest.Filter{Source: "s", SortBy: logingest.SortReceivedAt}, "analytics_logs_source_received_at"},
		{logingest.Filter{Source: "s", UserID: "u"}, "analytics_logs_user_source_received_at"},
		{logingest.Filter{Source: "s", SessionID: "x"}, "analytics_logs_session_source_received_at"},
		{logingest.Filter{Source: "s", EventType: logingest.EventTypeError}, "analytics_logs_source_type_received_at"},
		{logingest.Filter{Source: "s", EventName: "n"}, "analytics_logs_source_name_received_at"},
		{logingest.Filter{Source: "s", ProviderName: "google", SortBy: logingest.SortTimestamp}, "analytics_logs_provider_name"},
	} {
		f, err := tc.f.Normalize()
		require.NoError(t, err)
		where, args := filterWhere(f)
		col := sortColumns[f.SortBy]
		q := "EXPLAIN QUERY PLAN SELECT " + selectColumns + " FROM analytics_logs" + where +
			" ORDER BY " + col + " DESC, id DESC LIMIT 10"
		joined := strings.Join(queryPlan(t, s, q, args), "; ")
		require.Contains(t, joined, "INDEX "+tc.wantIndex, "filter %+v", tc.f)
		if tc.wantIndex != "analytics_logs_provider_name" {
			require.NotContains(t, joined, "TEMP B-TREE", "filter %+v must not sort in a temp b-tree: %s", tc.f, joined)
		}
	}
}

// TestDashboardPlans checks that the dashboard of one user or one session (rollupsql's direct queries: the
// filter and a received_at window) reads that user's or session's rows through its index (issue 12), not
// the source's whole window.
func TestDashboardPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "plan.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	for _, tc := range []struct {
		f         logingest.Filter
		wantIndex string
	}{
		{logingest.Filter{Source: "s", UserID: "u"}, "analytics_logs_user_source_received_at"},
		{logingest.Filter{Source: "s", SessionID: "x"}, "analytics_logs_session_source_received_at"},
		{logingest.Filter{Source: "s", UserID: "u", EventType: logingest.EventTypeError}, "analytics_logs_user_source_received_at"},
	} {
		where, args := dialect.Where(tc.f, nil)
		q := "EXPLAIN QUERY PLAN SELECT count(*) FROM analytics_logs WHERE " + where +
			" AND received_at > ? AND received_at <= ?"
		args = append(args, "2025-01-01T00:00:00.000000000Z", "2025-01-02T00:00:00.000000000Z")
		joined := strings.Join(queryPlan(t, s, q, args), "; ")
		require.Contains(t, joined, "INDEX "+tc.wantIndex, "filter %+v", tc.f)
		require.Contains(t, joined, "received_at>? AND received_at<?)", "filter %+v must range over received_at: %s", tc.f, joined)
	}
}

// queryPlan returns the detail column of EXPLAIN QUERY PLAN q, one entry per step.
func queryPlan(t *testing.T, s *Store, q string, args []any) []string {
	t.Helper()
	rows, err := s.reader.QueryContext(t.Context(), q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err())
	return plan
}

// TestLastSeenTailPlan checks that the un-indexed tail of analytics_last_seen (lastSeenTail) is read by its rowid
// range above upto, whatever conditions on source and seen the active counts put on it: on bare columns SQLite
// pushed them into the tail and walked the (source, received_at) index over the whole window instead (metrics
// at 1 M events took 200 ms instead of 15).
func TestLastSeenTailPlan(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "plan.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	for _, q := range []string{
		"SELECT EXISTS (SELECT 1 FROM (" + lastSeenTail + ") t WHERE t.kind = 'u' AND t.source = ? AND t.seen > ?)",
		"SELECT count(DISTINCT t.id) FROM (" + lastSeenTail + ") t WHERE t.kind = 's' AND t.source = ? AND t.seen > ?",
	} {
		plan := queryPlan(t, s, "EXPLAIN QUERY PLAN "+q, []any{"app", "2025-01-01T00:00:00.000000000Z"})
		joined := strings.Join(plan, "; ")
		require.NotContains(t, joined, "received_at", "the tail must not walk a received_at index: %s", joined)
		require.Equal(t, 2, strings.Count(joined, "USING INTEGER PRIMARY KEY (rowid>?)"), "both arms by rowid: %s", joined)
	}
}
