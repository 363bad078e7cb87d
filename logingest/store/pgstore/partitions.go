package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Partition describes one range partition of analytics_logs: it holds the events with From <= received_at < To.
type Partition struct {
	Name     string
	From, To time.Time
}

// partitionLockSQL serialises partition maintenance and retention between replicas, per schema.
const partitionLockSQL = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.analytics_logs partitions'))`

// boundRE parses pg_get_expr(relpartbound) of a range partition, printed with TimeZone = UTC.
var boundRE = regexp.MustCompile(`FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)`)

const pgTimeLayout = "2006-01-02 15:04:05.999999-07"

// Partitions returns the range partitions of analytics_logs ordered by From. The DEFAULT partition is not
// listed.
func (s *Store) Partitions(ctx context.Context) ([]Partition, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var parts []Partition
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		parts, err = listPartitions(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", withCtx(ctx, mapErr(err)))
	}
	return parts, nil
}

func listPartitions(ctx context.Context, tx pgx.Tx) ([]Partition, error) {
	if _, err := tx.Exec(ctx, `SET LOCAL TimeZone = 'UTC'`); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'analytics_logs'::regclass`)
	if err != nil {
		return nil, err
	}
	var parts []Partition
	for rows.Next() {
		var name, bound string
		if err := rows.Scan(&name, &bound); err != nil {
			return nil, err
		}
		m := boundRE.FindStringSubmatch(bound)
		if m == nil {
			continue // the DEFAULT partition
		}
		from, err1 := time.Parse(pgTimeLayout, m[1])
		to, err2 := time.Parse(pgTimeLayout, m[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("partition %s: unexpected bound %q", name, bound)
		}
		parts = append(parts, Partition{Name: name, From: from.UTC(), To: to.UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortPartitions(parts)
	return parts, nil
}

func sortPartitions(p []Partition) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].From.Before(p[j-1].From); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func (s *Store) partitionName(from time.Time) string {
	if s.cfg.PartitionInterval%(24*time.Hour) == 0 {
		return "analytics_logs_p" + from.Format("20060102")
	}
	return "analytics_logs_p" + from.Format("20060102_15")
}

// The session-level forms of partitionLockSQL (the same lock: a replica holding either blocks the other), held
// by MaintainPartitions across the transactions of its steps.
const (
	partitionSessionLockSQL    = `SELECT true FROM pg_advisory_lock(hashtext(current_schema() || '.analytics_logs partitions'))`
	partitionSessionTryLockSQL = `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.analytics_logs partitions'))`
	partitionSessionUnlockSQL  = `SELECT pg_advisory_unlock(hashtext(current_schema() || '.analytics_logs partitions'))`
)

// moveConstraint is the CHECK constraint a step puts on the DEFAULT partition to exclude the range it moves;
// moveBoundConstraint is the one on the new partition implying its bound. With both valid, ATTACH PARTITION
// scans neither table.
const (
	moveConstraint      = "analytics_logs_default_moving"
	moveBoundConstraint = "analytics_logs_move_bound"
)

// liveMargin: events received within liveMargin of now, or of the newest event in the DEFAULT partition, are
// the live tail, into whose range inserts may still arrive (received_at is the receiving server's clock; its
// replicas' clocks differ a little). Older ranges are history: nothing inserts there any more.
const liveMargin = time.Minute

// strongLockTimeout bounds each wait for a lock that blocks readers or writers (ADD CONSTRAINT, ATTACH
// PARTITION): a step that cannot get it at once retries later instead of queueing every other session behind
// its request.
const strongLockTimeout = 100 * time.Millisecond

