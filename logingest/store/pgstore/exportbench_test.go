package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/consolebench"
	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// BenchmarkBigExport measures GET /api/v1/logs/export (NDJSON and CSV, every event of the source, newest
// first) over LOGINGEST_BIG_BENCH_ROWS (default 1 million) realistic events of consolebench.Data, loaded with
// COPY into a private database export_bench_<rows>: rows/s, peak heap and peak RSS. Only with
// LOGINGEST_BIG_BENCH=1. LOGINGEST_BIG_BENCH_KEEP=1 keeps the database for the next run (which reuses it);
// otherwise it is dropped at the end. It uses only the public API, so the same file measures any version:
//
//	LOGINGEST_BIG_BENCH=1 go test -run '^$' -bench BigExport -benchtime 1x -timeout 30m ./logingest/store/pgstore/
func BenchmarkBigExport(b *testing.B) {
	rows := consolebench.Enabled(b, 1_000_000)
	s := exportDatabase(b, rows)
	consolebench.RunExport(b, s, rows)
}

// exportDatabase returns a Store on the database export_bench_<rows> holding rows events of
// consolebench.NewData, loading them when the database is new (or not kept).
func exportDatabase(b *testing.B, rows int) *pgstore.Store {
	b.Helper()
	ctx := context.Background()
	base := pgtest.DatabaseURL(b)
	dbName := fmt.Sprintf("export_bench_%d", rows)
	keep := os.Getenv("LOGINGEST_BIG_BENCH_KEEP") == "1"
	admin, err := pgx.Connect(ctx, base)
	require.NoError(b, err)
	defer admin.Close(ctx)
	u, err := url.Parse(base)
	require.NoError(b, err)
	u.Path = "/" + dbName
	dsn := u.String()
	cfg := &pgstore.Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true}

	var exists bool
	require.NoError(b, admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbName).Scan(&exists))
	if exists && keep {
		s, err := pgstore.Open(ctx, dsn, cfg)
		require.NoError(b, err)
		b.Cleanup(func() { _ = s.Close() })
		var n int
		require.NoError(b, s.Pool().QueryRow(ctx, `SELECT count(*) FROM analytics_logs`).Scan(&n))
		if n == rows {
			b.Logf("reusing database %s (%d events)", dbName, n)
			return s
		}
		_ = s.Close()
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
	s, err := pgstore.Open(ctx, dsn, cfg)
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	require.NoError(b, s.MaintainPartitions(ctx, d.Now.Add(-24*time.Hour)))

	// The secondary indexes are dropped before the copy and built after it (minutes instead of much longer).
	start := time.Now()
	idx, err := pgx.CollectRows(mustQuery(b, s, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'analytics_logs' AND indexname <> 'analytics_logs_pkey'`),
		pgx.RowToStructByPos[struct{ Name, Def string }])
	require.NoError(b, err)
	for _, ix := range idx {
		_, err := s.Pool().Exec(ctx, "DROP INDEX "+pgx.Identifier{ix.Name}.Sanitize())
		require.NoError(b, err)
	}
	i := 0
	_, err = s.Pool().CopyFrom(ctx, pgx.Identifier{"analytics_logs"}, copyColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i == rows {
			return nil, nil
		}
		e := d.Event(i)
		i++
		return copyValues(&e), nil
	}))
	require.NoError(b, err)
	for _, ix := range idx {
		// pg_indexes prints a partitioned index as CREATE INDEX ... ON ONLY <parent>.
		_, err := s.Pool().Exec(ctx, strings.Replace(ix.Def, " ON ONLY ", " ON ", 1))
		require.NoError(b, err)
	}
	_, err = s.Pool().Exec(ctx, "VACUUM ANALYZE")
	require.NoError(b, err)
	b.Logf("loaded %d events into %s in %v", rows, dbName, time.Since(start).Round(time.Second))
	return s
}
