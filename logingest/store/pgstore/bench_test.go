package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/consolebench"
	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// benchStore opens a migrated Store in a fresh schema with the real clock, so events received now land in
// premade partitions.
func benchStore(b *testing.B) *pgstore.Store {
	b.Helper()
	s, err := pgstore.Open(context.Background(), pgtest.Schema(b),
		&pgstore.Config{AutoMigrate: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// benchBatches returns n batches of size events shaped like testdata/events.ndjson; 10% of the events of
// each batch repeat an event sent before (a retry), or, for batches of one, every tenth batch is a retry.
func benchBatches(b testing.TB, n, size int) [][]logingest.Event {
	b.Helper()
	templates := loadEvents(b)
	var sent []logingest.Event
	out := make([][]logingest.Event, n)
	seq := 0
	for i := range out {
		batch := make([]logingest.Event, size)
		for j := range batch {
			if len(sent) > 0 && (size == 1 && i%10 == 9 || size > 1 && j%10 == 9) {
				batch[j] = sent[rand.IntN(len(sent))]
				continue
			}
			e := templates[seq%len(templates)]
			e.EventID = fmt.Sprintf("%08x-bench-%012d", rand.Uint32(), seq)
			e.ReceivedAt = time.Now().UTC()
			seq++
			batch[j] = e
			sent = append(sent, e)
		}
		out[i] = batch
	}
	return out
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := benchStore(b)
			batches := benchBatches(b, b.N, size)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.Append(ctx, batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// copyRows writes events with COPY into analytics_logs: no deduplication at all, the ceiling for Append.
func copyRows(ctx context.Context, s *pgstore.Store, events []logingest.Event) error {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	rows := make([][]any, len(events))
	for j, e := range events {
		rows[j] = []any{
			e.Source, e.EventID, e.Timestamp, string(e.EventType), e.EventName, []byte(e.Properties),
			nullable(e.UserID), nullable(e.SessionID), nullable(e.AppVersion), []byte(e.DeviceInfo),
			e.SequenceNumber, string(e.Priority), e.ReceivedAt,
		}
	}
	_, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"analytics_logs"}, copyColumns, pgx.CopyFromRows(rows))
	return err
}

var copyColumns = []string{
	"source", "event_id", "timestamp", "event_type", "event_name", "properties", "user_id",
	"session_id", "app_version", "device_info", "sequence_number", "priority", "received_at",
}

// BenchmarkCopyCeiling writes the same rows with COPY (no dedup at all) into the same table and indexes:
// the ceiling idempotent Append is measured against.
func BenchmarkCopyCeiling(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := benchStore(b)
			batches := benchBatches(b, b.N, size)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if err := copyRows(ctx, s, batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendVsCopy measures Append against its COPY ceiling in one loop: every iteration writes the
// same batch with Append into one store and with COPY into a twin store (fresh schemas, same tables and
// indexes), alternating which goes first. Both see the same machine, checkpoints and table growth, so their
// ratio ("append/copy", the target is >= 0.80) is far steadier than two separate benchmarks'.
func BenchmarkAppendVsCopy(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			appendStore, copyStore := benchStore(b), benchStore(b)
			batches := benchBatches(b, b.N, size)
			ctx := context.Background()
			var inAppend, inCopy time.Duration
			runAppend := func(batch []logingest.Event) {
				t0 := time.Now()
				if _, err := appendStore.Append(ctx, batch); err != nil {
					b.Fatal(err)
				}
				inAppend += time.Since(t0)
			}
			runCopy := func(batch []logingest.Event) {
				t0 := time.Now()
				if err := copyRows(ctx, copyStore, batch); err != nil {
					b.Fatal(err)
				}
				inCopy += time.Since(t0)
			}
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					runAppend(batches[i])
					runCopy(batches[i])
				} else {
					runCopy(batches[i])
					runAppend(batches[i])
				}
			}
			events := float64(b.N * size)
			b.ReportMetric(events/inAppend.Seconds(), "append_events/s")
			b.ReportMetric(events/inCopy.Seconds(), "copy_events/s")
			b.ReportMetric(inCopy.Seconds()/inAppend.Seconds(), "append/copy")
		})
	}
}

