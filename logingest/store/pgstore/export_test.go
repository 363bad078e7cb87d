package pgstore

import (
	"time"

	"github.com/change66/logserver/logingest"
)

// PageSQLForTest exposes the page query of f at the clock now to the benchmarks, for EXPLAIN ANALYZE.
func PageSQLForTest(f logingest.Filter, now time.Time) (string, []any) {
	f, err := f.Normalize()
	if err != nil {
		panic(err)
	}
	q, args, _, _, err := buildPageSQL(f, now)
	if err != nil {
		panic(err)
	}
	return q, args
}
