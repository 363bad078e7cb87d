package sqlite

import (
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/change66/logserver/internal/consolebench"
	"github.com/change66/logserver/logingest"
)

// BenchmarkIndexTailRealistic times one indexing transaction of indexTail over 5,000 events shaped like
// cmd/loadgen's default traffic (5,000 users with 3 sessions each, 5% offline events), on a database of
// 200,000 such events already indexed: the per-event cost the background indexer takes from the writer.
func BenchmarkIndexTailRealistic(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "ix.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	s.indexer.stop() // the benchmark runs indexTail itself
	tmpl := benchTemplates(b)
	rng := rand.New(rand.NewPCG(7, 11))
	now := time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)
	batch := make([]logingest.Event, 1000)
	appendBatches := func(n int) {
		for range n {
			for i := range batch {
				now = now.Add(50 * time.Microsecond)
				batch[i] = RealisticEvent(rng, tmpl, now)
			}
			if _, err := s.Append(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	appendBatches(200)
	if err := s.indexAll(ctx); err != nil {
		b.Fatal(err)
	}
	events := 0
	for b.Loop() {
		b.StopTimer()
		appendBatches(5)
		b.StartTimer()
		n, err := s.indexTail(ctx, 5000)
		if err != nil || n != 5000 {
			b.Fatal(n, err)
		}
		events += int(n)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(events), "us/event")
}

// benchTemplates returns the events of testdata/events.ndjson with source "bench".
func benchTemplates(b *testing.B) []logingest.Event {
	b.Helper()
	tmpl, err := consolebench.Templates()
	if err != nil {
		b.Fatal(err)
	}
	for i := range tmpl {
		tmpl[i].Source = "bench"
	}
	return tmpl
}
