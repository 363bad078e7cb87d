package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/migrations"
)

// Compile-time checks of the interfaces Store implements.
var (
	_ logingest.Store      = (*Store)(nil)
	_ logingest.UserEraser = (*Store)(nil)
	_ logingest.KeyStore   = (*Store)(nil)
	_ logingest.Aggregator = (*Store)(nil)
)

// Config configures a Store. The zero value of Config is a reasonable default; a nil *Config means the zero
// value.
type Config struct {
	// Logger receives the store's log records. Defaults to slog.Default().
	Logger *slog.Logger
	// PartitionInterval is the time range of one analytics_logs partition. It must be a whole number of hours
	// that divides 24h or is a multiple of it. Defaults to 24h.
	PartitionInterval time.Duration
	// PremakePartitions is how many partitions after the current one MaintainPartitions creates ahead of
	// time. Defaults to 7.
	PremakePartitions int
	// PartitionMoveBatch is the most events one step of MaintainPartitions moves out of the DEFAULT partition
	// (see MaintainPartitions for the locks a step holds). Smaller steps hold locks for less time but leave
	// more partitions. Defaults to 500,000.
	PartitionMoveBatch int
	// CountEstimateThreshold is how many matching events Query always counts exactly, in the same round trip
	// as the page. Above it, Query samples the matches (see CountSamplePercent) and, when the sample finds at
	// most CountExactMax, counts them exactly within CountTimeBudget; otherwise Page.Total is the sample's
	// estimate and Page.TotalIsEstimate is true. Defaults to 10000.
	CountEstimateThreshold int64
	// SearchCountThreshold replaces CountEstimateThreshold for a filter with a search (Filter.Search): above it,
	// Page.Total is always the sample's estimate, never an exact count. Matching a search reads each candidate
	// event's search document, so counting 10,000 matches of a common term reads ~100,000 documents. Up to it,
	// the keys of the matches are read once for the exact total and the page (passed back as arrays of up to
	// this many elements), so it should stay in the thousands. Defaults to 1000.
	SearchCountThreshold int64
	// CountExactMax is the largest sampled number of matches that Query still tries to count exactly. Defaults
	// to 2,000,000 (about half a second of counting on a small server); a negative value never counts above
	// CountEstimateThreshold.
	CountExactMax int64
	// CountTimeBudget bounds the exact count above CountEstimateThreshold: a count still running after it is
	// canceled and the sample's estimate is served. It is part of the latency of every page whose filter matches
	// many events, so it is short: about 150,000 matches count within it on a quiet machine. Defaults to 50ms.
	CountTimeBudget time.Duration
	// CountSamplePercent is the share of table blocks (TABLESAMPLE SYSTEM) read to estimate a large total. A
	// search samples a tenth of it first, and the whole share only when the tenth finds fewer than 100 matches.
	// Defaults to 1 (measured error: see the package documentation).
	CountSamplePercent float64
	// CopyMinBatch is the smallest batch (in distinct events) that Append stores with a transaction and COPY
	// instead of one statement. COPY writes faster but the transaction costs three more round trips, so with a
	// database far away (milliseconds of round trip) a higher value may be better. Defaults to 128, measured
	// on loopback with BenchmarkAppendVsCopy; a negative value never uses COPY.
	CopyMinBatch int
	// AutoMigrate makes Open apply every pending migration before anything else. Defaults to false: the
	// schema is managed with `logserver migrate`.
	AutoMigrate bool
	// Now is the clock Open uses to maintain partitions. Defaults to time.Now.
	Now func() time.Time
	// OriginalSource is the source given to the events imported from the original server's database (see
	// ImportOriginal). The original had no sources; its keys are the ones API_KEYS configures, whose events are
	// in logingest.DefaultSource. Defaults to logingest.DefaultSource.
	OriginalSource string
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.PartitionInterval == 0 {
		out.PartitionInterval = 24 * time.Hour
	}
	if out.PremakePartitions == 0 {
		out.PremakePartitions = 7
	}
	if out.PartitionMoveBatch == 0 {
		out.PartitionMoveBatch = 500_000
	}
	if out.OriginalSource == "" {
		out.OriginalSource = logingest.DefaultSource
	}
	if out.CountEstimateThreshold == 0 {
		out.CountEstimateThreshold = 10000
	}
	if out.SearchCountThreshold == 0 {
		out.SearchCountThreshold = 1000
	}
	if out.CountExactMax == 0 {
		out.CountExactMax = 2_000_000
	}
	if out.CountTimeBudget == 0 {
		out.CountTimeBudget = 50 * time.Millisecond
	}
	if out.CountSamplePercent == 0 {
		out.CountSamplePercent = 1
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.CopyMinBatch == 0 {
		out.CopyMinBatch = 128
	}
	return out
}

func (c *Config) validate() error {
	iv := c.PartitionInterval
	if iv < time.Hour || iv%time.Hour != 0 || (iv < 24*time.Hour && (24*time.Hour)%iv != 0) ||
		(iv > 24*time.Hour && iv%(24*time.Hour) != 0) {
		return fmt.Errorf("PartitionInterval must be a whole number of hours dividing 24h or a multiple of 24h, got %v", iv)
	}
	if c.PremakePartitions < 0 {
		return errors.New("PremakePartitions must not be negative")
	}
	if c.PartitionMoveBatch < 0 {
		return errors.New("PartitionMoveBatch must not be negative")
	}
	if c.CountEstimateThreshold < 0 {
		return errors.New("CountEstimateThreshold must not be negative")
	}
	if c.SearchCountThreshold < 0 {
		return errors.New("SearchCountThreshold must not be negative")
	}
	if c.CountTimeBudget < 0 {
		return errors.New("CountTimeBudget must not be negative")
	}
	if c.CountSamplePercent < 0 || c.CountSamplePercent > 100 {
		return errors.New("CountSamplePercent must be between 0 and 100")
	}
	return nil
}

// Store is a logingest.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	cfg      Config
	logger   *slog.Logger
	closed   atomic.Bool
	// origSchema is the quoted schema of the original server's tables while their events are being imported
	// (see ImportOriginal), else nil.
	origSchema atomic.Pointer[string]
	// moveHook, when set (by tests), runs inside a step of moveHistory at the named stage.
	moveHook func(ctx context.Context, stage string)
	// countPace is the last measured cost of counting one matching event (see countPace in query.go).
	countPace countPace
}

