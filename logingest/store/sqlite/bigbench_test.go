package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/change66/logserver/internal/consolebench"
	"github.com/change66/logserver/logingest"
)

// BenchmarkBigConsole measures the console's read paths (package consolebench: /api/v1/metrics, dashboard,
// search, export) over 1 million events received in one day, bulk-loaded with SQL, with the rollups and the
// search index built as migrations 006 and 007 backfill them. Only with LOGINGEST_BIG_BENCH=1 (LOGINGEST_BIG_BENCH_ROWS overrides the row
// count). LOGINGEST_BIG_BENCH_KEEP=1 keeps the loaded events in $TMPDIR/logingest-bigconsole-<rows>.db, and a
// later run with the same setting reuses them instead of loading again (remove the file to reload).
func BenchmarkBigConsole(b *testing.B) {
	rows := consolebench.Enabled(b, 1_000_000)
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "logingest.db")
	if os.Getenv("LOGINGEST_BIG_BENCH_KEEP") == "1" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("logingest-bigconsole-%d.db", rows))
	}
	s, err := Open(ctx, path, &Config{AutoMigrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if now, ok := bigLoaded(b, s, rows); ok {
		b.Logf("reusing the %d events of %s", rows, path)
		consolebench.Run(b, s, rows, now)
		runBigList(b, s, now)
		return
	}
	// The background indexer would index part of the rows while they load (it wakes at Open), and the backfill
	// below indexes all of them: stop it first (Close stops it again, which is a no-op).
	s.indexer.stop()
	now := time.Now().UTC()
	start := time.Now()
	const chunk = 100_000
	for lo := 1; lo <= rows; lo += chunk {
		hi := min(lo+chunk-1, rows)
		_, err := s.writer.ExecContext(ctx, `
		WITH RECURSIVE g(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM g WHERE n < ?2)
		INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties, user_id,
			session_id, app_version, device_info, sequence_number, priority, received_at, created_at)
		SELECT 'habit-tracker-prod', printf('%032x', n * 2654435761),
			strftime('%Y-%m-%dT%H:%M:%S.000000000Z', ?3, printf('-%d seconds', (?4 - n) * 86400 / ?4 + n % 600)),
			CASE n % 5 WHEN 0 THEN 'behavioral' WHEN 1 THEN 'telemetry' WHEN 2 THEN 'observability' WHEN 3 THEN 'error'
				ELSE 'performance' END,
			(CASE (n / 5) % 6 WHEN 0 THEN 'habit_completed' WHEN 1 THEN 'habit_skipped' WHEN 2 THEN 'sync_finished'
				WHEN 3 THEN 'sync_failed' WHEN 4 THEN 'frame_time' ELSE 'button_tap' END),
			CASE WHEN n % 5 = 1 THEN json_object('endpoint', '/habits', 'status_code', 200, 'duration_ms', n % 900)
				ELSE json_object('habit_id', CAST(n % 13 AS TEXT), 'streak', n % 200) END,
			CASE WHEN n % 20 = 0 THEN '' ELSE 'user_' || (n % 50000) END,
			CASE WHEN n % 20 = 0 THEN '' ELSE 'session_' || (n % 500000) END,
			CASE n % 3 WHEN 0 THEN '2.0.1+7' WHEN 1 THEN '2.0.0+6' ELSE '1.9.4+5' END,
			json_object('platform', CASE n % 2 WHEN 0 THEN 'ios' ELSE 'android' END, 'model', 'iPhone 14'),
			n % 1000, CASE WHEN n % 10 = 0 THEN 'high' ELSE 'normal' END,
			strftime('%Y-%m-%dT%H:%M:%S.000000000Z', ?3, printf('-%d seconds', (?4 - n) * 86400 / ?4)),
			strftime('%Y-%m-%dT%H:%M:%S.000000000Z', ?3)
		FROM g`, lo, hi, now.Format(time.RFC3339), rows)
		if err != nil {
			b.Fatal(err)
		}
	}
	// Append maintains the rollups and the search index (migration 008); rows bulk-loaded with SQL get them
	// the way migrations 006 and 007 backfilled them.
	for _, q := range bigBackfill {
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("generated %d events in %v (rollups and search index backfilled)", rows, time.Since(start).Round(time.Second))
	consolebench.Run(b, s, rows, now)
	runBigList(b, s, now)
}

// bigLoaded reports whether s already holds the rows events of an earlier run (LOGINGEST_BIG_BENCH_KEEP), and
// the time they were generated at (the newest received_at). A database holding anything else is refused, so a
// run never measures a partial load.
func bigLoaded(b *testing.B, s *Store, rows int) (time.Time, bool) {
	b.Helper()
	var (
		n      int
		newest sql.NullString
	)
	if err := s.reader.QueryRowContext(b.Context(), "SELECT count(*), max(received_at) FROM analytics_logs").Scan(&n, &newest); err != nil {
		b.Fatal(err)
	}
	switch {
	case n == 0:
		return time.Time{}, false
	case n != rows || !newest.Valid:
		b.Fatalf("%s holds %d events, want 0 or %d: remove it", s.path, n, rows)
	}
	now, err := parseTime(newest.String)
	if err != nil {
		b.Fatal(err)
	}
	return now.Add(time.Second), true
}

// runBigList measures the explorer's list queries (GET /api/v1/logs/filter) over the bulk-loaded events: the
// first page of 50 with its exact total, and without it (SkipTotal), for each filter the API offers.
func runBigList(b *testing.B, s *Store, now time.Time) {
	b.Helper()
	src := consolebench.Source
	for _, c := range []struct {
		name string
		f    func(r *rand.Rand) logingest.Filter
	}{
		{"source", func(*rand.Rand) logingest.Filter { return logingest.Filter{Source: src} }},
		{"source+sort=timestamp", func(*rand.Rand) logingest.Filter {
			return logingest.Filter{Source: src, SortBy: logingest.SortTimestamp}
		}},
		{"source+last-hour", func(*rand.Rand) logingest.Filter {
			return logingest.Filter{Source: src, StartTime: now.Add(-time.Hour), SortBy: logingest.SortTimestamp}
		}},
		{"user", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: src, UserID: fmt.Sprintf("user_%d", 1+r.IntN(49999))}
		}},
		{"session", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: src, SessionID: fmt.Sprintf("session_%d", 1+r.IntN(499999))}
		}},
		{"type", func(r *rand.Rand) logingest.Filter {
			types := logingest.EventTypes()
			return logingest.Filter{Source: src, EventType: types[r.IntN(len(types))]}
		}},
		{"name", func(r *rand.Rand) logingest.Filter {
			names := []string{"habit_completed", "habit_skipped", "sync_finished", "sync_failed", "frame_time", "button_tap"}
			return logingest.Filter{Source: src, EventName: names[r.IntN(len(names))]}
		}},
		{"type+user", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: src, EventType: logingest.EventTypeError, UserID: fmt.Sprintf("user_%d", 1+r.IntN(49999))}
		}},
	} {
		for _, skip := range []bool{false, true} {
			name := "list/" + c.name
			if skip {
				name += "/page-only"
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, 4))
				d := make([]time.Duration, 0, b.N)
				for range b.N {
					f := c.f(r)
					f.SkipTotal = skip
					t0 := time.Now()
					if _, err := s.Query(context.Background(), f); err != nil {
						b.Fatal(err)
					}
					d = append(d, time.Since(t0))
				}
				consolebench.Percentiles(b, d)
			})
		}
	}
}

