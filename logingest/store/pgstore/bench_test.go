package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/consolebench"
	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
	"github.com/change66/logserver/logingest/store/pgstore"
	"github.com/change66/logserver/migrations"
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

// BenchmarkBigConsole measures the console's and the explorer's read paths (package consolebench:
// /api/v1/metrics, dashboard, search, the list queries, export) over 5 million realistic events received in
// one day (consolebench.Data: the app's event mix, 5,000 users, 15,000 sessions), loaded with COPY into a
// private database (bigDatabase). A same-run baseline, the pre-rollup Stats (direct aggregates over the day's
// events), gives /api/v1/metrics a ratio. Only with LOGINGEST_BIG_BENCH=1 (LOGINGEST_BIG_BENCH_ROWS overrides
// the row count; `make bench-big`).
func BenchmarkBigConsole(b *testing.B) {
	rowsWanted := consolebench.Enabled(b, 5_000_000)
	s, d := bigDatabase(b, rowsWanted)
	ctx := context.Background()
	nowT := d.Now
	b.Run("metrics/direct-baseline", func(b *testing.B) {
		if os.Getenv("LOGINGEST_BIG_BENCH_BASELINE") == "0" {
			b.Skip("LOGINGEST_BIG_BENCH_BASELINE=0")
		}
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
			if b.N > 3 && len(d) == 3 {
				break // seconds each: three calls tell the story
			}
		}
		consolebench.Percentiles(b, d)
	})
	b.Run("list/time-1h/first-after-start", func(b *testing.B) { firstRangeTotal(b, s, d) })
	consolebench.RunTerms(b, s, d.Terms())
}

// firstRangeTotal measures the first list of a one-hour range with its total on a freshly opened Store (on
// the database of s), which has measured no count's pace yet (see Config.CountTimeBudget). Each iteration
// opens a Store, warms its connections with the same range's page alone (SkipTotal), then times the range
// with its total. It reports p50_ms, p99_ms and estimated_%.
func firstRangeTotal(b *testing.B, s *pgstore.Store, d *consolebench.Data) {
	b.Helper()
	ctx := context.Background()
	dsn := s.Pool().Config().ConnString()
	r := rand.New(rand.NewPCG(3, 4))
	lat := make([]time.Duration, 0, b.N)
	var estimated int
	for range b.N {
		cfg := &pgstore.Config{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return d.Now }}
		fresh, err := pgstore.Open(ctx, dsn, cfg)
		require.NoError(b, err)
		from := d.Now.Add(-time.Duration(1+r.IntN(22)) * time.Hour).Truncate(time.Minute)
		f := logingest.Filter{Source: consolebench.Source, StartTime: from, EndTime: from.Add(time.Hour)}
		warm := f
		warm.SkipTotal = true
		_, err = fresh.Query(ctx, warm)
		require.NoError(b, err)
		t0 := time.Now()
		p, err := fresh.Query(ctx, f)
		lat = append(lat, time.Since(t0))
		require.NoError(b, err)
		if p.TotalIsEstimate {
			estimated++
		}
		require.NoError(b, fresh.Close())
	}
	consolebench.Percentiles(b, lat)
	b.ReportMetric(100*float64(estimated)/float64(b.N), "estimated_%")
}

