package natsbuffer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/change66/logserver/logingest"
)

// jsErrStoreFailed is JetStream's error code for a message the stream could not store, which is what a
// DiscardNew stream answers when MaxBytes or MaxEvents is reached.
const jsErrStoreFailed jetstream.ErrorCode = 10077

// Publisher validates events and publishes them to the buffer stream. It provides the Ingest method of an httpapi
// Backend (and its optional MaxBatchSize); pair it with the Store reads go to. A Publisher is safe for concurrent use.
type Publisher struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	subjects []string // by partition
	val      *logingest.Validator
	cfg      Config
	logger   *slog.Logger
	metrics  *publishMetrics
}

// NewPublisher returns a Publisher on nc that validates with val, after creating or updating the streams
// (Setup). A nil cfg uses the defaults. The caller owns nc and closes it after the last Ingest returned.
func NewPublisher(ctx context.Context, nc *nats.Conn, val *logingest.Validator, cfg *Config) (*Publisher, error) {
	if nc == nil || val == nil {
		return nil, errors.New("natsbuffer: connection and validator must not be nil")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("natsbuffer: invalid config: %w", err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(c.MaxPendingPublishes),
		jetstream.WithPublishAsyncTimeout(c.PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("natsbuffer: %w", err)
	}
	if _, err := setup(ctx, js, c); err != nil {
		return nil, err
	}
	m, err := newPublishMetrics(c.Registerer)
	if err != nil {
		return nil, err
	}
	return &Publisher{nc: nc, js: js, subjects: c.subjects(), val: val, cfg: c, logger: c.Logger, metrics: m}, nil
}

// MaxBatchSize returns the most events one Ingest call accepts (the Validator's).
func (p *Publisher) MaxBatchSize() int { return p.val.MaxBatchSize() }

// Ingest validates events as logingest.Ingester.Ingest does, publishes the valid ones and returns once
// JetStream acknowledged each of them, with one Result per event in input order. See the package
// documentation for what accepted and duplicate mean here. Whole-call errors: a *logingest.LimitError for an
// empty or oversized batch; an error matching logingest.ErrOverloaded when the stream is full; one matching
// logingest.ErrUnavailable when JetStream cannot be reached or does not acknowledge in Config.PublishTimeout;
// ctx.Err() when ctx ends first. After any of the last three, some events may be in the stream; a retry is safe.
func (p *Publisher) Ingest(ctx context.Context, source string, events []logingest.Event) (*logingest.BatchResult, error) {
	prep, err := p.val.Prepare(source, events)
	if err != nil {
		p.metrics.requests.WithLabelValues("invalid").Inc()
		return nil, err
	}
	res := prep.Result
	if len(prep.Valid) == 0 {
		p.metrics.requests.WithLabelValues("ok").Inc()
		return res, nil
	}
	if p.cfg.PerEventMessages {
		err = p.publishEach(ctx, prep)
	} else {
		err = p.publishBatches(ctx, prep)
	}
	if err != nil {
		return nil, err
	}
	p.metrics.requests.WithLabelValues("ok").Inc()
	return res, nil
}

// publishEach publishes every valid event as one JSON message with its own Nats-Msg-Id and fills in their
// results from the acknowledgements (PerEventMessages).
func (p *Publisher) publishEach(ctx context.Context, prep *logingest.Prepared) error {
	futures := make([]jetstream.PubAckFuture, len(prep.Valid))
	for j := range prep.Valid {
		e := &prep.Valid[j]
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("natsbuffer: encode event: %w", err)
		}
		msg := &nats.Msg{Subject: p.subjects[partitionOf(e, len(p.subjects))], Data: data, Header: nats.Header{}}
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID(e.Source, e.EventID)))
		if err != nil {
			return p.publishError(err)
		}
		futures[j] = f
	}
	for j, f := range futures {
		dup, err := p.await(ctx, f)
		if err != nil {
			return err
		}
		p.settle(prep.Result, prep.Index[j], dup)
	}
	return nil
}

