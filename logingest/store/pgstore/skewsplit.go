package pgstore

import (
	"fmt"
	"time"

	"github.com/change66/logserver/logingest"
)

// skewBand is how far received_at may be from timestamp for an event to count as received on time by
// skewSplit. It must stay the interval of the partial index of migration 011 (skewedSQL repeats its predicate).
const skewBand = time.Minute

// skewedSQL is the predicate of the partial index analytics_logs_timestamp_skewed (migration 011), spelled
// exactly as there so that the planner can prove the index usable. onTimeSQL is its complement: received_at
// and timestamp are NOT NULL (the infinities compare as any value does), so every event satisfies exactly one
// of the two, and an on-time event matching [start, end) has start - skewBand <= received_at < end + skewBand.
const (
	skewedSQL = `((received_at AT TIME ZONE 'UTC') > (timestamp AT TIME ZONE 'UTC') + interval '1 minute'` +
		` OR (timestamp AT TIME ZONE 'UTC') > (received_at AT TIME ZONE 'UTC') + interval '1 minute')`
	onTimeSQL = `(received_at AT TIME ZONE 'UTC') <= (timestamp AT TIME ZONE 'UTC') + interval '1 minute'` +
		` AND (timestamp AT TIME ZONE 'UTC') <= (received_at AT TIME ZONE 'UTC') + interval '1 minute'`
)

// skewSplit reports whether the page of f is the union of its on-time and its skewed events (skewSplitSQL):
// a time range (start_time/end_time, on timestamp) listed in received_at order, the default. received_at is
// the partition key and timestamp cannot prune partitions, so the plain query walks every partition's primary
// key in received_at order until the page is full: every event received after an hour in the past is read,
// and under the Merge Append of the partitions, all of a partition with no match (measured at 5 million
// events: an hour 20 h ago read 378,761 events of the previous day's partition and 58,316 of the current
// one). A user's or session's pages keep keysFromIndex, whose index already bounds the read.
func skewSplit(f logingest.Filter) bool {
	return f.SortBy == logingest.SortReceivedAt && (!f.StartTime.IsZero() || !f.EndTime.IsZero()) && !keysFromIndex(f)
}

// skewSplitSQL returns the page query, and its arguments, of a filter for which skewSplit holds. where is the
// plain query's conditions without the cursor's, keyset the cursor's condition (" AND ...", or ""), args their
// arguments followed by those of limit; order and limit are the plain query's ORDER BY and LIMIT/OFFSET.
// A range that matches many skewed events (an import of old events) costs a sort of all of them, read
// index-only when the filter has nothing but source, event type and name besides the range.
//
// The page's keys are the first Limit+1+Offset keys of the union of two disjoint parts, each bounded:
//   - on time (|received_at - timestamp| <= skewBand): received_at lies in [start - skewBand, end +
//     skewBand), a primary-key range that prunes to the range's partitions and is walked in order, stopping
//     after Limit+1+Offset matches. The timestamp conditions are written so that no timestamp index can serve
//     them (timestamp + interval '0'): the planner, which cannot know that nearly every event of the band
//     matches, otherwise prefers reading all of the band's matches through the timestamp index and sorting
//     them (198,057 events for an hour, against 51 for the walk).
//   - skewed (the rest: offline devices, imports, wrong clocks): read from the partial index of migration
//     011 over the timestamp range, index-only for the filters it covers (source, event type and name), and
//     sorted. Unordered on purpose: asked for received_at order, the planner walks the primary key again.
//
// Only the page's rows are then read from the heap.
func skewSplitSQL(f logingest.Filter, where, keyset string, args []any, order, limit string) (string, []any) {
	onTimeWhere, _ := conditions(f, nil, "(timestamp + interval '0')")
	var band string
	if !f.StartTime.IsZero() {
		args = append(args, f.StartTime.Add(-skewBand))
		band += fmt.Sprintf(" AND received_at >= $%d", len(args))
	}
	if !f.EndTime.IsZero() {
		args = append(args, f.EndTime.Add(skewBand))
		band += fmt.Sprintf(" AND received_at < $%d", len(args))
	}
	args = append(args, f.Limit+1+f.Offset)
	partLimit := fmt.Sprintf(" LIMIT $%d", len(args))
	onTime := "SELECT received_at, id FROM analytics_logs WHERE " + onTimeWhere + keyset + " AND " + onTimeSQL + band +
		order + partLimit
	skewed := "SELECT received_at, id FROM analytics_logs WHERE " + where + keyset + " AND " + skewedSQL
	return "SELECT " + selectColumns + " FROM analytics_logs WHERE (received_at, id) IN (SELECT received_at, id FROM ((" +
		onTime + ") UNION ALL (" + skewed + ")) u" + order + limit + ")" + order, args
}
