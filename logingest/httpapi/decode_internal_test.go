package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// testLimits are the limits the decode tests and fuzz targets run under: small, so the fuzzer reaches them.
var testLimits = batchLimits{maxEvents: 8, maxEventBytes: 512}

// TestDecodeBatchFastMatchesPerElement: the one-Unmarshal fast path must produce exactly the events the
// per-element path produces, and must step aside for every batch the per-element path treats specially.
func TestDecodeBatchFastMatchesPerElement(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../../testdata/batch-50.json")
	require.NoError(t, err)
	lim := batchLimits{maxEvents: 1000, maxEventBytes: 1 << 20}

	env, err := walkEnvelope(body, lim)
	require.NoError(t, err)
	fast, ok := decodeBatchFast(env, lim)
	require.True(t, ok)
	require.Len(t, fast, 50)
	slow := decodeBatchSlow(env, lim)
	require.Equal(t, fast, slow.events)

	for _, body := range []string{
		`{"logs":[null]}`,
		`{"logs":[1]}`,
		`{"logs":[{"event_id":"a","timestamp":"yesterday"}]}`,
		`{"logs":[{"event_id":"a","sequence_number":"one"}]}`,
		`{"logs":[{"event_id":"a","properties":{"pad":"` + strings.Repeat("x", 600) + `"}}]}`, // over maxEventBytes
	} {
		env, err := walkEnvelope([]byte(body), testLimits)
		require.NoError(t, err, body)
		_, ok := decodeBatchFast(env, testLimits)
		require.False(t, ok, body)
		b := decodeBatch(env, testLimits)
		require.Empty(t, b.events, body)
		require.Equal(t, logingest.StatusRejected, b.results[0].Status, body)
		require.NotEmpty(t, b.results[0].Errors, body)
	}

	// A batch mixing good and bad elements goes the per-element way and keeps the good ones.
	mixed := `{"logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"},{"event_id":"b","timestamp":5}]}`
	env, err = walkEnvelope([]byte(mixed), testLimits)
	require.NoError(t, err)
	b := decodeBatch(env, testLimits)
	require.Len(t, b.events, 1)
	require.Equal(t, []int{0}, b.positions)
	require.Equal(t, "b", b.results[1].EventID)
	require.NotEmpty(t, b.results[1].Errors)
}

// TestWalkEnvelope: the envelope walk finds the elements encoding/json would, and answers whole-request
// problems with the field and the limit.
func TestWalkEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		elements   []string // want these elements, or
		field      string   // want an error naming this field
		limit      int64    // and, for a *LimitError, this limit
	}{
		{"one", `{"logs":[{"a":1}]}`, []string{`{"a":1}`}, "", 0},
		{"spaces", " {\n \"logs\" : [ {} ,\t\"x\\\"]\" , [1,[2]] ] , \"other\":{\"logs\":5} } ", []string{`{}`, `"x\"]"`, `[1,[2]]`}, "", 0},
		{"case-insensitive key", `{"LoGs":[1]}`, []string{`1`}, "", 0},
		{"escaped key", `{"l\u006fgs":[2]}`, []string{`2`}, "", 0},
		{"last logs wins", `{"logs":[1],"logs":[2,3]}`, []string{`2`, `3`}, "", 0},
		{"null resets", `{"logs":[1],"logs":null}`, nil, fieldLogs, 0},
		{"not an array", `{"logs":{}}`, nil, fieldLogs, 0},
		{"not an array, then one", `{"logs":"x","logs":[1]}`, nil, fieldLogs, 0},
		{"empty", `{"logs":[]}`, nil, fieldLogs, 0},
		{"missing", `{"log":[1]}`, nil, fieldLogs, 0},
		{"not an object", `[{"logs":[1]}]`, nil, fieldBody, 0},
		{"invalid JSON", `{"logs":[1,]}`, nil, fieldBody, 0},
		{"blank", " \n", nil, fieldBody, 0},
		{"at the limit", `{"logs":[1,2,3,4,5,6,7,8]}`, []string{"1", "2", "3", "4", "5", "6", "7", "8"}, "", 0},
		{"over the limit", `{"logs":[1,2,3,4,5,6,7,8,9]}`, nil, fieldLogs, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, err := walkEnvelope([]byte(tt.body), testLimits)
			if tt.field != "" {
				require.Error(t, err)
				p := classify(err)
				require.Equal(t, 400, p.status)
				require.Equal(t, tt.field, p.errors[0].Field)
				require.Equal(t, tt.limit, p.limit)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, e := range env.logs {
				got = append(got, string(e))
			}
			require.Equal(t, tt.elements, got)
			requireWalkMatchesJSON(t, []byte(tt.body), env)
		})
	}
}

