package natsbuffer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Publisher and a Writer; both sides of one buffer must use the same stream, subject and
// consumer names. The zero value of Config is a reasonable default.
type Config struct {
	// Logger receives the buffer's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the buffer's metrics. Nil means the metrics are kept but not registered.
	Registerer prometheus.Registerer

	// Stream is the JetStream stream holding events not yet written (INGEST_BUFFER_STREAM). Defaults to
	// "LOGINGEST".
	Stream string
	// Subject is the subject events are published on. With Partitions > 1, partition p is published on
	// Subject.<p> (the stream holds both Subject and Subject.*). Defaults to "logingest.events".
	Subject string
	// Partitions splits the stream into this many subjects (INGEST_BUFFER_PARTITIONS), each drained through its
	// own durable consumer (Consumer-<p>), so writers scale out without sharing one consumer and the events of
	// one user stay in publication order within their partition. An event's partition is a hash of its source
	// and user (its session when it has no user, else its event id). 1 is a single subject and consumer, as
	// before partitions existed. Defaults to 1.
	Partitions int
	// PerEventMessages publishes every event as its own JSON message (INGEST_BUFFER_MESSAGES=event), as
	// releases before batch messages did: JetStream then de-duplicates each (source, event_id) on its own. By
	// default a request's events are published as one binary message per partition (FormatEventsV1, split
	// below the server's max payload), whose Nats-Msg-Id covers the request's (source, event ids): a resend of
	// the same request is answered duplicate, any other repeat accepted and absorbed by the Store (see the
	// package documentation). Batch messages cost JetStream, the publisher and the writers one message per
	// request instead of one per event. Writers read both formats.
	PerEventMessages bool
	// Replicas is how many servers store each message (INGEST_BUFFER_REPLICAS); use 3 on a cluster. A
	// publish is acknowledged once a majority has it. Defaults to 1.
	Replicas int
	// MaxBytes bounds the stream's size (INGEST_BUFFER_MAX_BYTES); past it publishes are refused and ingest
	// answers 503. Defaults to 1 GiB.
	MaxBytes int64
	// MaxEvents bounds the events in the stream (INGEST_BUFFER_MAX_EVENTS). Defaults to 10,000,000.
	MaxEvents int64
	// DuplicateWindow is how long JetStream remembers a published (source, event_id) to report a resend as
	// duplicate (INGEST_BUFFER_DUPLICATE_WINDOW). Older resends are absorbed by the Store. Defaults to 10m.
	DuplicateWindow time.Duration
	// PublishTimeout bounds the wait for JetStream's acknowledgement of one event. Defaults to 5s.
	PublishTimeout time.Duration
	// MaxPendingPublishes bounds the publishes awaiting acknowledgement per connection. Defaults to 16384.
	MaxPendingPublishes int

	// Consumer is the durable consumer every writer shares (INGEST_BUFFER_CONSUMER). Defaults to
	// "logingest-writers".
	Consumer string
	// WriterPartitions are the partitions a Writer pulls (each in its own fetch loop); nil means every
	// partition. The Writer pulling partition 0 also drains the base subject and the consumers of former
	// partitions. Publishers ignore it. Defaults to nil.
	WriterPartitions []int
	// BatchSize is about the most events a writer fetches and appends at once (INGEST_BUFFER_BATCH): a fetch
	// asks for BatchSize divided by the events per message of the previous batch, so batch messages of
	// uneven size can make a batch somewhat larger. Defaults to 5000: PostgreSQL's COPY path costs less CPU per
	// event the larger the transaction (one commit, one run of the rollup trigger and fewer rollup upserts per
	// batch), and on a machine the writers share with PostgreSQL and NATS that CPU is the drain rate
	// (scripts/bench.sh step d prints the split). Each writer holds up to Appenders+1 batches in memory.
	BatchSize int
	// Appenders is how many Store.Append calls each fetch loop (one per partition the Writer pulls) keeps
	// running at once (INGEST_BUFFER_APPENDERS). The loop fetches and decodes the next batch while they write,
	// whatever this value. With more than one, a partition's batches commit concurrently, so a user's events
	// are no longer stored in publication order (ids may interleave across two batches). Defaults to 1.
	Appenders int
	// FetchWait is how long a fetch waits for a batch to fill. Defaults to 250ms.
	FetchWait time.Duration
	// AckWait is how long JetStream waits for a writer's acknowledgement before redelivering a message
	// (INGEST_BUFFER_ACK_WAIT). A writer retrying a failed write extends it. Defaults to 30s.
	AckWait time.Duration
	// MaxAckPending bounds the messages delivered to writers and not yet acknowledged. Defaults to
	// 16 × BatchSize.
	MaxAckPending int
	// WriteTimeout bounds one Store.Append. Defaults to 10s.
	WriteTimeout time.Duration
	// MaxRetryDelay caps the backoff between retries of a failed Store write. Defaults to 5s.
	MaxRetryDelay time.Duration

	// DeadLetterStream holds events the Store refused (INGEST_BUFFER_DEAD_LETTER_STREAM). Defaults to
	// "LOGINGEST_DEADLETTER".
	DeadLetterStream string
	// DeadLetterSubject is the subject dead letters are published on. Defaults to "logingest.deadletter".
	DeadLetterSubject string
	// DeadLetterMaxAge is how long dead letters are kept. Defaults to 14 days.
	DeadLetterMaxAge time.Duration
}

