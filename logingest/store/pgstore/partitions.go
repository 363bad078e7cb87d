package pgstore

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
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

// partitionTryLockSQL is partitionLockSQL without the wait: false when another session holds the lock.
const partitionTryLockSQL = `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.analytics_logs partitions'))`

// MaintainPartitions makes sure analytics_logs has a partition for the period containing now and for the
// Config.PremakePartitions periods after it, creating the missing ones. Periods are Config.PartitionInterval
// long, aligned on UTC midnight. Events of a new partition's period that were caught by the DEFAULT partition
// are moved into it. Each period is its own transaction (a bounded step, logged), so one period's move never
// holds the others. It is idempotent and safe to call from several replicas at once (an advisory lock
// serialises them). A long-running process should call it at least once per interval, in the background:
// moving rows out of the DEFAULT partition takes as long as there are rows.
func (s *Store) MaintainPartitions(ctx context.Context, now time.Time) error {
	return s.maintainPartitions(ctx, now, false)
}

// maintainPartitions is MaintainPartitions; atOpen bounds the work to what start-up needs: it does not wait
// for a replica that holds the lock (that replica does the work) and it creates only partitions whose period
// has no rows in the DEFAULT partition, leaving moves to the background MaintainPartitions (until then those
// events stay readable in the DEFAULT partition, and new ones of the period keep landing there).
func (s *Store) maintainPartitions(ctx context.Context, now time.Time, atOpen bool) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	iv := s.cfg.PartitionInterval
	start := now.UTC().Truncate(iv)
	for i := 0; i <= s.cfg.PremakePartitions; i++ {
		from := start.Add(time.Duration(i) * iv)
		to := from.Add(iv)
		var busy bool
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if atOpen {
				var got bool
				if err := tx.QueryRow(ctx, partitionTryLockSQL).Scan(&got); err != nil {
					return err
				}
				if !got {
					busy = true
					return nil
				}
			} else if _, err := tx.Exec(ctx, partitionLockSQL); err != nil {
				return err
			}
			existing, err := listPartitions(ctx, tx)
			if err != nil {
				return err
			}
			for _, p := range existing {
				if p.From.Before(to) && from.Before(p.To) {
					return nil // already covered, perhaps by a partition of another interval
				}
			}
			if err := s.createPartition(ctx, tx, s.partitionName(from), from, to, atOpen); err != nil {
				return fmt.Errorf("create partition for %s: %w", from.Format(time.RFC3339), err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("maintain partitions: %w", withCtx(ctx, mapErr(err)))
		}
		if busy {
			s.logger.InfoContext(ctx, "another replica is maintaining partitions; not waiting for it at start")
			return nil
		}
	}
	return nil
}

// createPartition creates the partition name for [from, to). When the DEFAULT partition holds events of the
// period it moves them into it, unless skipMoves is set: then it creates nothing and logs that the period waits
// for the background upkeep.
func (s *Store) createPartition(ctx context.Context, tx pgx.Tx, name string, from, to time.Time, skipMoves bool) error {
	ident := pgx.Identifier{name}.Sanitize()
	var stray bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM analytics_logs_default
		WHERE received_at >= $1 AND received_at < $2)`, from, to).Scan(&stray); err != nil {
		return err
	}
	bounds := fmt.Sprintf("FOR VALUES FROM ('%s') TO ('%s')", from.Format(time.RFC3339), to.Format(time.RFC3339))
	if !stray {
		_, err := tx.Exec(ctx, "CREATE TABLE "+ident+" PARTITION OF analytics_logs "+bounds)
		return err
	}
	if skipMoves {
		s.logger.InfoContext(ctx, "events of a period wait in the default partition; background upkeep will move them",
			"partition", name)
		return nil
	}
	// The DEFAULT partition holds events of this period: move them into a new table, then attach it.
	// (CREATE TABLE ... PARTITION OF would fail, as the rows would violate the default's new constraint.)
	stmts := []string{
		"CREATE TABLE " + ident + " (LIKE analytics_logs INCLUDING DEFAULTS)",
		// The new table is LIKE analytics_logs: * moves every column, including any added by later migrations.
		//nolint:unqueryvet // a column list here would silently drop columns it does not name
		fmt.Sprintf(`WITH moved AS (DELETE FROM analytics_logs_default WHERE received_at >= '%s' AND received_at < '%s'
			RETURNING *) INSERT INTO %s SELECT * FROM moved`, from.Format(time.RFC3339), to.Format(time.RFC3339), ident),
		"ALTER TABLE analytics_logs ATTACH PARTITION " + ident + " " + bounds,
	}
	s.logger.InfoContext(ctx, "moving events from the default partition", "partition", name)
	started := time.Now()
	var moved int64
	for i, q := range stmts {
		tag, err := tx.Exec(ctx, q)
		if err != nil {
			return err
		}
		if i == 1 {
			moved = tag.RowsAffected()
		}
	}
	s.logger.InfoContext(ctx, "moved events from the default partition", "partition", name, "events", moved,
		"duration", time.Since(started))
	return nil
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
