package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Moving from the original server.
//
// Migration 001 moves the original server's tables (analytics_logs, api_keys, server_metrics) into the schema
// <current schema>_original when it finds them, and sets the id sequence past the original's largest id. The
// functions here bring the original's events over from there: ImportOriginal in bounded batches (one statement
// each, resumable, safe to run from several replicas), and Append, while the import is pending, imports on demand
// the original's copies of the events it is given, so that a retry of an event the original stored is a
// duplicate (reported with the original's id) even before the batches reach it.

// originalImportSQL imports the next batch of the original's events: every row with id > $1, in id order, at most
// $2 of them, into source $3. Keys go to analytics_event_ids with the original's id (ON CONFLICT DO NOTHING: an
// event already imported, or stored anew meanwhile, is skipped), rows to analytics_logs keeping id, created_at
// (as received_at and created_at), processed_at and every field. It returns the batch's last id, its size and
// how many rows it inserted. %[1]s is the quoted original schema.
//
//nolint:unqueryvet // batch is the original's table, whose every column originalInsertCTEs names
const originalImportSQL = `
WITH batch AS MATERIALIZED (
	SELECT * FROM %[1]s.analytics_logs WHERE id > $1 ORDER BY id LIMIT $2
), ` + originalInsertCTEs + `
SELECT COALESCE((SELECT max(id) FROM batch), $1), (SELECT count(*) FROM batch), (SELECT count(*) FROM ins)`

// originalByEventIDSQL imports the original's copies of the event ids $1 (Append's on-demand import), into
// source $2, through the original's unique index on event_id.
//
//nolint:unqueryvet // batch is the original's table, whose every column originalInsertCTEs names
const originalByEventIDSQL = `
WITH batch AS MATERIALIZED (
	SELECT * FROM %[1]s.analytics_logs WHERE event_id = ANY($1::text[])
), ` + originalInsertCTEs + `
SELECT (SELECT count(*) FROM ins)`

// originalInsertCTEs turn the rows of batch into keys and events, in the source parameter %[2]s. Absent
// optional strings become NULL as in Append; a missing priority becomes normal and a missing timestamp the
// receive time.
const originalInsertCTEs = `src AS (
	SELECT b.id, b.event_id, COALESCE(b.timestamp, b.created_at, now()) AS ts, COALESCE(b.event_type, '') AS event_type,
		COALESCE(b.event_name, '') AS event_name, b.properties::jsonb AS properties, NULLIF(b.user_id, '') AS user_id,
		NULLIF(b.session_id, '') AS session_id, NULLIF(b.app_version, '') AS app_version,
		b.device_info::jsonb AS device_info, b.sequence_number::int8 AS sequence_number,
		COALESCE(NULLIF(b.priority, ''), 'normal') AS priority, COALESCE(b.created_at, b.timestamp, now()) AS created_at,
		COALESCE(b.created_at, b.timestamp, now()) AS received_at, b.processed_at,
		encode(substring(sha256(convert_to(%[2]s::text, 'UTF8') || '\x00'::bytea || convert_to(b.event_id, 'UTF8'))
			FROM 1 FOR 16), 'hex')::uuid AS key
	FROM batch b WHERE b.event_id IS NOT NULL
), new_keys AS (
	INSERT INTO analytics_event_ids AS e (key, received_at, id)
	SELECT key, created_at, id FROM src ORDER BY key
	ON CONFLICT DO NOTHING
	RETURNING e.key
), ins AS (
	INSERT INTO analytics_logs (id, source, event_id, timestamp, event_type, event_name, properties, user_id,
		session_id, app_version, device_info, sequence_number, priority, received_at, created_at, processed_at)
	SELECT s.id, %[2]s::text, s.event_id, s.ts, s.event_type, s.event_name, s.properties, s.user_id, s.session_id,
		s.app_version, s.device_info, s.sequence_number, s.priority, s.received_at, s.created_at, s.processed_at
	FROM src s JOIN new_keys k ON k.key = s.key
	ORDER BY s.id
	RETURNING 1
)`

// originalProgressSQL creates the import's progress row in the original schema (%[1]s).
const originalProgressSQL = `
CREATE TABLE IF NOT EXISTS %[1]s.logingest_import (
	singleton   BOOLEAN     PRIMARY KEY DEFAULT true CHECK (singleton),
	last_id     BIGINT      NOT NULL DEFAULT 0,
	imported    BIGINT      NOT NULL DEFAULT 0,
	skipped     BIGINT      NOT NULL DEFAULT 0,
	started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	finished_at TIMESTAMPTZ
);
INSERT INTO %[1]s.logingest_import DEFAULT VALUES ON CONFLICT DO NOTHING`

