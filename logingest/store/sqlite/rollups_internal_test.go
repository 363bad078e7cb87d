package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/migrations"
)

// TestRollupsMatchTheirSQLDefinition: the rollups, analytics_last_seen and the search index that Append keeps
// per transaction (migration 008) hold exactly what the SQL of migrations 006 and 007 computes from the stored
// rows (their backfill, the same expressions as their per-row triggers), for events whose JSON the rollups
// must read carefully, across several Appends with duplicates, in-call repeats and an erasure.
func TestRollupsMatchTheirSQLDefinition(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	base := time.Date(2025, 8, 27, 11, 58, 30, 123456789, time.UTC)
	props := []string{
		`{"duration_ms": 12}`, `{"duration_ms": 12.75}`, `{"duration_ms": -1}`, `{"duration_ms": 1e13}`,
		`{"duration_ms": "12"}`, `{"duration_ms": null}`, `{"other": 1}`, ``, `{"duration_ms": 0}`,
		`{"duration_ms": 999999999999}`, `{"provider_name": "google", "duration_ms": 3}`,
	}
	devices := []string{
		`{"platform": "ios"}`, `{"platform": "android"}`, `{"platform": 7}`, ``, `{"platform": null}`,
		`{"platform": "` + strings.Repeat("é", 70) + `"}`, `{"platform": ""}`, `{"model": "x"}`,
	}
	mk := func(n int) logingest.Event {
		e := logingest.Event{
			Source: []string{"a", "b"}[n%2], EventID: fmt.Sprintf("e-%d", n),
			EventType: logingest.EventTypes()[n%len(logingest.EventTypes())], EventName: fmt.Sprintf("name-%d", n%4),
			Timestamp: base.Add(-time.Duration(n) * time.Hour), ReceivedAt: base.Add(time.Duration(n) * 7 * time.Second),
			Priority: logingest.PriorityNormal, AppVersion: []string{"", "1.0", "2.0"}[n%3],
			UserID: []string{"", "u1", "u2", "u3"}[n%4],
		}
		if n%5 != 0 { // a session belongs to one user (erasure forgets the sessions of the erased events)
			e.SessionID = fmt.Sprintf("s-%s-%d", e.UserID, n%2)
		}
		if p := props[n%len(props)]; p != "" {
			e.Properties = []byte(p)
		}
		if d := devices[n%len(devices)]; d != "" {
			e.DeviceInfo = []byte(d)
		}
		return e
	}
	var all []logingest.Event
	for n := range 120 {
		all = append(all, mk(n))
	}
	for lo := 0; lo < len(all); lo += 50 {
		batch := all[lo:min(lo+50, len(all))]
		batch = append(batch, batch[0]) // an in-call repeat
		if lo > 0 {
			batch = append(batch, all[0]) // a stored duplicate
		}
		_, err := s.Append(ctx, batch)
		require.NoError(t, err)
	}
	_, err = s.DeleteUserEvents(ctx, "a", "u2")
	require.NoError(t, err)
	_, err = s.Append(ctx, []logingest.Event{mk(500), mk(501)})
	require.NoError(t, err)

	require.NoError(t, s.indexAll(ctx)) // the search index as the background indexer leaves it
	kept := dumpDerived(t, s)
	require.NotEmpty(t, kept["analytics_rollup_minute"])
	for _, table := range []string{"analytics_rollup_minute", "analytics_rollup_hour", "analytics_last_seen"} {
		_, err := s.writer.ExecContext(ctx, "DELETE FROM "+table)
		require.NoError(t, err)
	}
	for _, table := range []string{"analytics_logs_fts", "analytics_logs_fts_unicode"} {
		_, err = s.writer.ExecContext(ctx, "DELETE FROM "+table)
		require.NoError(t, err)
	}
	for _, q := range bigBackfill {
		_, err := s.writer.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	require.Equal(t, dumpDerived(t, s), kept)
}

// dumpDerived returns every row of the rollup tables (without rows whose count an erasure brought to zero,
// which the backfill does not create), analytics_last_seen, and the search index's matches of a few terms.
func dumpDerived(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, q := range map[string]string{
		"analytics_rollup_minute": "SELECT * FROM analytics_rollup_minute WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7",
		"analytics_rollup_hour":   "SELECT * FROM analytics_rollup_hour WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7",
		"analytics_last_seen":     "SELECT source, kind, id, seen FROM analytics_last_seen ORDER BY 1, 2, 3",
		"search name-1":           "SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH '" + trigramQuery([]string{"name-1"}) + "' ORDER BY 1",
		"search u3":               "SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH '\"u3\"' ORDER BY 1",
		"search google":           "SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH '" + trigramQuery([]string{"google"}) + "' ORDER BY 1",
	} {
		out[table] = dumpRows(t, s, q)
	}
	return out
}

func dumpRows(t *testing.T, s *Store, q string) []string {
	t.Helper()
	rows, err := s.writer.QueryContext(t.Context(), q)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		out = append(out, fmt.Sprint(vals...))
	}
	require.NoError(t, rows.Err())
	return out
}

