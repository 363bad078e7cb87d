package sqlite

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/migrations"
)

// TestMigration010DownAndUpWithData: on a database with ASCII and non-ASCII events, part of them indexed by the
// background indexer and part in the un-indexed tail, migration 010 goes down (one index with positions holding
// the events up to upto and every non-ASCII one, as 009 keeps it) and up again (the two indexes rebuilt), and
// every search gives the same answers before and after; erasure removes events from both indexes.
func TestMigration010DownAndUpWithData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	cfg := &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true}
	s, err := Open(ctx, path, cfg)
	require.NoError(t, err)
	s.indexer.stop() // the test moves upto itself

	msgs := []string{"needle", "neeXedle", "café needle", "CAFÉ", "nothing"}
	var events []logingest.Event
	for i := range 40 {
		e := searchEvent(i)
		e.Properties = json.RawMessage(fmt.Sprintf(`{"msg":%q}`, msgs[i%len(msgs)]))
		events = append(events, e)
	}
	res, err := s.Append(ctx, events)
	require.NoError(t, err)
	n, err := s.indexTail(ctx, 20) // ids 1 to 20 indexed, 21 to 40 in the tail
	require.NoError(t, err)
	require.EqualValues(t, 20, n)

	searches := []string{"needle", "eed", "Xed", "café", "CAFÉ needle", "nothing user_3"}
	answers := func() map[string][]int64 {
		out := map[string][]int64{}
		for _, text := range searches {
			for _, common := range []int64{0, 1} {
				s.search.commonAbove = common
				ids, totals := queryAll(t, s, logingest.Filter{Source: "s", Search: text, Limit: 6})
				key := fmt.Sprintf("%s/%d", text, common)
				out[key] = append(ids, totals...)
			}
		}
		s.search.commonAbove = 0
		return out
	}
	before := answers()
	require.Len(t, before["needle/0"], 16+3, "16 matches (i%5 is 0 or 2) and the totals of 3 pages")
	require.Len(t, before["Xed/1"], 8+2, "8 matches (i%5 is 1) and the totals of 2 pages")

	m, _, err := s.Migrator(&migrations.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: 9})
	require.NoError(t, err)
	// 009's index: the events up to upto (20), and the non-ASCII ones above it (café: i%5 is 2 or 3). Those
	// holding "needle": i%5 is 0 (ASCII) or 2 (non-ASCII).
	var want []string
	for i, r := range res {
		if (i < 20 && i%5 == 0) || i%5 == 2 {
			want = append(want, fmt.Sprint(r.ID))
		}
	}
	require.Equal(t, want, dumpRows(t, s, `SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH '"needle"' ORDER BY 1`))

	_, err = m.Migrate(ctx, migrations.DirectionUp, nil)
	require.NoError(t, err)
	require.Equal(t, before, answers())
	require.NoError(t, s.indexAll(ctx))
	require.Equal(t, before, answers())

	// Erasure: user_3's events leave both indexes.
	_, err = s.DeleteUserEvents(ctx, "s", "user_3")
	require.NoError(t, err)
	for _, table := range []string{"analytics_logs_fts", "analytics_logs_fts_unicode"} {
		for i, r := range res {
			if events[i].UserID == "user_3" { // table: one of two constants
				require.Equal(t, []string{"0"}, dumpRows(t, s, fmt.Sprintf(
					"SELECT count(*) FROM %s WHERE %[1]s MATCH '\"eed\"' AND rowid = %d", table, r.ID)), "%s, event %d", table, i)
			}
		}
	}
	ids, _ := queryAll(t, s, logingest.Filter{Source: "s", Search: "eed", Limit: 50})
	require.NotEmpty(t, ids)
	for _, id := range ids {
		for i, r := range res {
			require.False(t, r.ID == id && events[i].UserID == "user_3", "erased event %d found", i)
		}
	}
}
