package sqlite_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
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
			e := tmpl[rng.IntN(len(tmpl))]
			e.EventID = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff,
				rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
			now = now.Add(50 * time.Microsecond)
			e.ReceivedAt = now
			if rng.Float64() < 0.05 {
				lo, hi := math.Log(float64(time.Hour)), math.Log(float64(72*time.Hour))
				e.Timestamp = now.Add(-time.Duration(math.Exp(lo + rng.Float64()*(hi-lo))))
			} else {
				e.Timestamp = now.Add(-time.Duration(rng.Int64N(int64(10 * time.Second))))
			}
			u := rng.IntN(5000)
			if e.UserID != "" {
				e.UserID = fmt.Sprintf("u-%d", u)
			}
			e.SessionID = fmt.Sprintf("s-%d-%d", u, rng.IntN(3))
			batch[i] = e
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
