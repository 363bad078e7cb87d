package storequery_test

import (
	"testing"
	"time"

	"github.com/change66/logserver/internal/storequery"
)

func TestParseTime_AnyYear(t *testing.T) {
	t.Parallel()
	for _, want := range []time.Time{
		time.Date(2025, 8, 27, 12, 0, 0, 123456789, time.UTC),
		time.Date(0, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC),
	} {
		s := storequery.FormatTime(want)
		got, err := storequery.ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{
		"", "yesterday", "-", "12-01-01T00:00:00.000000000Z", "2025-13-01T00:00:00.000000000Z", "x2025-01-01T00:00:00.000000000Z",
	} {
		if got, err := storequery.ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}
