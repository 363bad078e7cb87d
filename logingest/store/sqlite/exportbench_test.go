package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/change66/logserver/internal/consolebench"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// BenchmarkBigExport measures GET /api/v1/logs/export (NDJSON and CSV, every event of the source, newest
// first) over LOGINGEST_BIG_BENCH_ROWS (default 1 million) realistic events of consolebench.Data, appended in
// batches of 10,000: rows/s, peak heap and peak RSS. Only with LOGINGEST_BIG_BENCH=1.
// LOGINGEST_BIG_BENCH_KEEP=1 keeps the events in $TMPDIR/logingest-export-<rows>.db and a later run reuses
// them (remove the file to reload). It uses only the public API, so the same file measures any version:
//
//	LOGINGEST_BIG_BENCH=1 go test -run '^$' -bench BigExport -benchtime 1x -timeout 30m ./logingest/store/sqlite/
func BenchmarkBigExport(b *testing.B) {
	rows := consolebench.Enabled(b, 1_000_000)
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "logingest.db")
	if os.Getenv("LOGINGEST_BIG_BENCH_KEEP") == "1" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("logingest-export-%d.db", rows))
	}
	s, err := sqlite.Open(ctx, path, &sqlite.Config{AutoMigrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	p, err := s.Query(ctx, logingest.Filter{Source: consolebench.Source, Limit: 1, Offset: rows - 1, SkipTotal: true})
	if err != nil {
		b.Fatal(err)
	}
	if len(p.Events) == 1 && p.NextCursor == "" {
		b.Logf("reusing the %d events of %s", rows, path)
		consolebench.RunExport(b, s, rows)
		return
	}
	if len(p.Events) != 0 {
		b.Fatalf("%s holds other events than %d: remove it", path, rows)
	}
	d, err := consolebench.NewData(rows, time.Now().UTC().Truncate(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const batch = 10_000
	events := make([]logingest.Event, 0, batch)
	for lo := 0; lo < rows; lo += batch {
		events = events[:0]
		for i := lo; i < min(lo+batch, rows); i++ {
			events = append(events, d.Event(i))
		}
		if _, err := s.Append(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("appended %d events in %v", rows, time.Since(start).Round(time.Second))
	consolebench.RunExport(b, s, rows)
}
