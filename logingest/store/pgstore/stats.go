package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/change66/logserver/internal/rollupsql"
	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// dialect is rollupsql's view of PostgreSQL: the rollup tables and functions of migration 007_rollups.
var dialect = &rollupsql.Dialect{
	Placeholder:   func(n int) string { return fmt.Sprintf("$%d", n) },
	Time:          func(t time.Time) any { return t.UTC() },
	ParseTime:     func(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) },
	BucketText:    `to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`,
	RawMinute:     "date_trunc('minute', received_at)",
	RawAppVersion: "coalesce(app_version, '')",
	RawPlatform:   "analytics_platform(device_info)",
	RawDuration:   "analytics_duration_ms(properties)",
	Where: func(f logingest.Filter, args []any) (string, []any) {
		w, args := whereClause(f, args)
		return strings.TrimPrefix(w, " WHERE "), args
	},
}

// querier adapts a pgx.Tx to rollupsql.Querier. With custom set, every query is planned for its values
// (pgx.QueryExecModeExec, see customPlan) instead of being prepared once per connection.
type querier struct {
	tx     pgx.Tx
	custom bool
}

func (q querier) Query(ctx context.Context, sql string, args ...any) (rollupsql.Rows, error) {
	if q.custom {
		args = append([]any{pgx.QueryExecModeExec}, args...)
	}
	return q.tx.Query(ctx, sql, args...) //nolint:sqlclosecheck // the caller (rollupsql) closes the rows
}

// readOnly runs fn in a read-only REPEATABLE READ transaction, so that every figure comes from one snapshot.
// custom is querier.custom.
func (s *Store) readOnly(ctx context.Context, custom bool, fn func(rollupsql.Querier) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(querier{tx: tx, custom: custom}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Stats implements logingest.Store from the rollups of migration 007 (see package rollupsql): it reads at
// most ~2 hours of minute rows, a day of hour rows and ~2 minutes of events, whatever the volume, and every
// figure is exact. It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var st *logingest.Stats
	err := s.readOnly(ctx, false, func(qr rollupsql.Querier) error {
		var err error
		st, err = dialect.Stats(ctx, qr, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", withCtx(ctx, mapErr(err)))
	}
	return st, nil
}

// Dashboard implements logingest.Aggregator from the rollups of migration 007 (see package rollupsql). It
// returns an error matching logingest.ErrClosed after Close.
//
// A filter the rollups cannot answer (a user, a session, a provider, a time range, a search) is answered from
// the events, with conditions such as user_id = $1 AND received_at > $2 AND received_at <= $3; those queries
// are planned for their values (dashboardCustomPlan), as a prepared statement's generic plan, made without
// them, may intersect the user's index entries with every index entry of the window.
func (s *Store) Dashboard(ctx context.Context, q logingest.DashboardQuery) (*logingest.Dashboard, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if _, _, err := q.Normalize(); err != nil {
		return nil, err
	}
	var d *logingest.Dashboard
	err := s.readOnly(ctx, dashboardCustomPlan(q.Filter), func(qr rollupsql.Querier) error {
		var err error
		d, err = dialect.Dashboard(ctx, qr, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", withCtx(ctx, mapErr(err)))
	}
	return d, nil
}

// dashboardCustomPlan reports whether the dashboard of f is planned for its values: when the rollups cannot
// answer f (storequery.RollupFilter), the figures come from the events of f over the window, and a generic
// plan (PostgreSQL switches to one after five executions of a prepared statement) may read the whole window.
// At 5 million events in 24 hours, a user's dashboard (~900 events) took ~1 s: the generic plan's bitmap AND
// of the user's index entries with the 4.6 million primary-key entries of the window.
func dashboardCustomPlan(f logingest.Filter) bool { return !storequery.RollupFilter(f) }

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