// BenchmarkBigQueries measures the filter queries on 5 million events generated server-side. It takes
// minutes, so it only runs with PGSTORE_BIG_BENCH=1 (PGSTORE_BIG_BENCH_ROWS overrides the row count).
// Run it with a fixed count, e.g. -bench BigQueries -benchtime 200x; it reports p50 and p99 latencies and logs
// each query's EXPLAIN ANALYZE.
func BenchmarkBigQueries(b *testing.B) {
	if os.Getenv("PGSTORE_BIG_BENCH") != "1" {
		b.Skip("set PGSTORE_BIG_BENCH=1 to run (takes minutes)")
	}
	rowsWanted := 5_000_000
	if v := os.Getenv("PGSTORE_BIG_BENCH_ROWS"); v != "" {
		_, _ = fmt.Sscan(v, &rowsWanted)
	}
	ctx := context.Background()
	s := benchStore(b)
	nowT := time.Now().UTC()
	require.NoError(b, s.MaintainPartitions(ctx, nowT.AddDate(0, 0, -7)))

	// 50k users with ~100 events each, sessions of ~10 events, timestamps over 30 days, received over 7 days.
	start := time.Now()
	_, err := s.Pool().Exec(ctx, `
		INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties, user_id,
			session_id, app_version, device_info, sequence_number, priority, received_at)
		SELECT 'habit-tracker-prod', md5(g::text),
			$2::timestamptz - (g % 2592000) * interval '1 second',
			(ARRAY['behavioral','telemetry','observability','error','performance'])[g % 5 + 1],
			(ARRAY['habit_completed','habit_skipped','sync_finished','habit_fetched','nfc_notifier_update',
				'auth_provider_update','sync_failed','unhandled_exception','frame_time','cold_start','streak_extended',
				'button_tap'])[(g / 5) % 12 + 1],
			CASE WHEN g % 5 = 2
				THEN jsonb_build_object('provider_name', (ARRAY['habit_provider','nfc_notifier','auth_provider'])[g % 3 + 1],
					'old_state', 'idle', 'new_state', 'ready')
				ELSE jsonb_build_object('habit_id', (g % 13)::text, 'streak', g % 200) END,
			CASE WHEN g % 20 = 0 THEN NULL ELSE 'user_' || (g % 50000) END,
			CASE WHEN g % 20 = 0 THEN NULL ELSE 'session_' || (g % 500000) END,
			(ARRAY['2.0.1+7','2.0.0+6','1.9.4+5'])[g % 3 + 1],
			'{"platform":"ios","model":"iPhone 14","os_version":"17.5","locale":"fr_FR"}'::jsonb,
			g % 1000, CASE WHEN g % 10 = 0 THEN 'high' ELSE 'normal' END,
			$2::timestamptz - ($1 - g) * (interval '7 days' / $1)
		FROM generate_series(1, $1) g`, rowsWanted, nowT)
	require.NoError(b, err)
	_, err = s.Pool().Exec(ctx, "ANALYZE analytics_logs")
	require.NoError(b, err)
	b.Logf("generated %d events in %v", rowsWanted, time.Since(start).Round(time.Second))

	day := nowT.Add(-5 * 24 * time.Hour)
	cases := []struct {
		name string
		f    func(r *rand.Rand) logingest.Filter
	}{
		{"user", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: "habit-tracker-prod", UserID: fmt.Sprintf("user_%d", r.IntN(50000))}
		}},
		{"session", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: "habit-tracker-prod", SessionID: fmt.Sprintf("session_%d", r.IntN(500000))}
		}},
		{"type+time", func(r *rand.Rand) logingest.Filter {
			from := day.Add(-time.Duration(r.IntN(20*24)) * time.Hour)
			types := logingest.EventTypes()
			return logingest.Filter{
				Source: "habit-tracker-prod", EventType: types[r.IntN(len(types))],
				StartTime: from, EndTime: from.Add(24 * time.Hour),
			}
		}},
		{"name+time", func(r *rand.Rand) logingest.Filter {
			from := day.Add(-time.Duration(r.IntN(20*24)) * time.Hour)
			return logingest.Filter{
				Source: "habit-tracker-prod", EventName: "sync_failed", StartTime: from, EndTime: from.Add(24 * time.Hour),
			}
		}},
		{"provider", func(r *rand.Rand) logingest.Filter {
			providers := []string{"habit_provider", "nfc_notifier", "auth_provider"}
			return logingest.Filter{Source: "habit-tracker-prod", ProviderName: providers[r.IntN(3)]}
		}},
		{"recent", func(r *rand.Rand) logingest.Filter {
			return logingest.Filter{Source: "habit-tracker-prod", SortBy: logingest.SortReceivedAt}
		}},
		{"default", func(r *rand.Rand) logingest.Filter { return logingest.Filter{Source: "habit-tracker-prod"} }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			logPlan(b, s, tc.f(r))
			d := make([]time.Duration, 0, b.N)
			for range b.N {
				f := tc.f(r)
				t0 := time.Now()
				if _, err := s.Query(ctx, f); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(t0))
			}
			reportPercentiles(b, d)
		})
	}

	// Page 1000 (page size 50) of the default listing, by offset and by cursor.
	const pageSize, pageNo = 50, 1000
	prev, err := s.Query(ctx, logingest.Filter{Limit: pageSize, Offset: (pageNo - 2) * pageSize, SkipTotal: true})
	require.NoError(b, err)
	require.NotEmpty(b, prev.NextCursor)
	for _, tc := range []struct {
		name string
		f    logingest.Filter
	}{
		{"page1000/offset", logingest.Filter{Limit: pageSize, Offset: (pageNo - 1) * pageSize}},
		{"page1000/keyset", logingest.Filter{Limit: pageSize, After: prev.NextCursor}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := make([]time.Duration, 0, b.N)
			for range b.N {
				t0 := time.Now()
				if _, err := s.Query(ctx, tc.f); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(t0))
			}
			reportPercentiles(b, d)
		})
	}
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	b.Helper()
	slices.Sort(d)
	pct := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// logPlan logs EXPLAIN ANALYZE of the page query pgstore runs for f (reconstructed with the same SQL shape).
