package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// readTime reads a stored time for Query. A time outside years 0 to 9999 (which the fixed-width text form
// writes with a sign or a fifth digit) is read as it is; text that is no time at all is read as the zero time
// and reported in bad, so that one such row never fails the page.
func readTime(s, field string, bad []logingest.FieldError) (time.Time, []logingest.FieldError) {
	t, err := storequery.ParseTime(s)
	if err != nil {
		return time.Time{}, append(bad, logingest.FieldError{Field: field, Reason: "stored text is not a time; served as the zero time"})
	}
	return t, bad
}

// readNullTime is readTime for a nullable column: NULL is the zero time, as stored.
func readNullTime(s sql.NullString, field string, bad []logingest.FieldError) (time.Time, []logingest.FieldError) {
	if !s.Valid {
		return time.Time{}, bad
	}
	return readTime(s.String, field, bad)
}

// sanitize makes the events of a page servable (logingest.SanitizeStored) and logs every row it changed, or
// could not read, with the logger of ctx (which carries the request id). ids and unreadable are per event.
func (s *Store) sanitize(ctx context.Context, events []logingest.Event, ids []int64, unreadable [][]logingest.FieldError) {
	for i := range events {
		changed := slices.Concat(unreadable[i], logingest.SanitizeStored(&events[i]))
		logingest.LogSanitized(ctx, s.logger, &events[i], ids[i], changed)
	}
}
