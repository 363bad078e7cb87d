package rollupsql

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// Dashboard computes logingest.Dashboard; see the package documentation for what is exact.
func (d *Dialect) Dashboard(ctx context.Context, q Querier, dq logingest.DashboardQuery) (*logingest.Dashboard, error) {
	dq, bucket, err := dq.Normalize()
	if err != nil {
		return nil, err
	}
	out := &logingest.Dashboard{From: dq.From, To: dq.To, Bucket: bucket, Exact: true, Estimated: []string{}}
	if storequery.RollupFilter(dq.Filter) {
		err = d.rollupDashboard(ctx, q, dq, out)
	} else {
		err = d.directDashboard(ctx, q, dq, out)
	}
	if err != nil {
		return nil, err
	}
	out.Exact = len(out.Estimated) == 0
	return out, nil
}

// dims counts, per dimension, the rows scanned from a "dimensions" query.
type dims struct{ types, prios, names, versions, platforms map[string]int64 }

func newDims() dims {
	return dims{map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}}
}

func (m dims) into(out *logingest.Dashboard, n int) {
	out.EventTypes, out.Priorities, out.TopEventNames = Top(m.types, n), Top(m.prios, n), Top(m.names, n)
	out.AppVersions, out.Platforms = Top(m.versions, n), Top(m.platforms, n)
}