func logPlan(b *testing.B, s *pgstore.Store, f logingest.Filter) {
	b.Helper()
	sqlText, args := pgstore.PageSQLForTest(f)
	rows, err := s.Pool().Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+sqlText, args...)
	require.NoError(b, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(b, err)
	b.Logf("%s\n%s", sqlText, strings.Join(lines, "\n"))
}

// BenchmarkBigConsole measures the console's read paths (package consolebench: /api/v1/metrics, dashboard,
// search, export) over 5 million events received in one day, bulk-loaded with SQL (the rollup trigger and the
// search index maintained as at ingest). Only with LOGINGEST_BIG_BENCH=1 (LOGINGEST_BIG_BENCH_ROWS overrides
// the row count).
func BenchmarkBigConsole(b *testing.B) {
	rowsWanted := consolebench.Enabled(b, 5_000_000)
	ctx := context.Background()
	s := benchStore(b)
	nowT := time.Now().UTC()
	require.NoError(b, s.MaintainPartitions(ctx, nowT.AddDate(0, 0, -2)))
	start := time.Now()
	// In chunks of 500k rows, so that each statement's trigger aggregates a bounded transition table.
	const chunk = 500_000
	for lo := 1; lo <= rowsWanted; lo += chunk {
		hi := min(lo+chunk-1, rowsWanted)
		_, err := s.Pool().Exec(ctx, `
		INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties, user_id,
			session_id, app_version, device_info, sequence_number, priority, received_at)
		SELECT 'habit-tracker-prod', md5(g::text),
			$3::timestamptz - ($1 - g) * (interval '1 day' / $1) - (g % 600) * interval '1 second',
			(ARRAY['behavioral','telemetry','observability','error','performance'])[g % 5 + 1],
			(ARRAY['habit_completed','habit_skipped','sync_finished','habit_fetched','nfc_notifier_update',
				'auth_provider_update','sync_failed','unhandled_exception','frame_time','cold_start','streak_extended',
				'button_tap'])[(g / 5) % 12 + 1],
			CASE WHEN g % 5 = 2
				THEN jsonb_build_object('provider_name', (ARRAY['habit_provider','nfc_notifier','auth_provider'])[g % 3 + 1],
					'old_state', 'idle', 'new_state', 'ready')
				WHEN g % 5 = 1 THEN jsonb_build_object('endpoint', '/habits', 'status_code', 200, 'duration_ms', g % 900)
				ELSE jsonb_build_object('habit_id', (g % 13)::text, 'streak', g % 200) END,
			CASE WHEN g % 20 = 0 THEN NULL ELSE 'user_' || (g % 50000) END,
			CASE WHEN g % 20 = 0 THEN NULL ELSE 'session_' || (g % 500000) END,
			(ARRAY['2.0.1+7','2.0.0+6','1.9.4+5'])[g % 3 + 1],
			jsonb_build_object('platform', (ARRAY['ios','android'])[g % 2 + 1], 'model', 'iPhone 14', 'os_version', '17.5'),
			g % 1000, CASE WHEN g % 10 = 0 THEN 'high' ELSE 'normal' END,
			$3::timestamptz - ($1 - g) * (interval '1 day' / $1)
		FROM generate_series($2::int, $4::int) g`, rowsWanted, lo, nowT, hi)
		require.NoError(b, err)
	}
	_, err := s.Pool().Exec(ctx, "VACUUM ANALYZE analytics_logs")
	require.NoError(b, err)
	b.Logf("generated %d events in %v (rollups and search index maintained)", rowsWanted, time.Since(start).Round(time.Second))
	// The pre-rollup Stats (direct aggregates over the day's events), for a ratio in the same run.
	b.Run("metrics/direct-baseline", func(b *testing.B) {
		d := make([]time.Duration, 0, b.N)
		for range b.N {
			t0 := time.Now()
			args := []any{consolebench.Source, nowT.Add(-24 * time.Hour), nowT, nowT.Add(-time.Hour)}
			for _, q := range []string{
				`SELECT count(*) FROM analytics_logs WHERE source = $1 AND $2::timestamptz < $3 AND $4::timestamptz IS NOT NULL`,
				`SELECT count(*) FILTER (WHERE received_at > $4), count(*), count(DISTINCT session_id), count(DISTINCT user_id)
				FROM analytics_logs WHERE source = $1 AND received_at > $2 AND received_at <= $3`,
				`SELECT event_type, count(*) AS n FROM analytics_logs WHERE source = $1 AND received_at > $2 AND received_at <= $3
				AND $4::timestamptz IS NOT NULL GROUP BY event_type ORDER BY n DESC LIMIT 10`,
				`SELECT event_name, count(*) AS n FROM analytics_logs WHERE source = $1 AND received_at > $2 AND received_at <= $3
				AND $4::timestamptz IS NOT NULL GROUP BY event_name ORDER BY n DESC LIMIT 10`,
			} {
				if _, err := s.Pool().Exec(ctx, q, args...); err != nil {
					b.Fatal(err)
				}
			}
			d = append(d, time.Since(t0))
		}
		consolebench.Percentiles(b, d)
	})
	consolebench.Run(b, s, rowsWanted, nowT)
}

