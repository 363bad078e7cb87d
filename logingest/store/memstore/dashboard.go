package memstore

import (
	"context"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// Dashboard implements logingest.Aggregator by a scan of every event; every figure is exact.
func (s *Store) Dashboard(ctx context.Context, q logingest.DashboardQuery) (*logingest.Dashboard, error) {
	q, bucket, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx, "dashboard"); err != nil {
		return nil, err
	}
	f := q.Filter
	now := q.Now
	hourAgo, dayAgo, sessionsSince := now.Add(-time.Hour), now.Add(-24*time.Hour), now.Add(-logingest.ActiveSessionWindow)
	today := now.Truncate(24 * time.Hour)
	d := &logingest.Dashboard{From: q.From, To: q.To, Bucket: bucket, Exact: true, Estimated: []string{}}
	t := &d.Totals
	sessions, users := map[string]bool{}, map[string]bool{}
	var errorsLastHour, durations int64
	var durationSum float64
	types, prios, names, versions, platforms := map[string]int64{}, map[string]int64{}, map[string]int64{},
		map[string]int64{}, map[string]int64{}
	points := map[time.Time]*logingest.TimelinePoint{}
	for i := range s.rows {
		r := &s.rows[i]
		if !matchFilter(r, &f) {
			continue
		}
		e := &r.ev
		t.TotalLogs++
		inWindow := func(since time.Time) bool { return e.ReceivedAt.After(since) && !e.ReceivedAt.After(now) }
		if inWindow(dayAgo) {
			t.LogsLastDay++
			if e.UserID != "" {
				users[e.UserID] = true
			}
		}
		if inWindow(hourAgo) {
			t.LogsLastHour++
			if e.EventType == logingest.EventTypeError {
				errorsLastHour++
			}
			if ms, ok := storequery.DurationMs(e.Properties); ok {
				durations++
				durationSum += ms
			}
		}
		if inWindow(sessionsSince) && e.SessionID != "" {
			sessions[e.SessionID] = true
		}
		if !e.ReceivedAt.Before(today) && !e.ReceivedAt.After(now) {
			t.LogsToday++
		}
		if e.ReceivedAt.Before(q.From) || !e.ReceivedAt.Before(q.To) {
			continue
		}
		start := q.From.Add(time.Duration(int64(e.ReceivedAt.Sub(q.From)/bucket)) * bucket)
		p := points[start]
		if p == nil {
			p = &logingest.TimelinePoint{Start: start}
			points[start] = p
		}
		p.Count++
		if e.EventType == logingest.EventTypeError {
			p.Errors++
		}
		types[string(e.EventType)]++
		prios[string(e.Priority)]++
		names[e.EventName]++
		versions[e.AppVersion]++
		platforms[storequery.Platform(e.DeviceInfo)]++
	}
	t.ActiveSessions, t.ActiveUsers = int64(len(sessions)), int64(len(users))
	if durations > 0 {
		t.AverageLatencyMs = durationSum / float64(durations)
	}
	if t.LogsLastHour > 0 {
		t.ErrorRatePercent = 100 * float64(errorsLastHour) / float64(t.LogsLastHour)
	}
	flat := make([]logingest.TimelinePoint, 0, len(points))
	for _, p := range points {
		flat = append(flat, *p)
	}
	d.Timeline = logingest.FillTimeline(q.From, q.To, bucket, flat)
	d.EventTypes, d.Priorities, d.TopEventNames = top(types, q.TopN), top(prios, q.TopN), top(names, q.TopN)
	d.AppVersions, d.Platforms = top(versions, q.TopN), top(platforms, q.TopN)
	return d, nil
}