// requireWalkMatchesJSON checks a successful walk against encoding/json's reading of the same envelope.
func requireWalkMatchesJSON(t *testing.T, body []byte, env batchEnvelope) {
	t.Helper()
	var ref struct {
		Logs []json.RawMessage `json:"logs"`
	}
	require.NoError(t, json.Unmarshal(body, &ref), "encoding/json refuses an envelope the walk accepted")
	require.Len(t, env.logs, len(ref.Logs))
	for i := range ref.Logs {
		require.Equal(t, string(ref.Logs[i]), string(env.logs[i]), "element %d", i)
	}
}

// TestWalkEnvelopeStopsAtTheLimit is case 1 of issue 14 at the decoder: a body of millions of empty events is
// refused at element MaxBatchSize+1 without allocating per element (the old decoder allocated every one of
// them, 1.5 GiB for a 10 MiB body).
func TestWalkEnvelopeStopsAtTheLimit(t *testing.T) { //nolint:paralleltest // it measures the process's allocations
	var b bytes.Buffer
	b.WriteString(`{"logs":[`)
	for i := range 3_500_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("{}")
	}
	b.WriteString("]}")
	body := b.Bytes()
	lim := batchLimits{maxEvents: 1000, maxEventBytes: 1 << 20}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := walkEnvelope(body, lim)
	runtime.ReadMemStats(&after)
	le, ok := errors.AsType[*logingest.LimitError](err)
	require.True(t, ok, "got %v", err)
	require.Equal(t, fieldLogs, le.Field)
	require.EqualValues(t, 1000, le.Limit)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte body of 3.5 million empty events: refused after allocating %d bytes", len(body), allocated)
	require.Less(t, allocated, uint64(256<<10), "the walk allocates only the element index, up to the limit")
}

func TestDecodedSizeCountsWhatEventsHold(t *testing.T) {
	t.Parallel()
	small := decodedSize([]logingest.Event{{EventID: "a"}})
	big := decodedSize([]logingest.Event{{EventID: "a", Properties: make(json.RawMessage, 1000), UserID: strings.Repeat("u", 100)}})
	require.Equal(t, eventSize+1, small)
	require.Equal(t, small+1100, big)
	require.Positive(t, decodeCost(10, 1)-10, "every element costs its struct as well as its bytes")
}

// FuzzDecodeBatch: for any body, the envelope walk agrees with encoding/json on the elements, the fast and the
// per-element decoding paths agree on every event and rejection, and limits hold.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`{"logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"x"}]}`,
		`{"logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"},{"event_id":"b","timestamp":5}]}`,
		`{"logs":[null,1,"x",[],{}]}`,
		`{"LOGS":[{"event_id":"\u00e9","properties":{"a":[1,{"b":null}]},"device_info":{}}]}`,
		`{"logs":[{"sequence_number":1e400}]}`,
		`{"logs":[{"event_id":"a\xffb","user_id":"\ud800"}]}`,
		`{"logs":[1],"logs":[2]}`,
		`{"logs":[1,2,3,4,5,6,7,8,9]}`,
		`{"logs":[{"timestamp":"0000-01-01T00:00:00+01:00"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := walkEnvelope(body, testLimits)
		if err != nil {
			p := classify(err)
			if p.status != 400 || len(p.errors) == 0 {
				t.Fatalf("walk error %v is answered %d without naming a field", err, p.status)
			}
			return
		}
		if len(env.logs) == 0 || len(env.logs) > testLimits.maxEvents {
			t.Fatalf("walk returned %d elements (limit %d)", len(env.logs), testLimits.maxEvents)
		}
		requireWalkMatchesJSON(t, body, env)

		slow := decodeBatchSlow(env, testLimits)
		if len(slow.results) != len(env.logs) || len(slow.events) != len(slow.positions) {
			t.Fatalf("slow path: %d results, %d events, %d positions for %d elements",
				len(slow.results), len(slow.events), len(slow.positions), len(env.logs))
		}
		for i, res := range slow.results {
			if (res.Status == logingest.StatusRejected) == (len(res.Errors) == 0) {
				t.Fatalf("element %d: status %q with errors %v", i, res.Status, res.Errors)
			}
		}
		for j, ev := range slow.events {
			one, errs := decodeEvent(env.logs[slow.positions[j]])
			if errs != nil {
				t.Fatalf("slow path kept element %d that decodes with errors %v", slow.positions[j], errs)
			}
			require.Equal(t, one, ev)
		}
		fast, ok := decodeBatchFast(env, testLimits)
		if !ok {
			return
		}
		require.Equal(t, slow.events, fast, "fast and per-element paths disagree")
		require.Len(t, slow.events, len(env.logs), "the fast path accepted a batch the per-element path rejects part of")
	})
}

// FuzzDecodeEvent: one event decodes the same through the single endpoint and as a one-element batch, on
// both batch paths, and its measured size covers what it holds.
func FuzzDecodeEvent(f *testing.F) {
	single, err := os.ReadFile("../../testdata/single.json")
	require.NoError(f, err)
	for _, s := range []string{
		string(single),
		`{"event_id":"a","timestamp":"2025-08-27T09:00:00.123456789+02:00","received_at":5,"source":[1]}`,
		`{"event_id":"a","timestamp":"2025-08-27"}`,
		`{"event_id":5}`,
		`{"properties":"not an object","priority":"high"}`,
		`{"event_id":"a","Event_ID":"b"}`,
		` {"event_id":"\u0000"} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, errs := decodeEvent(raw)
		body := append(append([]byte(`{"logs":[`), raw...), "]}"...)
		env, err := walkEnvelope(body, batchLimits{maxEvents: 1})
		if err != nil {
			if errs == nil {
				t.Fatalf("the single path accepts %q, the batch envelope refuses it: %v", raw, err)
			}
			return
		}
		if len(env.logs) != 1 || !bytes.Equal(env.logs[0], bytes.Trim(raw, " \t\r\n")) {
			return // raw is not one JSON value (say `{}],"x":[`): not one event
		}
		lim := batchLimits{maxEvents: 1}
		slow := decodeBatchSlow(env, lim)
		if errs != nil {
			require.Equal(t, logingest.StatusRejected, slow.results[0].Status)
			require.Equal(t, errs, slow.results[0].Errors)
			return
		}
		require.Equal(t, []logingest.Event{ev}, slow.events)
		fast, ok := decodeBatchFast(env, lim)
		require.True(t, ok, "a valid event must take the fast path")
		require.Equal(t, []logingest.Event{ev}, fast)
		held := int64(len(ev.EventID) + len(ev.EventName) + len(ev.UserID) + len(ev.SessionID) + len(ev.AppVersion) +
			len(ev.Properties) + len(ev.DeviceInfo))
		require.GreaterOrEqual(t, decodedSize([]logingest.Event{ev}), eventSize+held)
	})
}