// BenchmarkAppendConsoleCost measures what migrations 007 (rollup triggers) and 008 (trigram search index)
// cost Append: every iteration appends the same batch to three fresh stores, alternating the order: "full"
// (as migrated), "rollups" (search index dropped) and "bare" (search index dropped and rollup triggers
// disabled). The ratios rollups/bare and full/bare are the relative cost in time per batch.
func BenchmarkAppendConsoleCost(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := context.Background()
			full, rollups, bare := benchStore(b), benchStore(b), benchStore(b)
			for _, s := range []*pgstore.Store{rollups, bare} {
				_, err := s.Pool().Exec(ctx, "DROP INDEX analytics_logs_search")
				require.NoError(b, err)
			}
			_, err := bare.Pool().Exec(ctx, `ALTER TABLE analytics_logs DISABLE TRIGGER analytics_logs_rollup_insert`)
			require.NoError(b, err)
			batches := benchBatches(b, b.N, size)
			stores := []*pgstore.Store{full, rollups, bare}
			spent := make([]time.Duration, 3)
			b.ResetTimer()
			for i := range b.N {
				for k := range 3 {
					j := (i + k) % 3
					t0 := time.Now()
					if _, err := stores[j].Append(ctx, batches[i]); err != nil {
						b.Fatal(err)
					}
					spent[j] += time.Since(t0)
				}
			}
			events := float64(b.N * size)
			b.ReportMetric(events/spent[2].Seconds(), "bare_events/s")
			b.ReportMetric(spent[1].Seconds()/spent[2].Seconds(), "rollups/bare")
			b.ReportMetric(spent[0].Seconds()/spent[2].Seconds(), "full/bare")
		})
	}
}
