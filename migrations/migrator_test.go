package migrations_test

import (
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/migrations"
)

// testFS is a small, valid migration set. 002 and 003 insert marker rows so that a migration applied twice
// would be visible.
func testFS() fstest.MapFS {
	return fstest.MapFS{
		"001_create_marker.up.sql":   {Data: []byte("CREATE TABLE marker (n INTEGER NOT NULL);\nCREATE TABLE extra_a (x INTEGER);")},
		"001_create_marker.down.sql": {Data: []byte("DROP TABLE extra_a;\nDROP TABLE marker;")},
		"002_mark_two.up.sql":        {Data: []byte("CREATE TABLE extra_b (y INTEGER);\nINSERT INTO marker (n) VALUES (2);")},
		"002_mark_two.down.sql":      {Data: []byte("DELETE FROM marker WHERE n = 2;\nDROP TABLE extra_b;")},
		"003_mark_three.up.sql":      {Data: []byte("INSERT INTO marker (n) VALUES (3);")},
		"003_mark_three.down.sql":    {Data: []byte("DELETE FROM marker WHERE n = 3;")},
		"README.md":                  {Data: []byte("ignored")},
	}
}

type testBundle struct {
	dialect migrations.Dialect
	open    func() *sql.DB // opens another handle on the same database
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func setupSQLite(t *testing.T) *testBundle {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mig.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"
	// Switch the new file to WAL once, before any test opens handles concurrently: switching the journal mode
	// takes an exclusive lock that SQLite does not wait for (busy_timeout does not apply), so several handles
	// connecting at once to a fresh file could fail with SQLITE_BUSY. The mode is persistent.
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	require.NoError(t, db.PingContext(t.Context()))
	require.NoError(t, db.Close())
	return &testBundle{dialect: migrations.DialectSQLite, open: func() *sql.DB {
		db, err := sql.Open("sqlite", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}}
}

func setupPostgres(t *testing.T) *testBundle {
	t.Helper()
	dsn := pgtest.Schema(t)
	return &testBundle{dialect: migrations.DialectPostgres, open: func() *sql.DB {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		// Registered after pgtest's cleanup, so it runs first: connections close before the schema is dropped.
		t.Cleanup(func() { _ = db.Close() })
		return db
	}}
}

// dialects are the databases every dialect-independent test runs against, each as a parallel subtest: setup
// gives the subtest a fresh SQLite file or a fresh PostgreSQL schema.
var dialects = []struct {
	name  string
	setup func(t *testing.T) *testBundle
}{
	{name: "SQLite", setup: setupSQLite},
	{name: "Postgres", setup: setupPostgres},
}

func newMigrator(t *testing.T, b *testBundle, db *sql.DB, fsys fstest.MapFS) *migrations.Migrator {
	t.Helper()
	m, err := migrations.New(db, b.dialect, fsys, &migrations.Config{Logger: quietLogger()})
	require.NoError(t, err)
	return m
}

func tableExists(t *testing.T, b *testBundle, db *sql.DB, name string) bool {
	t.Helper()
	var ok bool
	var err error
	if b.dialect == migrations.DialectPostgres {
		err = db.QueryRowContext(t.Context(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok)
	} else {
		err = db.QueryRowContext(t.Context(), "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&ok)
	}
	require.NoError(t, err)
	return ok
}

func markers(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT n FROM marker ORDER BY n")
	require.NoError(t, err)
	defer rows.Close()
	out := []int{}
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	return out
}

func versionsOf(res *migrations.MigrateResult) []int {
	out := []int{}
	for _, v := range res.Versions {
		out = append(out, v.Version)
	}
	return out
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := d.setup(t)
			ctx := t.Context()
			db := b.open()
			m := newMigrator(t, b, db, testFS())
			require.Equal(t, 3, m.Latest())

			existing, err := m.ExistingVersions(ctx)
			require.NoError(t, err)
			require.Empty(t, existing)

			res, err := m.Migrate(ctx, migrations.DirectionUp, nil)
			require.NoError(t, err)
			require.Equal(t, migrations.DirectionUp, res.Direction)
			require.Equal(t, []int{1, 2, 3}, versionsOf(res))
			require.Equal(t, "create_marker", res.Versions[0].Name)
			require.Equal(t, []int{2, 3}, markers(t, db))

			// Up again is a no-op.
			res, err = m.Migrate(ctx, migrations.DirectionUp, nil)
			require.NoError(t, err)
			require.Empty(t, res.Versions)
			require.NotNil(t, res.Versions)

			status, err := m.Status(ctx)
			require.NoError(t, err)
			require.Len(t, status, 3)
			for i, s := range status {
				require.Equal(t, i+1, s.Version)
				require.True(t, s.Applied)
				require.False(t, s.AppliedAt.IsZero())
			}

			// Down defaults to one step.
			res, err = m.Migrate(ctx, migrations.DirectionDown, nil)
			require.NoError(t, err)
			require.Equal(t, []int{3}, versionsOf(res))
			require.Equal(t, []int{2}, markers(t, db))
			existing, err = m.ExistingVersions(ctx)
			require.NoError(t, err)
			require.Equal(t, []int{1, 2}, existing)

			// All the way down.
			res, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: -1})
			require.NoError(t, err)
			require.Equal(t, []int{2, 1}, versionsOf(res))
			require.False(t, tableExists(t, b, db, "marker"))
			require.False(t, tableExists(t, b, db, "extra_b"))
			existing, err = m.ExistingVersions(ctx)
			require.NoError(t, err)
			require.Empty(t, existing)

			status, err = m.Status(ctx)
			require.NoError(t, err)
			for _, s := range status {
				require.False(t, s.Applied)
				require.True(t, s.AppliedAt.IsZero())
			}

			// Down with nothing applied is a no-op.
			res, err = m.Migrate(ctx, migrations.DirectionDown, nil)
			require.NoError(t, err)
			require.Empty(t, res.Versions)

			// And up again.
			res, err = m.Migrate(ctx, migrations.DirectionUp, nil)
			require.NoError(t, err)
			require.Equal(t, []int{1, 2, 3}, versionsOf(res))
			require.Equal(t, []int{2, 3}, markers(t, db))
		})
	}
}

