package sqlite_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// BenchmarkAppendRealistic appends group commits of 1000 events (the Ingester's default FlushSize) shaped like
// cmd/loadgen's default traffic: the templates of testdata/events.ndjson, random UUID-like event ids (as the
// app sends), 5,000 users with 3 sessions each, timestamps up to 10 s old with 5% offline events 1 h to 72 h
// old, received_at increasing. The database starts with warm rows (-benchtime decides how many more).
func BenchmarkAppendRealistic(b *testing.B) {
	s, _ := setup(b)
	ctx := context.Background()
	tmpl := loadEvents(b, "bench")
	rng := rand.New(rand.NewPCG(7, 11))
	now := time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)
	const batchSize = 1000
	batch := make([]logingest.Event, batchSize)
	n := 0
	fill := func() {
		for i := range batch {
			now = now.Add(50 * time.Microsecond)
			batch[i] = sqlite.RealisticEvent(rng, tmpl, now)
			n++
		}
	}
	// Warm the database with 100,000 rows, so that the indexes are not trivially small.
	for range 100 {
		fill()
		if _, err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	n = 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		fill()
		b.StartTimer()
		if _, err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