// MaintainPartitions makes sure analytics_logs has partitions covering the period containing now and the
// Config.PremakePartitions periods after it, creating the missing ones. Periods are Config.PartitionInterval
// long, aligned on UTC midnight; a period partly covered (by partitions of another interval, or by an
// interrupted move) gets partitions for its gaps only.
//
// Events of a missing period that the DEFAULT partition caught (a bulk import, events received before the
// partition existed) are moved out in bounded steps: each step moves at most Config.PartitionMoveBatch events
// (the oldest received first; more only when more share one received_at) into a new partition covering exactly
// their range of received_at, attaches it, and logs its progress. So a large move ends as several partitions
// for the period, and every event stays readable exactly once throughout.
//
// Locks: a step over history (received more than a minute before both now, Config.Now, and the newest event in the
// DEFAULT partition) blocks neither reads nor inserts except for two short moments (adding a constraint to the
// DEFAULT partition, and ATTACH PARTITION, which then scans nothing), each waiting at most 100 ms for its lock
// before it backs off and retries. Meanwhile an insert into the step's own range of history fails (check
// constraint, reported as logingest.ErrUnavailable: retry later); the server stamps received_at with its clock, so
// only an import or a buffer's writer lagging by more than a minute sends one. The live tail of a period (the rest)
// is moved by one last step that makes inserts wait until it commits (reads go on) and whose ATTACH scans what
// remains of the DEFAULT partition under an exclusive lock; by then that is the tail and any events outside the
// maintained periods.
//
// It is idempotent and safe to call from several replicas at once (an advisory lock, held for the call,
// serialises them). A long-running process should call it at least once per interval, in the background.
// It returns at the first error (including ctx's); a later call resumes where it stopped.
func (s *Store) MaintainPartitions(ctx context.Context, now time.Time) error {
	return s.maintainPartitions(ctx, now, false)
}

