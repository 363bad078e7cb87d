package pgstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
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

const testSource = "habit-tracker-prod"

// now is the fixed clock of the tests; every event is received at now unless a test says otherwise.
var now = time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)

type testBundle struct {
	dsn  string
	conn *pgx.Conn
}

// setup opens a migrated Store in a fresh schema.
func setup(t testing.TB, cfg *pgstore.Config) (*pgstore.Store, *testBundle) {
	t.Helper()
	dsn := pgtest.Schema(t)
	var c pgstore.Config
	if cfg != nil {
		c = *cfg
	}
	c.AutoMigrate = true
	c.Logger = slog.New(slog.DiscardHandler)
	if c.Now == nil {
		c.Now = func() time.Time { return now }
	}
	s, err := pgstore.Open(context.Background(), dsn, &c)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return s, &testBundle{dsn: dsn, conn: conn}
}

// loadEvents reads testdata/events.ndjson, stamped as the Ingester would.
func loadEvents(t testing.TB) []logingest.Event {
	t.Helper()
	f, err := os.Open("../../../testdata/events.ndjson")
	require.NoError(t, err)
	defer f.Close()
	var out []logingest.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e logingest.Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		e.Source, e.ReceivedAt = testSource, now
		if e.Priority == "" {
			e.Priority = logingest.PriorityNormal
		}
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	require.Len(t, out, 300)
	return out
}

func count(t testing.TB, conn *pgx.Conn, query string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, conn.QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}

// unmigrated returns a Store on a fresh, empty schema (no migration applied), its pool and its migrator.
func unmigrated(t *testing.T) (*pgstore.Store, *pgxpool.Pool, *migrations.Migrator) {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), pgtest.Schema(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := pgstore.New(pool, &pgstore.Config{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	require.NoError(t, err)
	m, release, err := s.Migrator(nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = release() })
	return s, pool, m
}

func TestMigrations_UpDownUp(t *testing.T) {
	t.Parallel()
	s, pool, m := unmigrated(t)

	tables := func() int64 {
		var n int64
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()
			AND tablename IN ('analytics_logs', 'analytics_event_ids', 'api_keys')`).Scan(&n))
		return n
	}

	_, err := m.Migrate(t.Context(), migrations.DirectionUp, nil)
	require.NoError(t, err)
	versions, err := m.ExistingVersions(t.Context())
	require.NoError(t, err)
	want := make([]int, m.Latest())
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, versions)
	require.GreaterOrEqual(t, m.Latest(), 5)
	require.EqualValues(t, 3, tables())

	// Open creates partitions: the way down must drop them along with the parent.
	require.NoError(t, s.MaintainPartitions(t.Context(), now))

	_, err = m.Migrate(t.Context(), migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: -1})
	require.NoError(t, err)
	versions, err = m.ExistingVersions(t.Context())
	require.NoError(t, err)
	require.Empty(t, versions)
	require.EqualValues(t, 0, tables())
	var leftovers int64
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname LIKE 'analytics%'`).Scan(&leftovers))
	require.Zero(t, leftovers, "down migrations must leave no analytics relation behind")

	_, err = m.Migrate(t.Context(), migrations.DirectionUp, nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, tables())

	// The schema matches what the store writes and reads.
	require.NoError(t, s.MaintainPartitions(t.Context(), now))
	events := loadEvents(t)[:10]
	st, err := s.Append(t.Context(), events)
	require.NoError(t, err)
	require.Len(t, st, 10)
	page, err := s.Query(t.Context(), logingest.Filter{Source: testSource})
	require.NoError(t, err)
	require.Len(t, page.Events, 10)
}

