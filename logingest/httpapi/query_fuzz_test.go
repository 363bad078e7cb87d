package httpapi

import (
	"errors"
	"net/url"
	"testing"

	"github.com/change66/logserver/logingest"
)

// FuzzParseFilter: for any query string, parseFilter either refuses it with a *ValidationError naming each bad
// parameter, or returns a normalised filter that stays inside the caller's source, within the page limits,
// and that Normalize leaves unchanged.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "page=2&page_size=50", "event_type=error&priority=high&sort_by=received_at&sort_order=asc",
		"start_time=2025-01-01T00:00:00Z&end_time=2025-01-02T00:00:00%2B01:00", "start_time=0000-01-01T00:00:00%2B01:00",
		"page=0", "page=1000001", "page_size=100000", "page=99999999999999999999", "sort_by=password", "sort_order=sideways",
		"cursor=eyJmIjoidGltZXN0YW1wIiwicyI6IjIwMjUtMDEtMDFUMDA6MDA6MDAuMDAwMDAwMDAwWiIsImkiOjF9&page=2",
		"source=other", "user_id=%00&session_id=%FF", "event_type=", "page=%20%207", "a=%zz", "page=-1&page_size=-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // query() refuses it before parseFilter
		}
		flt, page, err := parseFilter(q, "app")
		if err != nil {
			var ve *logingest.ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("parseFilter(%q) error %v is not a ValidationError naming a field", raw, err)
			}
			for _, fe := range ve.Errors {
				if fe.Field == "" || fe.Reason == "" {
					t.Fatalf("parseFilter(%q) names no field or reason: %+v", raw, fe)
				}
			}
			return
		}
		if flt.Source != "app" {
			t.Fatalf("parseFilter(%q) widened the source to %q", raw, flt.Source)
		}
		if flt.Limit < 1 || flt.Limit > logingest.MaxQueryLimit || flt.Offset < 0 || page < 1 || page > maxPage {
			t.Fatalf("parseFilter(%q) = limit %d offset %d page %d", raw, flt.Limit, flt.Offset, page)
		}
		again, err := flt.Normalize()
		if err != nil || again != flt {
			t.Fatalf("parseFilter(%q) is not normalised: %+v vs %+v (%v)", raw, flt, again, err)
		}
	})
}
