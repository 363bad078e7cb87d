// Package rollupsql computes logingest.Stats and logingest.Dashboard from the rollup tables that the SQL
// stores keep at ingest (migrations/*/..._rollups.up.sql), for both SQL dialects. The stores supply a Dialect
// (placeholders, time values, the raw-row expressions) and a Querier over their connection or transaction.
//
// Every figure over a received_at window (a, b] is a sum over whole hours and whole minutes of the rollups
// plus the events of the two partial minutes at the edges (storequery.RollupParts), so it is exact while
// reading at most ~2 hours of minute rows and ~2 minutes of events. Distinct users and sessions come from
// analytics_last_seen (one row per id with its latest received_at); that is exact while no event was
// received after Now, and otherwise (tests, replays) falls back to a DISTINCT over the window. Filters the
// rollups cannot answer (user_id, session_id, provider_name, start_time/end_time, search) are answered by a
// direct query over at most MaxDirectRows events per window, labelled as estimated when it is cut.
package rollupsql

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// MaxDirectRows bounds the events a direct (non-rollup) query aggregates per window.
const MaxDirectRows = 200_000

// MaxDirectActiveRows bounds the events read to count distinct users and sessions when the filter has a
// rollup dimension (analytics_last_seen has no dimensions): the newest ones; the figures are labelled
// estimated when the bound cuts. Reading them walks the window newest first and filters by the dimension, so
// a filter matching a fifth of the events reads five times as many: at 20,000 the dashboard filtered by event
// type took about a second at 5 million events on a busy machine.
const MaxDirectActiveRows = 5_000

// Rows is the subset of pgx.Rows and *sql.Rows that rollupsql uses.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs one query.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// Dialect is what differs between the stores.
type Dialect struct {
	// Placeholder returns the n-th (1-based) placeholder: "$n" or "?n".
	Placeholder func(n int) string
	// Time converts a time to the argument the store compares received_at and buckets with.
	Time func(time.Time) any
	// ParseTime reads a bucket value scanned into a string.
	ParseTime func(string) (time.Time, error)
	// LastSeenTail, when set, is a SELECT of rows (source, kind, id, seen) that analytics_last_seen does not
	// hold yet (a store that folds them in after the commit): the user ids (kind 'u') and session ids ('s')
	// of the events stored since, with their received_at as seen. Distinct users and sessions count them
	// too. Empty: analytics_last_seen is complete.
	LastSeenTail string
	// BucketText casts the bucket column to text in the form ParseTime reads ("bucket" on SQLite).
	BucketText string
	// Raw expressions over analytics_logs: minute bucket (as the rollup bucket column, same type), app version
	// ('' when absent), platform, duration (NULL when not counted), user and session (NULL or '' when absent,
	// counted by count(DISTINCT NULLIF(x, ''))).
	RawMinute, RawAppVersion, RawPlatform, RawDuration string
	// Where returns the conditions (joined by AND, without WHERE) of f's filters over analytics_logs, with
	// placeholders numbered from len(args)+1, and the args extended. Source and the exact-match filters
	// included.
	Where func(f logingest.Filter, args []any) (string, []any)
}

type builder struct {
	d    *Dialect
	args []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return b.d.Placeholder(len(b.args))
}

func (b *builder) time(t time.Time) string { return b.arg(b.d.Time(t)) }

// rollupConds returns the conditions of f over a rollup table: source and the dimension filters.
func (b *builder) rollupConds(f logingest.Filter) []string {
	var conds []string
	for _, m := range storequery.Matches(f) {
		switch m.Column {
		case "source", "event_type", "event_name", "app_version", "priority":
			conds = append(conds, m.Column+" = "+b.arg(m.Value))
		}
	}
	return conds
}

// and joins conditions.
const and = " AND "

const rollupCols = "bucket, event_type, priority, event_name, app_version, platform, n, dur_count, dur_sum"