// TestMigration004_KeepsKeys checks that migration 004 turns the (source, event_id) keys of version 3 into the
// hashed keys Append computes (so events stored before the upgrade are still recognised as duplicates), and
// that its down migration rebuilds the text keys from the stored events.
func TestMigration004_KeepsKeys(t *testing.T) {
	t.Parallel()
	s, pool, m := unmigrated(t)

	_, err := m.Migrate(t.Context(), migrations.DirectionUp, &migrations.MigrateOpts{TargetVersion: 3})
	require.NoError(t, err)
	require.NoError(t, s.MaintainPartitions(t.Context(), now))
	// Version 3's Append, reduced to what it wrote: the event and its text key.
	events := loadEvents(t)[:20]
	for _, e := range events {
		_, err := pool.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name,
			received_at) VALUES ($1, $2, $3, $4, $5, $6)`, e.Source, e.EventID, e.Timestamp, e.EventType, e.EventName, e.ReceivedAt)
		require.NoError(t, err)
		_, err = pool.Exec(t.Context(), `INSERT INTO analytics_event_ids (source, event_id, received_at) VALUES ($1, $2, $3)`,
			e.Source, e.EventID, e.ReceivedAt)
		require.NoError(t, err)
	}

	_, err = m.Migrate(t.Context(), migrations.DirectionUp, nil)
	require.NoError(t, err)
	var n int64
	require.NoError(t, pool.QueryRow(t.Context(), "SELECT count(*) FROM analytics_event_ids").Scan(&n))
	require.EqualValues(t, 20, n)
	// A retry of all 20 after the upgrade is 20 duplicates; one new event is stored.
	batch := loadEvents(t)[:21]
	st, err := s.Append(t.Context(), batch)
	require.NoError(t, err)
	for i := range 20 {
		require.Equal(t, logingest.AppendDuplicate, st[i].Status, "event %d was stored before the upgrade", i)
		var id int64
		require.NoError(t, pool.QueryRow(t.Context(), "SELECT id FROM analytics_logs WHERE event_id = $1", batch[i].EventID).Scan(&id))
		require.Equal(t, id, st[i].ID, "migration 005 gave the key of event %d the id of its row", i)
	}
	require.Equal(t, logingest.AppendInserted, st[20].Status)

	_, err = m.Migrate(t.Context(), migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: 3})
	require.NoError(t, err)
	rows, err := pool.Query(t.Context(), "SELECT event_id FROM analytics_event_ids WHERE source = $1 ORDER BY event_id", testSource)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	want := make([]string, 0, len(batch))
	for _, e := range batch {
		want = append(want, e.EventID)
	}
	slices.Sort(want)
	require.Equal(t, want, got)
}

func TestOpen_NotMigrated(t *testing.T) {
	t.Parallel()
	_, err := pgstore.Open(t.Context(), pgtest.Schema(t), &pgstore.Config{Logger: slog.New(slog.DiscardHandler)})
	require.ErrorContains(t, err, "not migrated")
}

func TestAppend_RoundTripAndRetry(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	events := loadEvents(t)

	st, err := s.Append(t.Context(), events)
	require.NoError(t, err)
	for i, x := range st {
		require.Equal(t, logingest.AppendInserted, x.Status, "event %d", i)
	}
	first := st
	// The app retries until it sees 201: a retry is all duplicates and stores nothing.
	retry := loadEvents(t)
	for i := range retry {
		retry[i].ReceivedAt = now.Add(time.Minute)
	}
	st, err = s.Append(t.Context(), retry)
	require.NoError(t, err)
	for i, x := range st {
		require.Equal(t, logingest.AppendDuplicate, x.Status, "event %d", i)
		require.Equal(t, first[i].ID, x.ID, "a retry of event %d reports the id of its first delivery", i)
	}
	require.EqualValues(t, 300, count(t, b.conn, "SELECT count(*) FROM analytics_logs"))
	require.EqualValues(t, 300, count(t, b.conn, "SELECT count(*) FROM analytics_event_ids"))
	require.Zero(t, count(t, b.conn, "SELECT count(*) FROM analytics_logs_default"),
		"events received now must land in a premade partition")

	want := events[2] // has user, session, provider_name
	page, err := s.Query(t.Context(), logingest.Filter{
		Source: testSource, UserID: want.UserID, SessionID: want.SessionID,
		EventName: want.EventName, StartTime: want.Timestamp, EndTime: want.Timestamp.Add(time.Microsecond),
	})
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	got := page.Events[0]
	require.JSONEq(t, string(want.Properties), string(got.Properties))
	require.JSONEq(t, string(want.DeviceInfo), string(got.DeviceInfo))
	got.Properties, got.DeviceInfo, want.Properties, want.DeviceInfo = nil, nil, nil, nil
	require.Equal(t, first[2].ID, got.ID)
	require.False(t, got.ProcessedAt.IsZero(), "processed_at is written")
	want.ID, want.ProcessedAt = got.ID, got.ProcessedAt
	require.Equal(t, want, got)
	require.EqualValues(t, 1, page.Total)
	require.Empty(t, page.NextCursor)
}

func TestAppend_InCallDuplicateFirstWins(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	events := loadEvents(t)[:3]
	second := events[0]
	second.EventName = "second_copy"
	st, err := s.Append(t.Context(), []logingest.Event{events[0], events[1], second, events[2]})
	require.NoError(t, err)
	require.Equal(t, []logingest.AppendStatus{
		logingest.AppendInserted, logingest.AppendInserted,
		logingest.AppendDuplicate, logingest.AppendInserted,
	}, statuses(st))
	require.Equal(t, st[0].ID, st[2].ID, "an in-call duplicate reports its first occurrence's id")
	require.Less(t, st[0].ID, st[1].ID)
	require.Less(t, st[1].ID, st[3].ID)
	page, err := s.Query(t.Context(), logingest.Filter{EventName: "second_copy"})
	require.NoError(t, err)
	require.Empty(t, page.Events)
}

func TestAppend_DedupAcrossPartitions(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	e := loadEvents(t)[0]
	st, err := s.Append(t.Context(), []logingest.Event{e})
	require.NoError(t, err)
	require.Equal(t, []logingest.AppendStatus{logingest.AppendInserted}, statuses(st))
	id := st[0].ID

	// Three days later the retry lands in another partition, and a week later in the DEFAULT one.
	for _, later := range []time.Duration{72 * time.Hour, 400 * 24 * time.Hour} {
		retry := e
		retry.ReceivedAt = now.Add(later)
		st, err = s.Append(t.Context(), []logingest.Event{retry})
		require.NoError(t, err)
		require.Equal(t, []logingest.AppendStatus{logingest.AppendDuplicate}, statuses(st))
		require.Equal(t, id, st[0].ID)
	}
	require.EqualValues(t, 1, count(t, b.conn, "SELECT count(*) FROM analytics_logs"))
	// Another source may use the same event id.
	other := e
	other.Source = "habit-tracker-staging"
	st, err = s.Append(t.Context(), []logingest.Event{other})
	require.NoError(t, err)
	require.Equal(t, []logingest.AppendStatus{logingest.AppendInserted}, statuses(st))
}

// TestAppend_RacingAppendOfTheSameEvent makes Append lose a race: another transaction has inserted the key of
// one of the batch's events but not committed yet. Append waits for it; when it commits, that event is a
// duplicate and the rest are stored, and when it rolls back, all are stored. Either way nothing fails and
// nothing is stored twice. With CopyMinBatch 10, a batch of 5 takes the one-statement path (ON CONFLICT) and a
// batch of 20 the COPY path, whose key insert fails on the raced key, and falls back to the one-statement path.
func TestAppend_RacingAppendOfTheSameEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size   int
		commit bool
	}{{5, true}, {5, false}, {20, true}, {20, false}} {
		t.Run(fmt.Sprintf("batch=%d/other commits=%v", tc.size, tc.commit), func(t *testing.T) {
			t.Parallel()
			commit := tc.commit
			s, b := setup(t, &pgstore.Config{CopyMinBatch: 10})
			events := loadEvents(t)[:tc.size]
			raced := events[2]

			// The other writer, holding the key of events[2]. The key is computed in SQL as migration 004 does.
			tx, err := b.conn.Begin(t.Context())
			require.NoError(t, err)
			_, err = tx.Exec(t.Context(), `INSERT INTO analytics_event_ids (key, received_at)
				VALUES (encode(substring(sha256(convert_to($1::text, 'UTF8') || '\x00'::bytea || convert_to($2::text, 'UTF8'))
					FROM 1 FOR 16), 'hex')::uuid, $3)`, raced.Source, raced.EventID, raced.ReceivedAt)
			require.NoError(t, err)
			var otherPID uint32
			require.NoError(t, tx.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&otherPID))

			type result struct {
				st  []logingest.AppendResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				st, err := s.Append(context.Background(), events)
				done <- result{st, err}
			}()

			// Wait until Append is blocked on the other writer's key.
			monitor, err := pgx.Connect(t.Context(), b.dsn)
			require.NoError(t, err)
			defer monitor.Close(context.Background())
			require.Eventually(t, func() bool {
				var waiting int
				err := monitor.QueryRow(t.Context(),
					"SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", otherPID).Scan(&waiting)
				return err == nil && waiting > 0
			}, 10*time.Second, 5*time.Millisecond, "Append never waited for the other writer")

			if commit {
				require.NoError(t, tx.Commit(t.Context()))
			} else {
				require.NoError(t, tx.Rollback(t.Context()))
			}
			r := <-done
			require.NoError(t, r.err)
			for i, st := range r.st {
				want := logingest.AppendInserted
				if commit && i == 2 {
					want = logingest.AppendDuplicate
				}
				require.Equal(t, want, st.Status, "event %d", i)
			}
			wantRows := int64(tc.size)
			if commit {
				wantRows-- // the other writer stored only the key in this test
			}
			require.Equal(t, wantRows, count(t, b.conn, "SELECT count(*) FROM analytics_logs"))
			require.EqualValues(t, tc.size, count(t, b.conn, "SELECT count(*) FROM analytics_event_ids"))
		})
	}
}

// TestAppend_PathsStoreTheSame stores the same events through Append's two paths (one statement, and
// keys then COPY) and reads back the same events, NULLs included. The store that never copies gets the
// whole batch too, so the test does not depend on the default CopyMinBatch.
func TestAppend_PathsStoreTheSame(t *testing.T) {
	t.Parallel()
	small, smallDB := setup(t, &pgstore.Config{CopyMinBatch: -1})
	large, largeDB := setup(t, &pgstore.Config{CopyMinBatch: 1})
	events := loadEvents(t)
	events[0].UserID, events[0].SessionID, events[0].AppVersion = "", "", ""
	events[0].Properties, events[0].DeviceInfo = nil, []byte("null")

	st, err := small.Append(t.Context(), events)
	require.NoError(t, err)
	require.NotContains(t, statuses(st), logingest.AppendDuplicate)
	st, err = large.Append(t.Context(), events)
	require.NoError(t, err)
	require.NotContains(t, statuses(st), logingest.AppendDuplicate)

	read := func(s *pgstore.Store) []logingest.Event {
		page, err := s.Query(t.Context(), logingest.Filter{Source: testSource, Limit: 1000, SortBy: logingest.SortReceivedAt})
		require.NoError(t, err)
		require.Len(t, page.Events, len(events))
		for i := range page.Events {
			require.False(t, page.Events[i].ProcessedAt.IsZero(), "both paths write processed_at")
			page.Events[i].ProcessedAt = time.Time{}
		}
		return page.Events
	}
	fromSmall, fromLarge := read(small), read(large)
	require.Equal(t, fromSmall, fromLarge)
	i := slices.IndexFunc(fromLarge, func(e logingest.Event) bool { return e.EventID == events[0].EventID })
	require.GreaterOrEqual(t, i, 0)
	require.Empty(t, fromLarge[i].UserID)
	require.Empty(t, fromLarge[i].Properties)
	require.Empty(t, fromLarge[i].DeviceInfo)
	// "" and absent JSON are NULL in both (the partial indexes skip them).
	for _, col := range []string{"user_id", "session_id", "app_version", "properties", "device_info"} {
		q := "SELECT count(*) FROM analytics_logs WHERE " + col + " IS NULL"
		n := count(t, smallDB.conn, q)
		require.Positive(t, n, col)
		require.Equal(t, n, count(t, largeDB.conn, q), col)
	}
}

// TestIngest_ValuesPostgresRejects sends, in one batch through the Ingester, good events and events that
// PostgreSQL cannot store (NUL in text, \u0000 or an unpaired surrogate in jsonb). Validation rejects exactly the
// bad ones, so the good ones are stored; and Append alone, given such an event, fails with ErrInvalid (a
// client error, not a retryable outage).
func TestIngest_ValuesPostgresRejects(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	ing, err := logingest.New(s, &logingest.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ing.Close(context.Background()) })

	events := loadEvents(t)[:6]
	events[1].EventName = "habit\x00completed"
	events[3].Properties = json.RawMessage(`{"note":"\u0000"}`)
	events[4].DeviceInfo = json.RawMessage(`{"model":"\ud83d"}`)
	events[5].Properties = json.RawMessage(`{"note":"\\u0000 \ud83d\ude00"}`) // storable
	res, err := ing.Ingest(t.Context(), testSource, events)
	require.NoError(t, err)
	want := []logingest.Status{
		logingest.StatusAccepted, logingest.StatusRejected, logingest.StatusAccepted,
		logingest.StatusRejected, logingest.StatusRejected, logingest.StatusAccepted,
	}
	for i, r := range res.Results {
		require.Equal(t, want[i], r.Status, "event %d: %v", i, r.Errors)
	}
	require.EqualValues(t, 3, count(t, b.conn, "SELECT count(*) FROM analytics_logs"))

	for _, bad := range []int{1, 3, 4} {
		for _, size := range []int{1, 200} { // both Append paths
			batch := loadEvents(t)[:size]
			batch[0] = events[bad]
			_, err := s.Append(t.Context(), batch)
			require.ErrorIs(t, err, logingest.ErrInvalid, "event %d in a batch of %d", bad, size)
		}
	}
}

func TestAppend_CanceledContext(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Append(ctx, loadEvents(t))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, count(t, b.conn, "SELECT count(*) FROM analytics_logs"))
}

func TestMaintainPartitions(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, &pgstore.Config{PremakePartitions: 3})
	parts, err := s.Partitions(t.Context())
	require.NoError(t, err)
	require.Len(t, parts, 4, "the current period and 3 ahead")
	day := now.Truncate(24 * time.Hour)
	for i, p := range parts {
		require.Equal(t, day.AddDate(0, 0, i), p.From)
		require.Equal(t, day.AddDate(0, 0, i+1), p.To)
		require.Equal(t, "analytics_logs_p"+p.From.Format("20060102"), p.Name)
	}
	// Idempotent.
	require.NoError(t, s.MaintainPartitions(t.Context(), now))
	again, err := s.Partitions(t.Context())
	require.NoError(t, err)
	require.Equal(t, parts, again)
}

func TestMaintainPartitions_MovesRowsOutOfDefault(t *testing.T) {
	t.Parallel()
	s, b := setup(t, &pgstore.Config{PremakePartitions: 1})
	future := now.AddDate(0, 0, 10)
	e := loadEvents(t)[0]
	e.ReceivedAt = future
	_, err := s.Append(t.Context(), []logingest.Event{e})
	require.NoError(t, err)
	require.EqualValues(t, 1, count(t, b.conn, "SELECT count(*) FROM analytics_logs_default"))

	require.NoError(t, s.MaintainPartitions(t.Context(), future))
	require.Zero(t, count(t, b.conn, "SELECT count(*) FROM analytics_logs_default"))
	name := "analytics_logs_p" + future.Format("20060102")
	require.EqualValues(t, 1, count(t, b.conn, "SELECT count(*) FROM "+name))
	page, err := s.Query(t.Context(), logingest.Filter{SortBy: logingest.SortReceivedAt})
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	require.Equal(t, e.EventID, page.Events[0].EventID)
	// The moved partition got the partitioned indexes.
	parent := count(t, b.conn, "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'analytics_logs'")
	require.GreaterOrEqual(t, parent, int64(7))
	require.Equal(t, parent, count(t, b.conn, "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1", name))
}

func TestDropPartitionsBefore(t *testing.T) {
	t.Parallel()
	s, b := setup(t, &pgstore.Config{PremakePartitions: 2})
	old := now.AddDate(0, 0, -10)
	require.NoError(t, s.MaintainPartitions(t.Context(), old)) // partitions for days -10..-8

	events := loadEvents(t)[:6]
	events[0].ReceivedAt = old                    // partition day -10
	events[1].ReceivedAt = old.AddDate(0, 0, 1)   // partition day -9
	events[2].ReceivedAt = old.AddDate(-1, 0, 0)  // DEFAULT partition, very old
	events[3].ReceivedAt = now.Add(-time.Hour)    // partition of today, before the cutoff below
	events[4].ReceivedAt = now                    // today
	events[5].ReceivedAt = now.AddDate(0, 0, 400) // DEFAULT partition, future
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)

	// The cutoff falls inside today's partition: it is kept whole, so the effective cutoff is its start.
	dropped, err := s.DropPartitionsBefore(t.Context(), now)
	require.NoError(t, err)
	var names []string
	for _, p := range dropped {
		names = append(names, p.Name)
	}
	require.ElementsMatch(t, []string{"analytics_logs_p20250817", "analytics_logs_p20250818", "analytics_logs_p20250819"}, names)

	page, err := s.Query(t.Context(), logingest.Filter{SortBy: logingest.SortReceivedAt, SortOrder: logingest.SortAsc})
	require.NoError(t, err)
	var kept []string
	for _, e := range page.Events {
		kept = append(kept, e.EventID)
	}
	require.Equal(t, []string{events[3].EventID, events[4].EventID, events[5].EventID}, kept)
	require.EqualValues(t, 3, count(t, b.conn, "SELECT count(*) FROM analytics_event_ids"))

	// Expired keys are gone with their events: a late retry is stored again; kept ones are still duplicates.
	st, err := s.Append(t.Context(), events[:4])
	require.NoError(t, err)
	require.Equal(t, []logingest.AppendStatus{
		logingest.AppendInserted, logingest.AppendInserted,
		logingest.AppendInserted, logingest.AppendDuplicate,
	}, statuses(st))

	parts, err := s.Partitions(t.Context())
	require.NoError(t, err)
	require.Equal(t, now.Truncate(24*time.Hour), parts[0].From, "today's partition remains")
}

func TestDeleteUserEvents(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	events := loadEvents(t)
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)
	user := events[1].UserID
	want := count(t, b.conn, "SELECT count(*) FROM analytics_logs WHERE user_id = $1", user)
	require.Positive(t, want)

	n, err := s.DeleteUserEvents(t.Context(), "other-source", user)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = s.DeleteUserEvents(t.Context(), testSource, user)
	require.NoError(t, err)
	require.Equal(t, want, n)
	page, err := s.Query(t.Context(), logingest.Filter{UserID: user})
	require.NoError(t, err)
	require.Empty(t, page.Events)
	n, err = s.DeleteUserEvents(t.Context(), "", user)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, 300-want, count(t, b.conn, "SELECT count(*) FROM analytics_logs"))
}

func TestQuery_KeysetMatchesOffset(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	events := loadEvents(t)
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)

	for _, sortBy := range logingest.SortFields() {
		for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
			f := logingest.Filter{Source: testSource, SortBy: sortBy, SortOrder: order, Limit: 7}
			var byOffset, byCursor []string
			for off := 0; ; off += 7 {
				f.Offset = off
				p, err := s.Query(t.Context(), f)
				require.NoError(t, err)
				for _, e := range p.Events {
					byOffset = append(byOffset, e.EventID)
				}
				if len(p.Events) < 7 {
					break
				}
			}
			f.Offset = 0
			for {
				p, err := s.Query(t.Context(), f)
				require.NoError(t, err)
				require.EqualValues(t, 300, p.Total)
				for _, e := range p.Events {
					byCursor = append(byCursor, e.EventID)
				}
				if p.NextCursor == "" {
					break
				}
				f.After = p.NextCursor
			}
			require.Len(t, byOffset, 300, "%s %s", sortBy, order)
			require.Equal(t, byOffset, byCursor, "%s %s", sortBy, order)
		}
	}
}

func TestQuery_Filters(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	events := loadEvents(t)
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)

	want := func(keep func(e logingest.Event) bool) int64 {
		var n int64
		for _, e := range events {
			if keep(e) {
				n++
			}
		}
		return n
	}
	provider := func(e logingest.Event) string {
		var p struct {
			ProviderName string `json:"provider_name"`
		}
		_ = json.Unmarshal(e.Properties, &p)
		return p.ProviderName
	}
	mid := events[150].Timestamp
	for _, tc := range []struct {
		name string
		f    logingest.Filter
		keep func(e logingest.Event) bool
	}{
		{"type", logingest.Filter{EventType: logingest.EventTypeError}, func(e logingest.Event) bool {
			return e.EventType == logingest.EventTypeError
		}},
		{"provider", logingest.Filter{ProviderName: "habit_provider"}, func(e logingest.Event) bool {
			return provider(e) == "habit_provider"
		}},
		{"app version", logingest.Filter{AppVersion: "2.0.1+7"}, func(e logingest.Event) bool { return e.AppVersion == "2.0.1+7" }},
		{"time range", logingest.Filter{StartTime: mid, EndTime: mid.Add(time.Hour)}, func(e logingest.Event) bool {
			return !e.Timestamp.Before(mid) && e.Timestamp.Before(mid.Add(time.Hour))
		}},
		{"priority", logingest.Filter{Priority: logingest.PriorityHigh}, func(e logingest.Event) bool {
			return e.Priority == logingest.PriorityHigh
		}},
	} {
		p, err := s.Query(t.Context(), tc.f)
		require.NoError(t, err, tc.name)
		n := want(tc.keep)
		require.Positive(t, n, tc.name)
		require.Equal(t, n, p.Total, tc.name)
		require.False(t, p.TotalIsEstimate, tc.name)
	}

	_, err = s.Query(t.Context(), logingest.Filter{After: "not a cursor"})
	require.ErrorIs(t, err, logingest.ErrInvalid)
	p, err := s.Query(t.Context(), logingest.Filter{Limit: 1})
	require.NoError(t, err)
	_, err = s.Query(t.Context(), logingest.Filter{Limit: 1, SortBy: logingest.SortUserID, After: p.NextCursor})
	require.ErrorIs(t, err, logingest.ErrInvalid, "a cursor of another sort order is rejected")
}

// TestQuery_Totals: above CountEstimateThreshold the total stays exact (the case the viewer pages by: a fresh
// ingest with no statistics yet) unless the sample finds more than CountExactMax matches or counting outlasts
// CountTimeBudget; only then is it an estimate, from a sample of the blocks, never below the threshold.
func TestQuery_Totals(t *testing.T) {
	t.Parallel()
	const n = 30000
	bulk := func(t *testing.T, b *testBundle) {
		t.Helper()
		// Generated in SQL, fast; no ANALYZE, like a fresh ingest.
		_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
			event_name, received_at, sequence_number)
			SELECT 'default', 'e' || g, $1::timestamptz - g * interval '1 second',
				(ARRAY['behavioral','telemetry','observability','error','performance'])[1 + g % 5], 'name_' || (g % 40),
				$1::timestamptz + g * interval '1 millisecond', g
			FROM generate_series(1, $2::int) g`, now, n)
		require.NoError(t, err)
	}
	errorsOnly := logingest.Filter{EventType: logingest.EventTypeError}
	// A time range the rollups cannot answer, matching every event.
	since := now.Add(-100 * time.Hour)

	t.Run("exact above the threshold", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t, &pgstore.Config{CountEstimateThreshold: 50, CountTimeBudget: time.Minute})
		bulk(t, b)
		for f, want := range map[*logingest.Filter]int64{
			{StartTime: since}: n, {EventType: logingest.EventTypeError, StartTime: since}: n / 5,
			{EventName: "name_7", Limit: 5, StartTime: since}: n / 40,
		} {
			p, err := s.Query(t.Context(), *f)
			require.NoError(t, err)
			require.False(t, p.TotalIsEstimate, "%+v", *f)
			require.Equal(t, want, p.Total, "%+v", *f)
		}
		p, err := s.Query(t.Context(), logingest.Filter{SkipTotal: true})
		require.NoError(t, err)
		require.EqualValues(t, -1, p.Total)
	})

	t.Run("rollup filters are counted from the rollups, exactly", func(t *testing.T) {
		t.Parallel()
		// No exact count and no sample would be allowed: the totals come from the hour rollups.
		s, b := setup(t, &pgstore.Config{CountEstimateThreshold: 50, CountExactMax: -1})
		bulk(t, b)
		_, err := b.conn.Exec(t.Context(), `DELETE FROM analytics_logs WHERE event_name = 'name_3'`) // erasure subtracts
		require.NoError(t, err)
		for f, want := range map[*logingest.Filter]int64{
			{}: n - n/40, &errorsOnly: n/5 - n/40 /* name_3 events are errors */, {EventName: "name_7"}: n / 40, {EventName: "name_3"}: 0,
			{Source: "default", EventType: logingest.EventTypeBehavioral, Priority: logingest.PriorityNormal}: n / 5,
			{Source: "other"}: 0,
		} {
			p, err := s.Query(t.Context(), *f)
			require.NoError(t, err)
			require.False(t, p.TotalIsEstimate, "%+v", *f)
			require.Equal(t, want, p.Total, "%+v", *f)
		}
	})

	t.Run("estimate above CountExactMax", func(t *testing.T) {
		t.Parallel()
		// A large sample, so the bound below holds with a wide margin (about 6 standard deviations).
		s, b := setup(t, &pgstore.Config{CountEstimateThreshold: 50, CountExactMax: -1, CountSamplePercent: 30})
		bulk(t, b)
		for f, want := range map[*logingest.Filter]int64{{StartTime: since}: n, {EventType: logingest.EventTypeError, StartTime: since}: n / 5} {
			p, err := s.Query(t.Context(), *f)
			require.NoError(t, err)
			require.True(t, p.TotalIsEstimate, "%+v", *f)
			require.InEpsilon(t, want, p.Total, 0.35, "%+v: estimate %d for %d", *f, p.Total, want)
		}
		// Below the threshold the count stays exact.
		p, err := s.Query(t.Context(), logingest.Filter{EventName: "name_7", StartTime: now.Add(-100 * time.Second)})
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate)
		require.EqualValues(t, 3, p.Total) // events 7, 47 and 87 are in the last 100 s
	})

	t.Run("a search is counted up to SearchCountThreshold, then estimated", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t, &pgstore.Config{SearchCountThreshold: 100, CountSamplePercent: 30})
		bulk(t, b)
		p, err := s.Query(t.Context(), logingest.Filter{Search: "name_7", Limit: 5}) // n/40 = 750 matches
		require.NoError(t, err)
		require.True(t, p.TotalIsEstimate, "never counted exactly above the threshold, whatever CountExactMax")
		require.InEpsilon(t, n/40, p.Total, 0.5, "estimate %d", p.Total)
		p, err = s.Query(t.Context(), logingest.Filter{Search: "name_7", StartTime: now.Add(-1000 * time.Second)})
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate)
		require.EqualValues(t, 25, p.Total) // events 7, 47, ..., 967
	})

	t.Run("estimate when the budget runs out", func(t *testing.T) {
		t.Parallel()
		s, b := setup(t, &pgstore.Config{CountEstimateThreshold: 50, CountTimeBudget: time.Millisecond})
		bulk(t, b)
		// 120,000 rows: counting them takes far more than 1 ms.
		for range 2 {
			_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
				event_name, received_at) SELECT source, event_id, timestamp, event_type, event_name, received_at
				FROM analytics_logs`)
			require.NoError(t, err)
		}
		p, err := s.Query(t.Context(), logingest.Filter{StartTime: since})
		require.NoError(t, err)
		require.True(t, p.TotalIsEstimate)
		require.Greater(t, p.Total, int64(50))
	})
}

func TestStats(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	events := loadEvents(t)
	for i := range events {
		events[i].ReceivedAt = now.Add(-time.Duration(i) * 10 * time.Minute) // 300 events over 50 hours
	}
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)
	st, err := s.Stats(t.Context(), logingest.StatsQuery{Source: testSource, Now: now, TopN: 2})
	require.NoError(t, err)
	require.EqualValues(t, 300, st.TotalEvents)
	require.EqualValues(t, 6, st.LastHour) // (now-1h, now]: i = 0..5
	require.EqualValues(t, 144, st.LastDay)
	require.Len(t, st.TopEventTypes, 2)
	require.GreaterOrEqual(t, st.TopEventTypes[0].Count, st.TopEventTypes[1].Count)
	require.Positive(t, st.ActiveUsers)
	require.Positive(t, st.ActiveSessions)

	st, err = s.Stats(t.Context(), logingest.StatsQuery{Source: "nobody", Now: now})
	require.NoError(t, err)
	require.Zero(t, st.TotalEvents)
	require.NotNil(t, st.TopEventNames)
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, nil)
	k1 := logingest.APIKey{
		ID: "k1", Name: "app", Hash: logingest.HashKey("secret1"), Source: testSource,
		Scopes: logingest.ScopeIngest | logingest.ScopeRead, CreatedAt: now.Add(time.Hour),
	}
	k2 := logingest.APIKey{
		ID: "k2", Name: "admin", Hash: logingest.HashKey("secret2"), Source: testSource,
		Scopes: logingest.ScopeAdmin, CreatedAt: now, ExpiresAt: now.AddDate(1, 0, 0), RevokedAt: now.Add(time.Minute),
	}
	require.NoError(t, s.CreateAPIKey(t.Context(), k1))
	require.NoError(t, s.CreateAPIKey(t.Context(), k2))
	require.ErrorIs(t, s.CreateAPIKey(t.Context(), k1), logingest.ErrInvalid)
	dupHash := k1
	dupHash.ID = "k3"
	require.ErrorIs(t, s.CreateAPIKey(t.Context(), dupHash), logingest.ErrInvalid)
	// A burst the INTEGER column cannot hold is refused, not stored wrapped around.
	for _, limits := range []logingest.KeyLimits{{RequestBurst: math.MaxInt32 + 1}, {EventsBurst: math.MinInt32 - 1}} {
		big := k1
		big.ID, big.Hash, big.Limits = "k4", logingest.HashKey("secret4"), limits
		require.ErrorIs(t, s.CreateAPIKey(t.Context(), big), logingest.ErrInvalid)
	}
	_, err := s.APIKeyByID(t.Context(), "k4")
	require.ErrorIs(t, err, logingest.ErrNotFound)

	got, err := s.APIKeyByHash(t.Context(), k2.Hash)
	require.NoError(t, err)
	require.Equal(t, k2, got)
	_, err = s.APIKeyByHash(t.Context(), "nope")
	require.ErrorIs(t, err, logingest.ErrNotFound)
	require.ErrorIs(t, err, pgx.ErrNoRows)

	list, err := s.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Equal(t, []logingest.APIKey{k2, k1}, list)
}

func TestClosedAndUnreachable(t *testing.T) {
	t.Parallel()
	_, err := pgstore.Open(t.Context(), "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2", nil)
	require.Error(t, err)

	pool, err := pgxpool.New(t.Context(), "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := pgstore.New(pool, nil)
	require.NoError(t, err)
	require.ErrorIs(t, s.Ping(t.Context()), logingest.ErrUnavailable)
	_, err = s.Append(t.Context(), loadEvents(t)[:1])
	require.ErrorIs(t, err, logingest.ErrUnavailable)

	s, _ = setup(t, nil)
	require.NoError(t, s.Ping(t.Context()))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Ping(t.Context()), logingest.ErrClosed)
	_, err = s.Append(t.Context(), loadEvents(t)[:1])
	require.ErrorIs(t, err, logingest.ErrClosed)
	_, err = s.Query(t.Context(), logingest.Filter{})
	require.ErrorIs(t, err, logingest.ErrClosed)
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(t.Context(), "postgres://postgres@127.0.0.1:1/postgres")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	for _, iv := range []time.Duration{time.Minute, 5 * time.Hour, 36 * time.Hour} {
		_, err := pgstore.New(pool, &pgstore.Config{PartitionInterval: iv})
		require.ErrorContains(t, err, "PartitionInterval", fmt.Sprint(iv))
	}
	_, err = pgstore.New(nil, nil)
	require.Error(t, err)
	_, err = pgstore.New(pool, &pgstore.Config{PartitionInterval: 6 * time.Hour})
	require.NoError(t, err)
}

// statuses returns the statuses of Append's results.
func statuses(res []logingest.AppendResult) []logingest.AppendStatus {
	out := make([]logingest.AppendStatus, len(res))
	for i, r := range res {
		out[i] = r.Status
	}
	return out
}

// TestOpenLeavesDefaultPartitionMovesToTheBackground: start-up does bounded work. Open neither moves the
// DEFAULT partition's rows (a bulk import) into a new partition nor waits for another replica holding the
// partition lock; MaintainPartitions, called in the background, moves them.
func TestOpenLeavesDefaultPartitionMovesToTheBackground(t *testing.T) {
	t.Parallel()
	s, b := setup(t, &pgstore.Config{PremakePartitions: 1})
	future := now.AddDate(0, 0, 10)
	e := loadEvents(t)[0]
	e.ReceivedAt = future
	_, err := s.Append(t.Context(), []logingest.Event{e})
	require.NoError(t, err)
	name := "analytics_logs_p" + future.Format("20060102")

	// A second replica starts while the row sits in the DEFAULT partition: it serves without moving it.
	cfg := &pgstore.Config{PremakePartitions: 1, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return future }}
	s2, err := pgstore.Open(t.Context(), b.dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s2.Close() })
	require.EqualValues(t, 1, count(t, b.conn, "SELECT count(*) FROM analytics_logs_default"))
	page, err := s2.Query(t.Context(), logingest.Filter{SortBy: logingest.SortReceivedAt})
	require.NoError(t, err)
	require.Len(t, page.Events, 1, "the event stays readable")

	// A third starts while another session holds the partition lock: it does not wait for it.
	tx, err := b.conn.Begin(t.Context())
	require.NoError(t, err)
	_, err = tx.Exec(t.Context(), `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.analytics_logs partitions'))`)
	require.NoError(t, err)
	s3, err := pgstore.Open(t.Context(), b.dsn, cfg)
	require.NoError(t, err, "Open returns while the lock is held")
	require.NoError(t, s3.Close())
	require.NoError(t, tx.Rollback(t.Context()))

	// The background upkeep moves it.
	require.NoError(t, s2.MaintainPartitions(t.Context(), future))
	require.Zero(t, count(t, b.conn, "SELECT count(*) FROM analytics_logs_default"))
	require.EqualValues(t, 1, count(t, b.conn, "SELECT count(*) FROM "+name))
}
