package pgstore_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
	"github.com/change66/logserver/migrations"
)

// rollupEvent is the n-th event of the rollup tests: two sources, every event type, received 7 s apart from
// 11:58:30.123456 (so minutes and hours are crossed), a mix of app versions, users and sessions (a session
// belongs to one user, as erasure assumes), and duration_ms and platform values on both sides of every rule of
// analytics_duration_ms and analytics_platform.
func rollupEvent(n int) logingest.Event {
	props := []string{
		`{"duration_ms": 12}`, `{"duration_ms": 12.75}`, `{"duration_ms": -1}`, `{"duration_ms": 1e13}`,
		`{"duration_ms": "12"}`, `{"duration_ms": null}`, `{"other": 1}`, ``, `{"duration_ms": 0}`,
		`{"duration_ms": 999999999999}`, `{"provider_name": "google", "duration_ms": 3}`,
	}
	devices := []string{
		`{"platform": "ios"}`, `{"platform": "android"}`, `{"platform": 7}`, ``, `{"platform": null}`,
		`{"platform": "` + strings.Repeat("é", 70) + `"}`, `{"platform": ""}`, `{"model": "x"}`,
	}
	base := time.Date(2025, 8, 27, 11, 58, 30, 123456000, time.UTC)
	e := logingest.Event{
		Source: []string{"a", "b"}[n%2], EventID: fmt.Sprintf("e-%d", n),
		EventType: logingest.EventTypes()[n%len(logingest.EventTypes())], EventName: fmt.Sprintf("name-%d", n%4),
		Timestamp: base.Add(-time.Duration(n) * time.Minute), ReceivedAt: base.Add(time.Duration(n) * 7 * time.Second),
		Priority: logingest.PriorityNormal, AppVersion: []string{"", "1.0", "2.0"}[n%3],
		UserID: []string{"", "u1", "u2", "u3"}[n%4],
	}
	if n%5 != 0 {
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

// rollupDefinitions are the rollups as migration 007 defines them, computed from analytics_logs, and the rows
// the tables hold (without rows an erasure brought to zero, which a definition does not produce).
var rollupDefinitions = map[string][2]string{
	"analytics_rollup_minute": bucketRollupDefinition("minute"),
	"analytics_rollup_hour":   bucketRollupDefinition("hour"),
	"analytics_last_seen": {
		`SELECT source, 'u'::"char", user_id, max(received_at) FROM analytics_logs WHERE user_id IS NOT NULL GROUP BY 1, 3
		UNION ALL
		SELECT source, 's'::"char", session_id, max(received_at) FROM analytics_logs WHERE session_id IS NOT NULL GROUP BY 1, 3
		ORDER BY 1, 2, 3`,
		`SELECT * FROM analytics_last_seen ORDER BY 1, 2, 3`,
	},
}

// requireRollupsMatchDefinitions fails t unless every rollup table holds exactly what its definition computes
// from analytics_logs. It returns the number of rows compared.
func requireRollupsMatchDefinitions(t *testing.T, q *pgxpool.Pool) int {
	t.Helper()
	dump := func(sql string) []string {
		rows, err := q.Query(t.Context(), sql)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return fmt.Sprint(v), err
		})
		require.NoError(t, err)
		return out
	}
	total := 0
	for table, d := range rollupDefinitions {
		want, got := dump(d[0]), dump(d[1])
		require.Equal(t, want, got, "%s differs from its definition over analytics_logs", table)
		total += len(got)
	}
	return total
}