// scanRange reads the timeline query (bucket text, count, errors) and the dimensions query (event_type,
// priority, event_name, app_version, platform, count) into out.
func (d *Dialect) scanRange(ctx context.Context, q Querier, dq logingest.DashboardQuery, out *logingest.Dashboard,
	timelineSQL, dimsSQL string, args []any,
) error {
	rows, err := q.Query(ctx, timelineSQL, args...)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	var points []logingest.TimelinePoint
	for rows.Next() {
		var bs string
		var p logingest.TimelinePoint
		if err := rows.Scan(&bs, &p.Count, &p.Errors); err != nil {
			rows.Close()
			return fmt.Errorf("timeline: %w", err)
		}
		t, err := d.ParseTime(bs)
		if err != nil {
			rows.Close()
			return fmt.Errorf("timeline: %w", err)
		}
		p.Start = dq.From.Add(time.Duration(int64(t.Sub(dq.From)/out.Bucket)) * out.Bucket)
		points = append(points, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	out.Timeline = logingest.FillTimeline(dq.From, dq.To, out.Bucket, points)

	rows, err = q.Query(ctx, dimsSQL, args...)
	if err != nil {
		return fmt.Errorf("distributions: %w", err)
	}
	m := newDims()
	for rows.Next() {
		var t, p, name, v, pl string
		var n int64
		if err := rows.Scan(&t, &p, &name, &v, &pl, &n); err != nil {
			rows.Close()
			return fmt.Errorf("distributions: %w", err)
		}
		m.types[t] += n
		m.prios[p] += n
		m.names[name] += n
		m.versions[v] += n
		m.platforms[pl] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("distributions: %w", err)
	}
	m.into(out, dq.TopN)
	return nil
}

func (d *Dialect) rollupDashboard(ctx context.Context, q Querier, dq logingest.DashboardQuery, out *logingest.Dashboard) error {
	f, now, t := dq.Filter, dq.Now, &out.Totals
	var err error
	if t.TotalLogs, err = d.total(ctx, q, f); err != nil {
		return fmt.Errorf("total: %w", err)
	}
	hour, err := d.windowSums(ctx, q, f, now.Add(-time.Hour), now)
	if err != nil {
		return fmt.Errorf("last hour: %w", err)
	}
	t.LogsLastHour = hour.n
	t.AverageLatencyMs, t.ErrorRatePercent = hour.rates()
	day, err := d.windowSums(ctx, q, f, now.Add(-24*time.Hour), now)
	if err != nil {
		return fmt.Errorf("last day: %w", err)
	}
	t.LogsLastDay = day.n
	today, err := d.windowSums(ctx, q, f, now.Truncate(24*time.Hour).Add(-time.Microsecond), now)
	if err != nil {
		return fmt.Errorf("today: %w", err)
	}
	t.LogsToday = today.n
	if f.EventType == "" && f.EventName == "" && f.AppVersion == "" && f.Priority == "" {
		if t.ActiveSessions, err = d.active(ctx, q, f.Source, "s", now.Add(-logingest.ActiveSessionWindow), now); err != nil {
			return fmt.Errorf("active sessions: %w", err)
		}
		if t.ActiveUsers, err = d.active(ctx, q, f.Source, "u", now.Add(-24*time.Hour), now); err != nil {
			return fmt.Errorf("active users: %w", err)
		}
	} else if err := d.directActive(ctx, q, f, now, out); err != nil {
		return err
	}

	table := "analytics_rollup_minute"
	if out.Bucket%time.Hour == 0 {
		table = "analytics_rollup_hour"
	}
	b := &builder{d: d}
	conds := append(b.rollupConds(f), "bucket >= "+b.time(dq.From), "bucket < "+b.time(dq.To))
	where := " FROM " + table + " WHERE " + strings.Join(conds, and)
	return d.scanRange(ctx, q, dq, out,
		"SELECT "+d.BucketText+", CAST(sum(n) AS BIGINT), CAST(sum(CASE WHEN event_type = 'error' THEN n ELSE 0 END) AS BIGINT)"+where+" GROUP BY bucket",
		"SELECT event_type, priority, event_name, app_version, platform, CAST(sum(n) AS BIGINT)"+where+
			" GROUP BY event_type, priority, event_name, app_version, platform", b.args)
}

// directActive counts active sessions and users of f directly, over at most MaxDirectActiveRows events each.
func (d *Dialect) directActive(ctx context.Context, q Querier, f logingest.Filter, now time.Time, out *logingest.Dashboard) error {
	for _, c := range []struct {
		col, name string
		since     time.Time
		dst       *int64
	}{
		{"session_id", "active_sessions", now.Add(-logingest.ActiveSessionWindow), &out.Totals.ActiveSessions},
		{"user_id", "active_users", now.Add(-24 * time.Hour), &out.Totals.ActiveUsers},
	} {
		b := &builder{d: d}
		w, args := d.Where(f, nil)
		b.args = args
		if w != "" {
			w += and
		}
		var scanned int64
		err := queryRow(ctx, q, "SELECT count(DISTINCT NULLIF(x, '')), count(*) FROM (SELECT "+c.col+
			" AS x FROM analytics_logs WHERE "+w+"received_at > "+b.time(c.since)+" AND received_at <= "+b.time(now)+
			" ORDER BY received_at DESC LIMIT "+itoa(MaxDirectActiveRows)+") s", b.args, c.dst, &scanned)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if scanned >= MaxDirectActiveRows {
			out.Estimated = append(out.Estimated, c.name)
		}
	}
	return nil
}

// directDashboard answers a filter the rollups cannot: every figure from the events, over at most
// MaxDirectRows events per window. The bound has no ORDER BY, so that the planner may start from the most
// selective index (a user's or a session's events) instead of walking the window in time order.
func (d *Dialect) directDashboard(ctx context.Context, q Querier, dq logingest.DashboardQuery, out *logingest.Dashboard) error {
	f, now, t := dq.Filter, dq.Now, &out.Totals
	where := func(b *builder) string {
		w, args := d.Where(f, b.args)
		b.args = args
		if w != "" {
			w += and
		}
		return w
	}
	b := &builder{d: d}
	w := where(b)
	err := queryRow(ctx, q, "SELECT count(*) FROM (SELECT 1 AS one FROM analytics_logs WHERE "+w+"1 = 1 LIMIT "+
		itoa(MaxDirectRows+1)+") s", b.args, &t.TotalLogs)
	if err != nil {
		return fmt.Errorf("total: %w", err)
	}
	if t.TotalLogs > MaxDirectRows {
		t.TotalLogs = MaxDirectRows
		out.Estimated = append(out.Estimated, "total_logs")
	}

	b = &builder{d: d}
	w = where(b)
	h, s, today := b.time(now.Add(-time.Hour)), b.time(now.Add(-logingest.ActiveSessionWindow)), b.time(now.Truncate(24*time.Hour))
	dayAgo, nowArg := b.time(now.Add(-24*time.Hour)), b.time(now)
	var durCount, errs int64
	var durSum float64
	err = queryRow(ctx, q, `SELECT count(*),
		coalesce(sum(CASE WHEN received_at > `+h+` THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN received_at > `+h+` AND event_type = 'error' THEN 1 ELSE 0 END), 0),
		count(CASE WHEN received_at > `+h+` THEN dur END), coalesce(sum(CASE WHEN received_at > `+h+` THEN dur END), 0),
		coalesce(sum(CASE WHEN received_at >= `+today+` THEN 1 ELSE 0 END), 0),
		count(DISTINCT CASE WHEN received_at > `+s+` THEN NULLIF(session_id, '') END),
		count(DISTINCT NULLIF(user_id, ''))
		FROM (SELECT received_at, event_type, `+d.RawDuration+` AS dur, session_id, user_id FROM analytics_logs
			WHERE `+w+`received_at > `+dayAgo+` AND received_at <= `+nowArg+` LIMIT `+
		itoa(MaxDirectRows)+`) s`, b.args,
		&t.LogsLastDay, &t.LogsLastHour, &errs, &durCount, &durSum, &t.LogsToday, &t.ActiveSessions, &t.ActiveUsers)
	if err != nil {
		return fmt.Errorf("windows: %w", err)
	}
	t.AverageLatencyMs, t.ErrorRatePercent = windowSums{n: t.LogsLastHour, errors: errs, durCount: durCount, durSum: durSum}.rates()
	if t.LogsLastDay >= MaxDirectRows {
		out.Estimated = append(out.Estimated, "logs_last_day", "logs_today", "active_users")
	}

	b = &builder{d: d}
	w = where(b)
	sub := "(SELECT " + d.RawMinute + " AS bucket, event_type, priority, event_name, " + d.RawAppVersion +
		" AS app_version, " + d.RawPlatform + " AS platform FROM analytics_logs WHERE " + w + "received_at >= " +
		b.time(dq.From) + " AND received_at < " + b.time(dq.To) + " LIMIT " +
		itoa(MaxDirectRows) + ") s"
	err = d.scanRange(ctx, q, dq, out,
		"SELECT "+strings.ReplaceAll(d.BucketText, "bucket", "s.bucket")+", count(*), sum(CASE WHEN event_type = 'error' THEN 1 ELSE 0 END) FROM "+sub+" GROUP BY s.bucket",
		"SELECT event_type, priority, event_name, app_version, platform, count(*) FROM "+sub+
			" GROUP BY event_type, priority, event_name, app_version, platform", b.args)
	if err != nil {
		return err
	}
	// The timeline counts every row of the bounded range (sub is within [From, To)), so its sum is the number
	// of rows read: no separate count over the range.
	var capped int64
	for _, p := range out.Timeline {
		capped += p.Count
	}
	if capped >= MaxDirectRows {
		out.Estimated = append(out.Estimated, "timeline", "event_types", "priorities", "top_event_names",
			"app_versions", "platforms")
	}
	return nil
}