func TestMigrateStepsAndTarget(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := d.setup(t)
			ctx := t.Context()
			db := b.open()
			m := newMigrator(t, b, db, testFS())

			res, err := m.Migrate(ctx, migrations.DirectionUp, &migrations.MigrateOpts{MaxSteps: 1})
			require.NoError(t, err)
			require.Equal(t, []int{1}, versionsOf(res))

			res, err = m.Migrate(ctx, migrations.DirectionUp, &migrations.MigrateOpts{TargetVersion: 2})
			require.NoError(t, err)
			require.Equal(t, []int{2}, versionsOf(res))

			// A target below the current version applies nothing.
			res, err = m.Migrate(ctx, migrations.DirectionUp, &migrations.MigrateOpts{TargetVersion: 1})
			require.NoError(t, err)
			require.Empty(t, res.Versions)

			res, err = m.Migrate(ctx, migrations.DirectionUp, nil)
			require.NoError(t, err)
			require.Equal(t, []int{3}, versionsOf(res))

			res, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{MaxSteps: 2})
			require.NoError(t, err)
			require.Equal(t, []int{3, 2}, versionsOf(res))

			_, err = m.Migrate(ctx, migrations.DirectionUp, nil)
			require.NoError(t, err)
			res, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: 1})
			require.NoError(t, err)
			require.Equal(t, []int{3, 2}, versionsOf(res))
			existing, err := m.ExistingVersions(ctx)
			require.NoError(t, err)
			require.Equal(t, []int{1}, existing)

			// MaxSteps caps TargetVersion -1.
			_, err = m.Migrate(ctx, migrations.DirectionUp, nil)
			require.NoError(t, err)
			res, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: -1, MaxSteps: 1})
			require.NoError(t, err)
			require.Equal(t, []int{3}, versionsOf(res))
		})
	}
}

