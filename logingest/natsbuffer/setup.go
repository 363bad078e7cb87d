package natsbuffer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

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
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "logingest: events accepted and not yet written to the store",
		Subjects:    []string{c.Subject},
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

// msgID is the Nats-Msg-Id of an event: a digest of (source, event_id), so any source and event id make a
// valid header value of fixed length (128 bits of SHA-256).
func msgID(source, eventID string) string {
	h := sha256.New()
	h.Write(binary.AppendUvarint(nil, uint64(len(source)))) // length-prefixed: no two pairs share an encoding
	h.Write([]byte(source))
	h.Write([]byte(eventID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
