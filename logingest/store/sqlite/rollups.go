package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/change66/logserver/logingest"
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

// lastSeenKey is the primary key of a row of analytics_last_seen.
type lastSeenKey struct{ source, kind, id string }

// updateRollups adds the rows Append inserted (ids; results[i].Status is AppendInserted for their events) to
// the rollups of migration 006: one aggregate query sums them per minute key (SQLite computes the platform
// and the duration from the JSON, with the SQL the rollup queries use for raw rows), the hour sums follow
// from the minute ones, and the latest received_at per user and per session is taken in memory; then one
// upsert row per distinct key. The figures are those the per-row triggers of 006 kept (migration 008 replaced
// them): the same keys, counts and sums.
func updateRollups(
	ctx context.Context, tx *sql.Tx, events []logingest.Event, results []logingest.AppendResult, ids idRange,
) error {
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
	seen := make(map[lastSeenKey]string)
	for i := range events {
		if results[i].Status != logingest.AppendInserted {
			continue
		}
		e := &events[i]
		recv := formatTime(e.ReceivedAt)
		if e.UserID != "" {
			k := lastSeenKey{e.Source, "u", e.UserID}
			seen[k] = max(seen[k], recv)
		}
		if e.SessionID != "" {
			k := lastSeenKey{e.Source, "s", e.SessionID}
			seen[k] = max(seen[k], recv)
		}
	}
	for _, t := range []struct {
		table string
		sums  map[rollupKey]rollupSum
	}{{"analytics_rollup_minute", minute}, {"analytics_rollup_hour", hour}} {
		if err := upsertRollup(ctx, tx, t.table, t.sums); err != nil {
			return fmt.Errorf("%s: %w", t.table, err)
		}
	}
	if err := upsertLastSeen(ctx, tx, seen); err != nil {
		return fmt.Errorf("analytics_last_seen: %w", err)
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
	upsertLastSeenSQL = `INSERT INTO analytics_last_seen (source, kind, id, seen) VALUES (?, ?, ?, ?)
		ON CONFLICT DO UPDATE SET seen = max(seen, excluded.seen)`
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

// upsertLastSeen moves analytics_last_seen forward to the latest received_at of each user and session, in key
// order.
func upsertLastSeen(ctx context.Context, tx *sql.Tx, seen map[lastSeenKey]string) error {
	keys := make([]lastSeenKey, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b lastSeenKey) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id))
	})
	stmt, err := tx.PrepareContext(ctx, upsertLastSeenSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, k := range keys {
		if _, err := stmt.ExecContext(ctx, k.source, k.kind, k.id, seen[k]); err != nil {
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