// TestRollupsMatchTheirSQLDefinition stores events by every path that maintains the rollups (Append's
// statement, which maintains them itself, Append's COPY path and a plain SQL insert, which leave it to the
// trigger), with in-call repeats, stored duplicates, concurrent Appends of the same events and an erasure, on a
// pool of one connection (so a transaction-local setting that leaked would show in the next statement), and
// checks every rollup row against its SQL definition: nothing counted twice, nothing missed.
func TestRollupsMatchTheirSQLDefinition(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := pgstore.New(pool, &pgstore.Config{Logger: slog.New(slog.DiscardHandler), CopyMinBatch: 40})
	require.NoError(t, err)
	m, release, err := s.Migrator(nil)
	require.NoError(t, err)
	_, err = m.Migrate(ctx, migrations.DirectionUp, nil)
	require.NoError(t, err)
	require.NoError(t, release())
	require.NoError(t, s.MaintainPartitions(ctx, time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)))

	var all []logingest.Event
	for n := range 200 {
		all = append(all, rollupEvent(n))
	}
	// Statement path (batches of 1 to 13), with in-call repeats and stored duplicates.
	for lo, size := 0, 1; lo < 100; lo, size = lo+size, size%13+1 {
		batch := slices.Clone(all[lo:min(lo+size, 100)])
		batch = append(batch, batch[0])
		if lo > 0 {
			batch = append(batch, all[0])
		}
		_, err := s.Append(ctx, batch)
		require.NoError(t, err)
	}
	// COPY path (at least CopyMinBatch distinct events), with stored duplicates.
	_, err = s.Append(ctx, append(slices.Clone(all[100:160]), all[1], all[2]))
	require.NoError(t, err)
	// A plain SQL insert on the same connection: the trigger must count it.
	_, err = pool.Exec(ctx, `INSERT INTO analytics_logs (id, source, event_id, timestamp, event_type, event_name,
		properties, user_id, session_id, device_info, priority, received_at)
		VALUES (nextval('analytics_logs_id_seq'), 'a', 'plain-1', now(), 'error', 'name-1', '{"duration_ms": 5}',
			'u1', 's-u1-1', '{"platform": "ios"}', 'normal', '2025-08-27 12:03:00+00')`)
	require.NoError(t, err)
	// Concurrent Appends of the same events (on separate connections): each is counted once.
	pool2, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool2.Close)
	s2, err := pgstore.New(pool2, &pgstore.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 160; i < 200; i += 4 {
				_, err := s2.Append(ctx, []logingest.Event{all[i+w%4], all[i+(w+1)%4]})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	var stored int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM analytics_logs").Scan(&stored))
	require.EqualValues(t, 201, stored)
	require.Greater(t, requireRollupsMatchDefinitions(t, pool), 200)

	_, err = s.DeleteUserEvents(ctx, "a", "u2")
	require.NoError(t, err)
	_, err = s.Append(ctx, []logingest.Event{rollupEvent(500), rollupEvent(502)})
	require.NoError(t, err)
	requireRollupsMatchDefinitions(t, pool)
}

// TestMigration009_DownUpWithData reverts migration 009 on a table with events and checks that the trigger
// then counts every insert again (what the Append of version 8 relies on) and that, migrated up again, Append
// and the trigger still count every event exactly once.
func TestMigration009_DownUpWithData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, pool, m := unmigrated(t)
	_, err := m.Migrate(ctx, migrations.DirectionUp, nil)
	require.NoError(t, err)
	require.NoError(t, s.MaintainPartitions(ctx, time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)))
	var all []logingest.Event
	for n := range 60 {
		all = append(all, rollupEvent(n))
	}
	for lo := 0; lo < 30; lo += 5 {
		_, err := s.Append(ctx, all[lo:lo+5])
		require.NoError(t, err)
	}
	requireRollupsMatchDefinitions(t, pool)

	_, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: 8})
	require.NoError(t, err)
	// Version 8's trigger counts every insert, even one in a transaction that sets logingest.rollups.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT set_config('logingest.rollups', 'statement', true)")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO analytics_logs (id, source, event_id, timestamp, event_type, event_name,
		properties, user_id, session_id, device_info, priority, received_at)
		SELECT nextval('analytics_logs_id_seq'), source, event_id || '-v8', timestamp, event_type, event_name,
			properties, user_id, session_id, device_info, priority, received_at + interval '90 seconds'
		FROM analytics_logs`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	var stored int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM analytics_logs").Scan(&stored))
	require.EqualValues(t, 60, stored)
	requireRollupsMatchDefinitions(t, pool)

	_, err = m.Migrate(ctx, migrations.DirectionUp, nil)
	require.NoError(t, err)
	for lo := 30; lo < 60; lo += 6 {
		_, err := s.Append(ctx, all[lo:lo+6])
		require.NoError(t, err)
	}
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM analytics_logs").Scan(&stored))
	require.EqualValues(t, 90, stored)
	requireRollupsMatchDefinitions(t, pool)
}

// bucketRollupDefinition is rollupDefinitions' pair for the rollup table of one bucket width (minute, hour).
func bucketRollupDefinition(width string) [2]string {
	return [2]string{
		`SELECT source, date_trunc('` + width + `', received_at), event_type, priority, event_name,
			coalesce(app_version, ''), analytics_platform(device_info), count(*),
			count(analytics_duration_ms(properties)), coalesce(sum(analytics_duration_ms(properties)), 0)
		FROM analytics_logs GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7`,
		`SELECT source, bucket, event_type, priority, event_name, app_version, platform, n, dur_count, dur_sum
		FROM analytics_rollup_` + width + ` WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7`,
	}
}