// maintainPartitions is MaintainPartitions; atOpen bounds the work to what start-up needs: it does not wait
// for a replica that holds the lock (that replica does the work), and it creates partitions only while the
// DEFAULT partition is empty (creating one scans it), leaving the rest to the background MaintainPartitions
// (until then events stay readable in the DEFAULT partition, and new ones of their period keep landing there).
func (s *Store) maintainPartitions(ctx context.Context, now time.Time, atOpen bool) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if atOpen {
		// Creating any partition scans the whole DEFAULT partition (PostgreSQL checks that it holds no row of
		// the new range), under a lock that blocks reads: with millions of events there (a bulk import) that
		// is unbounded work. Start-up then creates nothing; the background upkeep does it.
		var rows bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM analytics_logs_default)`).Scan(&rows)
		if err != nil {
			return fmt.Errorf("maintain partitions: %w", withCtx(ctx, mapErr(err)))
		}
		if rows {
			s.logger.InfoContext(ctx, "the default partition holds events; partitions are left to the background upkeep")
			return nil
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("maintain partitions: %w", withCtx(ctx, mapErr(err)))
	}
	locked := false
	defer func() {
		if locked {
			// A connection that may still hold the session lock never goes back to the pool.
			if _, err := conn.Exec(context.WithoutCancel(ctx), partitionSessionUnlockSQL); err != nil {
				_ = conn.Conn().Close(context.WithoutCancel(ctx))
			}
		}
		conn.Release()
	}()
	lockSQL := partitionSessionLockSQL
	if atOpen {
		lockSQL = partitionSessionTryLockSQL
	}
	var got bool
	if err := conn.QueryRow(ctx, lockSQL).Scan(&got); err != nil {
		return fmt.Errorf("maintain partitions: %w", withCtx(ctx, mapErr(err)))
	}
	locked = got
	if !got {
		s.logger.InfoContext(ctx, "another replica is maintaining partitions; not waiting for it at start")
		return nil
	}
	// A step interrupted between its two transactions (a crash) leaves its constraint behind; it would keep
	// refusing inserts of the step's range.
	if err := s.dropMoveConstraint(ctx, conn); err != nil {
		return fmt.Errorf("maintain partitions: %w", withCtx(ctx, mapErr(err)))
	}
	iv := s.cfg.PartitionInterval
	start := now.UTC().Truncate(iv)
	live, err := s.liveBoundary(ctx, conn, start)
	if err != nil {
		return fmt.Errorf("maintain partitions: %w", withCtx(ctx, mapErr(err)))
	}
	for i := 0; i <= s.cfg.PremakePartitions; i++ {
		from := start.Add(time.Duration(i) * iv)
		to := from.Add(iv)
		mv := &moveProgress{}
		// lo advances through the period: every gap before it has been filled (or, at open, left for later).
		for lo := from; lo.Before(to); {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("maintain partitions: %w", err)
			}
			next := to
			var history bool
			var gapFrom time.Time
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				existing, err := listPartitions(ctx, tx)
				if err != nil {
					return err
				}
				var gapTo time.Time
				var ok bool
				gapFrom, gapTo, ok = firstGap(existing, lo, to)
				if !ok {
					return nil // next = to: the rest of the period is covered
				}
				next, history, err = s.fillGap(ctx, tx, gapFrom, gapTo, atOpen, live, mv)
				if err != nil {
					return fmt.Errorf("create partition for %s: %w", gapFrom.Format(time.RFC3339Nano), err)
				}
				return nil
			})
			if err == nil && history {
				err = s.moveHistory(ctx, conn, gapFrom, next, mv)
			}
			if err != nil {
				return fmt.Errorf("maintain partitions: %w", withCtx(ctx, mapErr(err)))
			}
			lo = next
		}
		if mv.steps > 0 {
			s.logger.InfoContext(ctx, "moved the period's events out of the default partition",
				"period", from.Format(time.RFC3339), "events", mv.events, "steps", mv.steps,
				"duration", time.Since(mv.started).Round(time.Millisecond))
		}
	}
	return nil
}

// liveBoundary is the start of the live tail (see liveMargin) for the periods from start on.
func (s *Store) liveBoundary(ctx context.Context, conn *pgxpool.Conn, start time.Time) (time.Time, error) {
	var newest *time.Time
	err := conn.QueryRow(ctx, `SELECT max(received_at) FROM analytics_logs_default WHERE received_at >= $1`,
		start).Scan(&newest)
	if err != nil {
		return time.Time{}, err
	}
	live := s.cfg.Now()
	if newest != nil && newest.Before(live) {
		live = *newest
	}
	return live.Add(-liveMargin).UTC(), nil
}

// moveProgress accumulates the steps of one period's move out of the DEFAULT partition, for the logs.
type moveProgress struct {
	steps   int
	events  int64
	started time.Time
}

// firstGap returns the first range within [lo, to) that no partition of existing (sorted by From, not
// overlapping) covers.
func firstGap(existing []Partition, lo, to time.Time) (from, end time.Time, ok bool) {
	for _, p := range existing {
		if !p.To.After(lo) {
			continue // entirely before lo
		}
		if !p.From.Before(to) {
			break // entirely after the range
		}
		if p.From.After(lo) {
			return lo, p.From, true // [lo, p.From) is uncovered
		}
		lo = p.To
		if !lo.Before(to) {
			return time.Time{}, time.Time{}, false
		}
	}
	return lo, to, true
}

// fillGap works on the uncovered range [from, to) of one period and returns the end of the range it dealt
// with. Without events of the range in the DEFAULT partition it creates one partition for the whole range.
// Otherwise, unless skipMoves is set (then it creates nothing, logs that the range waits for the background
// upkeep, and returns to), it plans one batch: the oldest Config.PartitionMoveBatch events of the range (plus
// any sharing the last one's received_at), ending right after them, or at to when no more remain. A batch
// whose oldest event was received before live is history: it ends at live at the latest, and fillGap returns history = true for
// moveHistory to move it in its own transactions. A batch of the live tail is moved here, in tx.
func (s *Store) fillGap(ctx context.Context, tx pgx.Tx, from, to time.Time, skipMoves bool, live time.Time,
	mv *moveProgress,
) (cut time.Time, history bool, err error) {
	var stray bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM analytics_logs_default
		WHERE received_at >= $1 AND received_at < $2)`, from, to).Scan(&stray); err != nil {
		return time.Time{}, false, err
	}
	if !stray {
		ident := pgx.Identifier{s.rangeName(from, to)}.Sanitize()
		_, err := tx.Exec(ctx, "CREATE TABLE "+ident+" PARTITION OF analytics_logs "+boundsSQL(from, to))
		return to, false, err
	}
	if skipMoves {
		s.logger.InfoContext(ctx, "events of a period wait in the default partition; background upkeep will move them",
			"from", from, "to", to)
		return to, false, nil
	}
	if mv.steps == 0 {
		mv.started = time.Now()
	}
	var first time.Time
	err = tx.QueryRow(ctx, `SELECT min(received_at) FROM analytics_logs_default WHERE received_at >= $1 AND received_at < $2`,
		from, to).Scan(&first)
	if err != nil {
		return time.Time{}, false, err
	}
	history = first.Before(live)
	if !history {
		// No insert may land in the DEFAULT partition until this step commits: ATTACH checks that the DEFAULT
		// partition holds no event of the new partition's range, and an event committed after the move's
		// snapshot would fail it. Inserts wait at the table itself, before they pick a partition: one that
		// picked the DEFAULT partition before ATTACH and wrote after it would fail PostgreSQL's recheck of
		// the DEFAULT partition's constraint. Reads go on until ATTACH.
		if _, err := tx.Exec(ctx, `LOCK TABLE ONLY analytics_logs IN SHARE MODE`); err != nil {
			return time.Time{}, false, err
		}
	}
	cut, err = s.batchEnd(ctx, tx, from, to, first)
	if err != nil {
		return time.Time{}, false, err
	}
	if history {
		if cut.After(live) {
			cut = live
		}
		return cut, true, nil
	}
	started := time.Now()
	name := s.rangeName(from, cut)
	ident := pgx.Identifier{name}.Sanitize()
	moved, err := fillMoveTable(ctx, tx, ident, from, cut)
	if err != nil {
		return time.Time{}, false, err
	}
	if err := attachMoved(ctx, tx, ident, from, cut); err != nil {
		return time.Time{}, false, err
	}
	s.logMove(ctx, mv, name, moved, cut, started)
	return cut, false, nil
}