func TestMigrateDryRun(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := d.setup(t)
			ctx := t.Context()
			db := b.open()
			m := newMigrator(t, b, db, testFS())

			res, err := m.Migrate(ctx, migrations.DirectionUp, &migrations.MigrateOpts{DryRun: true})
			require.NoError(t, err)
			require.Equal(t, []int{1, 2, 3}, versionsOf(res))
			require.False(t, tableExists(t, b, db, "marker"))
			require.False(t, tableExists(t, b, db, migrations.DefaultTable), "a dry run must not create the version table")

			_, err = m.Migrate(ctx, migrations.DirectionUp, &migrations.MigrateOpts{MaxSteps: 2})
			require.NoError(t, err)

			res, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{DryRun: true, TargetVersion: -1})
			require.NoError(t, err)
			require.Equal(t, []int{2, 1}, versionsOf(res))
			existing, err := m.ExistingVersions(ctx)
			require.NoError(t, err)
			require.Equal(t, []int{1, 2}, existing)
			require.Equal(t, []int{2}, markers(t, db))
		})
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := d.setup(t)
			ctx := t.Context()
			db := b.open()
			fsys := testFS()
			// The first statement succeeds, the second fails: the whole migration must roll back.
			fsys["003_mark_three.up.sql"] = &fstest.MapFile{
				Data: []byte("CREATE TABLE extra_c (z INTEGER);\nINSERT INTO no_such_table (n) VALUES (3);"),
			}
			m := newMigrator(t, b, db, fsys)

			res, err := m.Migrate(ctx, migrations.DirectionUp, nil)
			require.Error(t, err)
			require.ErrorContains(t, err, "003_mark_three")
			require.NotNil(t, res)
			require.Equal(t, []int{1, 2}, versionsOf(res), "the result lists the migrations that completed")

			existing, err := m.ExistingVersions(ctx)
			require.NoError(t, err)
			require.Equal(t, []int{1, 2}, existing)
			require.False(t, tableExists(t, b, db, "extra_c"), "the failed migration's DDL must be rolled back")
			require.Equal(t, []int{2}, markers(t, db))

			// A failing down migration also leaves its version applied.
			fsys["002_mark_two.down.sql"] = &fstest.MapFile{Data: []byte("DROP TABLE extra_b;\nDELETE FROM no_such_table;")}
			m = newMigrator(t, b, db, fsys)
			_, err = m.Migrate(ctx, migrations.DirectionDown, nil)
			require.ErrorContains(t, err, "002_mark_two")
			existing, err = m.ExistingVersions(ctx)
			require.NoError(t, err)
			require.Equal(t, []int{1, 2}, existing)
			require.True(t, tableExists(t, b, db, "extra_b"))
		})
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := d.setup(t)
			ctx := t.Context()
			const replicas = 8
			dbs := make([]*sql.DB, replicas)
			for i := range dbs {
				dbs[i] = b.open() // one pool per "replica", like separate processes
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				applied []int
				errs    []error
			)
			for i := range replicas {
				m := newMigrator(t, b, dbs[i], testFS())
				wg.Go(func() {
					res, err := m.Migrate(ctx, migrations.DirectionUp, nil)
					mu.Lock()
					defer mu.Unlock()
					errs = append(errs, err)
					applied = append(applied, versionsOf(res)...)
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			require.ElementsMatch(t, []int{1, 2, 3}, applied, "each migration must be applied exactly once")
			require.Equal(t, []int{2, 3}, markers(t, dbs[0]))
		})
	}
}

func TestMigrateInvalidOpts(t *testing.T) {
	t.Parallel()
	b := setupSQLite(t)
	m := newMigrator(t, b, b.open(), testFS())
	for _, tc := range []struct {
		dir  migrations.Direction
		opts migrations.MigrateOpts
		want string
	}{
		{migrations.DirectionUp, migrations.MigrateOpts{TargetVersion: 4}, "TargetVersion"},
		{migrations.DirectionUp, migrations.MigrateOpts{TargetVersion: -1}, "TargetVersion"},
		{migrations.DirectionDown, migrations.MigrateOpts{TargetVersion: -2}, "TargetVersion"},
		{migrations.DirectionUp, migrations.MigrateOpts{MaxSteps: -1}, "MaxSteps"},
		{"sideways", migrations.MigrateOpts{}, "unknown direction"},
	} {
		_, err := m.Migrate(t.Context(), tc.dir, &tc.opts)
		require.ErrorContains(t, err, tc.want, "%s %+v", tc.dir, tc.opts)
	}
	existing, err := m.ExistingVersions(t.Context())
	require.NoError(t, err)
	require.Empty(t, existing)
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	with := func(edit func(fstest.MapFS)) fstest.MapFS {
		fsys := testFS()
		edit(fsys)
		return fsys
	}
	sqlFile := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"Gap", with(func(f fstest.MapFS) {
			f["005_later.up.sql"], f["005_later.down.sql"] = sqlFile, sqlFile
		}), "005_later.up.sql"},
		{"NotFromOne", fstest.MapFS{"002_x.up.sql": sqlFile, "002_x.down.sql": sqlFile}, "002_x.up.sql"},
		{"MissingDown", with(func(f fstest.MapFS) { delete(f, "003_mark_three.down.sql") }), "003_mark_three.up.sql"},
		{"MissingUp", with(func(f fstest.MapFS) { delete(f, "002_mark_two.up.sql") }), "002_mark_two.down.sql"},
		{"DuplicateVersion", with(func(f fstest.MapFS) {
			f["002_other.up.sql"], f["002_other.down.sql"] = sqlFile, sqlFile
		}), "duplicate version 2"},
		{"BadName", with(func(f fstest.MapFS) { f["004-Bad Name.up.sql"] = sqlFile }), "004-Bad Name.up.sql"},
		{"NoDirection", with(func(f fstest.MapFS) { f["004_thing.sql"] = sqlFile }), "004_thing.sql"},
		{"ShortVersion", with(func(f fstest.MapFS) { f["4_thing.up.sql"] = sqlFile }), "4_thing.up.sql"},
		{"VersionZero", with(func(f fstest.MapFS) { f["000_zero.up.sql"] = sqlFile }), "000_zero.up.sql"},
		{"Empty", fstest.MapFS{"README.md": {Data: []byte("x")}}, "no migration files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := migrations.New(db, migrations.DialectSQLite, tc.fsys, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}

	t.Run("BadTable", func(t *testing.T) {
		t.Parallel()
		for _, table := range []string{"x; DROP TABLE y", "a.b", "1abc"} {
			_, err := migrations.New(db, migrations.DialectSQLite, testFS(), &migrations.Config{Table: table})
			require.ErrorContains(t, err, "Table", table)
		}
		_, err := migrations.New(db, migrations.DialectPostgres, testFS(), &migrations.Config{Table: "app.versions"})
		require.NoError(t, err, "PostgreSQL tables may be schema-qualified")
	})
	t.Run("BadArgs", func(t *testing.T) {
		t.Parallel()
		_, err := migrations.New(nil, migrations.DialectSQLite, testFS(), nil)
		require.Error(t, err)
		_, err = migrations.New(db, migrations.Dialect(0), testFS(), nil)
		require.Error(t, err)
		_, err = migrations.New(db, migrations.DialectSQLite, nil, nil)
		require.Error(t, err)
	})
}

