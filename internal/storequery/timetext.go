package storequery

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is the fixed-width UTC text form of times in cursors (and in the SQLite store): text comparison
// orders times of years 0 to 9999 chronologically, and nanoseconds round-trip exactly.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime returns t in UTC as TimeLayout. Outside years 0 to 9999 the year is written as time.Format writes
// it: with a minus sign, or with more than four digits.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses the output of FormatTime, for any year: unlike time.Parse, it also reads the years outside
// 0 to 9999 that FormatTime writes, so that a cursor taken at (or a row holding) such a time still works.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(TimeLayout, s); err == nil {
		return t, nil
	}
	// [-]YYYY…-MM-DDThh:mm:ss.nnnnnnnnnZ: the year is everything before the dash that starts the month.
	sign, rest := 1, s
	if strings.HasPrefix(rest, "-") {
		sign, rest = -1, rest[1:]
	}
	cut := strings.IndexByte(rest, '-')
	if cut < 4 || cut > 9 {
		return time.Time{}, fmt.Errorf("parse time %q: not in the form %s", s, TimeLayout)
	}
	year, err := strconv.Atoi(rest[:cut])
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: bad year", s)
	}
	// Parse the rest in year 2000, a leap year, so that February 29 is accepted, then move it.
	t, err := time.Parse(TimeLayout, "2000"+rest[cut:])
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: %w", s, err)
	}
	return time.Date(sign*year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
}