// batchEnd is the end of the batch starting at from, whose oldest event was received at first: the received_at
// of the first event after the batch (read from the primary key's index, so the cost is one batch of index
// entries), or, when the whole batch shares first, the next distinct one; to when the rest of the range fits
// in the batch.
func (s *Store) batchEnd(ctx context.Context, tx pgx.Tx, from, to, first time.Time) (time.Time, error) {
	var nth time.Time
	err := tx.QueryRow(ctx, `SELECT received_at FROM analytics_logs_default WHERE received_at >= $1 AND received_at < $2
		ORDER BY received_at OFFSET $3 LIMIT 1`, from, to, s.cfg.PartitionMoveBatch).Scan(&nth)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return to, nil
	case err != nil:
		return time.Time{}, err
	case nth.After(first):
		return nth, nil
	}
	var after *time.Time
	if err := tx.QueryRow(ctx, `SELECT min(received_at) FROM analytics_logs_default WHERE received_at > $1 AND received_at < $2`,
		first, to).Scan(&after); err != nil {
		return time.Time{}, err
	}
	if after != nil {
		return *after, nil
	}
	return to, nil
}

// moveHistory moves the DEFAULT partition's events of [from, cut), a range of history, into a new partition
// without blocking reads or inserts for the step (see MaintainPartitions), in two transactions on conn:
//
//  1. A NOT VALID constraint on the DEFAULT partition excludes the range (a brief exclusive lock, no scan).
//  2. The events move into a new table that carries the range's CHECK constraint and the table's indexes, the
//     DEFAULT partition's constraint is validated (a scan that blocks neither reads nor writes), and the table
//     is attached: with both constraints valid, ATTACH scans nothing and holds its exclusive lock on the
//     DEFAULT partition only until the commit that follows it. Both constraints are then dropped.
//
// Between the two, the moved events stay in the DEFAULT partition until the second commits. If the second
// fails, the constraint is dropped again.
func (s *Store) moveHistory(ctx context.Context, conn *pgxpool.Conn, from, cut time.Time, mv *moveProgress) (err error) {
	started := time.Now()
	exclude := fmt.Sprintf("ALTER TABLE analytics_logs_default ADD CONSTRAINT %s CHECK (received_at < %s OR received_at >= %s) NOT VALID",
		moveConstraint, timeLiteral(from), timeLiteral(cut))
	if err := briefly(ctx, conn, exclude); err != nil {
		return fmt.Errorf("exclude the range from the default partition: %w", err)
	}
	defer func() {
		if err != nil {
			// Even when ctx is done; if this fails too, the next call drops it first.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if derr := s.dropMoveConstraint(dctx, conn); derr != nil {
				err = errors.Join(err, fmt.Errorf("drop %s: %w", moveConstraint, derr))
			}
		}
	}()
	name := s.rangeName(from, cut)
	ident := pgx.Identifier{name}.Sanitize()
	var moved int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var err error
		if moved, err = fillMoveTable(ctx, tx, ident, from, cut); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE analytics_logs_default VALIDATE CONSTRAINT "+moveConstraint); err != nil {
			return err
		}
		if s.moveHook != nil {
			s.moveHook(ctx, "validated")
		}
		if err := attachMoved(ctx, tx, ident, from, cut); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "ALTER TABLE analytics_logs_default DROP CONSTRAINT "+moveConstraint)
		return err
	})
	if err != nil {
		return fmt.Errorf("move %s: %w", name, err)
	}
	s.logMove(ctx, mv, name, moved, cut, started)
	return nil
}