// union returns a subquery (with columns rollupCols) over the parts of a window, for f (which RollupFilter
// accepts).
func (b *builder) union(parts []storequery.RollupPart, f logingest.Filter) string {
	var sels []string
	for _, p := range parts {
		conds := b.rollupConds(f)
		switch p.Grain {
		case time.Minute, time.Hour:
			table := "analytics_rollup_minute"
			if p.Grain == time.Hour {
				table = "analytics_rollup_hour"
			}
			conds = append(conds, "bucket >= "+b.time(p.From), "bucket < "+b.time(p.To))
			sels = append(sels, "SELECT "+rollupCols+" FROM "+table+" WHERE "+strings.Join(conds, and))
		default:
			lo, hi := " > ", " < "
			if p.FromIncl {
				lo = " >= "
			}
			if p.ToIncl {
				hi = " <= "
			}
			conds = append(conds, "received_at"+lo+b.time(p.From), "received_at"+hi+b.time(p.To))
			sels = append(sels, "SELECT "+b.d.RawMinute+" AS bucket, event_type, priority, event_name, "+
				b.d.RawAppVersion+" AS app_version, "+b.d.RawPlatform+" AS platform, 1 AS n, CASE WHEN "+
				b.d.RawDuration+" IS NULL THEN 0 ELSE 1 END AS dur_count, coalesce("+b.d.RawDuration+
				", 0) AS dur_sum FROM analytics_logs WHERE "+strings.Join(conds, and))
		}
	}
	if len(sels) == 0 {
		return "(SELECT " + rollupCols + " FROM analytics_rollup_hour WHERE 1 = 0) u"
	}
	return "(" + strings.Join(sels, " UNION ALL ") + ") u"
}

// windowSums holds the sums over one window.
type windowSums struct {
	n, errors, durCount int64
	durSum              float64
}

func (s windowSums) rates() (latency, errorRate float64) {
	if s.durCount > 0 {
		latency = s.durSum / float64(s.durCount)
	}
	if s.n > 0 {
		errorRate = 100 * float64(s.errors) / float64(s.n)
	}
	return latency, errorRate
}

func (d *Dialect) windowSums(ctx context.Context, q Querier, f logingest.Filter, a, bEnd time.Time) (windowSums, error) {
	b := &builder{d: d}
	u := b.union(storequery.RollupParts(a, bEnd), f)
	var s windowSums
	err := queryRow(ctx, q, `SELECT CAST(coalesce(sum(n), 0) AS BIGINT),
		CAST(coalesce(sum(CASE WHEN event_type = 'error' THEN n ELSE 0 END), 0) AS BIGINT),
		CAST(coalesce(sum(dur_count), 0) AS BIGINT), coalesce(sum(dur_sum), 0) FROM `+u, b.args, &s.n, &s.errors, &s.durCount, &s.durSum)
	return s, err
}

func queryRow(ctx context.Context, q Querier, sql string, args []any, dest ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return fmt.Errorf("no row")
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Err()
}

// total counts every event of f (RollupFilter) from the hour rollups.
func (d *Dialect) total(ctx context.Context, q Querier, f logingest.Filter) (int64, error) {
	b := &builder{d: d}
	where := ""
	if conds := b.rollupConds(f); len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, and)
	}
	var n int64
	err := queryRow(ctx, q, "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM analytics_rollup_hour"+where, b.args, &n)
	return n, err
}