func TestCustomTable(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := d.setup(t)
			db := b.open()
			m, err := migrations.New(db, b.dialect, testFS(), &migrations.Config{Table: "my_versions", Logger: quietLogger()})
			require.NoError(t, err)
			_, err = m.Migrate(t.Context(), migrations.DirectionUp, nil)
			require.NoError(t, err)
			require.True(t, tableExists(t, b, db, "my_versions"))
			require.False(t, tableExists(t, b, db, migrations.DefaultTable))
		})
	}
}

// TestSQLiteSet runs the real SQLite migrations up, all the way down and up again.
func TestSQLiteSet(t *testing.T) {
	t.Parallel()
	b := setupSQLite(t)
	db := b.open()
	ctx := t.Context()
	m, err := migrations.New(db, migrations.DialectSQLite, migrations.SQLite(), &migrations.Config{Logger: quietLogger()})
	require.NoError(t, err)
	require.GreaterOrEqual(t, m.Latest(), 2)

	want := make([]int, m.Latest())
	for i := range want {
		want[i] = i + 1
	}
	for round := range 2 {
		res, err := m.Migrate(ctx, migrations.DirectionUp, nil)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, want, versionsOf(res))
		require.True(t, tableExists(t, b, db, "analytics_logs"))
		require.True(t, tableExists(t, b, db, "api_keys"))
		// The schema accepts a row and enforces the idempotency key.
		ins := `INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties, received_at, created_at)
			VALUES ('s', 'e1', '2025-01-01T00:00:00.000000000Z', 'behavioral', 'x', '{"provider_name":"p"}',
				'2025-01-01T00:00:00.000000000Z', '2025-01-01T00:00:00.000000000Z')
			ON CONFLICT (source, event_id) DO NOTHING`
		for range 2 {
			_, err = db.ExecContext(ctx, ins)
			require.NoError(t, err)
		}
		var n int
		require.NoError(t, db.QueryRowContext(ctx,
			"SELECT count(*) FROM analytics_logs WHERE json_extract(properties, '$.provider_name') = 'p'").Scan(&n))
		require.Equal(t, 1, n)

		res, err = m.Migrate(ctx, migrations.DirectionDown, &migrations.MigrateOpts{TargetVersion: -1})
		require.NoError(t, err)
		require.Len(t, res.Versions, m.Latest())
		var tables int
		require.NoError(t, db.QueryRowContext(ctx,
			fmt.Sprintf("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'index') "+
				"AND name NOT LIKE '%s%%' AND name NOT LIKE 'sqlite_%%'", migrations.DefaultTable)).Scan(&tables))
		require.Zero(t, tables, "down to zero must leave no tables or indexes behind")
	}
}
