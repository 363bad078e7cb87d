package pgstore_test

import (
	"testing"

	"github.com/change66/logserver/internal/consolebench"
)

// BenchmarkBigExport measures GET /api/v1/logs/export (NDJSON and CSV, every event of the source, newest
// first) over LOGINGEST_BIG_BENCH_ROWS (default 1 million) realistic events of consolebench.Data, in the private
// database that bigDatabase loads (logingest_bigbench_<rows>): rows/s, peak heap and peak RSS. Only with
// LOGINGEST_BIG_BENCH=1; LOGINGEST_BIG_BENCH_KEEP=1 keeps the database for the next run (which reuses it):
//
//	LOGINGEST_BIG_BENCH=1 go test -run '^$' -bench BigExport -benchtime 1x -timeout 30m ./logingest/store/pgstore/
func BenchmarkBigExport(b *testing.B) {
	rows := consolebench.Enabled(b, 1_000_000)
	s, _ := bigDatabase(b, rows)
	consolebench.RunExport(b, s, rows)
}
