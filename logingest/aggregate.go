package logingest

import (
	"context"
	"time"
)

// Aggregator is an optional Store interface: the server-side aggregates of the dashboard
// (GET /api/v1/dashboard). Stores that keep rollups at ingest answer it without reading every event; the
// storetest suite checks it when a store implements it.
type Aggregator interface {
	// Dashboard summarises the events of q.Filter over q's range. Implementations call q.Normalize first and
	// return its error (which matches ErrInvalid) unchanged.
	Dashboard(ctx context.Context, q DashboardQuery) (*Dashboard, error)
}

// DashboardQuery parameterises Aggregator.Dashboard.
type DashboardQuery struct {
	// Filter selects the events: Source and every filter field apply (sorting and paging fields are
	// ignored). StartTime and EndTime bound Timestamp, as in Query.
	Filter Filter
	// From and To bound the range, on ReceivedAt (when events arrived, like Stats): [From, To). Normalize
	// widens them to whole buckets (see DashboardBucket). Zero To means Now; zero From means the 24 hours
	// before To once To is rounded up to the hour.
	From, To time.Time
	// Now is the reference time of the totals (last hour, last day, today).
	Now time.Time
	// TopN bounds each distribution list. Defaults to 10.
	TopN int
}

// Dashboard limits.
const (
	// MaxDashboardRange is the longest accepted range.
	MaxDashboardRange = 400 * 24 * time.Hour
	// DefaultDashboardTopN is DashboardQuery.TopN when zero; MaxDashboardTopN is its upper bound.
	DefaultDashboardTopN = 10
	MaxDashboardTopN     = 100
)

// dashboardBuckets are the timeline bucket widths, smallest first.
var dashboardBuckets = [...]time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	2 * 24 * time.Hour, 7 * 24 * time.Hour,
}

// DashboardBucket returns the timeline bucket width for the range [from, to): the widest of 1m, 2m, 5m, 10m,
// 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d, 2d, 7d that still gives at least 24 buckets, or 1m for ranges shorter
// than 24 minutes. So 1h gives 30 two-minute buckets, 24h 24 hourly ones, 7d 28 of 6h, 30d 30 days.
func DashboardBucket(from, to time.Time) time.Duration {
	d := to.Sub(from)
	best := dashboardBuckets[0]
	for _, b := range dashboardBuckets {
		if d >= 24*b {
			best = b
		}
	}
	return best
}

// Normalize applies defaults to a copy of q, validates it and returns it with the timeline bucket width:
// From and To are widened to multiples of the bucket width (in UTC, counted from the zero time.Time, so day
// and shorter buckets start at whole UTC hours and days), and Filter is normalized. The error is a
// *ValidationError naming each bad field by its API parameter name.
func (q DashboardQuery) Normalize() (DashboardQuery, time.Duration, error) {
	q.Now = q.Now.UTC()
	if q.To.IsZero() {
		q.To = q.Now
	}
	defaultFrom := q.From.IsZero()
	if defaultFrom {
		q.From = q.To.Add(-24 * time.Hour)
	}
	if q.TopN == 0 {
		q.TopN = DefaultDashboardTopN
	}
	var errs []FieldError
	f := q.Filter
	f.SortBy, f.SortOrder, f.Limit, f.Offset, f.After = "", "", 0, 0, ""
	f, err := f.Normalize()
	if ve, ok := err.(*ValidationError); ok { //nolint:errorlint // Normalize returns it unwrapped
		errs = append(errs, ve.Errors...)
	}
	q.Filter = f
	if !q.From.Before(q.To) {
		errs = append(errs, FieldError{"to", "must be after from"})
	} else if q.To.Sub(q.From) > MaxDashboardRange {
		errs = append(errs, FieldError{"from", "the range must not exceed 400 days"})
	}
	if q.TopN < 1 || q.TopN > MaxDashboardTopN {
		errs = append(errs, FieldError{"top", "must be between 1 and 100"})
	}
	if errs != nil {
		return q, 0, &ValidationError{Errors: errs}
	}
	b := DashboardBucket(q.From, q.To)
	q.From, q.To = q.From.UTC().Truncate(b), q.To.UTC()
	if t := q.To.Truncate(b); t.Equal(q.To) {
		q.To = t
	} else {
		q.To = t.Add(b)
	}
	if defaultFrom {
		q.From = q.To.Add(-24 * time.Hour) // exactly 24 buckets of an hour, the last one holding To
	}
	return q, b, nil
}

// Dashboard is the answer of Aggregator.Dashboard.
type Dashboard struct {
	// From, To and Bucket are the normalized range [From, To) and the timeline bucket width.
	From, To time.Time
	Bucket   time.Duration
	// Totals are relative to DashboardQuery.Now, on ReceivedAt, for the events that match the filter.
	Totals DashboardTotals
	// Timeline has one point per bucket of [From, To), in order, empty buckets included.
	Timeline []TimelinePoint
	// Distributions over the range: count descending, then value ascending, at most TopN each; never nil.
	// Platforms are device_info.platform values (strings only, cut to 64 characters); "" counts events
	// without one. AppVersions counts "" for events without an app version.
	EventTypes, Priorities, TopEventNames, AppVersions, Platforms []ValueCount
	// Exact reports that every figure is exact. When it is false, Estimated names the figures (by their API
	// names) that are not.
	Exact     bool
	Estimated []string
}

// DashboardTotals are the headline figures of a Dashboard. The windows are those of Stats; LogsToday counts
// events received since midnight UTC of Now.
type DashboardTotals struct {
	TotalLogs        int64
	LogsLastHour     int64
	LogsLastDay      int64
	LogsToday        int64
	ErrorRatePercent float64
	AverageLatencyMs float64
	ActiveSessions   int64
	ActiveUsers      int64
}

// TimelinePoint is one bucket of the timeline: the events received in [Start, Start+Bucket) and how many of
// them are of type "error".
type TimelinePoint struct {
	Start  time.Time
	Count  int64
	Errors int64
}

// FillTimeline returns one point per bucket of [from, to) in order, taking counts from points (keyed by
// Start, which must be aligned) and zero elsewhere. Stores use it to add the empty buckets.
func FillTimeline(from, to time.Time, bucket time.Duration, points []TimelinePoint) []TimelinePoint {
	byStart := make(map[int64]TimelinePoint, len(points))
	for _, p := range points {
		k := p.Start.UnixNano()
		q := byStart[k]
		q.Count += p.Count
		q.Errors += p.Errors
		byStart[k] = q
	}
	out := make([]TimelinePoint, 0, int(to.Sub(from)/bucket)+1)
	for t := from; t.Before(to); t = t.Add(bucket) {
		p := byStart[t.UnixNano()]
		p.Start = t.UTC()
		out = append(out, p)
	}
	return out
}
