package natsbuffer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/change66/logserver/logingest"
)

// Writer moves events from the buffer stream to a Store. Run any number of Writers, in any number of
// processes, on the same Config: they share the durable consumers, so each message goes to one of them at a
// time.
type Writer struct {
	store     logingest.Store
	js        jetstream.JetStream
	consumers []jetstream.Consumer // pulled by Run, one fetch loop each
	cfg       Config
	logger    *slog.Logger
	metrics   *writeMetrics
}

// NewWriter returns a Writer that appends the buffer's events to store, after creating or updating the
// streams (Setup) and the durable consumers (one per partition). It pulls every partition, or those of
// Config.WriterPartitions. A nil cfg uses the defaults. It registers the lag collector
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
	consumers, err := setupConsumers(ctx, s, c)
	if err != nil {
		return nil, err
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
	return &Writer{store: store, js: js, consumers: consumers, cfg: c, logger: c.Logger, metrics: m}, nil
}

// Run pulls each of the Writer's consumers in its own loop until ctx ends: it fetches batches of about
// Config.BatchSize events and writes each with one Store.Append, acknowledging the messages only after it
// committed. Each loop fetches and decodes the next batch while the previous one is written, and keeps up to
// Config.Appenders Appends running at once; a message is acknowledged only by the appender that committed its
// batch. When ctx ends it stops fetching, finishes the batches in hand if the store accepts them within
// Config.WriteTimeout, and returns nil. A failed write is retried with jittered exponential backoff (up to
// Config.MaxRetryDelay) while the messages' ack deadline is extended, so an outage of the Store holds the
// batch instead of dropping it. When the write keeps failing while the Store answers Ping (an error that is
// not logingest.ErrInvalid, so not a database outage), the batch is written message by message and the
// messages that still fail are handed back to the stream for a delayed retry (growing up to
// 64 × Config.MaxRetryDelay), never dropped; logingest_buffer_write_failing_batches and
// logingest_buffer_retry_later_messages_total report it. Events the Store refuses as invalid are isolated
// (the batch is split until only they remain) and moved to the dead-letter stream; undecodable messages too.
func (w *Writer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, cons := range w.consumers {
		wg.Go(func() { w.pull(ctx, cons) })
	}
	wg.Wait()
	return nil
}

// pull is the fetch loop of one consumer. It fetches and decodes the next batch while the previous one is
// written, and hands each batch to one of Config.Appenders appenders, so the Store is not left idle while a
// writer waits for JetStream. A batch is handed over only when an appender is free (at most one batch waits in
// the fetch loop's hands, its ack deadline extended while it waits), and each appender acknowledges only the
// messages of the batch it committed. When ctx ends, the fetch loop stops and the batches in hand are written
// before pull returns.
func (w *Writer) pull(ctx context.Context, cons jetstream.Consumer) {
	batches := make(chan []fetched) // unbuffered: a batch is handed over when an appender takes it
	var wg sync.WaitGroup
	for range w.cfg.Appenders {
		wg.Go(func() {
			for held := range batches {
				w.process(ctx, held)
			}
		})
	}
	defer wg.Wait()
	defer close(batches)

	failures := 0
	perMsg := w.cfg.BatchSize // events per message in the last batch: the first fetch takes one message
	for ctx.Err() == nil {
		n := max(1, min(w.cfg.BatchSize, (w.cfg.BatchSize+perMsg/2)/max(1, perMsg)))
		msgs, err := w.fetch(cons, n)
		if err != nil {
			failures++
			w.logger.Warn("fetch from buffer failed", slog.String("stream", w.cfg.Stream), slog.Any("error", err))
			sleep(ctx, w.backoff(failures))
			continue
		}
		failures = 0
		held, events := w.decode(ctx, msgs)
		if events == 0 {
			continue
		}
		perMsg = max(1, events/len(msgs))
		w.handOff(ctx, batches, held)
	}
}

// fetch fetches up to n messages, waiting at most Config.FetchWait for them. It returns an error only when
// the fetch failed with no message.
func (w *Writer) fetch(cons jetstream.Consumer, n int) ([]jetstream.Msg, error) {
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(w.cfg.FetchWait))
	if err != nil {
		return nil, err
	}
	msgs := make([]jetstream.Msg, 0, n)
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && len(msgs) == 0 {
		return nil, err
	}
	return msgs, nil
}

