package natsbuffer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// BenchmarkPublish measures Publisher.Ingest of batches of 100 events from 8 goroutines per core on one
// nats-server (file storage, replicas 1): the buffer's ingest ceiling on this machine, without HTTP and the
// database; one message per request (the default) and one per event.
func BenchmarkPublish(b *testing.B) {
	for _, perEvent := range []bool{false, true} {
		b.Run(fmt.Sprintf("PerEventMessages=%v", perEvent), func(b *testing.B) { benchmarkPublish(b, 1, perEvent) })
	}
}

// BenchmarkPublishR3 is BenchmarkPublish on a three-node cluster with stream replicas 3: each acknowledgement
// waits for a majority of the replicas.
func BenchmarkPublishR3(b *testing.B) {
	for _, perEvent := range []bool{false, true} {
		b.Run(fmt.Sprintf("PerEventMessages=%v", perEvent), func(b *testing.B) { benchmarkPublish(b, 3, perEvent) })
	}
}

func benchmarkPublish(b *testing.B, nodes int, perEvent bool) {
	b.Helper()
	pub, _ := setupCluster(b, nodes, &Config{Replicas: nodes, PerEventMessages: perEvent})
	var batchNo atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := batchNo.Add(1)
			if _, err := pub.Ingest(context.Background(), "bench", events(fmt.Sprintf("b%d", n), 100)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkWrite measures one Writer moving a pre-filled stream (requests of 100 events) into memstore: the
// writer's own overhead (fetch, decode, ack) without a database, for both message formats.
func BenchmarkWrite(b *testing.B) {
	for _, perEvent := range []bool{false, true} {
		b.Run(fmt.Sprintf("PerEventMessages=%v", perEvent), func(b *testing.B) { benchmarkWrite(b, perEvent) })
	}
}

func benchmarkWrite(b *testing.B, perEvent bool) {
	b.Helper()
	pub, bundle := setupBuffer(b, &Config{BatchSize: 1000, PerEventMessages: perEvent})
	total := b.N * 100
	for i := range b.N {
		if _, err := pub.Ingest(context.Background(), "bench", events(fmt.Sprintf("w%d", i), 100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	w, err := NewWriter(context.Background(), bundle.nc, bundle.store, bundle.cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	for gauge(b, bundle.reg, "logingest_buffer_written_events_total") < float64(total) {
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
	cancel()
	<-done
}

// drainEvents is how many events BenchmarkDrainPostgres moves per run: requests of 100, as step (d) of
// scripts/bench.sh sends them.
const drainEvents = 100_000

// BenchmarkDrainPostgres compares, on PostgreSQL (TEST_DATABASE_URL), two Writers draining a pre-filled stream
// (requests of 100 events, BatchSize 1000, as `logserver consume` with INGEST_BUFFER_WRITERS=2) with the same
// events appended straight to the store in batches of 1000 by two goroutines (direct mode's two group-commit
// writers): each reports events/s over drainEvents events in a fresh schema. Their ratio is the drain's
// overhead over the database itself.
func BenchmarkDrainPostgres(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		for range b.N {
			store := openPG(b)
			evs := events(fmt.Sprintf("d%d", time.Now().UnixNano()), drainEvents)
			var next atomic.Int64
			start := time.Now()
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					for {
						i := int(next.Add(1000)) - 1000
						if i >= len(evs) {
							return
						}
						if _, err := store.Append(context.Background(), evs[i:i+1000]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(drainEvents)/time.Since(start).Seconds(), "events/s")
		}
	})
	for _, bc := range []struct{ batch, appenders int }{{1000, 1}, {1000, 2}, {5000, 1}} {
		b.Run(fmt.Sprintf("buffer/batch=%d/appenders=%d", bc.batch, bc.appenders), func(b *testing.B) {
			for range b.N {
				benchmarkDrain(b, &Config{BatchSize: bc.batch, Appenders: bc.appenders})
			}
		})
	}
}

func benchmarkDrain(b *testing.B, cfg *Config) {
	b.Helper()
	pub, bundle := setupBuffer(b, cfg)
	store := openPG(b)
	for i := range drainEvents / 100 {
		if _, err := pub.Ingest(context.Background(), "bench", events(fmt.Sprintf("w%d", i), 100)); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var w *Writer
	for range 2 {
		var err error
		if w, err = NewWriter(context.Background(), bundle.nc, store, bundle.cfg); err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { _ = w.Run(ctx) })
	}
	written := w.metrics.events.WithLabelValues("inserted") // shared by both writers (one Registerer)
	for testutil.ToFloat64(written) < drainEvents {
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(drainEvents)/time.Since(start).Seconds(), "events/s")
	cancel()
	wg.Wait()
}

// openPG opens pgstore on a fresh schema of the test server, migrated, closed when b ends.
func openPG(b *testing.B) *pgstore.Store {
	b.Helper()
	cfg := &pgstore.Config{AutoMigrate: true, Logger: slog.New(slog.DiscardHandler)}
	store, err := pgstore.Open(context.Background(), pgtest.Schema(b), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	return store
}