// ImportProgress reports an import of the original server's events.
type ImportProgress struct {
	// LastID is the original id up to which every event has been imported.
	LastID int64
	// Imported counts the events stored by the import; Skipped the ones already stored (by an earlier
	// attempt, by Append's on-demand import, or as a client's retry).
	Imported, Skipped int64
	// Remaining is how many original events have an id above LastID (counted when the import starts, then
	// decremented by each batch).
	Remaining int64
	// Done reports that every original event has been imported.
	Done bool
}

// ImportOptions modify ImportOriginal. The zero value is a reasonable default; nil means the zero value.
type ImportOptions struct {
	// BatchSize is how many original events one statement imports. Defaults to 5000.
	BatchSize int
	// Progress, when set, is called after every batch.
	Progress func(ImportProgress)
	// LockRetry is how long a replica waits before trying again while another one imports. Defaults to 5s.
	LockRetry time.Duration
}

// ErrNoOriginal is returned by ImportOriginal when the database holds no tables of the original server.
var ErrNoOriginal = errors.New("pgstore: no original server tables to import")

// originalSchema returns the quoted name of the schema migration 001 moved the original's tables into, and
// whether it holds the original's analytics_logs.
func (s *Store) originalSchema(ctx context.Context) (string, bool, error) {
	var name string
	var exists bool
	err := s.pool.QueryRow(ctx, `SELECT current_schema() || '_original',
		to_regclass(quote_ident(current_schema() || '_original') || '.analytics_logs') IS NOT NULL`).Scan(&name, &exists)
	if err != nil {
		return "", false, err
	}
	return pgx.Identifier{name}.Sanitize(), exists, nil
}

// checkOriginal sets s.origSchema when the original's events are still being imported, so that Append imports
// the original's copies of the events it is given. Open calls it.
func (s *Store) checkOriginal(ctx context.Context) error {
	schema, exists, err := s.originalSchema(ctx)
	if err != nil || !exists {
		return err
	}
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(originalProgressSQL, schema)); err != nil {
		return fmt.Errorf("original import progress: %w", err)
	}
	var done bool
	if err := s.pool.QueryRow(ctx, fmt.Sprintf("SELECT finished_at IS NOT NULL FROM %s.logingest_import", schema)).Scan(&done); err != nil {
		return fmt.Errorf("original import progress: %w", err)
	}
	if !done {
		// Before anything is served: an on-demand import of an old event must not land in the DEFAULT
		// partition while the partition for its period is being created.
		if err := s.archivePartition(ctx, schema); err != nil {
			return fmt.Errorf("original events' partition: %w", err)
		}
		s.origSchema.Store(&schema)
		s.logger.InfoContext(ctx, "the original server's events are being imported; retries of them stay duplicates meanwhile",
			slog.String("schema", schema))
	}
	return nil
}

// OriginalImportPending reports whether the database holds original events not imported yet.
func (s *Store) OriginalImportPending() bool { return s.origSchema.Load() != nil }

// importOriginalCopies imports the original's copies of the events of source Config.OriginalSource among
// events, so that Append then reports them as duplicates with the original's ids. It is a no-op once the
// import is done.
func (s *Store) importOriginalCopies(ctx context.Context, ids []string) error {
	schema := s.origSchema.Load()
	if schema == nil || len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, fmt.Sprintf(originalByEventIDSQL, *schema, "$2"), ids, s.cfg.OriginalSource)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		// An operator dropped the original's tables: nothing is left to import, and ingest must go on.
		s.origSchema.Store(nil)
		s.logger.WarnContext(ctx, "the original server's tables are gone; stopped importing their events", slog.String("schema", *schema))
		return nil
	}
	return err
}

// ImportOriginal brings every event of the original server's analytics_logs (moved aside by migration 001)
// into this store, in batches of opts.BatchSize, and returns when all are imported or ctx ends. Events keep
// their id, created_at (also as received_at), processed_at and every field, in source Config.OriginalSource;
// each one's key is stored, so a retry of an original event is a duplicate and reports the original id.
//
// Progress is kept in the original schema's logingest_import table, so an interrupted import resumes where it
// stopped; an advisory lock lets one replica import at a time (the others wait, retrying every
// opts.LockRetry). Each batch is one statement (one transaction), so the import never holds locks that block
// ingest for longer than a batch. Returns ErrNoOriginal when there is nothing to import.
func (s *Store) ImportOriginal(ctx context.Context, opts *ImportOptions) (ImportProgress, error) {
	var o ImportOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.LockRetry <= 0 {
		o.LockRetry = 5 * time.Second
	}
	if err := s.checkOpen(); err != nil {
		return ImportProgress{}, err
	}
	schema, exists, err := s.originalSchema(ctx)
	if err != nil {
		return ImportProgress{}, fmt.Errorf("import original: %w", withCtx(ctx, mapErr(err)))
	}
	if !exists {
		return ImportProgress{}, ErrNoOriginal
	}
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(originalProgressSQL, schema)); err != nil {
		return ImportProgress{}, fmt.Errorf("import original: %w", withCtx(ctx, mapErr(err)))
	}
	if s.origSchema.Load() == nil {
		s.origSchema.Store(&schema)
	}
	if err := s.archivePartition(ctx, schema); err != nil {
		return ImportProgress{}, fmt.Errorf("import original: %w", withCtx(ctx, mapErr(err)))
	}
	for {
		p, err := s.importBatches(ctx, schema, o)
		if err != nil || p.Done {
			if p.Done {
				s.origSchema.Store(nil)
			}
			return p, err
		}
		// Another replica holds the lock: wait for it to finish or to give up.
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("import original: %w", ctx.Err())
		case <-time.After(o.LockRetry):
		}
	}
}

