// Package sqlite is the embedded default logingest.Store: a persistent SQLite database in one file, through the
// pure-Go driver modernc.org/sqlite (no cgo) by default, or github.com/mattn/go-sqlite3 (cgo) with the build
// tags "sqlite_cgo sqlite_fts5" (driver.go).
//
// It implements logingest.Store, logingest.UserEraser and logingest.KeyStore, and passes the storetest
// conformance suite. The schema comes from migrations.SQLite(). Like pgstore, Open migrates it only when asked
// (Config.AutoMigrate); otherwise run the migrations with Store.Migrator, NewMigrator or
// "logserver migrate up" first.
//
// # Connections and locking
//
// SQLite allows one writer at a time. The Store therefore writes through a single connection and serialises
// writers in Go (database/sql queues them for that connection), instead of letting many connections collide on
// SQLITE_BUSY. Reads use a separate pool of connections that run concurrently with the writer: in WAL mode a
// reader sees the last committed snapshot and never blocks the writer. The busy timeout (Config.BusyTimeout)
// only matters when another process opens the same file.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL by default: every commit fsyncs the WAL, so a committed
// Append survives a crash of the process and a power loss or OS crash. The Ingester's group commit puts many
// requests into one transaction, so the fsync is paid once per group, not per event. Config.Synchronous "NORMAL"
// is the explicit opt-out: faster, a committed Append still survives a crash of the process, but the last few
// commits may be lost if the machine loses power or the OS crashes (the database stays consistent either way).
//
// # Storage format
//
// Times are stored as fixed-width UTC text ("2006-01-02T15:04:05.000000000Z"), which sorts chronologically and
// keeps nanoseconds exactly. Properties and DeviceInfo are stored as the JSON text that was appended.
//
// # Search
//
// Filter.Search reads two FTS5 trigram indexes (migration 010): one of the ASCII search documents that
// records only which documents hold a trigram (detail=none), whose candidates (the documents holding every
// trigram of every term) are each verified by LIKE, and one of the documents with non-ASCII text that answers
// exactly (searchindex.go). Query first reads up to 1,001 candidates from them. With at most 1,000 (a rare
// term), it reads and verifies those rows and sorts the matches, and Page.Total is counted exactly. With more
// (a common term), sorting every match would take seconds at a million events, so it walks the filter's
// ordered index (the one an unsearched listing uses), tests each row and stops after the page; both plans
// return the same pages and cursors. The row test is LIKE on the row's search document when the terms and the
// document are ASCII (where LIKE's case folding is FTS5's), else a lookup of the row in the FTS5 index of
// non-ASCII documents, which is exact but about a thousand times slower: a common non-ASCII term, or many
// documents with non-ASCII text that do not contain the term, make the walk slow. Page.Total of a common term
// is, like pgstore's for a search:
//
//  1. exact when the page is the last one and was read from the first match (no cursor; an offset inside the
//     matches), or when the filter has at most 1,000 matches, counted by walking them in the page's order for
//     at most 50 ms;
//  2. else an estimate with Page.TotalIsEstimate true, never below what the walk or the page saw (1,001 when
//     the walk got that far): the matches among 8 ranges of 2,500 ids spread evenly over the table, read from
//     the FTS5 indexes by rowid range, verified and checked against the other filters, scaled to the table's id
//     range (±2 % for a term in a sixth of a million events; a term whose matches cluster in time varies
//     more). When the ranges would cover the whole table, every match is counted and the total is exact.
//
// # Indexing after the commit
//
// Append's transaction stores the rows and the rollups; the FTS5 documents of ASCII events and
// analytics_last_seen are filled by a background indexer in transactions of its own, which record in
// analytics_indexed.upto how far they got (migration 009; a crash re-indexes from there). Readers cover the
// events above upto themselves: search tests them row by row with LIKE (the FTS5 answer for ASCII
// documents), and the active user and session counts merge their ids. A stored event is searchable and
// counted at once.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/migrations"
)

