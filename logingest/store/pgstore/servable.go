package pgstore

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/change66/logserver/logingest"
)

// The finite ends of timestamptz (4714 BC and 294276 AD), which stand in for -infinity and infinity.
var (
	minTimestamptz = time.Date(-4713, time.November, 24, 0, 0, 0, 0, time.UTC)
	maxTimestamptz = time.Date(294276, time.December, 31, 23, 59, 59, 999999000, time.UTC)
)

// readTime reads a stored timestamptz for Query, in UTC. The infinities, which only SQL typed by hand can
// store, read as the finite ends of the type (so the page's cursor stays usable) and are reported in bad.
func readTime(v pgtype.Timestamptz, field string, bad []logingest.FieldError) (time.Time, []logingest.FieldError) {
	switch {
	case !v.Valid:
		return time.Time{}, append(bad, logingest.FieldError{Field: field, Reason: "stored NULL; served as the zero time"})
	case v.InfinityModifier == pgtype.Infinity:
		return maxTimestamptz, append(bad, logingest.FieldError{Field: field, Reason: "stored infinity"})
	case v.InfinityModifier == pgtype.NegativeInfinity:
		return minTimestamptz, append(bad, logingest.FieldError{Field: field, Reason: "stored -infinity"})
	}
	return v.Time.UTC(), bad
}

// readNullTime is readTime for a nullable column: NULL is the zero time, as stored.
func readNullTime(v pgtype.Timestamptz, field string, bad []logingest.FieldError) (time.Time, []logingest.FieldError) {
	if !v.Valid {
		return time.Time{}, bad
	}
	return readTime(v, field, bad)
}

// sanitize makes e servable (logingest.SanitizeStored) and logs what it changed, or could not read, with the
// logger of ctx (which carries the request id).
func (s *Store) sanitize(ctx context.Context, e *logingest.Event, id int64, bad []logingest.FieldError) {
	logingest.LogSanitized(ctx, s.logger, e, id, slices.Concat(bad, logingest.SanitizeStored(e)))
}