// maxPartitions bounds Config.Partitions: each partition is a durable consumer with its own fetch loop.
const maxPartitions = 256

// maxAppenders bounds Config.Appenders: each is a goroutine holding a batch and, while it writes, a database
// connection.
const maxAppenders = 64

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&out.Stream, "LOGINGEST")
	def(&out.Subject, "logingest.events")
	def(&out.Consumer, "logingest-writers")
	def(&out.DeadLetterStream, "LOGINGEST_DEADLETTER")
	def(&out.DeadLetterSubject, "logingest.deadletter")
	if out.Replicas == 0 {
		out.Replicas = 1
	}
	if out.Partitions == 0 {
		out.Partitions = 1
	}
	if out.MaxBytes == 0 {
		out.MaxBytes = 1 << 30
	}
	if out.MaxEvents == 0 {
		out.MaxEvents = 10_000_000
	}
	if out.DuplicateWindow == 0 {
		out.DuplicateWindow = 10 * time.Minute
	}
	if out.PublishTimeout == 0 {
		out.PublishTimeout = 5 * time.Second
	}
	if out.MaxPendingPublishes == 0 {
		out.MaxPendingPublishes = 16384
	}
	if out.BatchSize == 0 {
		out.BatchSize = 5000
	}
	if out.Appenders == 0 {
		out.Appenders = 1
	}
	if out.FetchWait == 0 {
		out.FetchWait = 250 * time.Millisecond
	}
	if out.AckWait == 0 {
		out.AckWait = 30 * time.Second
	}
	if out.MaxAckPending == 0 {
		out.MaxAckPending = 16 * out.BatchSize
	}
	if out.WriteTimeout == 0 {
		out.WriteTimeout = 10 * time.Second
	}
	if out.MaxRetryDelay == 0 {
		out.MaxRetryDelay = 5 * time.Second
	}
	if out.DeadLetterMaxAge == 0 {
		out.DeadLetterMaxAge = 14 * 24 * time.Hour
	}
	return out
}

func (c Config) validate() error {
	var errs []error
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, errors.New("Replicas must be between 1 and 5"))
	}
	if c.Partitions < 1 || c.Partitions > maxPartitions {
		errs = append(errs, fmt.Errorf("Partitions must be between 1 and %d", maxPartitions))
	}
	for _, p := range c.WriterPartitions {
		if p < 0 || p >= c.Partitions {
			errs = append(errs, fmt.Errorf("WriterPartitions must be between 0 and Partitions-1 (%d)", c.Partitions-1))
			break
		}
	}
	if c.MaxBytes < 1<<20 {
		errs = append(errs, errors.New("MaxBytes must be at least 1 MiB"))
	}
	if c.MaxEvents < 1 {
		errs = append(errs, errors.New("MaxEvents must be positive"))
	}
	if c.DuplicateWindow < time.Second {
		errs = append(errs, errors.New("DuplicateWindow must be at least 1s"))
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		errs = append(errs, errors.New("BatchSize must be between 1 and 10000"))
	}
	if c.Appenders < 1 || c.Appenders > maxAppenders {
		errs = append(errs, fmt.Errorf("Appenders must be between 1 and %d", maxAppenders))
	}
	if c.AckWait < time.Second {
		errs = append(errs, errors.New("AckWait must be at least 1s"))
	}
	if c.WriteTimeout >= c.AckWait {
		errs = append(errs, errors.New("WriteTimeout must be shorter than AckWait"))
	}
	if c.MaxAckPending < c.BatchSize {
		errs = append(errs, errors.New("MaxAckPending must be at least BatchSize"))
	}
	if c.Subject == c.DeadLetterSubject || c.Stream == c.DeadLetterStream {
		errs = append(errs, errors.New("DeadLetterStream and DeadLetterSubject must differ from Stream and Subject"))
	}
	return errors.Join(errs...)
}