// bigBackfill builds the rollups, analytics_last_seen and the search indexes of bulk-loaded rows (the
// backfill statements of migrations 006 and 010, and 009's record that every row is indexed).
var bigBackfill = []string{
	`INSERT INTO analytics_rollup_minute
	SELECT source, substr(received_at, 1, 16) || ':00.000000000Z', event_type, priority, event_name, app_version,
		` + platformSQL + `, count(*), count(dur), total(dur)
	FROM (SELECT *, ` + durationSQL + ` AS dur FROM analytics_logs) GROUP BY 1, 2, 3, 4, 5, 6, 7`,
	`INSERT INTO analytics_rollup_hour
	SELECT source, substr(bucket, 1, 13) || ':00:00.000000000Z', event_type, priority, event_name, app_version, platform,
		sum(n), sum(dur_count), total(dur_sum)
	FROM analytics_rollup_minute GROUP BY 1, 2, 3, 4, 5, 6, 7`,
	`INSERT INTO analytics_last_seen
	SELECT source, 'u', user_id, max(received_at) FROM analytics_logs WHERE user_id <> '' GROUP BY 1, 3`,
	`INSERT INTO analytics_last_seen
	SELECT source, 's', session_id, max(received_at) FROM analytics_logs WHERE session_id <> '' GROUP BY 1, 3`,
	`INSERT INTO analytics_logs_fts (rowid, doc)
	SELECT id, ` + searchDoc + ` FROM analytics_logs WHERE NOT ` + nonASCIIDoc,
	`INSERT INTO analytics_logs_fts_unicode (rowid, doc)
	SELECT id, ` + searchDoc + ` FROM analytics_logs WHERE ` + nonASCIIDoc,
	`UPDATE analytics_indexed SET upto = (SELECT coalesce(max(id), 0) FROM analytics_logs)`,
}
