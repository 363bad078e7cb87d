package sqlite

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestSearchPlans checks that a common search term is served by walking the filter's index with a probe of
// the FTS5 index per row (no sort of every match), and that it returns the same pages, cursors and totals as
// the FTS-first plan of rare terms, for every sort field and order.
func TestSearchPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "search.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var events []logingest.Event
	common := int64(0)
	for i := range 60 {
		e := logingest.Event{
			Source: "s", EventID: fmt.Sprintf("e%02d", i), Timestamp: base.Add(time.Duration(i%7) * time.Minute),
			EventType: logingest.EventTypes()[i%5], EventName: fmt.Sprintf("name_%d", i%4),
			UserID: fmt.Sprintf("user_%d", i%9), SessionID: fmt.Sprintf("sess_%d", i%6), AppVersion: fmt.Sprintf("1.%d", i%3),
			Priority: logingest.PriorityNormal, Properties: json.RawMessage(`{}`), DeviceInfo: json.RawMessage(`{}`),
		}
		if i%5 != 0 {
			e.SequenceNumber = new(int64(i % 8))
		}
		if i%3 == 0 {
			e.EventName = "Needle_" + e.EventName
			common++
		}
		events = append(events, e)
	}
	_, err = s.Append(t.Context(), events)
	require.NoError(t, err)

	// The plan of a common term: the source's received_at index, the FTS5 index probed per row, no temp b-tree.
	f, err := logingest.Filter{Source: "s", Search: "needle"}.Normalize()
	require.NoError(t, err)
	where, args := filterWhereProbe(f)
	plan := strings.Join(queryPlan(t, s, "EXPLAIN QUERY PLAN SELECT "+selectColumns+" FROM analytics_logs"+where+
		" ORDER BY received_at DESC, id DESC LIMIT 10", args), "; ")
	require.Contains(t, plan, "INDEX analytics_logs_source_received_at", plan)
	require.Contains(t, plan, "analytics_logs_fts EXISTS VIRTUAL TABLE INDEX 0:=M", plan) // probe: rowid = id and MATCH
	require.NotContains(t, plan, "TEMP B-TREE", plan)

	// The plan choice: "needle" is common above a threshold of 5 matches and rare under the default.
	tx, err := s.reader.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	isCommon, err := s.commonSearch(t.Context(), tx, f)
	require.NoError(t, err)
	require.False(t, isCommon, "%d matches under the default threshold", common)
	s.searchCommonAbove = 5
	isCommon, err = s.commonSearch(t.Context(), tx, f)
	require.NoError(t, err)
	require.True(t, isCommon)
	rare, err := logingest.Filter{Source: "s", Search: "needle user_0 sess_0"}.Normalize()
	require.NoError(t, err)
	isCommon, err = s.commonSearch(t.Context(), tx, rare)
	require.NoError(t, err)
	require.False(t, isCommon, "a term with few matches stays FTS-first")
	require.NoError(t, tx.Rollback())
	s.searchCommonAbove = 0

	// Same results from both plans: every page by cursor, for every sort and order.
	all := func(f logingest.Filter) (ids []int64, totals []int64) {
		for {
			p, err := s.Query(t.Context(), f)
			require.NoError(t, err)
			require.False(t, p.TotalIsEstimate)
			for _, e := range p.Events {
				ids = append(ids, e.ID)
			}
			totals = append(totals, p.Total)
			if p.NextCursor == "" {
				return ids, totals
			}
			f.After = p.NextCursor
		}
	}
	for _, by := range logingest.SortFields() {
		for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
			f := logingest.Filter{Source: "s", Search: "needle", SortBy: by, SortOrder: order, Limit: 4}
			s.searchCommonAbove = 0
			wantIDs, wantTotals := all(f)
			require.Len(t, wantIDs, int(common))
			s.searchCommonAbove = 5 // the common plan
			gotIDs, gotTotals := all(f)
			require.Equal(t, wantIDs, gotIDs, "sort %s %s", by, order)
			require.Equal(t, wantTotals, gotTotals, "sort %s %s", by, order)
		}
	}
}
