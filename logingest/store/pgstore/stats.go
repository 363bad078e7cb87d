package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/change66/logserver/logingest"
)

// Stats implements logingest.Store. The windows are on received_at, the partition key, so they read only the
// last one or two partitions. TotalEvents is an exact count. It returns an error matching logingest.ErrClosed
// after Close.
func (s *Store) Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	q = q.Normalize()
	now := q.Now.UTC()
	dayAgo, hourAgo := now.Add(-24*time.Hour), now.Add(-time.Hour)
	const window = `FROM analytics_logs WHERE ($1 = '' OR source = $1) AND received_at > $2 AND received_at <= $3`

	batch := &pgx.Batch{}
	batch.Queue(`SELECT count(*) FROM analytics_logs WHERE ($1 = '' OR source = $1)`, q.Source)
	// duration_ms counts when it is a JSON number of magnitude at most logingest.MaxDurationMs.
	const duration = `CASE WHEN received_at > $4 AND jsonb_typeof(properties -> 'duration_ms') = 'number'
		AND abs((properties ->> 'duration_ms')::numeric) <= $6::numeric THEN (properties ->> 'duration_ms')::float8 END`
	batch.Queue(`SELECT count(*) FILTER (WHERE received_at > $4), count(*),
		count(*) FILTER (WHERE received_at > $4 AND event_type = 'error'),
		count(`+duration+`), coalesce(sum(`+duration+`), 0),
		count(DISTINCT session_id) FILTER (WHERE received_at > $5), count(DISTINCT user_id) `+window,
		q.Source, dayAgo, now, hourAgo, now.Add(-logingest.ActiveSessionWindow), logingest.MaxDurationMs)
	batch.Queue(`SELECT event_type, count(*) AS n `+window+` GROUP BY event_type ORDER BY n DESC, event_type LIMIT $4`,
		q.Source, dayAgo, now, q.TopN)
	batch.Queue(`SELECT event_name, count(*) AS n `+window+` GROUP BY event_name ORDER BY n DESC, event_name LIMIT $4`,
		q.Source, dayAgo, now, q.TopN)
	br := s.pool.SendBatch(ctx, batch)
	defer br.Close()

	st := &logingest.Stats{TopEventTypes: []logingest.ValueCount{}, TopEventNames: []logingest.ValueCount{}}
	if err := br.QueryRow().Scan(&st.TotalEvents); err != nil {
		return nil, fmt.Errorf("stats: total: %w", withCtx(ctx, mapErr(err)))
	}
	var errorsLastHour, durations int64
	var durationSum float64
	if err := br.QueryRow().Scan(&st.LastHour, &st.LastDay, &errorsLastHour, &durations, &durationSum,
		&st.ActiveSessions, &st.ActiveUsers); err != nil {
		return nil, fmt.Errorf("stats: windows: %w", withCtx(ctx, mapErr(err)))
	}
	if durations > 0 {
		st.AverageLatencyMs = durationSum / float64(durations)
	}
	if st.LastHour > 0 {
		st.ErrorRatePercent = 100 * float64(errorsLastHour) / float64(st.LastHour)
	}
	for _, dst := range []*[]logingest.ValueCount{&st.TopEventTypes, &st.TopEventNames} {
		rows, err := br.Query()
		if err != nil {
			return nil, fmt.Errorf("stats: top: %w", withCtx(ctx, mapErr(err)))
		}
		vcs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (logingest.ValueCount, error) {
			var vc logingest.ValueCount
			err := r.Scan(&vc.Value, &vc.Count)
			return vc, err
		})
		if err != nil {
			return nil, fmt.Errorf("stats: top: %w", withCtx(ctx, mapErr(err)))
		}
		*dst = append(*dst, vcs...)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("stats: %w", withCtx(ctx, mapErr(err)))
	}
	return st, nil
}

// DeleteUserEvents implements logingest.UserEraser. The events' keys stay in analytics_event_ids, so a client
// that retries an erased event gets AppendDuplicate and the event is not stored again; the keys are random
// identifiers and leave with retention (an erased event re-sent after its partition was dropped is stored
// again). It returns an error matching logingest.ErrClosed after Close.
func (s *Store) DeleteUserEvents(ctx context.Context, source, userID string) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, fmt.Errorf("delete user events: user id must not be empty: %w", logingest.ErrInvalid)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM analytics_logs WHERE user_id = $1 AND ($2 = '' OR source = $2)`,
		userID, source)
	if err != nil {
		return 0, fmt.Errorf("delete user events: %w", withCtx(ctx, mapErr(err)))
	}
	return tag.RowsAffected(), nil
}
