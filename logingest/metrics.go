package logingest

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/change66/logserver/internal/promutil"
)

// ingestMetrics are the Ingester's collectors. Label values are bounded: event types are validated (anything else
// is counted as "invalid"), fields come from the Event's fixed set of JSON names.
type ingestMetrics struct {
	events         *prometheus.CounterVec // event_type, outcome
	validationErrs *prometheus.CounterVec // field
	requestEvents  prometheus.Histogram   // events per Ingest call
	flushEvents    prometheus.Histogram   // events per store write
	queueEvents    prometheus.Gauge       // events accepted, not yet committed
	queueBytes     prometheus.Gauge       // approximate bytes of those events
	queueWait      prometheus.Histogram   // enqueue → write start
	writeDuration  prometheus.Histogram   // one store write
	writeErrors    prometheus.Counter     // failed store writes
	overloaded     prometheus.Counter     // Ingest calls refused because the queue was full
	ingestRequests *prometheus.CounterVec // result
}

func newIngestMetrics(reg prometheus.Registerer) (*ingestMetrics, error) {
	sizeBuckets := []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000}
	m := &ingestMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_events_total",
			Help: "Events received by the ingester, by event type and outcome (accepted, duplicate, rejected).",
		}, []string{"event_type", "outcome"}),
		validationErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_validation_errors_total",
			Help: "Validation failures of rejected events, by field.",
		}, []string{"field"}),
		requestEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logingest_batch_size_events",
			Help:    "Events per ingest call (1 for single-event requests).",
			Buckets: sizeBuckets,
		}),
		flushEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logingest_flush_size_events",
			Help:    "Events per store write after group commit coalesced concurrent requests.",
			Buckets: sizeBuckets,
		}),
		queueEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logingest_queue_events",
			Help: "Events accepted by the ingester and not yet committed.",
		}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logingest_queue_bytes",
			Help: "Approximate memory of the events accepted and not yet committed.",
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logingest_queue_wait_seconds",
			Help:    "Time from enqueue to the start of the store write holding the request.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		writeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logingest_store_write_duration_seconds",
			Help:    "Duration of one store write (Store.Append).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 10),
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logingest_store_write_errors_total",
			Help: "Store writes that failed or timed out.",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logingest_queue_rejections_total",
			Help: "Ingest calls refused with 503 because the queue was full.",
		}),
		ingestRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_ingest_calls_total",
			Help: "Ingest calls by result (ok, invalid, overloaded, unavailable, closed, canceled).",
		}, []string{"result"}),
	}
	// One Register call per collector keeps its static type; when reg already holds an equal collector, that one
	// is returned and used instead.
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.events, err = promutil.Register(reg, m.events)
	keep(err)
	m.validationErrs, err = promutil.Register(reg, m.validationErrs)
	keep(err)
	m.requestEvents, err = promutil.Register(reg, m.requestEvents)
	keep(err)
	m.flushEvents, err = promutil.Register(reg, m.flushEvents)
	keep(err)
	m.queueEvents, err = promutil.Register(reg, m.queueEvents)
	keep(err)
	m.queueBytes, err = promutil.Register(reg, m.queueBytes)
	keep(err)
	m.queueWait, err = promutil.Register(reg, m.queueWait)
	keep(err)
	m.writeDuration, err = promutil.Register(reg, m.writeDuration)
	keep(err)
	m.writeErrors, err = promutil.Register(reg, m.writeErrors)
	keep(err)
	m.overloaded, err = promutil.Register(reg, m.overloaded)
	keep(err)
	m.ingestRequests, err = promutil.Register(reg, m.ingestRequests)
	keep(err)
	if err = errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}