// BenchmarkDecodeBatch decodes batch-50 as the handler does (envelope walk, then the fast path); the
// "unmarshal only" baseline is the decoder before issue 14 (one json.Unmarshal of the whole envelope, no walk),
// so the ratio of the two is the cost of decoding under limits.
func BenchmarkDecodeBatch(b *testing.B) {
	body, err := os.ReadFile("../../testdata/batch-50.json")
	require.NoError(b, err)
	lim := batchLimits{maxEvents: 1000, maxEventBytes: 1 << 20}
	b.Run("walk and decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			env, err := walkEnvelope(body, lim)
			if err != nil {
				b.Fatal(err)
			}
			if len(decodeBatch(env, lim).events) != 50 {
				b.Fatal("lost events")
			}
		}
	})
	b.Run("unmarshal only", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var env struct {
				Logs []*wireEvent `json:"logs"`
			}
			if err := json.Unmarshal(body, &env); err != nil || len(env.Logs) != 50 {
				b.Fatal(err)
			}
		}
	})
}

// TestDecodeBatchSentAt: the envelope's sent_at goes to every event without its own, on both decode paths; a bad
// one is a 400 naming sent_at; server-stamped fields in an event are ignored in any form.
func TestDecodeBatchSentAt(t *testing.T) {
	t.Parallel()
	env := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	own := time.Date(2025, 8, 27, 11, 0, 0, 0, time.UTC)
	for name, body := range map[string]string{
		"fast": `{"sent_at":"2025-08-27T12:00:00Z","logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"},` +
			`{"event_id":"b","timestamp":"2025-08-27T09:00:00Z","sent_at":"2025-08-27T13:00:00+02:00"}]}`,
		"per element": `{"logs":[{"event_id":"a","timestamp":"2025-08-27T09:00:00Z"},` +
			`{"event_id":"b","timestamp":"2025-08-27T09:00:00Z","sent_at":"2025-08-27T13:00:00+02:00"},{"event_id":"c","timestamp":5}],` +
			`"sent_at":"2025-08-27T12:00:00Z"}`,
	} {
		e, err := walkEnvelope([]byte(body), testLimits)
		require.NoError(t, err, name)
		b := decodeBatch(e, testLimits)
		require.True(t, env.Equal(b.events[0].SentAt), name)
		require.True(t, own.Equal(b.events[1].SentAt), "%s: an event's own sent_at wins", name)
	}
	_, err := walkEnvelope([]byte(`{"sent_at":"noon","logs":[{"event_id":"a"}]}`), testLimits)
	var verr *logingest.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "sent_at", verr.Errors[0].Field)

	ev, errs := decodeEvent([]byte(`{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","sent_at":5}`))
	require.Equal(t, "a", ev.EventID)
	require.Len(t, errs, 1)
	require.Equal(t, "sent_at", errs[0].Field)
	ev, errs = decodeEvent([]byte(`{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","id":"x","created_at":1,` +
		`"processed_at":true,"original_timestamp":[],"received_at":{}}`))
	require.Nil(t, errs)
	require.Zero(t, ev.ID)
	require.True(t, ev.ProcessedAt.IsZero())
}