// New returns a Store that uses pool, whose search_path must reach the migrated tables. New does no I/O: it
// neither migrates nor creates partitions (see Open, MaintainPartitions). The caller keeps ownership of pool;
// Close does not close it.
func New(pool *pgxpool.Pool, cfg *Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: pool is nil")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return &Store{pool: pool, cfg: c, logger: c.Logger}, nil
}

// Open connects to connString (a URL or keyword/value DSN understood by pgxpool.ParseConfig), checks that the
// server answers, applies migrations when cfg.AutoMigrate is set, and creates the partitions for the current
// time (MaintainPartitions). The returned Store owns its pool: Close closes it.
func Open(ctx context.Context, connString string, cfg *Config) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgstore: parse connection string: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	s, err := New(pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	if err := s.open(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", mapErr(err))
	}
	if s.cfg.AutoMigrate {
		m, db, err := s.migrator(nil)
		if err != nil {
			return err
		}
		_, err = m.Migrate(ctx, migrations.DirectionUp, nil)
		_ = db.Close()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	// Start-up does bounded work only: no waiting for another replica's upkeep, no moving rows out of the
	// DEFAULT partition (the server's background MaintainPartitions does that).
	if err := s.maintainPartitions(ctx, s.cfg.Now(), true); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return fmt.Errorf("schema is not migrated (run `logserver migrate up` or set AutoMigrate): %w", err)
		}
		return err
	}
	if err := s.checkOriginal(ctx); err != nil {
		return fmt.Errorf("check for the original server's events: %w", mapErr(err))
	}
	return nil
}