// fillMoveTable creates the table ident for the partition [from, cut), with a CHECK constraint implying the
// bound (so that ATTACH does not scan it), moves the DEFAULT partition's events of the range into it, and then
// builds the table's indexes (so that ATTACH builds none, and in bulk rather than row by row). It returns how
// many events it moved.
func fillMoveTable(ctx context.Context, tx pgx.Tx, ident string, from, cut time.Time) (int64, error) {
	create := fmt.Sprintf(`CREATE TABLE %s (LIKE analytics_logs INCLUDING DEFAULTS,
		CONSTRAINT %s CHECK (received_at >= %s AND received_at < %s))`,
		ident, moveBoundConstraint, timeLiteral(from), timeLiteral(cut))
	if _, err := tx.Exec(ctx, create); err != nil {
		return 0, err
	}
	// The new table is LIKE analytics_logs: * moves every column, including any added by later migrations.
	//nolint:unqueryvet // a column list here would silently drop columns it does not name
	tag, err := tx.Exec(ctx, fmt.Sprintf(`WITH moved AS (DELETE FROM analytics_logs_default
		WHERE received_at >= %s AND received_at < %s RETURNING *) INSERT INTO %s SELECT * FROM moved`,
		timeLiteral(from), timeLiteral(cut), ident))
	if err != nil {
		return 0, err
	}
	stmts, err := indexStatements(ctx, tx, ident)
	if err != nil {
		return 0, err
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), nil
}

// parentIndexRE parses pg_get_indexdef of an index of analytics_logs.
var parentIndexRE = regexp.MustCompile(`^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+ (USING .*)$`)

// indexStatements returns the statements that give table ident the indexes of analytics_logs, in a form ATTACH
// PARTITION adopts: an index that backs a constraint (the primary key) is created by the same constraint.
func indexStatements(ctx context.Context, tx pgx.Tx, ident string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT pg_get_indexdef(i.indexrelid), COALESCE(pg_get_constraintdef(c.oid), '')
		FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
		WHERE i.indrelid = 'analytics_logs'::regclass ORDER BY i.indexrelid`)
	if err != nil {
		return nil, err
	}
	defs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Index, Constraint string }])
	if err != nil {
		return nil, err
	}
	var stmts []string
	for _, d := range defs {
		if d.Constraint != "" {
			stmts = append(stmts, "ALTER TABLE "+ident+" ADD "+d.Constraint)
			continue
		}
		m := parentIndexRE.FindStringSubmatch(d.Index)
		if m == nil {
			return nil, fmt.Errorf("unexpected index definition %q", d.Index)
		}
		stmts = append(stmts, "CREATE "+m[1]+"INDEX ON "+ident+" "+m[2])
	}
	return stmts, nil
}

// attachMoved attaches the table that fillMoveTable filled as the partition [from, cut), waiting at most
// strongLockTimeout at a time for its locks (a savepoint keeps the transaction's work across retries), and
// drops the table's bound constraint, which the partition's own constraint makes redundant.
func attachMoved(ctx context.Context, tx pgx.Tx, ident string, from, cut time.Time) error {
	// In a transaction, briefly's "transaction of its own" is a savepoint: a lock timeout undoes only the ATTACH.
	if err := briefly(ctx, tx, "ALTER TABLE analytics_logs ATTACH PARTITION "+ident+" "+boundsSQL(from, cut)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "ALTER TABLE "+ident+" DROP CONSTRAINT "+moveBoundConstraint)
	return err
}

var lockTimeoutSQL = fmt.Sprintf("SET LOCAL lock_timeout = %d", strongLockTimeout.Milliseconds())

// briefly runs stmt in a transaction of its own (a savepoint when db is a transaction), retrying with backoff
// while it cannot get its locks within strongLockTimeout.
func briefly(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, stmt string,
) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockTimeoutSQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, stmt)
			return err
		})
		if !isLockTimeout(err) {
			return err
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
}

// dropMoveConstraint drops moveConstraint from the DEFAULT partition if it is there.
func (s *Store) dropMoveConstraint(ctx context.Context, conn *pgxpool.Conn) error {
	var there bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint
		WHERE conrelid = 'analytics_logs_default'::regclass AND conname = $1)`, moveConstraint).Scan(&there)
	if err != nil || !there {
		return err
	}
	s.logger.InfoContext(ctx, "dropping the constraint of an interrupted move", "constraint", moveConstraint)
	return briefly(ctx, conn, "ALTER TABLE analytics_logs_default DROP CONSTRAINT IF EXISTS "+moveConstraint)
}

func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03" // lock_not_available
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// logMove records one step in mv and logs it.
func (s *Store) logMove(ctx context.Context, mv *moveProgress, name string, moved int64, cut, started time.Time) {
	mv.steps++
	mv.events += moved
	s.logger.InfoContext(ctx, "moved events from the default partition", "partition", name, "events", moved,
		"step", mv.steps, "moved_so_far", mv.events, "up_to", cut, "duration", time.Since(started).Round(time.Millisecond))
}

