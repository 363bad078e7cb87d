package migrations

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL dialect of the database a Migrator works on.
type Dialect int

// The supported dialects.
const (
	// DialectPostgres is PostgreSQL, for example through pgx's database/sql adapter.
	DialectPostgres Dialect = iota + 1
	// DialectSQLite is SQLite, for example through modernc.org/sqlite.
	DialectSQLite
)

// String returns "postgres" or "sqlite".
func (d Dialect) String() string {
	switch d {
	case DialectPostgres:
		return "postgres"
	case DialectSQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Direction is the direction of a migration run.
type Direction string

// The migration directions.
const (
	// DirectionUp applies pending migrations.
	DirectionUp Direction = "up"
	// DirectionDown reverts applied migrations.
	DirectionDown Direction = "down"
)

// DefaultTable is the version table used when Config.Table is empty.
const DefaultTable = "logingest_migration"

// Config configures a Migrator. The zero value of Config is a reasonable default, and a nil *Config means the
// zero value.
type Config struct {
	// Logger receives one Info record per applied or reverted migration. Defaults to slog.Default().
	Logger *slog.Logger
	// Table is the name of the table that records applied versions; it is created on the first Migrate that is
	// not a dry run. It must be a plain SQL identifier (letters, digits, underscores); on PostgreSQL it may be
	// schema-qualified ("app.logingest_migration"). Defaults to DefaultTable.
	Table string
}

// MigrateOpts modify a Migrate call. The zero value of MigrateOpts is a reasonable default, and a nil
// *MigrateOpts means the zero value.
type MigrateOpts struct {
	// TargetVersion stops the run at a version.
	//
	// Up: apply pending migrations up to and including TargetVersion, which must be between 1 and Latest().
	// Defaults to 0, meaning every pending migration.
	//
	// Down: revert every applied migration above TargetVersion, leaving TargetVersion applied; -1 reverts every
	// migration. Otherwise it must be between 1 and Latest(). Defaults to 0, meaning a single step (as if
	// MaxSteps were 1).
	TargetVersion int
	// MaxSteps caps how many migrations the run applies or reverts. It must not be negative. Defaults to 0,
	// meaning no cap beyond TargetVersion (and a single step for a down run without TargetVersion).
	MaxSteps int
	// DryRun reports the migrations the run would apply or revert without changing the database; the version
	// table is not even created. Durations in the result are zero. Defaults to false.
	DryRun bool
}

// MigrateResult is the outcome of a Migrate call.
type MigrateResult struct {
	// Direction is the direction of the run.
	Direction Direction
	// Versions lists the migrations applied (up, ascending) or reverted (down, descending), in the order they
	// ran; never nil. With DryRun set it lists the migrations that would run.
	Versions []MigrateVersion
}

// MigrateVersion is one migration applied or reverted by Migrate.
type MigrateVersion struct {
	// Version is the migration's number.
	Version int
	// Name is the snake_case part of the file name, for example "create_analytics_logs".
	Name string
	// Duration is how long the migration's transaction took, including its commit.
	Duration time.Duration
}

// MigrationStatus is the state of one migration in the database.
type MigrationStatus struct {
	// Version is the migration's number.
	Version int
	// Name is the migration's name: from its file, or from the version table for an applied version that has
	// no file (applied by a newer program).
	Name string
	// Applied reports whether the version is recorded in the version table.
	Applied bool
	// AppliedAt is when the version was applied, in UTC; zero when not applied.
	AppliedAt time.Time
}

// Migrator applies a set of migrations to one database. It is safe for concurrent use, and several Migrators
// (in one or many processes) may migrate the same database at once; see the package documentation.
type Migrator struct {
	db         *sql.DB
	dialect    Dialect
	logger     *slog.Logger
	table      string
	migrations []migration // migrations[i] has version i+1
}

type migration struct {
	version int
	name    string
	up      string
	down    string
}

var (
	fileNameRE = regexp.MustCompile(`^([0-9]{3,})_([a-z0-9]+(?:_[a-z0-9]+)*)\.(up|down)\.sql$`)
	identRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

// New returns a Migrator for the migrations in the top directory of fsys (sub-directories and files not ending
// in ".sql" are ignored). It validates the set: every .sql file is named NNN_snake_name.up.sql or
// NNN_snake_name.down.sql, each version has both directions under one name, no version appears twice, and the
// versions run from 1 without gaps. Validation errors name the offending file. A nil cfg means the zero Config.
//
// Migration files must not contain transaction control statements (BEGIN, COMMIT): the Migrator wraps each
// one in its own transaction.
func New(db *sql.DB, dialect Dialect, fsys fs.FS, cfg *Config) (*Migrator, error) {
	if db == nil {
		return nil, errors.New("new migrator: db is nil")
	}
	if dialect != DialectPostgres && dialect != DialectSQLite {
		return nil, fmt.Errorf("new migrator: unknown dialect %d", int(dialect))
	}
	if fsys == nil {
		return nil, errors.New("new migrator: fsys is nil")
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if err := validTable(c.Table, dialect); err != nil {
		return nil, fmt.Errorf("new migrator: %w", err)
	}
	migs, err := load(fsys)
	if err != nil {
		return nil, fmt.Errorf("new migrator: %w", err)
	}
	return &Migrator{db: db, dialect: dialect, logger: c.Logger, table: c.Table, migrations: migs}, nil
}

func validTable(table string, dialect Dialect) error {
	parts := strings.Split(table, ".")
	if len(parts) > 2 || (len(parts) == 2 && dialect != DialectPostgres) {
		return fmt.Errorf("Table %q: only PostgreSQL table names may be schema-qualified", table)
	}
	for _, p := range parts {
		if !identRE.MatchString(p) {
			return fmt.Errorf("Table %q must be an identifier of letters, digits and underscores", table)
		}
	}
	return nil
}

// load reads and validates the migration files of fsys.
func load(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	type pair struct {
		name             string
		upFile, downFile string
		up, down         string
	}
	byVersion := map[int]*pair{}
	for _, e := range entries {
		fname := e.Name()
		if e.IsDir() || !strings.HasSuffix(fname, ".sql") {
			continue
		}
		m := fileNameRE.FindStringSubmatch(fname)
		if m == nil {
			return nil, fmt.Errorf("migration file %s: name must look like 001_snake_name.up.sql or 001_snake_name.down.sql", fname)
		}
		version, err := strconv.Atoi(m[1])
		if err != nil || version < 1 {
			return nil, fmt.Errorf("migration file %s: version must be a number from 001", fname)
		}
		body, err := fs.ReadFile(fsys, fname)
		if err != nil {
			return nil, fmt.Errorf("migration file %s: %w", fname, err)
		}
		p := byVersion[version]
		if p == nil {
			p = &pair{name: m[2]}
			byVersion[version] = p
		}
		if p.name != m[2] {
			other := p.upFile
			if other == "" {
				other = p.downFile
			}
			return nil, fmt.Errorf("migration file %s: duplicate version %d (also in %s)", fname, version, other)
		}
		if m[3] == "up" {
			// Two files with one name and direction cannot exist in one directory, so no duplicate check here.
			p.upFile, p.up = fname, string(body)
		} else {
			p.downFile, p.down = fname, string(body)
		}
	}
	if len(byVersion) == 0 {
		return nil, errors.New("no migration files found")
	}
	versions := make([]int, 0, len(byVersion))
	for v := range byVersion {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	out := make([]migration, 0, len(versions))
	for i, v := range versions {
		p := byVersion[v]
		switch {
		case p.upFile == "":
			return nil, fmt.Errorf("migration file %s: missing %03d_%s.up.sql", p.downFile, v, p.name)
		case p.downFile == "":
			return nil, fmt.Errorf("migration file %s: missing %03d_%s.down.sql", p.upFile, v, p.name)
		case v != i+1:
			return nil, fmt.Errorf("migration file %s: version %d follows version %d; versions must be contiguous from 001", p.upFile, v, i)
		}
		out = append(out, migration{version: v, name: p.name, up: p.up, down: p.down})
	}
	return out, nil
}

// Latest returns the highest version in the migration files.
func (m *Migrator) Latest() int { return len(m.migrations) }

// ExistingVersions returns the versions recorded as applied, ascending. It returns an empty slice when the
// version table does not exist yet.
func (m *Migrator) ExistingVersions(ctx context.Context) ([]int, error) {
	applied, err := m.applied(ctx, m.db)
	if err != nil {
		return nil, fmt.Errorf("existing versions: %w", err)
	}
	out := make([]int, 0, len(applied))
	for _, a := range applied {
		out = append(out, a.version)
	}
	return out, nil
}

// Status returns one entry per migration file, plus one per applied version that has no file, ordered by
// version.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	applied, err := m.applied(ctx, m.db)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(m.migrations))
	for _, mig := range m.migrations {
		out = append(out, MigrationStatus{Version: mig.version, Name: mig.name})
	}
	for _, a := range applied {
		if a.version <= len(out) {
			out[a.version-1].Applied = true
			out[a.version-1].AppliedAt = a.at
			continue
		}
		out = append(out, MigrationStatus{Version: a.version, Name: a.name, Applied: true, AppliedAt: a.at})
	}
	return out, nil
}

// Migrate applies (DirectionUp) or reverts (DirectionDown) migrations as opts direct: up applies every pending
// migration by default, down reverts only the most recent one. See MigrateOpts for TargetVersion, MaxSteps and
// DryRun. A nil opts means the zero MigrateOpts.
//
// Each migration runs in its own transaction together with its version-row change, so on error the failing
// migration has left no trace; the returned result (non-nil even on error) lists the migrations that completed
// before it. A migration that another Migrator applied or reverted meanwhile is skipped and not reported.
func (m *Migrator) Migrate(ctx context.Context, dir Direction, opts *MigrateOpts) (*MigrateResult, error) {
	res := &MigrateResult{Direction: dir, Versions: []MigrateVersion{}}
	var o MigrateOpts
	if opts != nil {
		o = *opts
	}
	if err := m.validateOpts(dir, o); err != nil {
		return res, fmt.Errorf("migrate %s: %w", dir, err)
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate %s: get connection: %w", dir, err)
	}
	defer conn.Close()

	if m.dialect == DialectPostgres && !o.DryRun {
		unlock, err := m.lockPostgres(ctx, conn)
		if err != nil {
			return res, fmt.Errorf("migrate %s: %w", dir, err)
		}
		defer unlock()
	}
	if err := m.run(ctx, conn, dir, o, res); err != nil {
		return res, fmt.Errorf("migrate %s: %w", dir, err)
	}
	return res, nil
}

func (m *Migrator) validateOpts(dir Direction, o MigrateOpts) error {
	if o.MaxSteps < 0 {
		return fmt.Errorf("MaxSteps must not be negative, got %d", o.MaxSteps)
	}
	switch dir {
	case DirectionUp:
		if o.TargetVersion < 0 || o.TargetVersion > m.Latest() {
			return fmt.Errorf("TargetVersion must be between 1 and %d (or 0 for all), got %d", m.Latest(), o.TargetVersion)
		}
	case DirectionDown:
		if o.TargetVersion < -1 || o.TargetVersion > m.Latest() {
			return fmt.Errorf("TargetVersion must be between 1 and %d, or -1 for all, got %d", m.Latest(), o.TargetVersion)
		}
	default:
		return fmt.Errorf("unknown direction %q", dir)
	}
	return nil
}

// lockPostgres takes the session advisory lock on conn and returns its release function.
func (m *Migrator) lockPostgres(ctx context.Context, conn *sql.Conn) (func(), error) {
	var key int64
	err := conn.QueryRowContext(ctx,
		`SELECT hashtextextended('logingest_migrate:' || coalesce(current_schema(), '') || ':' || $1, 0)`,
		m.table).Scan(&key)
	if err != nil {
		return nil, fmt.Errorf("derive lock key: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return nil, fmt.Errorf("take advisory lock: %w", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			m.logger.WarnContext(ctx, "release migration lock; discarding connection", "error", err)
			// Never return a connection that may still hold the lock to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

func (m *Migrator) run(ctx context.Context, conn *sql.Conn, dir Direction, o MigrateOpts, res *MigrateResult) error {
	if !o.DryRun {
		if _, err := conn.ExecContext(ctx, m.createTableSQL()); err != nil {
			return fmt.Errorf("create version table: %w", err)
		}
	}
	applied, err := m.applied(ctx, conn)
	if err != nil {
		return err
	}
	plan, err := m.plan(dir, o, applied)
	if err != nil {
		return err
	}
	for _, mig := range plan {
		if o.DryRun {
			res.Versions = append(res.Versions, MigrateVersion{Version: mig.version, Name: mig.name})
			continue
		}
		start := time.Now()
		ran, err := m.step(ctx, conn, dir, mig)
		if err != nil {
			return fmt.Errorf("%03d_%s: %w", mig.version, mig.name, err)
		}
		if !ran {
			continue
		}
		mv := MigrateVersion{Version: mig.version, Name: mig.name, Duration: time.Since(start)}
		res.Versions = append(res.Versions, mv)
		m.logger.InfoContext(ctx, "migration "+string(dir), "version", mv.Version, "name", mv.Name,
			"direction", string(dir), "duration", mv.Duration, "table", m.table)
	}
	return nil
}

func (m *Migrator) plan(dir Direction, o MigrateOpts, applied []appliedVersion) ([]migration, error) {
	done := make(map[int]bool, len(applied))
	for _, a := range applied {
		done[a.version] = true
	}
	var plan []migration
	if dir == DirectionUp {
		for _, mig := range m.migrations {
			if !done[mig.version] && (o.TargetVersion == 0 || mig.version <= o.TargetVersion) {
				plan = append(plan, mig)
			}
		}
	} else {
		steps := o.MaxSteps
		if o.TargetVersion == 0 && steps == 0 {
			steps = 1
		}
		for _, a := range slices.Backward(applied) {
			if o.TargetVersion > 0 && a.version <= o.TargetVersion {
				break
			}
			if a.version > m.Latest() {
				return nil, fmt.Errorf("version %d (%s) is applied but has no migration file", a.version, a.name)
			}
			plan = append(plan, m.migrations[a.version-1])
		}
		o.MaxSteps = steps
	}
	if o.MaxSteps > 0 && len(plan) > o.MaxSteps {
		plan = plan[:o.MaxSteps]
	}
	return plan, nil
}

// querier is what a step needs from a *sql.Conn or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// step runs one migration and its version-row change in one transaction. It reports false, changing nothing,
// when the version's state already matches the direction (another Migrator got there first).
func (m *Migrator) step(ctx context.Context, conn *sql.Conn, dir Direction, mig migration) (bool, error) {
	ran := false
	err := m.inTx(ctx, conn, func(q querier) error {
		var n int
		if err := q.QueryRowContext(ctx, m.bind("SELECT count(*) FROM "+m.table+" WHERE version = ?"), mig.version).Scan(&n); err != nil {
			return fmt.Errorf("check version: %w", err)
		}
		if (dir == DirectionUp) == (n > 0) {
			return nil
		}
		body := mig.up
		if dir == DirectionDown {
			body = mig.down
		}
		if strings.TrimSpace(body) != "" {
			if _, err := q.ExecContext(ctx, body); err != nil {
				return err
			}
		}
		if dir == DirectionUp {
			var at any = time.Now().UTC()
			if m.dialect == DialectSQLite {
				at = time.Now().UnixNano()
			}
			if _, err := q.ExecContext(ctx, m.bind("INSERT INTO "+m.table+" (version, name, applied_at) VALUES (?, ?, ?)"),
				mig.version, mig.name, at); err != nil {
				return fmt.Errorf("record version: %w", err)
			}
		} else {
			if _, err := q.ExecContext(ctx, m.bind("DELETE FROM "+m.table+" WHERE version = ?"), mig.version); err != nil {
				return fmt.Errorf("delete version: %w", err)
			}
		}
		ran = true
		return nil
	})
	return ran, err
}

// inTx runs fn in a transaction on conn. On SQLite the transaction is BEGIN IMMEDIATE, so it holds the
// database's write lock from its first statement.
func (m *Migrator) inTx(ctx context.Context, conn *sql.Conn, fn func(q querier) error) error {
	if m.dialect == DialectSQLite {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		rollback := func() {
			// The statement may already have rolled back (for example after an interrupt): ignore the error.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
		if err := fn(conn); err != nil {
			rollback()
			return err
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			rollback()
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

type appliedVersion struct {
	version int
	name    string
	at      time.Time
}

// applied returns the rows of the version table in ascending version order, or none when it does not exist.
func (m *Migrator) applied(ctx context.Context, q querier) ([]appliedVersion, error) {
	var exists bool
	var err error
	if m.dialect == DialectPostgres {
		err = q.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, m.table).Scan(&exists)
	} else {
		err = q.QueryRowContext(ctx, `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?`, m.table).Scan(&exists)
	}
	if err != nil {
		return nil, fmt.Errorf("look up version table: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT version, name, applied_at FROM "+m.table+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read version table: %w", err)
	}
	defer rows.Close()
	var out []appliedVersion
	for rows.Next() {
		var a appliedVersion
		if m.dialect == DialectSQLite {
			var ns int64
			err = rows.Scan(&a.version, &a.name, &ns)
			a.at = time.Unix(0, ns).UTC()
		} else {
			err = rows.Scan(&a.version, &a.name, &a.at)
			a.at = a.at.UTC()
		}
		if err != nil {
			return nil, fmt.Errorf("read version table: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read version table: %w", err)
	}
	slices.SortFunc(out, func(a, b appliedVersion) int { return cmp.Compare(a.version, b.version) })
	return out, nil
}

func (m *Migrator) createTableSQL() string {
	if m.dialect == DialectPostgres {
		return "CREATE TABLE IF NOT EXISTS " + m.table +
			" (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
	}
	// applied_at holds unix nanoseconds (UTC).
	return "CREATE TABLE IF NOT EXISTS " + m.table +
		" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
}

// bind rewrites ? placeholders to $1, $2, ... for PostgreSQL. Queries passed to it contain no other '?'.
func (m *Migrator) bind(query string) string {
	if m.dialect != DialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