var (
	_ logingest.Store      = (*Store)(nil)
	_ logingest.UserEraser = (*Store)(nil)
	_ logingest.KeyStore   = (*Store)(nil)
	_ logingest.Aggregator = (*Store)(nil)

	_ logingest.AppendConcurrency = (*Store)(nil)
)

// Config configures Open. The zero value of Config is a reasonable default, and a nil *Config means the zero
// value.
type Config struct {
	// Logger receives migration and maintenance messages. Defaults to slog.Default().
	Logger *slog.Logger
	// AutoMigrate makes Open apply every pending migration before anything else. Defaults to false: the
	// schema must have been migrated (NewMigrator, "logserver migrate up"), and Open fails on a database
	// without it.
	AutoMigrate bool
	// BusyTimeout is how long a connection waits for a lock held by another process before failing with
	// SQLITE_BUSY. Defaults to 5s.
	BusyTimeout time.Duration
	// Synchronous is SQLite's synchronous setting: "FULL" (every commit is fsynced: a committed Append survives
	// power loss), "EXTRA" (FULL, and the directory too) or "NORMAL" (survives process crashes; the last commits
	// may be lost on power loss or an OS crash). Defaults to "FULL".
	Synchronous string
	// MaxReaders is the size of the read connection pool. Defaults to max(4, GOMAXPROCS).
	MaxReaders int
	// Now returns the current time, used for the created_at column. Defaults to time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.BusyTimeout == 0 {
		out.BusyTimeout = 5 * time.Second
	}
	if out.Synchronous == "" {
		out.Synchronous = "FULL"
	}
	out.Synchronous = strings.ToUpper(out.Synchronous)
	if out.MaxReaders == 0 {
		out.MaxReaders = max(4, runtime.GOMAXPROCS(0))
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out
}

func (c *Config) validate() error {
	switch c.Synchronous {
	case "NORMAL", "FULL", "EXTRA":
	default:
		return fmt.Errorf("Synchronous must be NORMAL, FULL or EXTRA, got %q", c.Synchronous)
	}
	if c.BusyTimeout < 0 {
		return fmt.Errorf("BusyTimeout must not be negative, got %s", c.BusyTimeout)
	}
	if c.MaxReaders < 0 {
		return fmt.Errorf("MaxReaders must not be negative, got %d", c.MaxReaders)
	}
	return nil
}

// Store is a logingest.Store kept in a SQLite file. It is safe for concurrent use by multiple goroutines. Create
// it with Open and release it with Close.
type Store struct {
	path   string
	writer *sql.DB // exactly one connection
	reader *sql.DB // read-only pool

	insertStmt *sql.Stmt // insertSQL, prepared once on the writer connection
	now        func() time.Time
	logger     *slog.Logger

	search  searchConfig   // the limits of searchindex.go and searchtotal.go (zero: defaults; tests lower them)
	indexer *searchIndexer // the background search indexer (searchindexer.go); nil until init succeeds

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it and its parent directories if needed) the SQLite database at path and, when
// cfg.AutoMigrate is set, migrates its schema up; without it, a database whose schema was never migrated is
// refused. path is a file name; it must not contain '?' and must not be
// ":memory:" (use memstore for an in-memory store). A nil cfg means the zero Config.
func Open(ctx context.Context, path string, cfg *Config) (*Store, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite store: path %q must be a plain file name: %w", path, logingest.ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite store: create directory: %w", err)
		}
	}

	pragmas := c.pragmas()

	wp := cloneValues(pragmas)
	// The writer touches every index of every insert: give it a 64 MiB page cache (spread-out timestamps, users and
	// sessions insert at random places in most indexes) (readers keep the 2 MiB default).
	wp.Add("_pragma", "cache_size(-65536)")
	// The statement journal (the pages a multi-row INSERT changed, kept until the statement ends so that it can be
	// undone alone) in memory, not in a temporary file: written through a file it cost a sixth of the writer's
	// time in write system calls.
	wp.Add("_pragma", "temp_store(MEMORY)")
	// Checkpoint every 10,000 WAL pages (40 MiB) rather than 1,000: a commit of a thousand events with random
	// user, session and event ids dirties hundreds of index pages, so the default checkpointed after almost
	// every commit, and copied the same hot pages to the database over and over.
	wp.Add("_pragma", "wal_autocheckpoint(10000)")
	// IMMEDIATE takes the write lock at BEGIN, so a transaction never fails half-way upgrading a read lock when
	// another process writes.
	wp.Set("_txlock", "immediate")
	writer, err := openDB(path, wp)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	s := &Store{path: path, writer: writer, now: c.Now, logger: c.Logger}
	if err := s.init(ctx, c, pragmas); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	return s, nil
}

