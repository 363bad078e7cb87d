package httpapi

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeBatchFastMatchesPerElement: the one-Unmarshal fast path must produce exactly the events the
// per-element path produces, and must step aside for every batch the per-element path treats specially.
func TestDecodeBatchFastMatchesPerElement(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../../testdata/batch-50.json")
	require.NoError(t, err)

	fast, ok := decodeBatchFast(body)
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
	} {
		_, ok := decodeBatchFast([]byte(body))
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
