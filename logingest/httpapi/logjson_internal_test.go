package httpapi

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestAppendLogJSONMatchesMarshal checks that export's hand-written encoder writes exactly what json.Marshal
// writes for the same log object (the bytes of /logs/filter's events), on the test data and on values that
// need escaping or compaction.
func TestAppendLogJSONMatchesMarshal(t *testing.T) {
	t.Parallel()
	var events []logingest.Event
	f, err := os.Open("../../testdata/events.ndjson")
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	recv := time.Date(2026, 11, 30, 13, 0, 0, 123456789, time.UTC)
	for i := 0; sc.Scan(); i++ {
		var e logingest.Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		e.ID, e.Source, e.ReceivedAt = int64(i+1), "app", recv.Add(time.Duration(i)*time.Millisecond)
		events = append(events, e)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, events)

	seq := int64(-7)
	odd := "a<b>&c\"d\\e\x00\x01\b\f\n\r\t\x1f\x7f é \u2028 \u2029 \xff\xfe end"
	events = append(events,
		logingest.Event{ // every optional field absent
			ID: 1 << 40, EventID: "e", EventType: logingest.EventTypeError, EventName: "n", Priority: logingest.PriorityHigh,
			Timestamp: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), ReceivedAt: recv,
		},
		logingest.Event{ // every string and object in need of escaping; PostgreSQL's jsonb spacing
			ID: 2, EventID: odd, EventType: logingest.EventType(odd), EventName: odd, UserID: odd, SessionID: odd,
			AppVersion: odd, Source: odd, Priority: logingest.Priority(odd), SequenceNumber: &seq,
			Timestamp:  time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600)),
			ReceivedAt: recv, ProcessedAt: recv.Add(time.Second), OriginalTimestamp: recv.Add(-time.Hour),
			Properties: json.RawMessage("{\"a <&> \\\" b\": [1, 2.5e3, true, null, {\"c\" :\t\"d \\u2028 \u2028 \u2029 x\"}],\n\r \"e\": \"  \"}"),
			DeviceInfo: json.RawMessage(` { "platform" : "ios" , "model": "\\\\" } `),
		},
	)
	for i := range events {
		want, err := json.Marshal(toLogObject(&events[i]))
		require.NoError(t, err)
		got, err := appendLogJSON([]byte("prefix"), &events[i])
		require.NoError(t, err)
		require.Equal(t, "prefix"+string(want), string(got), "event %d", i)
	}

	// Not servable: the same error as json.Marshal, never invalid JSON.
	bad := logingest.Event{ReceivedAt: recv, Properties: json.RawMessage(`{"a":`)}
	_, err = appendLogJSON(nil, &bad)
	require.Error(t, err)
	bad = logingest.Event{ReceivedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, err = appendLogJSON(nil, &bad)
	require.Error(t, err)
}
