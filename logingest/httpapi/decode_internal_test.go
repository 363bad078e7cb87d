package httpapi

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestDecodeBatchFastMatchesPerElement: the one-Unmarshal fast path must produce exactly the events the
// per-element path produces, and must step aside for every batch the per-element path treats specially.
func TestDecodeBatchFastMatchesPerElement(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../../testdata/batch-50.json")
	require.NoError(t, err)

	fast, _, ok := decodeBatchFast(body)
	require.True(t, ok)
	logs, err := decodeEnvelope(body)
	require.NoError(t, err)
	require.Len(t, fast, len(logs))
	for i, raw := range logs {
		ev, errs := decodeEvent(raw)
		require.Nil(t, errs)
		require.Equal(t, ev, fast[i], "event %d", i)
	}

	for _, body := range []string{
		`{"logs":[]}`,
		`{"logs":null}`,
		`{}`,
		`{"logs":[null]}`,
		`{"logs":[1]}`,
		`{"logs":[{"event_id":"a","timestamp":"yesterday"}]}`,
		`{"logs":[{"event_id":"a","sequence_number":"one"}]}`,
		`{"logs":[{"event_id":"a"}`,
		`{"logs":[{"event_id":"a","sent_at":"yesterday"}]}`,
	} {
		_, _, ok := decodeBatchFast([]byte(body))
		require.False(t, ok, body)
	}

	// A batch mixing good and bad elements goes the per-element way and keeps the good ones.
	b, err := decodeBatch([]byte(`{"logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"},{"event_id":"b","timestamp":5}]}`))
	require.NoError(t, err)
	require.Len(t, b.events, 1)
	require.Equal(t, []int{0}, b.positions)
	require.Equal(t, "b", b.results[1].EventID)
	require.NotEmpty(t, b.results[1].Errors)
}

// TestDecodeBatchSentAt: the envelope's sent_at goes to every event without its own, on both decode paths; a bad
// one is a 400 naming sent_at.
func TestDecodeBatchSentAt(t *testing.T) {
	t.Parallel()
	env := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	own := time.Date(2025, 8, 27, 11, 0, 0, 0, time.UTC)
	for name, body := range map[string]string{
		"fast": `{"sent_at":"2025-08-27T12:00:00Z","logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"},` +
			`{"event_id":"b","timestamp":"2025-08-27T09:00:00Z","sent_at":"2025-08-27T13:00:00+02:00"}]}`,
		"per element": `{"sent_at":"2025-08-27T12:00:00Z","logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"},` +
			`{"event_id":"b","timestamp":"2025-08-27T09:00:00Z","sent_at":"2025-08-27T13:00:00+02:00"},{"event_id":"c","timestamp":5}]}`,
	} {
		b, err := decodeBatch([]byte(body))
		require.NoError(t, err, name)
		require.True(t, env.Equal(b.events[0].SentAt), name)
		require.True(t, own.Equal(b.events[1].SentAt), "%s: an event's own sent_at wins", name)
	}
	_, err := decodeBatch([]byte(`{"sent_at":"noon","logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"}]}`))
	var verr *logingest.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "sent_at", verr.Errors[0].Field)

	ev, errs := decodeEvent([]byte(`{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","sent_at":5}`))
	require.Equal(t, "a", ev.EventID)
	require.Len(t, errs, 1)
	require.Equal(t, "sent_at", errs[0].Field)
	// Server-stamped fields in any form are ignored, never a reason to reject the event.
	ev, errs = decodeEvent([]byte(`{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","id":"x","created_at":1,` +
		`"processed_at":true,"original_timestamp":[],"received_at":{}}`))
	require.Nil(t, errs)
	require.Zero(t, ev.ID)
	require.True(t, ev.ProcessedAt.IsZero())
}
