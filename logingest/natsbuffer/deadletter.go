package natsbuffer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetter is one event the writers could not store.
type DeadLetter struct {
	// Seq is its sequence in the dead-letter stream; pass the last one as after to list the next page.
	Seq uint64 `json:"seq"`
	// Time is when it was dead-lettered.
	Time time.Time `json:"time"`
	// Reason is why: the store's error, or why the message could not be decoded.
	Reason string `json:"reason"`
	// Source and EventID identify the event; empty when the message could not be decoded.
	Source  string `json:"source,omitempty"`
	EventID string `json:"event_id,omitempty"`
	// StreamSeq is the event's sequence in the buffer stream.
	StreamSeq uint64 `json:"stream_seq,omitempty"`
	// Data is the message body as published: the event's JSON, unless it was undecodable.
	Data []byte `json:"-"`
}

// DeadLetters returns how many dead letters are held, and up to limit of them with a stream sequence
// greater than after, oldest first. A nil cfg uses the defaults.
func DeadLetters(ctx context.Context, nc *nats.Conn, cfg *Config, after uint64, limit int) (total uint64, page []DeadLetter, err error) {
	c := cfg.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, nil, fmt.Errorf("natsbuffer: %w", err)
	}
	s, err := js.Stream(ctx, c.DeadLetterStream)
	if err != nil {
		return 0, nil, fmt.Errorf("natsbuffer: dead-letter stream %s: %w", c.DeadLetterStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("natsbuffer: dead-letter stream %s: %w", c.DeadLetterStream, err)
	}
	st := info.State
	for seq := max(after+1, st.FirstSeq); seq <= st.LastSeq && len(page) < limit; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted or expired
		}
		if err != nil {
			return 0, nil, fmt.Errorf("natsbuffer: read dead letter %d: %w", seq, err)
		}
		dl := DeadLetter{Seq: m.Sequence, Time: m.Time, Data: m.Data}
		if m.Header != nil {
			dl.Reason = m.Header.Get(HeaderReason)
			dl.Source = m.Header.Get(HeaderSource)
			dl.EventID = m.Header.Get(HeaderEventID)
			dl.StreamSeq, _ = strconv.ParseUint(m.Header.Get(HeaderOrigSeq), 10, 64)
		}
		page = append(page, dl)
	}
	return st.Msgs, page, nil
}
