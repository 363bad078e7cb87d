package natsbuffer

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// lagCollector reports the buffer's backlog, read from JetStream at scrape time (bounded by a 2 s timeout;
// on failure the gauges are left out of the scrape and logged).
type lagCollector struct {
	js  jetstream.JetStream
	cfg Config

	lagEvents, lagSeconds, streamBytes, streamEvents, deadLetters *prometheus.Desc
}

func newLagCollector(js jetstream.JetStream, c Config) *lagCollector {
	return &lagCollector{
		js: js, cfg: c,
		lagEvents: prometheus.NewDesc("logingest_buffer_lag_events",
			"Messages in the buffer not yet written to the store, over every partition (pending plus awaiting acknowledgement): one per event with INGEST_BUFFER_MESSAGES=event, one per request and partition otherwise; 0 when the writers caught up.", nil, nil),
		lagSeconds: prometheus.NewDesc("logingest_buffer_lag_seconds",
			"Age of the oldest event in the buffer not yet written to the store; 0 when the buffer is empty.", nil, nil),
		streamBytes: prometheus.NewDesc("logingest_buffer_stream_bytes",
			"Bytes stored in the buffer stream (refuses new events at INGEST_BUFFER_MAX_BYTES).", nil, nil),
		streamEvents: prometheus.NewDesc("logingest_buffer_stream_events",
			"Messages stored in the buffer stream (an event each with INGEST_BUFFER_MESSAGES=event, a request's events per partition otherwise).", nil, nil),
		deadLetters: prometheus.NewDesc("logingest_buffer_dead_letters",
			"Events held in the dead-letter stream.", nil, nil),
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lagEvents
	ch <- c.lagSeconds
	ch <- c.streamBytes
	ch <- c.streamEvents
	ch <- c.deadLetters
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := c.js.Stream(ctx, c.cfg.Stream); err == nil {
		if info, err := s.Info(ctx); err == nil {
			st := info.State
			ch <- prometheus.MustNewConstMetric(c.streamBytes, prometheus.GaugeValue, float64(st.Bytes))
			ch <- prometheus.MustNewConstMetric(c.streamEvents, prometheus.GaugeValue, float64(st.Msgs))
			age := 0.0
			if st.Msgs > 0 && !st.FirstTime.IsZero() {
				age = max(0, time.Since(st.FirstTime).Seconds())
			}
			ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, age)
		}
		// Every consumer of the stream: one per partition (a work-queue stream allows no others).
		lag, lister := 0.0, s.ListConsumers(ctx)
		for ci := range lister.Info() {
			lag += float64(ci.NumPending) + float64(ci.NumAckPending)
		}
		if lister.Err() == nil {
			ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, lag)
		}
	}
	if s, err := c.js.Stream(ctx, c.cfg.DeadLetterStream); err == nil {
		if info, err := s.Info(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.deadLetters, prometheus.GaugeValue, float64(info.State.Msgs))
		}
	}
}