// Pool returns the pool the Store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close marks the Store closed, so later calls return an error matching logingest.ErrClosed, waits for a
// background count that measures the pace of counting (at most Config.CountTimeBudget), and closes the pool if
// Open created it. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.countPace.stop()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// Ping implements logingest.Store. It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return logingest.ErrClosed
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", mapErr(err))
	}
	return nil
}

// NewMigrator returns a migrations.Migrator for the PostgreSQL migration set on db. To get a *sql.DB from a
// pgxpool.Pool use stdlib.OpenDBFromPool, or use (*Store).Migrator.
func NewMigrator(db *sql.DB, cfg *migrations.Config) (*migrations.Migrator, error) {
	m, err := migrations.New(db, migrations.DialectPostgres, migrations.Postgres(), cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: new migrator: %w", err)
	}
	return m, nil
}

// Migrator returns a migrations.Migrator for the Store's database, working in the pool's search_path, and a
// function that releases it. cfg may be nil; its Logger defaults to the Store's logger. The migrator takes an
// advisory lock, so replicas may call it concurrently.
func (s *Store) Migrator(cfg *migrations.Config) (*migrations.Migrator, func() error, error) {
	m, db, err := s.migrator(cfg)
	if err != nil {
		return nil, nil, err
	}
	return m, db.Close, nil
}

func (s *Store) migrator(cfg *migrations.Config) (*migrations.Migrator, *sql.DB, error) {
	var c migrations.Config
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = s.logger
	}
	db := stdlib.OpenDBFromPool(s.pool)
	m, err := NewMigrator(db, &c)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return m, db, nil
}

// mapErr maps pgx errors onto logingest sentinels, keeping the original in the chain.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %w", logingest.ErrNotFound, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		if pgErr.Code == "23514" && (pgErr.ConstraintName == moveConstraint ||
			pgErr.ConstraintName == "" && pgErr.TableName == "analytics_logs_default") {
			// The event is fine: its range of received_at is being moved out of the DEFAULT partition, or a
			// partition for it was attached while the insert waited (see MaintainPartitions); a retry lands it
			// in the new partition.
			return fmt.Errorf("%w: %w", logingest.ErrUnavailable, err)
		}
		if isDataError(pgErr.Code) {
			return fmt.Errorf("%w: %w", logingest.ErrInvalid, err)
		}
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300": // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
			return fmt.Errorf("%w: %w", logingest.ErrUnavailable, err)
		}
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fmt.Errorf("%w: %w", logingest.ErrUnavailable, err)
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return fmt.Errorf("%w: %w", logingest.ErrUnavailable, err)
	}
	return err
}

// isDataError reports whether SQLSTATE code says that a value could not be stored or read, as opposed to an
// outage or a bug: every code of class 22 (data exception: numeric_value_out_of_range for a jsonb number
// numeric cannot hold, datetime_field_overflow, character_not_in_repertoire for NUL, untranslatable_character
// for \u0000 in jsonb, invalid_text_representation for an unpaired surrogate, string_data_right_truncation,
// ...), the per-row integrity violations (unique, not-null, check) and program_limit_exceeded (54000: an
// index entry or a jsonb value too large). Append reports them as logingest.ErrInvalid, so the Ingester
// isolates the event that caused them instead of failing its neighbours.
func isDataError(code string) bool {
	switch {
	case strings.HasPrefix(code, "22"):
		return true
	case code == "23502", // not_null_violation
		code == "23505", // unique_violation
		code == "23514", // check_violation
		code == "54000": // program_limit_exceeded
		return true
	}
	return false
}

// withCtx makes sure an error caused by ctx wraps ctx.Err(), whatever pgx reported.
func withCtx(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return logingest.ErrClosed
	}
	return nil
}
