package logingest

import (
	"errors"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Ingester. A nil *Config and the zero value of every field are reasonable defaults.
type Config struct {
	// Logger receives the Ingester's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the Ingester's metrics. Nil means the metrics are kept but not registered.
	Registerer prometheus.Registerer
	// Now returns the current time; it stamps ReceivedAt and bounds future timestamps. Defaults to time.Now.
	Now func() time.Time

	// Limits bounds the fields of each event.
	Limits Limits
	// MaxBatchSize is the most events one Ingest call may carry (MAX_BATCH_SIZE). Defaults to 1000.
	MaxBatchSize int

	// Writers is how many store writes may run at once (WORKER_POOL_SIZE). A Store implementing
	// AppendConcurrency lowers it to what the store can run at once. Defaults to GOMAXPROCS, at least 2.
	Writers int
	// FlushSize is how many queued events a writer gathers before it writes without waiting further.
	// Defaults to 1000.
	FlushSize int
	// FlushDelay is how long a writer waits for more requests to coalesce once it has one. Zero means it writes
	// whatever is queued at once, which still coalesces under load because requests queue while writers are
	// busy. Defaults to 0.
	FlushDelay time.Duration
	// QueueEvents bounds the events accepted but not yet committed; past it Ingest fails fast with
	// ErrOverloaded. Defaults to 50000.
	QueueEvents int
	// QueueBytes bounds the approximate memory of queued events; past it Ingest fails fast with ErrOverloaded.
	// Defaults to 64 MiB.
	QueueBytes int64
	// MaxQueueWait bounds how long a request may wait in the queue, as estimated at admission from the queue's
	// depth and the measured drain rate; a request that would wait longer is refused at once with an
	// *OverloadedError (ErrOverloaded) carrying a Retry-After, so answers stay fast under overload instead of
	// queueing past the clients' timeouts. Negative disables the bound (QueueEvents and QueueBytes still
	// apply). Defaults to 400ms: with MaxAdmissionWait, the write itself and the spread of write times, an
	// admitted request's answer comes within 1s at p99 under overload (make bench, step f).
	MaxQueueWait time.Duration
	// MaxAdmissionWait is how long Reserve lets a request wait for room in the queue, first come first served,
	// before refusing it: a burst of requests is then taken as the queue drains instead of being refused and
	// retried. The wait holds the request's connection and its body (read already, its events counted, under
	// the transport's in-flight budget), not decoded; a request's answer
	// comes within about MaxAdmissionWait + MaxQueueWait. Negative disables the wait. Defaults to 150ms.
	MaxAdmissionWait time.Duration
	// SmallRequestEvents is the largest request (in events) that queues in the small-request lane, which the
	// writers serve first: live single events are not delayed by a backlog of large batches. Writes made only of
	// small requests run one at a time (a writer holds them while another such write is in flight, gathering
	// what queues meanwhile), so they commit in few large writes; writes of larger requests do not wait for
	// them. Defaults to 10.
	SmallRequestEvents int
	// WriteTimeout bounds one store write; requests in a write that times out fail with ErrUnavailable.
	// Defaults to 10s.
	WriteTimeout time.Duration
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	out.Limits = out.Limits.withDefaults()
	if out.MaxBatchSize == 0 {
		out.MaxBatchSize = 1000
	}
	if out.Writers == 0 {
		// One writer per core, at least 2 so one slow commit does not stall the queue. More writers than that
		// lose: measured on 2 cores with loadgen and PostgreSQL, 2 writers beat 10 for single events (9.9k vs
		// 7.4k events/s) and for batches (47k vs 41k events/s), because each extra concurrent commit costs the
		// database CPU and fsyncs that the coalescing of a busy writer saves.
		out.Writers = max(2, runtime.GOMAXPROCS(0))
	}
	if out.FlushSize == 0 {
		out.FlushSize = 1000
	}
	if out.QueueEvents == 0 {
		out.QueueEvents = 50000
	}
	if out.QueueBytes == 0 {
		out.QueueBytes = 64 << 20
	}
	if out.MaxQueueWait == 0 {
		out.MaxQueueWait = 400 * time.Millisecond
	}
	if out.MaxAdmissionWait == 0 {
		out.MaxAdmissionWait = 150 * time.Millisecond
	}
	if out.SmallRequestEvents == 0 {
		out.SmallRequestEvents = 10
	}
	if out.WriteTimeout == 0 {
		out.WriteTimeout = 10 * time.Second
	}
	return out
}

func (c Config) validate() error {
	var errs []error
	if err := c.Limits.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBatchSize < 1 {
		errs = append(errs, errors.New("MaxBatchSize must be at least 1"))
	}
	if c.Writers < 1 {
		errs = append(errs, errors.New("Writers must be at least 1"))
	}
	if c.FlushSize < 1 {
		errs = append(errs, errors.New("FlushSize must be at least 1"))
	}
	if c.FlushDelay < 0 {
		errs = append(errs, errors.New("FlushDelay must not be negative"))
	}
	if c.QueueEvents < 1 {
		errs = append(errs, errors.New("QueueEvents must be at least 1"))
	}
	if c.QueueBytes < 1 {
		errs = append(errs, errors.New("QueueBytes must be at least 1"))
	}
	if c.SmallRequestEvents < 0 {
		errs = append(errs, errors.New("SmallRequestEvents must not be negative"))
	}
	if c.WriteTimeout < time.Millisecond {
		errs = append(errs, errors.New("WriteTimeout must be at least 1ms"))
	}
	return errors.Join(errs...)
}