// bigDatabase returns a Store on a private database holding rows events of consolebench.NewData, and the
// data set. The events are written with COPY in chunks of 250,000 through the rollup triggers (so rollups are
// maintained as at ingest); the secondary indexes are dropped before and built after the load (the same
// indexes, built in bulk: minutes instead of an hour). The database is dropped when b ends, unless
// LOGINGEST_BIG_BENCH_KEEP=1: then it is kept, and a later run with the same row count reuses it (with the
// data set's original clock).
func bigDatabase(b *testing.B, rows int) (*pgstore.Store, *consolebench.Data) {
	b.Helper()
	ctx := context.Background()
	base := pgtest.DatabaseURL(b)
	dbName := fmt.Sprintf("logingest_bigbench_%d", rows)
	keep := os.Getenv("LOGINGEST_BIG_BENCH_KEEP") == "1"
	admin, err := pgx.Connect(ctx, base)
	require.NoError(b, err)
	defer admin.Close(ctx)
	u, err := url.Parse(base)
	require.NoError(b, err)
	u.Path = "/" + dbName
	dsn := u.String()
	quiet := &pgstore.Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true}

	var exists bool
	require.NoError(b, admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbName).Scan(&exists))
	if exists && keep {
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(b, err)
		var n int
		var nowT time.Time
		err = conn.QueryRow(ctx, `SELECT rows, now_at FROM bench_meta WHERE version = $1`, bigDataVersion).Scan(&n, &nowT)
		_ = conn.Close(ctx)
		if err == nil && n == rows {
			d, err := consolebench.NewData(rows, nowT)
			require.NoError(b, err)
			cfg := *quiet
			cfg.Now = func() time.Time { return d.Now }
			s, err := pgstore.Open(ctx, dsn, &cfg)
			require.NoError(b, err)
			b.Cleanup(func() { _ = s.Close() })
			b.Logf("reusing database %s: %d events received in the day before %s", dbName, rows, d.Now.Format(time.RFC3339))
			return s, d
		}
	}
	if exists {
		_, err = admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)")
		require.NoError(b, err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize())
	require.NoError(b, err)
	if !keep {
		b.Cleanup(func() {
			conn, err := pgx.Connect(context.Background(), base)
			if err != nil {
				b.Errorf("drop %s: %v", dbName, err)
				return
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), "DROP DATABASE "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
				b.Errorf("drop %s: %v", dbName, err)
			}
		})
	}

	d, err := consolebench.NewData(rows, time.Now().UTC().Truncate(time.Second))
	require.NoError(b, err)
	cfg := *quiet
	cfg.Now = func() time.Time { return d.Now }
	s, err := pgstore.Open(ctx, dsn, &cfg)
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	require.NoError(b, s.MaintainPartitions(ctx, d.Now.Add(-24*time.Hour)))

	start := time.Now()
	idx, err := pgx.CollectRows(mustQuery(b, s, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'analytics_logs' AND indexname <> 'analytics_logs_pkey'`),
		pgx.RowToStructByPos[struct{ Name, Def string }])
	require.NoError(b, err)
	for _, ix := range idx {
		_, err := s.Pool().Exec(ctx, "DROP INDEX "+pgx.Identifier{ix.Name}.Sanitize())
		require.NoError(b, err)
	}
	const chunk = 250_000
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		_, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"analytics_logs"}, copyColumns, pgx.CopyFromFunc(func() func() ([]any, error) {
			i := lo
			return func() ([]any, error) {
				if i == hi {
					return nil, nil
				}
				e := d.Event(i)
				i++
				return copyValues(&e), nil
			}
		}()))
		require.NoError(b, err)
	}
	loaded := time.Since(start)
	conn, err := s.Pool().Acquire(ctx)
	require.NoError(b, err)
	_, err = conn.Exec(ctx, "SET maintenance_work_mem = '1GB'")
	require.NoError(b, err)
	for _, ix := range idx {
		// pg_indexes prints a partitioned index as CREATE INDEX ... ON ONLY <parent>, which would build it for
		// the parent alone, leaving the partitions without it.
		_, err := conn.Exec(ctx, strings.Replace(ix.Def, " ON ONLY ", " ON ", 1))
		require.NoError(b, err)
	}
	conn.Release()
	_, err = s.Pool().Exec(ctx, "VACUUM ANALYZE")
	require.NoError(b, err)
	_, err = s.Pool().Exec(ctx, `CREATE TABLE bench_meta AS SELECT $1::int AS rows, $2::timestamptz AS now_at, $3::int AS version`,
		rows, d.Now, bigDataVersion)
	require.NoError(b, err)
	var size string
	require.NoError(b, s.Pool().QueryRow(ctx, `SELECT pg_size_pretty(pg_database_size(current_database()))`).Scan(&size))
	b.Logf("loaded %d events with COPY in %v, indexes and VACUUM ANALYZE in %v; database %s",
		rows, loaded.Round(time.Second), (time.Since(start) - loaded).Round(time.Second), size)
	return s, d
}

// bigDataVersion names the generator of consolebench.Data: a kept database of another version is reloaded.
const bigDataVersion = 2

func mustQuery(b *testing.B, s *pgstore.Store, q string) pgx.Rows {
	b.Helper()
	rows, err := s.Pool().Query(context.Background(), q)
	require.NoError(b, err)
	return rows
}

// copyValues is e as the values of copyColumns.
func copyValues(e *logingest.Event) []any {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	jsonOrNil := func(m []byte) any {
		if len(m) == 0 {
			return nil
		}
		return m
	}
	return []any{
		e.Source, e.EventID, e.Timestamp, string(e.EventType), e.EventName, jsonOrNil(e.Properties),
		nullable(e.UserID), nullable(e.SessionID), nullable(e.AppVersion), jsonOrNil(e.DeviceInfo),
		e.SequenceNumber, string(e.Priority), e.ReceivedAt,
	}
}

// BenchmarkAppendConsoleCost measures what migrations 007 (rollup triggers) and 008 (trigram search index)
// cost Append: every iteration appends the same batch to three fresh stores, alternating the order: "full"
// (as migrated), "rollups" (search index dropped) and "bare" (search index dropped and rollup triggers
// disabled). The ratios rollups/bare and full/bare are the relative cost in time per batch. Since migration 009
// the statement of batches below CopyMinBatch (1 and 100 here) maintains the rollups itself, so there "bare"
// still pays for them and rollups/bare is ~1; batch=1000 (COPY, trigger) shows their cost.
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

// BenchmarkBigDefaultMove measures start-up and partition upkeep with LOGINGEST_BIG_BENCH_ROWS (5 million)
// events in the DEFAULT partition, where a bulk import lands: the events of bigDatabase's data set are copied
// into a fresh, migrated schema that has no partition yet. It reports how long Open takes (start-up), how long
// MaintainPartitions takes to move the events into partitions, and, while it runs, the latency of a reader
// (the newest page) and of a writer appending one live event every 50 ms, received now (which lands in the
// DEFAULT partition until the move ends). It uses only the public API, so the same file measures any version.
// Only with LOGINGEST_BIG_BENCH=1; run it with -benchtime 1x.
func BenchmarkBigDefaultMove(b *testing.B) {
	rows := consolebench.Enabled(b, 5_000_000)
	src, d := bigDatabase(b, rows)
	ctx := context.Background()
	schema := fmt.Sprintf("default_move_%d", time.Now().UnixNano())
	_, err := src.Pool().Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(b, err)
	b.Cleanup(func() { _, _ = src.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	dsn, err := pgtest.WithSearchPath(src.Pool().Config().ConnString(), schema)
	require.NoError(b, err)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(b, err)
	defer pool.Close()
	bare, err := pgstore.New(pool, &pgstore.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	m, release, err := bare.Migrator(nil)
	require.NoError(b, err)
	_, err = m.Migrate(ctx, migrations.DirectionUp, nil)
	require.NoError(b, err)
	require.NoError(b, release())

	// Fill the DEFAULT partition (the only one): secondary indexes dropped and rebuilt around the copy.
	start := time.Now()
	idx, err := pgx.CollectRows(mustQueryPool(b, pool, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'analytics_logs' AND indexname <> 'analytics_logs_pkey'`),
		pgx.RowToStructByPos[struct{ Name, Def string }])
	require.NoError(b, err)
	for _, ix := range idx {
		_, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{ix.Name}.Sanitize())
		require.NoError(b, err)
	}
	cols := strings.Join(copyColumns, ", ")
	_, err = pool.Exec(ctx, "INSERT INTO analytics_logs ("+cols+") SELECT "+cols+" FROM public.analytics_logs")
	require.NoError(b, err)
	if os.Getenv("LOGINGEST_BIG_MOVE_INDEXES") == "0" {
		idx = nil // only the primary key: a quicker preparation, and moves that build no secondary index
	}
	conn, err := pool.Acquire(ctx)
	require.NoError(b, err)
	_, err = conn.Exec(ctx, "SET maintenance_work_mem = '1GB'")
	require.NoError(b, err)
	for _, ix := range idx {
		// pg_indexes prints a partitioned index as CREATE INDEX ... ON ONLY <parent>, which would build it for
		// the parent alone, leaving the partitions without it.
		_, err := conn.Exec(ctx, strings.Replace(ix.Def, " ON ONLY ", " ON ", 1))
		require.NoError(b, err)
	}
	conn.Release()
	_, err = pool.Exec(ctx, "VACUUM ANALYZE analytics_logs")
	require.NoError(b, err)
	var inDefault int64
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM analytics_logs_default").Scan(&inDefault))
	b.Logf("%d events in the DEFAULT partition, prepared in %v", inDefault, time.Since(start).Round(time.Second))

	// The data set was received in the day before d.Now: its two periods are moved. The store's clock is the
	// real one, as the writer's (the server stamps received_at with it).
	clock := d.Now.Add(-24 * time.Hour)
	cfg := &pgstore.Config{Logger: logingesttest.NewLogger(b)}
	b.ResetTimer()
	t0 := time.Now()
	s, err := pgstore.Open(ctx, dsn, cfg)
	require.NoError(b, err)
	openTime := time.Since(t0)
	defer s.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readLat, writeLat []time.Duration
	var writeErrs int
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			t := time.Now()
			if _, err := s.Query(ctx, logingest.Filter{Source: consolebench.Source, SkipTotal: true}); err != nil {
				b.Error(err)
				return
			}
			readLat = append(readLat, time.Since(t))
			time.Sleep(20 * time.Millisecond)
		}
	})
	wg.Go(func() {
		tmpl := d.Event(0)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			e := tmpl
			e.EventID = fmt.Sprintf("live-%d-%d", time.Now().UnixNano(), i)
			e.ReceivedAt = time.Now().UTC()
			t := time.Now()
			if _, err := s.Append(ctx, []logingest.Event{e}); err != nil {
				writeErrs++
				b.Logf("append failed: %v", err)
			}
			writeLat = append(writeLat, time.Since(t))
		}
	})
	t1 := time.Now()
	moveErr := s.MaintainPartitions(ctx, clock)
	moveTime := time.Since(t1)
	close(stop)
	wg.Wait()
	b.StopTimer()
	var left int64
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM analytics_logs_default").Scan(&left))
	parts, err := s.Partitions(ctx)
	require.NoError(b, err)
	b.Logf("open %v; move %v (error: %v); %d events left in DEFAULT; %d partitions; reads %d, writes %d (%d failed)",
		openTime.Round(time.Millisecond), moveTime.Round(time.Millisecond), moveErr, left, len(parts), len(readLat),
		len(writeLat), writeErrs)
	maxOf := func(d []time.Duration) float64 {
		if len(d) == 0 {
			return 0
		}
		return float64(slices.Max(d).Milliseconds())
	}
	b.ReportMetric(openTime.Seconds(), "open_s")
	b.ReportMetric(moveTime.Seconds(), "move_s")
	b.ReportMetric(float64(left), "left_in_default")
	b.ReportMetric(maxOf(readLat), "read_max_ms")
	b.ReportMetric(maxOf(writeLat), "write_max_ms")
	b.ReportMetric(float64(writeErrs), "write_errors")
}

func mustQueryPool(b *testing.B, pool *pgxpool.Pool, q string) pgx.Rows {
	b.Helper()
	rows, err := pool.Query(context.Background(), q)
	require.NoError(b, err)
	return rows
}