func (s *Store) init(ctx context.Context, c Config, pragmas url.Values) error {
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return s.mapErr(ctx, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	if c.AutoMigrate {
		m, _, err := s.Migrator(nil)
		if err != nil {
			return err
		}
		if _, err := m.Migrate(ctx, migrations.DirectionUp, nil); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	} else {
		var n int
		if err := s.writer.QueryRowContext(ctx,
			"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'analytics_logs'").Scan(&n); err != nil {
			return s.mapErr(ctx, err)
		}
		if n == 0 {
			return errors.New("schema is not migrated (run `logserver migrate up` or set AutoMigrate)")
		}
		if err := s.checkSchemaVersion(ctx); err != nil {
			return err
		}
	}

	insert, err := s.writer.PrepareContext(ctx, insertSQL)
	if err != nil {
		return s.mapErr(ctx, err)
	}
	s.insertStmt = insert

	rp := cloneValues(pragmas)
	rp.Add("_pragma", "query_only(1)")
	reader, err := openDB(s.path, rp)
	if err != nil {
		return err
	}
	reader.SetMaxOpenConns(c.MaxReaders)
	reader.SetMaxIdleConns(c.MaxReaders)
	s.reader = reader
	s.startIndexer(indexerConfig{})
	return nil
}

// schemaVersion is the migration this code needs at least: from 008 on, Append maintains the rollups and the
// search index itself (on an older schema the insert triggers of 006 and 007 would count every event twice),
// from 009 on the background indexer records in analytics_indexed how far it indexed, and from 010 on
// search reads two indexes (ASCII documents without positions, the others with them).
const schemaVersion = 10

// checkSchemaVersion refuses a database whose schema is older than schemaVersion.
func (s *Store) checkSchemaVersion(ctx context.Context) error {
	m, _, err := s.Migrator(nil)
	if err != nil {
		return err
	}
	versions, err := m.ExistingVersions(ctx)
	if err != nil {
		return s.mapErr(ctx, err)
	}
	if len(versions) == 0 || versions[len(versions)-1] < schemaVersion {
		return fmt.Errorf("schema is at migration %v, this version needs %d or later "+
			"(run `logserver migrate up` or set AutoMigrate)", versions, schemaVersion)
	}
	return nil
}

// Close closes the database. Later calls on the Store return an error matching logingest.ErrClosed. Close is
// idempotent; it waits for running calls to release their connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.indexer.stop() // before the writer closes under it
		var errs []error
		if s.insertStmt != nil {
			errs = append(errs, s.insertStmt.Close())
		}
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		errs = append(errs, s.writer.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close sqlite store: %w", err)
		}
	})
	return s.closeErr
}

// MaxConcurrentAppends implements logingest.AppendConcurrency: SQLite has one writer, so Append calls run one
// at a time and an Ingester should coalesce into a single writer.
func (s *Store) MaxConcurrentAppends() int { return 1 }

// Ping implements logingest.Store: it runs a trivial query on a read connection. It returns an error matching
// logingest.ErrClosed after Close.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", s.mapErr(ctx, err))
	}
	return nil
}

// begin checks the closed flag and ctx before a call touches the database.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return logingest.ErrClosed
	}
	return ctx.Err()
}