// createPartition creates the partition name for [from, to) in one statement, moving the DEFAULT partition's
// events of the range into it in the same transaction (however many there are). Only archivePartition uses it,
// before the store serves, when the DEFAULT partition holds at most the few events imported so far; the
// server's upkeep moves in bounded steps (fillGap).
func (s *Store) createPartition(ctx context.Context, tx pgx.Tx, name string, from, to time.Time) error {
	ident := pgx.Identifier{name}.Sanitize()
	//nolint:unqueryvet // LIKE analytics_logs: * moves every column, including any added by later migrations
	for _, q := range []string{
		"CREATE TABLE " + ident + " (LIKE analytics_logs INCLUDING DEFAULTS)",
		fmt.Sprintf(`WITH moved AS (DELETE FROM analytics_logs_default WHERE received_at >= %s AND received_at < %s
			RETURNING *) INSERT INTO %s SELECT * FROM moved`, timeLiteral(from), timeLiteral(to), ident),
		"ALTER TABLE analytics_logs ATTACH PARTITION " + ident + " " + boundsSQL(from, to),
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// rangeName is the name of the partition for [from, to): the period's name (partitionName) when the range is
// one whole aligned period, else the period's name with the start's time of day (to the microsecond when it
// has one), so that the partitions of a period moved in steps sort and never collide.
func (s *Store) rangeName(from, to time.Time) string {
	iv := s.cfg.PartitionInterval
	if from.Equal(from.Truncate(iv)) && to.Equal(from.Add(iv)) {
		return s.partitionName(from)
	}
	name := "analytics_logs_p" + from.Format("20060102_150405")
	if us := from.Nanosecond() / 1000; us != 0 {
		name += fmt.Sprintf("_%06d", us)
	}
	return name
}

func boundsSQL(from, to time.Time) string {
	return "FOR VALUES FROM (" + timeLiteral(from) + ") TO (" + timeLiteral(to) + ")"
}

// timeLiteral is t as a timestamptz literal, to the microsecond.
func timeLiteral(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02T15:04:05.999999Z07:00") + "'::timestamptz"
}

// DropPartitionsBefore applies retention: afterwards no event with received_at before the effective cutoff
// remains, and neither do their keys in analytics_event_ids (so a late retry of such an event is stored
// again). Partitions that end at or before cutoff are dropped whole; expired rows of the DEFAULT partition are
// deleted. When cutoff falls inside a partition, that partition is kept whole and the effective cutoff is its
// start, so an event and its key are always kept or removed together. It returns the dropped partitions.
// It is safe to call from several replicas at once.
func (s *Store) DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]Partition, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	cutoff = cutoff.UTC()
	var dropped []Partition
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, partitionLockSQL); err != nil {
			return err
		}
		parts, err := listPartitions(ctx, tx)
		if err != nil {
			return err
		}
		effective := cutoff
		for _, p := range parts {
			if p.From.Before(cutoff) && cutoff.Before(p.To) && p.From.Before(effective) {
				effective = p.From
			}
		}
		for _, p := range parts {
			if !p.To.After(effective) {
				if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{p.Name}.Sanitize()); err != nil {
					return fmt.Errorf("drop %s: %w", p.Name, err)
				}
				dropped = append(dropped, p)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM analytics_logs_default WHERE received_at < $1`, effective); err != nil {
			return fmt.Errorf("expire default partition: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM analytics_event_ids WHERE received_at < $1`, effective); err != nil {
			return fmt.Errorf("expire event ids: %w", err)
		}
		// The rollups (migration 007) follow: their buckets are on received_at too. Partitions are whole
		// periods, so effective is a bucket boundary.
		for _, q := range []string{
			`DELETE FROM analytics_rollup_minute WHERE bucket < $1`,
			`DELETE FROM analytics_rollup_hour WHERE bucket < $1`,
			`DELETE FROM analytics_last_seen WHERE seen < $1`,
		} {
			if _, err := tx.Exec(ctx, q, effective); err != nil {
				return fmt.Errorf("expire rollups: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drop partitions: %w", withCtx(ctx, mapErr(err)))
	}
	for _, p := range dropped {
		s.logger.InfoContext(ctx, "dropped partition", "partition", p.Name, "to", p.To)
	}
	return dropped, nil
}