// handOff gives held to a free appender. While every appender is busy it extends the ack deadline of held's
// messages every third of Config.AckWait, so a batch waiting behind a slow or failing write is not
// redelivered to another writer meanwhile. Once ctx ended it waits for an appender without extending: the
// appenders finish their batches within Config.WriteTimeout, shorter than AckWait.
func (w *Writer) handOff(ctx context.Context, batches chan<- []fetched, held []fetched) {
	tick := time.NewTicker(w.cfg.AckWait / 3)
	defer tick.Stop()
	for {
		select {
		case batches <- held:
			return
		case <-tick.C:
			for _, f := range held {
				_ = f.msg.InProgress()
			}
		case <-ctx.Done():
			batches <- held
			return
		}
	}
}

// fetched is one message of a batch and the events decoded from it.
type fetched struct {
	msg    jetstream.Msg
	events []logingest.Event
}

// decode decodes msgs, moving the undecodable ones to the dead-letter stream. It returns the messages that
// hold events and how many events they hold.
func (w *Writer) decode(ctx context.Context, msgs []jetstream.Msg) ([]fetched, int) {
	held := make([]fetched, 0, len(msgs))
	total := 0
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			w.metrics.redeliveries.Inc()
		}
		evs, err := decodeMessage(m)
		if err != nil {
			w.deadLetterMsg(ctx, m, "undecodable message: "+err.Error())
			continue
		}
		held = append(held, fetched{msg: m, events: evs})
		total += len(evs)
	}
	return held, total
}

// process writes the events of held with one Append, retrying until it commits or ctx ends (the messages are
// then left for redelivery), and acknowledges held's messages after the commit.
func (w *Writer) process(ctx context.Context, held []fetched) {
	total := 0
	for _, f := range held {
		total += len(f.events)
	}
	events := make([]logingest.Event, 0, total)
	for _, f := range held {
		events = append(events, f.events...)
	}
	w.metrics.batchEvents.Observe(float64(total))
	for attempt := 1; ; attempt++ {
		// A batch already fetched is finished even when ctx ends, within WriteTimeout.
		statuses, refused, err := w.append(ctx, events)
		if err == nil {
			if attempt > 1 {
				w.metrics.failing.Dec()
			}
			w.settle(ctx, held, statuses, refused)
			return
		}
		w.metrics.writeErrors.Inc()
		if attempt == 1 {
			w.metrics.failing.Inc()
		}
		d := w.backoff(attempt)
		w.logger.Error("store write of buffered events failed; retrying", slog.Int("events", total),
			slog.Int("attempt", attempt), slog.Duration("retry_in", d), slog.Any("error", err))
		if ctx.Err() != nil {
			w.metrics.failing.Dec()
			return // unacknowledged: redelivered to another writer after AckWait
		}
		if attempt >= stuckAttempts && w.storeUp(ctx) {
			// The database answers but this batch keeps failing: write it message by message and hand what
			// still fails back to the stream, so one bad message cannot hold the writer.
			w.metrics.failing.Dec()
			w.writeEach(ctx, held)
			return
		}
		for _, f := range held {
			_ = f.msg.InProgress() // extend the ack deadline: this writer still holds the batch
		}
		sleep(ctx, d)
		if ctx.Err() != nil {
			w.metrics.failing.Dec()
			return
		}
	}
}

// stuckAttempts is how many failed writes of one batch, the Store answering Ping, make process write the
// batch message by message.
const stuckAttempts = 3

// append runs appendIsolating under Config.WriteTimeout, also after ctx ended.
func (w *Writer) append(ctx context.Context, events []logingest.Event) ([]logingest.AppendStatus, []error, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.WriteTimeout)
	defer cancel()
	return appendIsolating(wctx, w.store, events)
}

// storeUp reports whether the Store answers Ping within WriteTimeout.
func (w *Writer) storeUp(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	defer cancel()
	return w.store.Ping(pctx) == nil
}

