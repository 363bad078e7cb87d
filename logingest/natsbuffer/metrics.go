package natsbuffer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type publishMetrics struct {
	requests *prometheus.CounterVec
	events   *prometheus.CounterVec
}

func newPublishMetrics(reg prometheus.Registerer) (*publishMetrics, error) {
	m := &publishMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_buffer_publish_requests_total",
			Help: "Ingest calls in buffer mode by outcome: ok, invalid, full (stream limits reached), unavailable, canceled.",
		}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_buffer_published_events_total",
			Help: "Events acknowledged by JetStream, by status: accepted (new) or duplicate (within the de-duplication window).",
		}, []string{"status"}),
	}
	var err error
	m.requests, err = register(reg, m.requests)
	if err != nil {
		return nil, err
	}
	if m.events, err = register(reg, m.events); err != nil {
		return nil, err
	}
	for _, st := range []string{"accepted", "duplicate"} { // every series exists from the start
		m.events.WithLabelValues(st)
	}
	return m, nil
}

type writeMetrics struct {
	events       *prometheus.CounterVec
	redeliveries prometheus.Counter
	deadLetters  *prometheus.CounterVec
	writeErrors  prometheus.Counter
	failing      prometheus.Gauge
	retryLater   prometheus.Counter
	batchEvents  prometheus.Histogram
}

func newWriteMetrics(reg prometheus.Registerer) (*writeMetrics, error) {
	m := &writeMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_buffer_written_events_total",
			Help: "Buffered events written to the store by the writers, by status: inserted, duplicate, dead_letter.",
		}, []string{"status"}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logingest_buffer_redeliveries_total",
			Help: "Messages a writer received more than once (after a writer crash, an ack timeout or a failed write).",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_buffer_dead_letters_total",
			Help: "Events moved to the dead-letter stream by this process, by reason: invalid (the store refused it), undecodable.",
		}, []string{"reason"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logingest_buffer_write_errors_total",
			Help: "Failed store writes of buffered batches (each is retried with backoff).",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logingest_buffer_write_failing_batches",
			Help: "Batches a writer holds while retrying a failed store write; 0 when the writes succeed. Alert when it stays above 0.",
		}),
		retryLater: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logingest_buffer_retry_later_messages_total",
			Help: "Messages handed back to the stream for a delayed retry because the store kept failing them " +
				"while it answered pings (never dropped).",
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logingest_buffer_write_batch_events",
			Help:    "Events per store write of the buffer writers.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
	}
	var err error
	if m.events, err = register(reg, m.events); err != nil {
		return nil, err
	}
	if m.redeliveries, err = register(reg, m.redeliveries); err != nil {
		return nil, err
	}
	if m.deadLetters, err = register(reg, m.deadLetters); err != nil {
		return nil, err
	}
	if m.writeErrors, err = register(reg, m.writeErrors); err != nil {
		return nil, err
	}
	if m.failing, err = register(reg, m.failing); err != nil {
		return nil, err
	}
	if m.retryLater, err = register(reg, m.retryLater); err != nil {
		return nil, err
	}
	if m.batchEvents, err = register(reg, m.batchEvents); err != nil {
		return nil, err
	}
	for _, st := range []string{"inserted", "duplicate", "dead_letter"} { // every series exists from the start
		m.events.WithLabelValues(st)
	}
	for _, r := range []string{"invalid", "undecodable"} {
		m.deadLetters.WithLabelValues(r)
	}
	return m, nil
}

// register registers c, reusing an identical collector already registered (two writers in one process share
// their metrics). A nil reg keeps c unregistered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("natsbuffer: register metrics: %w", err)
	}
	return c, nil
}
