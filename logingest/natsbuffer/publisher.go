package natsbuffer

import (
	"context"
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
	js      jetstream.JetStream
	val     *logingest.Validator
	cfg     Config
	logger  *slog.Logger
	metrics *publishMetrics
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
	return &Publisher{js: js, val: val, cfg: c, logger: c.Logger, metrics: m}, nil
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
	futures := make([]jetstream.PubAckFuture, len(prep.Valid))
	for j := range prep.Valid {
		e := &prep.Valid[j]
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("natsbuffer: encode event: %w", err)
		}
		msg := &nats.Msg{Subject: p.cfg.Subject, Data: data, Header: nats.Header{}}
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID(e.Source, e.EventID)))
		if err != nil {
			return nil, p.publishError(err)
		}
		futures[j] = f
	}
	for j, f := range futures {
		select {
		case ack := <-f.Ok():
			r := &res.Results[prep.Index[j]]
			if ack.Duplicate {
				r.Status = logingest.StatusDuplicate
				res.Duplicates++
				p.metrics.events.WithLabelValues("duplicate").Inc()
			} else {
				r.Status = logingest.StatusAccepted
				res.Accepted++
				p.metrics.events.WithLabelValues("accepted").Inc()
			}
		case err := <-f.Err():
			return nil, p.publishError(err)
		case <-ctx.Done():
			p.metrics.requests.WithLabelValues("canceled").Inc()
			return nil, ctx.Err()
		}
	}
	p.metrics.requests.WithLabelValues("ok").Inc()
	return res, nil
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