// writeEach writes each message of held on its own; a message whose write fails is handed back for a
// delayed redelivery (NakWithDelay), growing with its deliveries up to 64 × MaxRetryDelay.
func (w *Writer) writeEach(ctx context.Context, held []fetched) {
	for _, f := range held {
		statuses, refused, err := w.append(ctx, f.events)
		if err == nil {
			w.settle(ctx, []fetched{f}, statuses, refused)
			continue
		}
		delivered := uint64(1)
		if md, merr := f.msg.Metadata(); merr == nil {
			delivered = md.NumDelivered
		}
		delay := w.cfg.MaxRetryDelay << min(delivered-1, 6)
		w.metrics.retryLater.Inc()
		w.logger.Error("store keeps refusing a buffered message while it is up; retrying it later",
			slog.Int("events", len(f.events)), slog.Uint64("deliveries", delivered),
			slog.Duration("retry_in", delay), slog.Any("error", err))
		if nerr := f.msg.NakWithDelay(delay); nerr != nil {
			w.logger.Warn("nak buffered message; it comes back after the ack wait", slog.Any("error", nerr))
		}
	}
}

// settle acknowledges the messages of a committed batch, after moving the events the store refused to the
// dead-letter stream; statuses and refused are indexed like the concatenation of held's events. A message
// whose dead letter could not be published is handed back for redelivery (its stored events then come back as
// duplicates).
func (w *Writer) settle(ctx context.Context, held []fetched, statuses []logingest.AppendStatus, refused []error) {
	i, inserted, duplicates := 0, 0, 0
	for _, f := range held {
		ok := true
		for j := range f.events {
			switch {
			case refused[i] != nil:
				if err := w.deadLetter(ctx, f.msg, &f.events[j], "invalid", refused[i].Error()); err != nil {
					ok = false
				}
			case statuses[i] == logingest.AppendDuplicate:
				duplicates++
			default:
				inserted++
			}
			i++
		}
		if ok {
			w.ack(f.msg)
		} else {
			_ = f.msg.Nak()
		}
	}
	// Counted once per batch: a label lookup per event costs more than the rest of settle.
	w.metrics.events.WithLabelValues("inserted").Add(float64(inserted))
	w.metrics.events.WithLabelValues("duplicate").Add(float64(duplicates))
}

// decodeMessage returns the events of m: a FormatEventsV1 batch, or one event as JSON (no HeaderFormat).
func decodeMessage(m jetstream.Msg) ([]logingest.Event, error) {
	switch f := m.Headers().Get(HeaderFormat); f {
	case FormatEventsV1:
		evs, err := decodeEvents(m.Data())
		if err == nil && len(evs) == 0 {
			err = errors.New("empty batch")
		}
		for i := range evs {
			if err == nil && evs[i].EventID == "" {
				err = fmt.Errorf("event %d: missing event_id", i)
			}
		}
		return evs, err
	case "":
		var e logingest.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			return nil, err
		}
		if e.EventID == "" {
			return nil, errors.New("missing event_id")
		}
		return []logingest.Event{e}, nil
	default:
		return nil, fmt.Errorf("unknown %s %q", HeaderFormat, f)
	}
}

func (w *Writer) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		// The write committed; a lost ack means a redelivery the store reports as duplicate.
		w.logger.Warn("ack buffered event", slog.Any("error", err))
	}
}

// deadLetterMsg moves a message no event could be decoded from to the dead-letter stream, as is, and
// acknowledges it; when the publish fails, m is left for redelivery.
func (w *Writer) deadLetterMsg(ctx context.Context, m jetstream.Msg, reason string) {
	if err := w.deadLetter(ctx, m, nil, "undecodable", reason); err != nil {
		_ = m.Nak()
		return
	}
	w.ack(m)
}

// deadLetter publishes e (as JSON), or m's body when e is nil, to the dead-letter stream with reason. The
// caller acknowledges m.
func (w *Writer) deadLetter(ctx context.Context, m jetstream.Msg, e *logingest.Event, kind, reason string) error {
	data := m.Data()
	if e != nil {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode dead letter: %w", err)
		}
		data = b
	}
	dl := &nats.Msg{Subject: w.cfg.DeadLetterSubject, Data: data, Header: nats.Header{}}
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
		return err
	}
	w.logger.Warn("event moved to the dead-letter stream", slog.String("stream", w.cfg.DeadLetterStream),
		slog.String("reason", reason), slog.String("event_id", dl.Header.Get(HeaderEventID)),
		slog.String("source", dl.Header.Get(HeaderSource)))
	w.metrics.deadLetters.WithLabelValues(kind).Inc()
	w.metrics.events.WithLabelValues("dead_letter").Inc()
	return nil
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