// importBatches imports batches while it holds the import lock. It returns with Done false when another
// session holds the lock.
func (s *Store) importBatches(ctx context.Context, schema string, o ImportOptions) (ImportProgress, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return ImportProgress{}, fmt.Errorf("import original: %w", withCtx(ctx, mapErr(err)))
	}
	defer conn.Release()
	var p ImportProgress
	var locked bool
	lockKey := `hashtext(current_schema() || '.original import')`
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock("+lockKey+")").Scan(&locked); err != nil {
		return p, fmt.Errorf("import original: %w", withCtx(ctx, mapErr(err)))
	}
	if !locked {
		p, err := readProgress(ctx, conn.Conn(), schema)
		return p, err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+lockKey+")") }()

	p, err = readProgress(ctx, conn.Conn(), schema)
	if err != nil || p.Done {
		return p, err
	}
	var remaining int64
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s.analytics_logs WHERE id > $1", schema), p.LastID).
		Scan(&remaining); err != nil {
		return p, fmt.Errorf("import original: %w", withCtx(ctx, mapErr(err)))
	}
	for {
		var last, size, inserted int64
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, fmt.Sprintf(originalImportSQL, schema, "$3"), p.LastID, o.BatchSize, s.cfg.OriginalSource).
				Scan(&last, &size, &inserted); err != nil {
				return err
			}
			done := "NULL"
			if size < int64(o.BatchSize) {
				done = "now()"
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s.logingest_import SET last_id = $1, imported = imported + $2,
				skipped = skipped + $3, finished_at = %s`, schema, done), last, inserted, size-inserted)
			return err
		})
		if err != nil {
			return p, fmt.Errorf("import original after id %d: %w", p.LastID, withCtx(ctx, mapErr(err)))
		}
		remaining = max(remaining-size, 0)
		p, err = readProgress(ctx, conn.Conn(), schema)
		if err != nil {
			return p, err
		}
		p.Remaining = remaining
		if o.Progress != nil {
			o.Progress(p)
		}
		if p.Done {
			return p, nil
		}
	}
}

func readProgress(ctx context.Context, conn *pgx.Conn, schema string) (ImportProgress, error) {
	var p ImportProgress
	err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT last_id, imported, skipped, finished_at IS NOT NULL
		FROM %s.logingest_import`, schema)).Scan(&p.LastID, &p.Imported, &p.Skipped, &p.Done)
	if err != nil {
		return p, fmt.Errorf("import original: progress: %w", withCtx(ctx, mapErr(err)))
	}
	return p, nil
}

// archivePartition creates one partition for the original's events received before the first existing
// partition, so that they do not pile up in the DEFAULT partition. Retention drops it whole once its end is
// past the cutoff. Open creates it before the store serves (checkOriginal); later calls find it and do nothing.
func (s *Store) archivePartition(ctx context.Context, schema string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, partitionLockSQL); err != nil {
			return err
		}
		// The first event's receive time, through the primary key (a min over created_at would scan the table);
		// the rare older one simply goes to the DEFAULT partition.
		var oldest *time.Time
		err := tx.QueryRow(ctx, fmt.Sprintf("SELECT COALESCE(created_at, timestamp) FROM %s.analytics_logs ORDER BY id LIMIT 1", schema)).
			Scan(&oldest)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		existing, err := listPartitions(ctx, tx)
		if err != nil {
			return err
		}
		if oldest == nil || len(existing) == 0 {
			return nil
		}
		from := oldest.UTC().Truncate(24 * time.Hour)
		to := existing[0].From
		if !from.Before(to) {
			return nil
		}
		return s.createPartition(ctx, tx, "analytics_logs_original", from, to)
	})
}
