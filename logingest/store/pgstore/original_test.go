package pgstore_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// originalEventCount is the size of the original database: LOGINGEST_ORIGINAL_EVENTS, or 100,000 so that the
// package stays well inside make test's timeout on a small machine (the import runs at about 10,000 events/s
// on two shared cores). `make test-import-1m` runs it with a million events.
func originalEventCount(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("LOGINGEST_ORIGINAL_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "LOGINGEST_ORIGINAL_EVENTS")
		return n
	}
	return 100_000
}

// TestImportOriginal starts pgstore on a database built with the original server's schema, holding
// originalEventCount events (a million with make test-import-1m): migration 001 moves the original's tables
// aside instead of failing, the store serves at once (a retry of an original event is a duplicate with the
// original's id even before the import reaches it; new
// events get ids above the original's), and ImportOriginal brings every event over in bounded batches with
// ids, created_at and all fields kept.
func TestImportOriginal(t *testing.T) {
	t.Parallel()
	n := originalEventCount(t)
	// Bounds the test: generating and importing take about 150 µs per event on two shared cores.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute+time.Duration(n)*400*time.Microsecond)
	defer cancel()
	dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	origin := now.Add(-30 * 24 * time.Hour).Truncate(time.Second) // a month of history
	_, err = conn.Exec(ctx, pgtest.OriginalSchemaSQL)
	require.NoError(t, err)
	start := time.Now()
	_, err = conn.Exec(ctx, pgtest.OriginalEventsSQL, origin, n)
	require.NoError(t, err)
	t.Logf("generated %d original events in %s", n, time.Since(start).Round(time.Millisecond))

	// A count budget this test cannot outlast, so that the total it checks is exact even on a loaded machine
	// (TestQuery_Totals covers the budget).
	s, err := pgstore.Open(ctx, dsn, &pgstore.Config{
		AutoMigrate: true, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now }, CountTimeBudget: time.Minute,
	})
	require.NoError(t, err, "the original's tables must not stop the migrations")
	t.Cleanup(func() { _ = s.Close() })
	require.True(t, s.OriginalImportPending())
	var schema string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_schema() || '_original'").Scan(&schema))
	var moved int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1
		AND table_name IN ('analytics_logs', 'api_keys', 'server_metrics')`, schema).Scan(&moved))
	require.Equal(t, 3, moved, "the original's three tables are kept, aside")
	var archive bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass('analytics_logs_original') IS NOT NULL").Scan(&archive))
	require.True(t, archive, "Open creates the original events' partition before anything is served")

	// Serving before the import: a retry of an original event is a duplicate with the original's id, and a new
	// event gets an id above every original id.
	retry := logingest.Event{
		EventID: "orig-12", Timestamp: now, EventType: logingest.EventTypeTelemetry, EventName: "retried",
		Source: logingest.DefaultSource, ReceivedAt: now, Priority: logingest.PriorityNormal,
	}
	fresh := retry
	fresh.EventID, fresh.EventName = "new-after-move", "fresh"
	res, err := s.Append(ctx, []logingest.Event{retry, fresh})
	require.NoError(t, err)
	require.Equal(t, logingest.AppendResult{Status: logingest.AppendDuplicate, ID: 12}, res[0])
	require.Equal(t, logingest.AppendInserted, res[1].Status)
	require.Greater(t, res[1].ID, int64(n))

	var batches int
	start = time.Now()
	p, err := s.ImportOriginal(ctx, &pgstore.ImportOptions{BatchSize: 20000, Progress: func(pgstore.ImportProgress) { batches++ }})
	require.NoError(t, err)
	took := time.Since(start)
	t.Logf("imported %d events (%d skipped) in %d batches in %s (%.0f events/s)", p.Imported, p.Skipped, batches,
		took.Round(time.Millisecond), float64(p.Imported)/took.Seconds())
	require.True(t, p.Done)
	require.False(t, s.OriginalImportPending())
	require.EqualValues(t, n-1, p.Imported, "every event but the one imported on demand")
	require.EqualValues(t, 1, p.Skipped)
	require.Zero(t, p.Remaining)
	require.GreaterOrEqual(t, batches, n/20000)

	var stored, defaultRows int64
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM analytics_logs WHERE source = 'default'").Scan(&stored))
	require.EqualValues(t, n+1, stored)
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM analytics_logs_default").Scan(&defaultRows))
	require.Zero(t, defaultRows, "the original's events have a partition of their own")
	// Every event kept its id, event id, created_at (as received_at) and processed_at.
	var mismatched int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema}.Sanitize()+`.analytics_logs o
		LEFT JOIN analytics_logs l ON l.id = o.id AND l.event_id = o.event_id AND l.received_at = o.created_at
			AND l.created_at = o.created_at AND l.processed_at IS NOT DISTINCT FROM o.processed_at
			AND l.sequence_number IS NOT DISTINCT FROM o.sequence_number
		WHERE l.id IS NULL`).Scan(&mismatched))
	require.Zero(t, mismatched)

	// Read back through Query: one event with a sequence number, one without.
	for _, i := range []int{n / 2, 7 * (n / 14)} {
		id := "orig-" + strconv.Itoa(i)
		page, err := s.Query(ctx, logingest.Filter{
			Source: logingest.DefaultSource, UserID: userOf(i), SortBy: logingest.SortID,
			StartTime: origin.Add(time.Duration(i)*time.Second - 3*time.Second), EndTime: origin.Add(time.Duration(i)*time.Second - 2*time.Second),
		})
		require.NoError(t, err)
		require.Len(t, page.Events, 1, id)
		e := page.Events[0]
		require.Equal(t, id, e.EventID)
		require.EqualValues(t, i, e.ID)
		require.Equal(t, origin.Add(time.Duration(i)*time.Second).UTC(), e.ReceivedAt)
		var props struct {
			N int `json:"n"`
		}
		require.NoError(t, json.Unmarshal(e.Properties, &props))
		require.Equal(t, i, props.N)
		if i%7 == 0 {
			require.Nil(t, e.SequenceNumber, "an absent sequence number stays absent")
			require.True(t, e.ProcessedAt.IsZero())
			require.Empty(t, e.UserID)
		} else {
			require.Equal(t, int64(i), *e.SequenceNumber)
			require.Equal(t, e.ReceivedAt.Add(5*time.Millisecond), e.ProcessedAt)
		}
	}
	page, err := s.Query(ctx, logingest.Filter{Source: logingest.DefaultSource, Limit: 1})
	require.NoError(t, err)
	require.EqualValues(t, n+1, page.Total)
	require.False(t, page.TotalIsEstimate)
	require.Equal(t, "new-after-move", page.Events[0].EventID, "created_at DESC: the newest first")

	// After the import a retry is still a duplicate with the original's id; a second import is a no-op.
	retry.EventID = "orig-" + strconv.Itoa(n)
	res, err = s.Append(ctx, []logingest.Event{retry})
	require.NoError(t, err)
	require.Equal(t, logingest.AppendResult{Status: logingest.AppendDuplicate, ID: int64(n)}, res[0])
	p, err = s.ImportOriginal(ctx, nil)
	require.NoError(t, err)
	require.True(t, p.Done)
	require.EqualValues(t, n-1, p.Imported)
}

func userOf(i int) string {
	if i%7 == 0 {
		return ""
	}
	return "user-" + strconv.Itoa(i%5000)
}

// TestImportOriginal_None: without the original's tables there is nothing to import.
func TestImportOriginal_None(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	require.False(t, s.OriginalImportPending())
	_, err := s.ImportOriginal(t.Context(), nil)
	require.ErrorIs(t, err, pgstore.ErrNoOriginal)
}

// TestImportOriginal_TablesDropped: an operator who drops the original's tables before the import ends does not
// break ingest.
func TestImportOriginal_TablesDropped(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(t.Context(), pgtest.OriginalSchemaSQL)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), pgtest.OriginalEventsSQL, now.Add(-time.Hour), 10)
	require.NoError(t, err)
	s, err := pgstore.Open(t.Context(), dsn, &pgstore.Config{
		AutoMigrate: true, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.True(t, s.OriginalImportPending())

	var schema string
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT current_schema() || '_original'").Scan(&schema))
	_, err = conn.Exec(t.Context(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	require.NoError(t, err)
	res, err := s.Append(t.Context(), []logingest.Event{{
		EventID: "orig-3", Timestamp: now, EventType: logingest.EventTypeError,
		EventName: "after drop", Source: logingest.DefaultSource, ReceivedAt: now, Priority: logingest.PriorityNormal,
	}})
	require.NoError(t, err)
	require.Equal(t, logingest.AppendInserted, res[0].Status)
	require.False(t, s.OriginalImportPending())
}