// chunk is one batch message of a request: the positions in Prepared.Valid of the events it carries.
type chunk struct {
	events []int
	future jetstream.PubAckFuture
}

// publishBatches publishes the valid events as FormatEventsV1 messages, one per partition (more when one
// would exceed the server's max payload), and fills in their results. A repeat of an event id within the
// request is answered duplicate without being sent, as the Store would answer it.
func (p *Publisher) publishBatches(ctx context.Context, prep *logingest.Prepared) error {
	n := len(p.subjects)
	parts := make([][]int, n)
	seen := make(map[string]int, len(prep.Valid))
	for j := range prep.Valid {
		e := &prep.Valid[j]
		if _, dup := seen[e.EventID]; dup { // one source per request: the event id is the key
			p.settle(prep.Result, prep.Index[j], true)
			continue
		}
		seen[e.EventID] = j
		pt := partitionOf(e, n)
		parts[pt] = append(parts[pt], j)
	}
	limit := int(p.nc.MaxPayload()) - payloadHeadroom
	var chunks []chunk
	for pt, idx := range parts {
		for len(idx) > 0 {
			// Fill the message up to limit; an event too large on its own goes alone, for the server to refuse.
			size, k := len(batchMagic)+binary.MaxVarintLen64, 0
			for k < len(idx) {
				s := encodedSize(&prep.Valid[idx[k]])
				if k > 0 && size+s > limit {
					break
				}
				size += s
				k++
			}
			c := chunk{events: idx[:k]}
			idx = idx[k:]
			evs := make([]logingest.Event, len(c.events))
			for i, j := range c.events {
				evs[i] = prep.Valid[j]
			}
			msg := &nats.Msg{Subject: p.subjects[pt], Data: appendEvents(make([]byte, 0, size), evs), Header: nats.Header{}}
			msg.Header.Set(HeaderFormat, FormatEventsV1)
			f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(batchMsgID(evs)))
			if err != nil {
				return p.publishError(err)
			}
			c.future = f
			chunks = append(chunks, c)
		}
	}
	for _, c := range chunks {
		dup, err := p.await(ctx, c.future)
		if err != nil {
			return err
		}
		for _, j := range c.events {
			p.settle(prep.Result, prep.Index[j], dup)
		}
	}
	return nil
}

// payloadHeadroom is what a batch message leaves of the server's max payload for its headers.
const payloadHeadroom = 1024

// await waits for one publish acknowledgement and reports whether JetStream found it a duplicate.
func (p *Publisher) await(ctx context.Context, f jetstream.PubAckFuture) (duplicate bool, err error) {
	select {
	case ack := <-f.Ok():
		return ack.Duplicate, nil
	case err := <-f.Err():
		return false, p.publishError(err)
	case <-ctx.Done():
		p.metrics.requests.WithLabelValues("canceled").Inc()
		return false, ctx.Err()
	}
}

// settle records the outcome of the event at input position i.
func (p *Publisher) settle(res *logingest.BatchResult, i int, duplicate bool) {
	r := &res.Results[i]
	if duplicate {
		r.Status = logingest.StatusDuplicate
		res.Duplicates++
		p.metrics.events.WithLabelValues("duplicate").Inc()
		return
	}
	r.Status = logingest.StatusAccepted
	res.Accepted++
	p.metrics.events.WithLabelValues("accepted").Inc()
}

// publishError maps a publish failure onto the logingest sentinels.
func (p *Publisher) publishError(err error) error {
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); ok && apiErr.ErrorCode == jsErrStoreFailed {
		p.metrics.requests.WithLabelValues("full").Inc()
		return fmt.Errorf("buffer stream %s is full (%s): %w", p.cfg.Stream, apiErr.Description, logingest.ErrOverloaded)
	}
	p.metrics.requests.WithLabelValues("unavailable").Inc()
	return fmt.Errorf("publish to buffer stream %s: %w: %w", p.cfg.Stream, logingest.ErrUnavailable, err)
}
