package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/change66/logserver/internal/consolebench"
)

// BenchmarkBigConsole measures the console's read paths (package consolebench: /api/v1/metrics, dashboard,
// search, export) over 1 million events received in one day, bulk-loaded with SQL through the rollup and
// search triggers, as at ingest. Only with LOGINGEST_BIG_BENCH=1 (LOGINGEST_BIG_BENCH_ROWS overrides the row
// count).
func BenchmarkBigConsole(b *testing.B) {
	rows := consolebench.Enabled(b, 1_000_000)
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "logingest.db"), &Config{AutoMigrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
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
	b.Logf("generated %d events in %v (rollups and search index maintained)", rows, time.Since(start).Round(time.Second))
	consolebench.Run(b, s, rows, now)
}
