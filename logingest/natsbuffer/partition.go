package natsbuffer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"strconv"

	"github.com/change66/logserver/logingest"
)

// partitionOf returns the partition (0 ≤ p < n) of e: a hash of its source and user, so one user's events
// share a partition and keep their publication order in it. Events without a user are spread by session,
// and without a session by event id. The mapping is stable across releases and processes (FNV-1a), so every
// replica sends a user to the same partition.
func partitionOf(e *logingest.Event, n int) int {
	if n <= 1 {
		return 0
	}
	key := e.UserID
	switch {
	case key != "":
		key = "u" + key
	case e.SessionID != "":
		key = "s" + e.SessionID
	default:
		key = "e" + e.EventID
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(e.Source))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	return int(h.Sum64() % uint64(n)) //nolint:gosec // n ≤ maxPartitions
}

// subjects returns the subject of each partition: Subject alone when there is one, Subject.<p> otherwise.
func (c Config) subjects() []string {
	if c.Partitions <= 1 {
		return []string{c.Subject}
	}
	out := make([]string, c.Partitions)
	for p := range out {
		out[p] = c.Subject + "." + strconv.Itoa(p)
	}
	return out
}

// streamSubjects are the subjects the stream needs: Subject, and Subject.* with partitions (Subject stays, so
// messages published before partitions were enabled, or by a replica not yet restarted, are still stored and
// drained). setup keeps the subjects an existing stream has beyond these.
func (c Config) streamSubjects() []string {
	if c.Partitions <= 1 {
		return []string{c.Subject}
	}
	return []string{c.Subject, c.Subject + ".*"}
}

// consumerName is the durable consumer of partition p: Consumer alone without partitions, Consumer-<p> with.
func (c Config) consumerName(p int) string {
	if c.Partitions <= 1 {
		return c.Consumer
	}
	return c.Consumer + "-" + strconv.Itoa(p)
}

// batchMsgID is the Nats-Msg-Id of a batch message: msgID of its event when it carries one (so a single
// event is de-duplicated exactly as a per-event message is), otherwise "b" + 128 bits of SHA-256 over the
// source and the event ids in order. A resend of the same request builds the same messages, hence the same
// ids.
func batchMsgID(events []logingest.Event) string {
	if len(events) == 1 {
		return msgID(events[0].Source, events[0].EventID)
	}
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	h.Write(binary.AppendUvarint(buf[:0], uint64(len(events[0].Source))))
	h.Write([]byte(events[0].Source))
	for i := range events {
		h.Write(binary.AppendUvarint(buf[:0], uint64(len(events[i].EventID))))
		h.Write([]byte(events[i].EventID))
	}
	return "b" + hex.EncodeToString(h.Sum(nil)[:16])
}