// TestMigration008DownAndUpWithData: on a database with events, migrations 009 and 008 go down (009's down
// indexes the events the background indexer had not reached; the insert triggers of 006 and 007 come back
// and keep counting rows written with plain SQL) and up again (Append takes over), and the rollups stay exact
// throughout.
func TestMigration008DownAndUpWithData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	cfg := &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true}
	s, err := Open(ctx, path, cfg)
	require.NoError(t, err)
	s.indexer.stop() // the events stay above upto: migration 009's down indexes them
	now := time.Now().UTC()
	var events []logingest.Event
	for n := range 30 {
		events = append(events, logingest.Event{
			Source: "src", EventID: fmt.Sprintf("e-%d", n), EventType: logingest.EventTypeBehavioral, EventName: "x",
			Timestamp: now, ReceivedAt: now.Add(-time.Duration(n) * time.Second), UserID: fmt.Sprintf("u%d", n%3),
		})
	}
	_, err = s.Append(ctx, events)
	require.NoError(t, err)
	requireTotal(t, s, now, 30)

	m, _, err := s.Migrator(&migrations.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: 7})
	require.NoError(t, err)
	_, err = s.writer.ExecContext(ctx, `INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name,
		received_at, created_at) VALUES ('src', 'plain-sql', ?1, 'behavioral', 'x', ?1, ?1)`, formatTime(now))
	require.NoError(t, err)
	// Read without Stats, which needs 009's analytics_indexed.
	require.Equal(t, []string{"31"}, dumpRows(t, s, "SELECT sum(n) FROM analytics_rollup_hour WHERE source = 'src'"),
		"counted by the trigger of 006")
	require.Equal(t, []string{"3"}, dumpRows(t, s, "SELECT count(*) FROM analytics_last_seen WHERE source = 'src' AND kind = 'u'"),
		"009's down folded the un-indexed events into analytics_last_seen")
	require.NoError(t, s.Close())

	_, err = Open(ctx, path, &Config{Logger: slog.New(slog.DiscardHandler)})
	require.ErrorContains(t, err, "migration", "a store refuses a schema older than 008: the triggers would count twice")

	s, err = Open(ctx, path, cfg) // migrates up again
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	after := logingest.Event{
		Source: "src", EventID: "after", EventType: logingest.EventTypeBehavioral, EventName: "x", Timestamp: now, ReceivedAt: now,
	}
	_, err = s.Append(ctx, []logingest.Event{after})
	require.NoError(t, err)
	requireTotal(t, s, now, 32) // counted once
	page, err := s.Query(ctx, logingest.Filter{Source: "src", UserID: "u1"})
	require.NoError(t, err)
	require.EqualValues(t, 10, page.Total)
}

func requireTotal(t *testing.T, s *Store, now time.Time, want int64) {
	t.Helper()
	st, err := s.Stats(context.Background(), logingest.StatsQuery{Source: "src", Now: now})
	require.NoError(t, err)
	require.Equal(t, want, st.TotalEvents)
}

// TestLastSeenAcrossIndexerBatches: analytics_last_seen holds each id's latest received_at however the
// indexer splits the events into transactions, also when a later event (higher id) was received earlier than
// one already indexed (several writers), and never goes back.
func TestLastSeenAcrossIndexerBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "l.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	s.indexer.stop() // the test runs indexTail itself

	base := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	var events []logingest.Event
	for n := range 60 {
		// received_at goes up and down with n: later ids of an id are both later and earlier.
		offset := time.Duration((n*37)%23) * time.Second
		events = append(events, logingest.Event{
			Source: []string{"a", "b"}[n%2], EventID: fmt.Sprintf("e-%d", n), EventType: logingest.EventTypes()[0],
			EventName: "x", Timestamp: base, ReceivedAt: base.Add(offset), Priority: logingest.PriorityNormal,
			UserID: []string{"", "u1", "u2"}[n%3], SessionID: []string{"s1", "s2", "s3", "s4", ""}[n%5],
		})
	}
	for lo := 0; lo < len(events); lo += 10 {
		_, err := s.Append(ctx, events[lo:lo+10])
		require.NoError(t, err)
		limit := int64(3) // each id at most once per transaction
		if lo%20 != 0 {
			limit = 10 // several times, not in the order received
		}
		for {
			n, err := s.indexTail(ctx, limit)
			require.NoError(t, err)
			if n == 0 {
				break
			}
		}
	}
	want := dumpRows(t, s, `SELECT source, 'u', user_id, max(received_at) FROM analytics_logs WHERE user_id <> '' GROUP BY 1, 3
		UNION ALL SELECT source, 's', session_id, max(received_at) FROM analytics_logs WHERE session_id <> '' GROUP BY 1, 3
		ORDER BY 1, 2, 3`)
	require.Len(t, want, 2*2+2*4)
	require.Equal(t, want, dumpRows(t, s, "SELECT source, kind, id, seen FROM analytics_last_seen ORDER BY 1, 2, 3"))
}
