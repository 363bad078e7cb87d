package natsbuffer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/change66/logserver/logingest"
)

// Writer moves events from the buffer stream to a Store. Run any number of Writers, in any number of
// processes, on the same Config: they share one durable consumer, so each message goes to one of them at a
// time.
type Writer struct {
	store   logingest.Store
	js      jetstream.JetStream
	cons    jetstream.Consumer
	cfg     Config
	logger  *slog.Logger
	metrics *writeMetrics
}

// NewWriter returns a Writer that appends the buffer's events to store, after creating or updating the
// streams (Setup) and the durable consumer. A nil cfg uses the defaults. It registers the lag collector
// (logingest_buffer_lag_events, _lag_seconds, _stream_bytes, _dead_letters) once per Registerer. The caller
// owns nc and store and closes them after Run returned.
func NewWriter(ctx context.Context, nc *nats.Conn, store logingest.Store, cfg *Config) (*Writer, error) {
	if nc == nil || store == nil {
		return nil, errors.New("natsbuffer: connection and store must not be nil")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("natsbuffer: invalid config: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsbuffer: %w", err)
	}
	s, err := setup(ctx, js, c)
	if err != nil {
		return nil, err
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       c.Consumer,
		Description:   "logingest writers: append buffered events to the store",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1, // an outage must never drop events; poison messages are dead-lettered instead
		MaxAckPending: c.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      0, // as the stream
	})
	if err != nil {
		return nil, fmt.Errorf("natsbuffer: create consumer %s: %w", c.Consumer, err)
	}
	m, err := newWriteMetrics(c.Registerer)
	if err != nil {
		return nil, err
	}
	if c.Registerer != nil {
		if _, err := register(c.Registerer, newLagCollector(js, c)); err != nil {
			return nil, err
		}
	}
	return &Writer{store: store, js: js, cons: cons, cfg: c, logger: c.Logger, metrics: m}, nil
}

// Run fetches batches of up to Config.BatchSize events and writes each with one Store.Append, acknowledging
// the messages only after it committed, until ctx ends; it then finishes the batch in hand if the store
// accepts it within Config.WriteTimeout, and returns nil. A failed write is retried with jittered exponential
// backoff (up to Config.MaxRetryDelay) while the messages' ack deadline is extended, so an outage of the Store
// holds the batch instead of dropping it. Events the Store refuses as invalid are isolated (the batch is split
// until only they remain) and moved to the dead-letter stream; undecodable messages too.
func (w *Writer) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		batch, err := w.cons.Fetch(w.cfg.BatchSize, jetstream.FetchMaxWait(w.cfg.FetchWait))
		if err != nil {
			failures++
			w.logger.Warn("fetch from buffer failed", slog.String("stream", w.cfg.Stream), slog.Any("error", err))
			sleep(ctx, w.backoff(failures))
			continue
		}
		msgs := make([]jetstream.Msg, 0, w.cfg.BatchSize)
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && len(msgs) == 0 {
			failures++
			w.logger.Warn("fetch from buffer failed", slog.String("stream", w.cfg.Stream), slog.Any("error", err))
			sleep(ctx, w.backoff(failures))
			continue
		}
		failures = 0
		if len(msgs) > 0 {
			w.process(ctx, msgs)
		}
	}
	return nil
}

// process writes one fetched batch, retrying until it commits or ctx ends (the messages are then left for
// redelivery).
func (w *Writer) process(ctx context.Context, msgs []jetstream.Msg) {
	events := make([]logingest.Event, 0, len(msgs))
	held := make([]jetstream.Msg, 0, len(msgs))
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			w.metrics.redeliveries.Inc()
		}
		var e logingest.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil || e.EventID == "" {
			reason := "undecodable message: missing event_id"
			if err != nil {
				reason = "undecodable message: " + err.Error()
			}
			w.deadLetter(ctx, m, nil, "undecodable", reason)
			continue
		}
		events = append(events, e)
		held = append(held, m)
	}
	if len(events) == 0 {
		return
	}
	w.metrics.batchEvents.Observe(float64(len(events)))
	for attempt := 1; ; attempt++ {
		// A batch already fetched is finished even when ctx ends, within WriteTimeout.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.WriteTimeout)
		statuses, refused, err := appendIsolating(wctx, w.store, events)
		cancel()
		if err == nil {
			for i, m := range held {
				switch {
				case refused[i] != nil:
					w.deadLetter(ctx, m, &events[i], "invalid", refused[i].Error())
				case statuses[i] == logingest.AppendDuplicate:
					w.metrics.events.WithLabelValues("duplicate").Inc()
					w.ack(m)
				default:
					w.metrics.events.WithLabelValues("inserted").Inc()
					w.ack(m)
				}
			}
			return
		}
		w.metrics.writeErrors.Inc()
		d := w.backoff(attempt)
		w.logger.Error("store write of buffered events failed; retrying", slog.Int("events", len(events)),
			slog.Int("attempt", attempt), slog.Duration("retry_in", d), slog.Any("error", err))
		if ctx.Err() != nil {
			return // unacknowledged: redelivered to another writer after AckWait
		}
		for _, m := range held {
			_ = m.InProgress() // extend the ack deadline: this writer still holds the batch
		}
		sleep(ctx, d)
		if ctx.Err() != nil {
			return
		}
	}
}

