package natsbuffer

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 30, 14, 3, 4, 123456789, time.UTC)
	full := logingest.Event{
		EventID:           "e-1",
		Timestamp:         ts,
		EventType:         logingest.EventTypeBehavioral,
		EventName:         "screen_view",
		Properties:        json.RawMessage(`{"screen":"home","n":[1,2]}`),
		UserID:            "u1",
		SessionID:         "s1",
		AppVersion:        "1.2.3",
		DeviceInfo:        json.RawMessage(`{"os":"android"}`),
		SequenceNumber:    new(int64(-42)),
		Priority:          logingest.Priority("high"),
		SentAt:            ts.Add(time.Second).In(time.FixedZone("", 2*3600)),
		OriginalTimestamp: ts.Add(-time.Hour).In(time.FixedZone("", -5*3600-1800)),
		Source:            "app-prod",
		ReceivedAt:        ts.Add(2 * time.Second),
	}
	minimal := logingest.Event{EventID: "e-2", Timestamp: ts.Add(-200 * 365 * 24 * time.Hour), EventName: "x", Source: "s"}
	zeroSeq := full
	zeroSeq.SequenceNumber = new(int64(0))
	in := []logingest.Event{full, minimal, zeroSeq}

	got, err := decodeEvents(appendEvents(nil, in))
	require.NoError(t, err)
	require.Len(t, got, len(in))
	for i := range in {
		want := in[i]
		// JSON is the reference: what the per-event format carries, the batch format carries.
		wj, err := json.Marshal(want)
		require.NoError(t, err)
		gj, err := json.Marshal(got[i])
		require.NoError(t, err)
		require.JSONEq(t, string(wj), string(gj), "event %d", i)
		require.True(t, want.Timestamp.Equal(got[i].Timestamp))
		_, wantOff := want.OriginalTimestamp.Zone()
		_, gotOff := got[i].OriginalTimestamp.Zone()
		require.Equal(t, wantOff, gotOff, "event %d keeps its zone offset", i)
	}
	require.Nil(t, got[1].SequenceNumber, "absent sequence number stays absent")
	require.Equal(t, int64(0), *got[2].SequenceNumber, "0 stays apart from absent")
	require.Nil(t, got[1].Properties)

	enc := appendEvents(nil, in)
	size := len(batchMagic) + 1
	for i := range in {
		size += encodedSize(&in[i])
	}
	require.LessOrEqual(t, len(enc), size, "encodedSize is an upper bound")
}

func TestDecodeEventsRefusesCorruptBodies(t *testing.T) {
	t.Parallel()
	good := appendEvents(nil, events("c", 3))
	for name, body := range map[string][]byte{
		"empty":          {},
		"json":           []byte(`{"event_id":"x"}`),
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"huge count":     append(append([]byte{}, batchMagic[:]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"long field":     append(append([]byte{}, batchMagic[:]...), 1, 0xff, 0x7f),
	} {
		_, err := decodeEvents(body)
		require.ErrorIs(t, err, errCorrupt, name)
	}
}

// FuzzDecodeEvents: any body decodes or fails without panicking, and what decodes re-encodes to a body that
// decodes to the same events.
func FuzzDecodeEvents(f *testing.F) {
	f.Add(appendEvents(nil, events("f", 2)))
	f.Add(appendEvents(nil, nil))
	f.Add([]byte("LGE\x01\x01"))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := decodeEvents(body)
		if err != nil {
			return
		}
		again, err := decodeEvents(appendEvents(nil, evs))
		require.NoError(t, err)
		require.Len(t, again, len(evs))
		for i := range evs {
			a, err := json.Marshal(evs[i])
			require.NoError(t, err)
			b, err := json.Marshal(again[i])
			require.NoError(t, err)
			require.Equal(t, string(a), string(b))
		}
	})
}

func TestPartitionOfIsStableAndSpread(t *testing.T) {
	t.Parallel()
	e := logingest.Event{Source: "app", UserID: "u1", SessionID: "s9", EventID: "e1"}
	p := partitionOf(&e, 8)
	for i := range 20 {
		e.EventID = string(rune('a' + i))
		e.SessionID = string(rune('A' + i))
		require.Equal(t, p, partitionOf(&e, 8), "a user's events share a partition")
	}
	require.Equal(t, 0, partitionOf(&e, 1))
	seen := map[int]int{}
	for i := range 4000 {
		u := logingest.Event{Source: "app", UserID: "user-" + string(rune(i))}
		seen[partitionOf(&u, 8)]++
	}
	require.Len(t, seen, 8)
	for p, n := range seen {
		require.InDelta(t, 500, n, 150, "partition %d", p)
	}
	c := (&Config{Partitions: 3}).withDefaults()
	require.Equal(t, []string{"logingest.events.0", "logingest.events.1", "logingest.events.2"}, c.subjects())
	require.Equal(t, "logingest-writers-2", c.consumerName(2))
	one := (*Config)(nil).withDefaults()
	require.Equal(t, []string{"logingest.events"}, one.subjects())
	require.Equal(t, []string{"logingest.events"}, one.streamSubjects())
	require.Equal(t, "logingest-writers", one.consumerName(0))
}
