package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// platformSQL is the platform the rollups count for a row: device_info.platform when it is a JSON string, cut to
// 64 characters; the empty string otherwise (migration 006).
const platformSQL = `CASE WHEN json_type(device_info, '$.platform') = 'text'
	THEN substr(json_extract(device_info, '$.platform'), 1, 64) ELSE '' END`

// rollupKey is the primary key of a row of analytics_rollup_minute or analytics_rollup_hour.
type rollupKey struct {
	source, bucket, eventType, priority, eventName, appVersion, platform string
}

// rollupSum is what a batch adds to one rollup row.
type rollupSum struct {
	n, durCount int64
	durSum      float64
}

// updateRollups adds the rows Append inserted (ids) to the rollup tables of migration 006: one aggregate query
// sums them per minute key (SQLite computes the platform and the duration from the JSON, with the SQL the
// rollup queries use for raw rows), the hour sums follow from the minute ones; then one upsert row per
// distinct key. The figures are those the per-row triggers of 006 kept (migration 008 replaced them): the
// same keys, counts and sums. analytics_last_seen follows after the commit (migration 009, indexTail).
func updateRollups(ctx context.Context, tx *sql.Tx, ids idRange) error {
	minute := make(map[rollupKey]rollupSum)
	hour := make(map[rollupKey]rollupSum)
	rows, err := tx.QueryContext(ctx, `SELECT source, substr(received_at, 1, 16) || ':00.000000000Z', event_type,
		priority, event_name, app_version, platform, count(*), count(dur), total(dur)
		FROM (SELECT source, received_at, event_type, priority, event_name, app_version, `+platformSQL+` AS platform,
			`+durationSQL+` AS dur FROM analytics_logs WHERE id BETWEEN ? AND ?)
		GROUP BY 1, 2, 3, 4, 5, 6, 7`, ids.lo, ids.hi)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k rollupKey
		var s rollupSum
		if err := rows.Scan(&k.source, &k.bucket, &k.eventType, &k.priority, &k.eventName, &k.appVersion, &k.platform,
			&s.n, &s.durCount, &s.durSum); err != nil {
			return err
		}
		minute[k] = s
		k.bucket = hourBucket(k.bucket)
		hour[k] = hour[k].plus(s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range []struct {
		table string
		sums  map[rollupKey]rollupSum
	}{{"analytics_rollup_minute", minute}, {"analytics_rollup_hour", hour}} {
		if err := upsertRollup(ctx, tx, t.table, t.sums); err != nil {
			return fmt.Errorf("%s: %w", t.table, err)
		}
	}
	return nil
}

func (s rollupSum) plus(o rollupSum) rollupSum {
	return rollupSum{n: s.n + o.n, durCount: s.durCount + o.durCount, durSum: s.durSum + o.durSum}
}

// hourBucket is the hour bucket of a minute bucket: substr(bucket, 1, 13) || ':00:00.000000000Z', as
// migration 006 derives it. Stored times are ASCII text, so bytes are characters.
func hourBucket(minute string) string { return minute[:min(13, len(minute))] + ":00:00.000000000Z" }

// Upserts go one row per statement, prepared once per transaction: a single-row upsert needs no statement
// journal, while a multi-row one copies every page it changes to it first (see Append).
const (
	upsertRollupSQL = ` (source, bucket, event_type, priority, event_name, app_version, platform, n, dur_count,
		dur_sum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n,
		dur_count = dur_count + excluded.dur_count, dur_sum = dur_sum + excluded.dur_sum`
)

// upsertRollup adds sums to table, in key order.
func upsertRollup(ctx context.Context, tx *sql.Tx, table string, sums map[rollupKey]rollupSum) error {
	keys := make([]rollupKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rollupKey) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.bucket, b.bucket), cmp.Compare(a.eventType, b.eventType),
			cmp.Compare(a.priority, b.priority), cmp.Compare(a.eventName, b.eventName),
			cmp.Compare(a.appVersion, b.appVersion), cmp.Compare(a.platform, b.platform))
	})
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO "+table+upsertRollupSQL) //nolint:gosec // table is one of two constants
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, k := range keys {
		s := sums[k]
		if _, err := stmt.ExecContext(ctx, k.source, k.bucket, k.eventType, k.priority, k.eventName, k.appVersion,
			k.platform, s.n, s.durCount, s.durSum); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns n tuples of cols placeholders: "(?,?),(?,?)".
func placeholders(n, cols int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	var b strings.Builder
	b.Grow(n * (len(tuple) + 1))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	return b.String()
}