func (w *Writer) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		// The write committed; a lost ack means a redelivery the store reports as duplicate.
		w.logger.Warn("ack buffered event", slog.Any("error", err))
	}
}

// deadLetter publishes m to the dead-letter stream with reason and acknowledges it; when the dead-letter
// publish fails, m is left for redelivery.
func (w *Writer) deadLetter(ctx context.Context, m jetstream.Msg, e *logingest.Event, kind, reason string) {
	dl := &nats.Msg{Subject: w.cfg.DeadLetterSubject, Data: m.Data(), Header: nats.Header{}}
	dl.Header.Set(HeaderReason, reason)
	dl.Header.Set(headerDeadTime, time.Now().UTC().Format(time.RFC3339Nano))
	id := ""
	if md, err := m.Metadata(); err == nil {
		dl.Header.Set(HeaderOrigSeq, strconv.FormatUint(md.Sequence.Stream, 10))
		id = "seq-" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	if e != nil {
		dl.Header.Set(HeaderSource, e.Source)
		dl.Header.Set(HeaderEventID, e.EventID)
		id = msgID(e.Source, e.EventID)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.PublishTimeout)
	defer cancel()
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := w.js.PublishMsg(pctx, dl, opts...); err != nil {
		w.logger.Error("publish dead letter; leaving the event for redelivery", slog.String("reason", reason), slog.Any("error", err))
		_ = m.Nak()
		return
	}
	w.logger.Warn("event moved to the dead-letter stream", slog.String("stream", w.cfg.DeadLetterStream),
		slog.String("reason", reason), slog.String("event_id", dl.Header.Get(HeaderEventID)),
		slog.String("source", dl.Header.Get(HeaderSource)))
	w.metrics.deadLetters.WithLabelValues(kind).Inc()
	w.metrics.events.WithLabelValues("dead_letter").Inc()
	w.ack(m)
}

// backoff returns the delay before retry number attempt (from 1): exponential from 100ms, capped at
// MaxRetryDelay, with full jitter in its upper half.
func (w *Writer) backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 10)
	d = min(d, w.cfg.MaxRetryDelay)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// appendIsolating appends events. When the store refuses the batch as invalid (logingest.ErrInvalid), it
// appends the halves separately, recursively, so that only events refused on their own are refused:
// refused[i] is then the store's error for event i, whose status is zero. Any other error is returned as is.
func appendIsolating(ctx context.Context, store logingest.Store, events []logingest.Event) ([]logingest.AppendStatus, []error, error) {
	statuses := make([]logingest.AppendStatus, len(events))
	refused := make([]error, len(events))
	if err := isolate(ctx, store, events, statuses, refused); err != nil {
		return nil, nil, err
	}
	return statuses, refused, nil
}

func isolate(
	ctx context.Context, store logingest.Store, events []logingest.Event, statuses []logingest.AppendStatus, refused []error,
) error {
	st, err := store.Append(ctx, events)
	switch {
	case err == nil:
		if len(st) != len(events) {
			return fmt.Errorf("store returned %d statuses for %d events", len(st), len(events))
		}
		for i, r := range st {
			statuses[i] = r.Status
		}
		return nil
	case !errors.Is(err, logingest.ErrInvalid):
		return err
	case len(events) == 1:
		refused[0] = err
		return nil
	}
	mid := len(events) / 2
	if err := isolate(ctx, store, events[:mid], statuses[:mid], refused[:mid]); err != nil {
		return err
	}
	return isolate(ctx, store, events[mid:], statuses[mid:], refused[mid:])
}