// active counts distinct ids of kind ("u" user_id, "s" session_id) among the events of source received in
// (a, now].
func (d *Dialect) active(ctx context.Context, q Querier, source, kind string, a, now time.Time) (int64, error) {
	b := &builder{d: d}
	// With a source, (source, kind, id) is the key: ids are distinct, and the count is an index-only range
	// scan of (source, kind, seen).
	src, count := "", "count(DISTINCT id)"
	if source != "" {
		src, count = " AND source = "+b.arg(source), "count(*)"
	}
	k := b.arg(kind)
	lo, hi := b.time(a), b.time(now)
	var n int64
	var future bool
	query := `SELECT (SELECT ` + count + ` FROM analytics_last_seen WHERE kind = ` + k + src +
		` AND seen > ` + lo + ` AND seen <= ` + hi + `), EXISTS (SELECT 1 FROM analytics_last_seen WHERE kind = ` + k + src +
		` AND seen > ` + hi + `)`
	if d.LastSeenTail != "" {
		// An id is active when its latest received_at, in analytics_last_seen or in the tail, is in the window
		// (and none is later: future). With a source, the table's ids are counted by an index-only scan and
		// the tail adds its ids that the table does not already count; without one, both are merged.
		tail := `(` + d.LastSeenTail + `)`
		if source != "" {
			query = `SELECT (SELECT count(*) FROM analytics_last_seen WHERE kind = ` + k + src + ` AND seen > ` + lo +
				` AND seen <= ` + hi + `) + (SELECT count(DISTINCT t.id) FROM ` + tail + ` t WHERE t.kind = ` + k +
				` AND t.source = ` + b.arg(source) + ` AND t.seen > ` + lo + ` AND t.seen <= ` + hi +
				` AND NOT EXISTS (SELECT 1 FROM analytics_last_seen l WHERE l.source = t.source AND l.kind = t.kind` +
				` AND l.id = t.id AND l.seen > ` + lo + ` AND l.seen <= ` + hi + `))`
		} else {
			query = `SELECT (SELECT count(DISTINCT id) FROM (SELECT id FROM analytics_last_seen WHERE kind = ` + k +
				` AND seen > ` + lo + ` AND seen <= ` + hi + ` UNION ALL SELECT t.id FROM ` + tail + ` t WHERE t.kind = ` + k +
				` AND t.seen > ` + lo + ` AND t.seen <= ` + hi + `))`
		}
		query += `, EXISTS (SELECT 1 FROM analytics_last_seen WHERE kind = ` + k + src + ` AND seen > ` + hi +
			`) OR EXISTS (SELECT 1 FROM ` + tail + ` t WHERE t.kind = ` + k + strings.ReplaceAll(src, "source", "t.source") +
			` AND t.seen > ` + hi + `)`
	}
	err := queryRow(ctx, q, query, b.args, &n, &future)
	if err != nil || !future {
		return n, err
	}
	// Events were received after now: their ids' last_seen no longer tells whether they were active in the
	// window. Count directly.
	col := "user_id"
	if kind == "s" {
		col = "session_id"
	}
	b = &builder{d: d}
	where, args := d.Where(logingest.Filter{Source: source}, nil)
	b.args = args
	if where != "" {
		where += and
	}
	err = queryRow(ctx, q, "SELECT count(DISTINCT NULLIF("+col+", '')) FROM analytics_logs WHERE "+where+
		"received_at > "+b.time(a)+" AND received_at <= "+b.time(now), b.args, &n)
	return n, err
}

// Stats computes logingest.Stats. TopN of zero or less means logingest.DefaultTopN.
func (d *Dialect) Stats(ctx context.Context, q Querier, sq logingest.StatsQuery) (*logingest.Stats, error) {
	sq = sq.Normalize()
	now := sq.Now.UTC()
	f := logingest.Filter{Source: sq.Source}
	st := &logingest.Stats{}
	var err error
	if st.TotalEvents, err = d.total(ctx, q, f); err != nil {
		return nil, fmt.Errorf("total: %w", err)
	}
	hour, err := d.windowSums(ctx, q, f, now.Add(-time.Hour), now)
	if err != nil {
		return nil, fmt.Errorf("last hour: %w", err)
	}
	st.LastHour = hour.n
	st.AverageLatencyMs, st.ErrorRatePercent = hour.rates()

	b := &builder{d: d}
	u := b.union(storequery.RollupParts(now.Add(-24*time.Hour), now), f)
	rows, err := q.Query(ctx, "SELECT event_type, event_name, CAST(sum(n) AS BIGINT) FROM "+u+" GROUP BY event_type, event_name", b.args...)
	if err != nil {
		return nil, fmt.Errorf("last day: %w", err)
	}
	types, names := map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var t, name string
		var n int64
		if err := rows.Scan(&t, &name, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("last day: %w", err)
		}
		st.LastDay += n
		types[t] += n
		names[name] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("last day: %w", err)
	}
	st.TopEventTypes, st.TopEventNames = Top(types, sq.TopN), Top(names, sq.TopN)
	if st.ActiveSessions, err = d.active(ctx, q, sq.Source, "s", now.Add(-logingest.ActiveSessionWindow), now); err != nil {
		return nil, fmt.Errorf("active sessions: %w", err)
	}
	if st.ActiveUsers, err = d.active(ctx, q, sq.Source, "u", now.Add(-24*time.Hour), now); err != nil {
		return nil, fmt.Errorf("active users: %w", err)
	}
	return st, nil
}

// Top returns the n most frequent values with a non-zero count, by count descending, then value ascending;
// never nil.
func Top(counts map[string]int64, n int) []logingest.ValueCount {
	out := make([]logingest.ValueCount, 0, len(counts))
	for v, c := range counts {
		if c > 0 {
			out = append(out, logingest.ValueCount{Value: v, Count: c})
		}
	}
	slices.SortFunc(out, func(a, b logingest.ValueCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out[:min(n, len(out))]
}

// itoa is strconv.Itoa, for placeholders.
func itoa(n int) string { return strconv.Itoa(n) }