// mapErr maps driver errors onto logingest sentinels, keeping the original in the chain. An error caused by ctx
// always wraps ctx.Err().
func (s *Store) mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %w", cerr, err)
	}
	if s.closed.Load() || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %w", logingest.ErrClosed, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", logingest.ErrNotFound, err)
	}
	if code, msg, ok := errorCode(err); ok {
		if isDataError(code, msg) {
			return fmt.Errorf("%w: %w", logingest.ErrInvalid, err)
		}
		switch code & 0xff { // primary result code
		case codeBusy, codeLocked, codeIOErr, codeFull, codeCantOpen:
			return fmt.Errorf("%w: %w", logingest.ErrUnavailable, err)
		}
	}
	return err
}

// isDataError reports whether a SQLite error (its extended result code and message) says that a value could not
// be stored, as opposed to an outage or a bug: a constraint it breaks (unique, primary key, not-null, check such
// as json_valid, the column type of a STRICT table), a string or blob too big (SQLITE_TOOBIG), a datatype
// mismatch, or malformed JSON met by a JSON function (the json_extract of the provider_name index raises a plain
// SQLITE_ERROR, recognised by its message). Append reports them as logingest.ErrInvalid, so the Ingester
// isolates the event that caused them instead of failing its neighbours.
func isDataError(code int, msg string) bool {
	switch code {
	case codeConstraintUnique, codeConstraintPrimaryKey, codeConstraintNotNull, codeConstraintCheck,
		codeConstraintDataType:
		return true
	}
	switch code & 0xff { // primary result code
	case codeTooBig, codeMismatch:
		return true
	case codeError:
		return strings.Contains(msg, "malformed JSON") || strings.Contains(msg, "JSON cannot hold BLOB values") ||
			strings.Contains(msg, "JSON nested too deep")
	}
	return false
}

// pragmas are the connection settings of every connection to the database: the one definition of the DSN's
// parameters, used by Open and NewMigrator.
func (c Config) pragmas() url.Values {
	p := url.Values{}
	p.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", c.BusyTimeout.Milliseconds()))
	p.Add("_pragma", "journal_mode(WAL)")
	p.Add("_pragma", "synchronous("+c.Synchronous+")")
	p.Add("_pragma", "foreign_keys(1)")
	return p
}

// Migrator returns a migrations.Migrator for the Store's database, working on its writer connection, and a
// function that releases it (it holds nothing; the Store's Close does). cfg may be nil; its Logger defaults to
// the Store's logger. It mirrors pgstore's Store.Migrator.
func (s *Store) Migrator(cfg *migrations.Config) (*migrations.Migrator, func() error, error) {
	var c migrations.Config
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = s.logger
	}
	m, err := migrations.New(s.writer, migrations.DialectSQLite, migrations.SQLite(), &c)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: new migrator: %w", err)
	}
	return m, func() error { return nil }, nil
}

// NewMigrator opens the SQLite database at path (creating it if needed) with the Store's connection settings
// and returns a migrations.Migrator for it, without the schema check of Open, so it can migrate a new database.
// The returned function closes the database. cfg may be nil.
func NewMigrator(path string, cfg *migrations.Config) (*migrations.Migrator, func() error, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, nil, fmt.Errorf("sqlite migrator: path %q must be a plain file name: %w", path, logingest.ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, nil, fmt.Errorf("sqlite migrator: create directory: %w", err)
		}
	}
	c := (*Config)(nil).withDefaults()
	db, err := openDB(path, c.pragmas())
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite migrator: %w", err)
	}
	db.SetMaxOpenConns(1)
	m, err := migrations.New(db, migrations.DialectSQLite, migrations.SQLite(), cfg)
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("sqlite migrator: %w", err)
	}
	return m, db.Close, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// formatTime returns the fixed-width UTC text form of every stored time, storequery.TimeLayout: the form of
// cursors too, so that a row's time and a cursor's compare as text.
func formatTime(t time.Time) string { return storequery.FormatTime(t) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(storequery.TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}

// nullTime formats t, or returns nil (NULL) for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}
