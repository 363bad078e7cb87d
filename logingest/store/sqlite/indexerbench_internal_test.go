package sqlite

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

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
				e := tmpl[rng.IntN(len(tmpl))]
				e.EventID = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
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
	f, err := os.Open("../../../testdata/events.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []logingest.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e logingest.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			b.Fatal(err)
		}
		e.Source = "bench"
		out = append(out, e)
	}
	return out
}
