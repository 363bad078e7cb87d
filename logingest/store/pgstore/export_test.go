package pgstore

import "github.com/change66/logserver/logingest"

// PageSQLForTest exposes the page query of f to the benchmarks, for EXPLAIN ANALYZE.
func PageSQLForTest(f logingest.Filter) (string, []any) {
	f, err := f.Normalize()
	if err != nil {
		panic(err)
	}
	q, args, _, _, err := buildPageSQL(f)
	if err != nil {
		panic(err)
	}
	return q, args
}

// WhereForTest exposes the WHERE clause of f, for EXPLAIN.
func WhereForTest(f logingest.Filter) (string, []any) {
	f, err := f.Normalize()
	if err != nil {
		panic(err)
	}
	return whereClause(f, nil)
}
