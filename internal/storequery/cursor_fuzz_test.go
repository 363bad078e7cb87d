package storequery_test

import (
	"testing"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// FuzzCursorRoundTrip: a cursor made by Encode at any event, in any sort field and order, is read back by
// After as the same position (any year included: a row stored past validation may hold one).
func FuzzCursorRoundTrip(f *testing.F) {
	f.Add(uint8(0), true, int64(1756296000), int64(0), "name", int64(42), int64(1))
	f.Add(uint8(1), false, int64(-62198755200), int64(1), "", int64(-7), int64(9))        // year -1
	f.Add(uint8(0), true, int64(253402300800), int64(999999999), "x", int64(0), int64(1)) // year 10000
	f.Add(uint8(5), false, int64(0), int64(0), "\xff\x00\"\\", int64(1<<62), int64(1<<62))
	fields := logingest.SortFields()
	f.Fuzz(func(t *testing.T, field uint8, desc bool, sec, nsec int64, s string, n, id int64) {
		if id <= 0 {
			return // stores' ids are positive
		}
		sf := fields[int(field)%len(fields)]
		order := logingest.SortAsc
		if desc {
			order = logingest.SortDesc
		}
		ts := time.Unix(sec%(400000*365*86400), nsec%1e9).UTC() // within ±400000 years
		e := logingest.Event{
			ID: id, EventID: s, Timestamp: ts, ReceivedAt: ts, SequenceNumber: &n, EventName: s,
			EventType: logingest.EventType(s), UserID: s, SessionID: s, AppVersion: s, Priority: logingest.Priority(s),
		}
		if n == 0 {
			e.SequenceNumber = nil // absent
		}
		c := storequery.At(&e, id, sf)
		c.Order = order
		got, err := storequery.After(logingest.Filter{SortBy: sf, SortOrder: order, After: c.Encode()})
		if err != nil {
			t.Fatalf("After(Encode(%+v)): %v", c, err)
		}
		if got.Compare(c) != 0 || got.Field != c.Field || got.Order != c.Order {
			t.Fatalf("cursor %+v came back as %+v", c, *got)
		}
	})
}

// FuzzAfter: After never panics on arbitrary text, and a cursor it accepts encodes back to the same position.
func FuzzAfter(f *testing.F) {
	for _, s := range []string{
		"", "x", "eyJmIjoidGltZXN0YW1wIiwicyI6IjIwMjUtMDEtMDFUMDA6MDA6MDAuMDAwMDAwMDAwWiIsImkiOjF9",
		storequery.Cursor{Field: logingest.SortSequenceNumber, Value: int64(-3), ID: 7}.Encode(),
		storequery.Cursor{
			Field: logingest.SortTimestamp, Order: logingest.SortDesc, Value: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), ID: 7,
		}.Encode(),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sf := range logingest.SortFields() {
			flt := logingest.Filter{SortBy: sf, SortOrder: logingest.SortAsc, After: s}
			c, err := storequery.After(flt)
			if err != nil || c == nil {
				continue
			}
			if c.ID <= 0 {
				t.Fatalf("After(%q) accepted id %d", s, c.ID)
			}
			flt.After = c.Encode()
			again, err := storequery.After(flt)
			if err != nil || again.Compare(*c) != 0 {
				t.Fatalf("After(%q) = %+v; re-encoded: %+v, %v", s, *c, again, err)
			}
		}
	})
}
