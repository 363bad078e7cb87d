package natsbuffer

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
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
