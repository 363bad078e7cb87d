package natsbuffer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of dead-letter messages.
const (
	HeaderReason   = "Logingest-Reason"
	HeaderSource   = "Logingest-Source"
	HeaderEventID  = "Logingest-Event-Id"
	HeaderOrigSeq  = "Logingest-Stream-Seq"
	headerDeadTime = "Logingest-Dead-At"
)

// Setup creates the buffer's streams, or updates them to cfg (replicas, limits, de-duplication window). It is
// idempotent; NewPublisher and NewWriter call it. A nil cfg uses the defaults.
func Setup(ctx context.Context, nc *nats.Conn, cfg *Config) error {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return fmt.Errorf("natsbuffer: invalid config: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natsbuffer: %w", err)
	}
	_, err = setup(ctx, js, c)
	return err
}

func setup(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.Stream, error) {
	subjects := c.streamSubjects()
	// Subjects are only ever added: a process started with fewer partitions than the others must not make
	// their publishes fail (the consumers' filters decide who drains what).
	if old, err := js.Stream(ctx, c.Stream); err == nil {
		for _, sub := range old.CachedInfo().Config.Subjects {
			if !slices.Contains(subjects, sub) {
				subjects = append(subjects, sub)
			}
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("natsbuffer: look up stream %s: %w", c.Stream, err)
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "logingest: events accepted and not yet written to the store",
		Subjects:    subjects,
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    c.MaxBytes,
		MaxMsgs:     c.MaxEvents,
		Duplicates:  c.DuplicateWindow,
		Replicas:    c.Replicas,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbuffer: create stream %s: %w", c.Stream, err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.DeadLetterStream,
		Description: "logingest: events the store refused, with the reason",
		Subjects:    []string{c.DeadLetterSubject},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.DeadLetterMaxAge,
		MaxBytes:    c.MaxBytes,
		Duplicates:  c.DuplicateWindow,
		Replicas:    c.Replicas,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbuffer: create stream %s: %w", c.DeadLetterStream, err)
	}
	return s, nil
}

// setupConsumers creates or updates the durable consumers of c on stream s and returns those a Writer pulls:
// the partitions of c.WriterPartitions (every partition when nil) and, with the first partition, the
// consumer of the base subject (Partitions > 1) and the consumers of partitions above Partitions that still
// hold events. Consumers of partitions that no longer exist are deleted once empty.
//
// A work-queue stream refuses consumers whose subjects overlap, so an unfiltered consumer (Partitions 1) and
// partition consumers cannot coexist: changing Partitions requires the consumers being replaced to be empty,
// and setupConsumers otherwise fails with an error that says so.
func setupConsumers(ctx context.Context, s jetstream.Stream, c Config) ([]jetstream.Consumer, error) {
	existing := map[string]*jetstream.ConsumerInfo{}
	lister := s.ListConsumers(ctx)
	for ci := range lister.Info() {
		existing[ci.Name] = ci
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("natsbuffer: list consumers of %s: %w", c.Stream, err)
	}
	var stale []string
	for name, ci := range existing {
		p, ok := c.partitionOfConsumer(name)
		if !ok || (c.Partitions > 1 && p < c.Partitions) {
			continue
		}
		if ci.NumPending+uint64(ci.NumAckPending) == 0 { //nolint:gosec // NumAckPending ≥ 0
			if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, fmt.Errorf("natsbuffer: delete empty consumer %s: %w", name, err)
			}
			delete(existing, name)
			continue
		}
		if c.Partitions == 1 {
			return nil, fmt.Errorf("natsbuffer: consumer %s of a former partition still holds %d events; "+
				"drain it with the former Partitions (INGEST_BUFFER_PARTITIONS) before lowering them to 1",
				name, ci.NumPending+uint64(ci.NumAckPending)) //nolint:gosec // NumAckPending ≥ 0
		}
		stale = append(stale, name)
	}
	slices.Sort(stale)

	filter := "" // Partitions 1: the single consumer takes the whole stream, as before partitions existed
	if c.Partitions > 1 {
		filter = c.Subject
	}
	base, err := ensureConsumer(ctx, s, c, c.Consumer, filter, existing[c.Consumer])
	if err != nil {
		return nil, err
	}
	parts := make([]jetstream.Consumer, c.Partitions)
	parts[0] = base
	if c.Partitions > 1 {
		subjects := c.subjects()
		for p := range parts {
			if parts[p], err = ensureConsumer(ctx, s, c, c.consumerName(p), subjects[p], existing[c.consumerName(p)]); err != nil {
				return nil, err
			}
		}
	}
	pull := c.WriterPartitions
	if pull == nil {
		pull = make([]int, c.Partitions)
		for p := range pull {
			pull[p] = p
		}
	}
	var out []jetstream.Consumer
	for _, p := range pull {
		out = append(out, parts[p])
		if p != 0 || c.Partitions == 1 {
			continue
		}
		out = append(out, base)
		for _, name := range stale {
			cons, err := s.Consumer(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("natsbuffer: consumer %s: %w", name, err)
			}
			out = append(out, cons)
		}
	}
	return out, nil
}

// partitionOfConsumer reports whether name is one of c's consumers (Consumer, or Consumer-<p>) and its
// partition (0 for Consumer).
func (c Config) partitionOfConsumer(name string) (int, bool) {
	if name == c.Consumer {
		return 0, false // the base consumer is never stale
	}
	rest, ok := strings.CutPrefix(name, c.Consumer+"-")
	if !ok {
		return 0, false
	}
	p, err := strconv.Atoi(rest)
	if err != nil || p < 0 || strconv.Itoa(p) != rest {
		return 0, false
	}
	return p, true
}

// ensureConsumer creates or updates the durable consumer name with filter subject filter ("" for the whole
// stream). An existing consumer whose filter cannot be changed in place is deleted and created anew when it
// holds no events.
func ensureConsumer(
	ctx context.Context, s jetstream.Stream, c Config, name, filter string, existing *jetstream.ConsumerInfo,
) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "logingest writers: append buffered events to the store",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1, // an outage must never drop events; poison messages are dead-lettered instead
		MaxAckPending: c.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: filter,
		Replicas:      0, // as the stream
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, cfg)
	if err == nil {
		return cons, nil
	}
	if existing == nil || existing.Config.FilterSubject == filter {
		return nil, fmt.Errorf("natsbuffer: create consumer %s: %w", name, err)
	}
	if held := existing.NumPending + uint64(existing.NumAckPending); held > 0 { //nolint:gosec // NumAckPending ≥ 0
		return nil, fmt.Errorf("natsbuffer: consumer %s holds %d events and its subject filter cannot change "+
			"from %q to %q (Partitions changed): drain it with the former configuration first: %w",
			name, held, existing.Config.FilterSubject, filter, err)
	}
	if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("natsbuffer: replace consumer %s: %w", name, err)
	}
	if cons, err = s.CreateOrUpdateConsumer(ctx, cfg); err != nil {
		return nil, fmt.Errorf("natsbuffer: create consumer %s: %w", name, err)
	}
	return cons, nil
}

// msgID is the Nats-Msg-Id of an event: a digest of (source, event_id), so any source and event id make a
// valid header value of fixed length (128 bits of SHA-256).
func msgID(source, eventID string) string {
	h := sha256.New()
	h.Write(binary.AppendUvarint(nil, uint64(len(source)))) // length-prefixed: no two pairs share an encoding
	h.Write([]byte(source))
	h.Write([]byte(eventID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
