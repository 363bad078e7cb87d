package logingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

var testNow = time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)

// fakeStore is a Store with func fields; nil funcs fall through to an embedded memstore.
type fakeStore struct {
	*memstore.Store
	AppendFunc func(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error)
}

func (f *fakeStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	if f.AppendFunc != nil {
		return f.AppendFunc(ctx, events)
	}
	return f.Store.Append(ctx, events)
}

// gate is a store wrapper whose Append blocks until released, recording the size of every write.
type gate struct {
	*memstore.Store
	entered chan int      // receives len(events) when an Append starts
	release chan struct{} // each receive lets one Append proceed
	mu      sync.Mutex
	sizes   []int
}

func newGate() *gate {
	return &gate{Store: memstore.New(), entered: make(chan int, 100), release: make(chan struct{})}
}

func (g *gate) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(events))
	g.mu.Unlock()
	g.entered <- len(events)
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Store.Append(ctx, events)
}

type testBundle struct {
	store *memstore.Store
	reg   *prometheus.Registry
}

func setup(t *testing.T, store logingest.Store, cfg *logingest.Config) (*logingest.Ingester, *testBundle) {
	t.Helper()
	b := &testBundle{reg: prometheus.NewPedanticRegistry()}
	if store == nil {
		b.store = memstore.New()
		store = b.store
	}
	if cfg == nil {
		cfg = &logingest.Config{}
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Registerer = b.reg
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	ing, err := logingest.New(store, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ing.Close(context.Background())) })
	return ing, b
}

func validEvent(id string) logingest.Event {
	return logingest.Event{
		EventID:        id,
		Timestamp:      testNow.Add(-time.Hour),
		EventType:      logingest.EventTypeBehavioral,
		EventName:      "habit_completed",
		Properties:     json.RawMessage(`{"habit_id":"10","streak":5}`),
		UserID:         "user-1",
		SessionID:      "session-1",
		AppVersion:     "2.0.1+7",
		DeviceInfo:     json.RawMessage(`{"platform":"ios"}`),
		SequenceNumber: new(int64(1)),
	}
}

func loadTestdata(t *testing.T) []logingest.Event {
	t.Helper()
	data, err := os.ReadFile("../testdata/events.ndjson")
	require.NoError(t, err)
	var out []logingest.Event
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var e logingest.Event
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		out = append(out, e)
	}
	return out
}

func TestIngest(t *testing.T) {
	t.Parallel()

	t.Run("TestdataAcceptedThenDuplicate", func(t *testing.T) {
		t.Parallel()
		ing, b := setup(t, nil, nil)
		events := loadTestdata(t)
		res, err := ing.Ingest(t.Context(), "", events)
		require.NoError(t, err)
		require.Equal(t, len(events), res.Accepted)
		require.Zero(t, res.Duplicates)
		require.Zero(t, res.Rejected)

		res, err = ing.Ingest(t.Context(), "", events)
		require.NoError(t, err)
		require.Equal(t, len(events), res.Duplicates)
		for i, r := range res.Results {
			require.Equal(t, i, r.Index)
			require.Equal(t, events[i].EventID, r.EventID)
			require.Equal(t, logingest.StatusDuplicate, r.Status)
		}

		page, err := b.store.Query(t.Context(), logingest.Filter{Limit: logingest.MaxQueryLimit})
		require.NoError(t, err)
		require.EqualValues(t, len(events), page.Total)
		for _, e := range page.Events {
			require.Equal(t, logingest.DefaultSource, e.Source)
			require.Equal(t, testNow, e.ReceivedAt)
			require.True(t, e.Priority.Valid(), "priority defaulted")
		}
	})

	t.Run("InvalidEventsRejectedIndividually", func(t *testing.T) {
		t.Parallel()
		ing, b := setup(t, nil, nil)
		bad := validEvent("bad")
		bad.EventType = "clicks"
		noID := validEvent("")
		events := []logingest.Event{validEvent("a"), bad, noID, validEvent("b")}
		res, err := ing.Ingest(t.Context(), "src", events)
		require.NoError(t, err)
		require.Equal(t, 2, res.Accepted)
		require.Equal(t, 2, res.Rejected)
		require.Equal(t, logingest.StatusRejected, res.Results[1].Status)
		require.Equal(t, []logingest.FieldError{{
			Field:  "event_type",
			Reason: "must be one of behavioral, telemetry, observability, error, performance",
		}}, res.Results[1].Errors)
		require.Equal(t, "event_id", res.Results[2].Errors[0].Field)

		page, err := b.store.Query(t.Context(), logingest.Filter{Source: "src"})
		require.NoError(t, err)
		require.EqualValues(t, 2, page.Total)
	})

	t.Run("SameIDTwiceInOneCall", func(t *testing.T) {
		t.Parallel()
		ing, _ := setup(t, nil, nil)
		res, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("x"), validEvent("x")})
		require.NoError(t, err)
		require.Equal(t, logingest.StatusAccepted, res.Results[0].Status)
		require.Equal(t, logingest.StatusDuplicate, res.Results[1].Status)
	})

	t.Run("IdempotencyIsPerSource", func(t *testing.T) {
		t.Parallel()
		ing, _ := setup(t, nil, nil)
		for _, src := range []string{"prod", "dev"} {
			res, err := ing.Ingest(t.Context(), src, []logingest.Event{validEvent("x")})
			require.NoError(t, err)
			require.Equal(t, 1, res.Accepted, src)
		}
	})

	t.Run("CallerSliceUnmodified", func(t *testing.T) {
		t.Parallel()
		ing, _ := setup(t, nil, nil)
		events := []logingest.Event{validEvent("x")}
		events[0].Properties = nil
		before := events[0]
		_, err := ing.Ingest(t.Context(), "", events)
		require.NoError(t, err)
		require.Equal(t, before, events[0])
	})

	t.Run("NullObjectsBecomeEmptyObjects", func(t *testing.T) {
		t.Parallel()
		ing, b := setup(t, nil, nil)
		e := validEvent("x")
		e.Properties = json.RawMessage("null")
		e.DeviceInfo = nil
		_, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
		require.NoError(t, err)
		page, err := b.store.Query(t.Context(), logingest.Filter{})
		require.NoError(t, err)
		require.JSONEq(t, `{}`, string(page.Events[0].Properties))
		require.JSONEq(t, `{}`, string(page.Events[0].DeviceInfo))
	})

	t.Run("WholeCallLimits", func(t *testing.T) {
		t.Parallel()
		ing, _ := setup(t, nil, &logingest.Config{MaxBatchSize: 2})
		_, err := ing.Ingest(t.Context(), "", nil)
		var le *logingest.LimitError
		require.ErrorAs(t, err, &le)
		require.ErrorIs(t, err, logingest.ErrInvalid)
		require.Equal(t, "logs", le.Field)

		_, err = ing.Ingest(t.Context(), "", []logingest.Event{validEvent("a"), validEvent("b"), validEvent("c")})
		require.ErrorAs(t, err, &le)
		require.EqualValues(t, 2, le.Limit)
		require.Equal(t, "logs: exceeds limit of 2 events", le.Error())
	})
}

// refusingStore refuses, as a real database would, any batch holding an event named "poison": the whole
// Append fails with ErrInvalid and stores nothing.
type refusingStore struct {
	logingest.Store
	calls atomic.Int64
}

func (s *refusingStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	s.calls.Add(1)
	for _, e := range events {
		if e.EventName == "poison" {
			return nil, fmt.Errorf("%w: cannot store event %s", logingest.ErrInvalid, e.EventID)
		}
	}
	return s.Store.Append(ctx, events)
}

// TestStoreRefusalIsIsolated: an event that passes validation but that the store refuses as invalid is rejected
// on its own; every other event of the batch, and of the other requests written with it, is stored.
func TestStoreRefusalIsIsolated(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	store := &refusingStore{Store: mem}
	ing, b := setup(t, store, &logingest.Config{FlushDelay: 50 * time.Millisecond})

	batch := make([]logingest.Event, 10)
	for i := range batch {
		batch[i] = validEvent(fmt.Sprintf("iso-%d", i))
	}
	batch[3].EventName, batch[8].EventName = "poison", "poison"
	other := []logingest.Event{validEvent("other-0"), validEvent("other-1")}

	var wg sync.WaitGroup
	var otherRes *logingest.BatchResult
	var otherErr error
	wg.Go(func() { otherRes, otherErr = ing.Ingest(t.Context(), "", other) })
	res, err := ing.Ingest(t.Context(), "", batch)
	wg.Wait()

	require.NoError(t, err)
	require.NoError(t, otherErr)
	for i, r := range res.Results {
		if i == 3 || i == 8 {
			require.Equal(t, logingest.StatusRejected, r.Status, "event %d", i)
			require.Equal(t, []logingest.FieldError{{Field: "event", Reason: "was refused by the store as invalid"}}, r.Errors)
			continue
		}
		require.Equal(t, logingest.StatusAccepted, r.Status, "event %d", i)
	}
	require.Equal(t, 8, res.Accepted)
	require.Equal(t, 2, res.Rejected)
	require.Equal(t, 2, otherRes.Accepted)
	page, err := mem.Query(t.Context(), logingest.Filter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, page.Events, 10)
	require.Greater(t, store.calls.Load(), int64(2), "the refused batch was split")
	require.NoError(t, testutil.GatherAndCompare(b.reg, strings.NewReader(`
# HELP logingest_validation_errors_total Validation failures of rejected events, by field.
# TYPE logingest_validation_errors_total counter
logingest_validation_errors_total{field="event"} 2
`), "logingest_validation_errors_total"))
}

func TestValidation(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	deep := func(levels int) json.RawMessage {
		return json.RawMessage(strings.Repeat(`{"a":`, levels-1) + `{}` + strings.Repeat(`}`, levels-1))
	}
	tests := []struct {
		name   string
		mutate func(e *logingest.Event)
		field  string
		reason string
	}{
		{"EventIDTooLong", func(e *logingest.Event) { e.EventID = long(129) }, "event_id", "is 129 characters, limit is 128"},
		{"EventNameTooLong", func(e *logingest.Event) { e.EventName = long(201) }, "event_name", "is 201 characters, limit is 200"},
		{"EventNameMissing", func(e *logingest.Event) { e.EventName = "" }, "event_name", "is required"},
		{"UserIDTooLong", func(e *logingest.Event) { e.UserID = long(257) }, "user_id", "is 257 characters, limit is 256"},
		{"SessionIDTooLong", func(e *logingest.Event) { e.SessionID = long(257) }, "session_id", "is 257 characters, limit is 256"},
		{"AppVersionTooLong", func(e *logingest.Event) { e.AppVersion = long(257) }, "app_version", "is 257 characters, limit is 256"},
		{"InvalidUTF8", func(e *logingest.Event) { e.UserID = "\xff" }, "user_id", "must be valid UTF-8"},
		{"PropertiesNotObject", func(e *logingest.Event) { e.Properties = json.RawMessage(`[1,2]`) }, "properties", "must be a JSON object"},
		{"PropertiesInvalidJSON", func(e *logingest.Event) { e.Properties = json.RawMessage(`{"a":`) }, "properties", "must be a JSON object"},
		{"PropertiesTooLarge", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":"` + long(32<<10) + `"}`)
		}, "properties", "is 32776 bytes, limit is 32768"},
		{"PropertiesTooDeep", func(e *logingest.Event) { e.Properties = deep(11) }, "properties", "is nested 11 levels deep, limit is 10"},
		{"DeviceInfoTooDeep", func(e *logingest.Event) { e.DeviceInfo = deep(11) }, "device_info", "is nested 11 levels deep, limit is 10"},
		{"TimestampMissing", func(e *logingest.Event) { e.Timestamp = time.Time{} }, "timestamp", "is required"},
		{"TimestampTooFarAhead", func(e *logingest.Event) {
			e.Timestamp = testNow.Add(25 * time.Hour)
		}, "timestamp", "more than 24h0m0s in the future"},
		{"BadPriority", func(e *logingest.Event) { e.Priority = "urgent" }, "priority", "must be one of normal, high"},
		{"BadEventType", func(e *logingest.Event) { e.EventType = "" }, "event_type", "is required"},
		// PostgreSQL can store none of these; one such event must not fail the batch it is stored with.
		{"EventIDNUL", func(e *logingest.Event) { e.EventID = "a\x00b" }, "event_id", "must not contain the NUL character (U+0000)"},
		{"EventNameNUL", func(e *logingest.Event) { e.EventName = "a\x00" }, "event_name", "must not contain the NUL character (U+0000)"},
		{"UserIDNUL", func(e *logingest.Event) { e.UserID = "\x00" }, "user_id", "must not contain the NUL character (U+0000)"},
		{"PropertiesNULEscape", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":"x\u0000"}`)
		}, "properties", `must not contain \u0000 (NUL)`},
		{"PropertiesNULEscapeInKey", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"\u0000":1}`)
		}, "properties", `must not contain \u0000 (NUL)`},
		{"DeviceInfoNULEscape", func(e *logingest.Event) {
			e.DeviceInfo = json.RawMessage(`{"a":{"b":["\u0000"]}}`)
		}, "device_info", `must not contain \u0000 (NUL)`},
		{"PropertiesLoneHighSurrogate", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":"\ud83d"}`)
		}, "properties", "must not contain an unpaired UTF-16 surrogate escape"},
		{"PropertiesHighSurrogateThenNonSurrogate", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":"\ud83d\u0041"}`)
		}, "properties", "must not contain an unpaired UTF-16 surrogate escape"},
		{"PropertiesLoneLowSurrogate", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":"\uDE00"}`)
		}, "properties", "must not contain an unpaired UTF-16 surrogate escape"},
		// Numbers PostgreSQL's jsonb (numeric) cannot hold: the batch holding one used to fail as a whole.
		{"PropertiesNumberTooLarge", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":1e1000000}`)
		}, "properties", "holds a number of magnitude 1e1000000 or more, limit is below 1e131000"},
		{"PropertiesNumberTooLargeByDigits", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":-12.5e130999}`)
		}, "properties", "holds a number of magnitude 1e131000 or more, limit is below 1e131000"},
		{"PropertiesNumberTooSmall", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":[1,{"b":1e-20000}]}`)
		}, "properties", "holds a number with 20000 digits after the decimal point, limit is 16000"},
		{"DeviceInfoNumberTooPrecise", func(e *logingest.Event) {
			e.DeviceInfo = json.RawMessage(`{"a":1.5e-16000}`)
		}, "device_info", "holds a number with 16001 digits after the decimal point, limit is 16000"},
		{"ZeroWithTooManyDecimals", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":0E-16001}`)
		}, "properties", "holds a number with 16001 digits after the decimal point, limit is 16000"},
		{"PropertiesExponentTooLong", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"a":1e+0000000001234567890}`)
		}, "properties", "holds a number whose exponent has more than 9 digits"},
		// Invalid UTF-8 inside a string: json.Valid accepts it, but no response holding it is JSON.
		{"PropertiesInvalidUTF8", func(e *logingest.Event) {
			e.Properties = json.RawMessage("{\"a\":\"\xff\xfe\"}")
		}, "properties", "must be valid UTF-8"},
		{"DeviceInfoTruncatedUTF8Key", func(e *logingest.Event) {
			e.DeviceInfo = json.RawMessage("{\"\xe2\x82\":1}")
		}, "device_info", "must be valid UTF-8"},
		{"ProviderNameTooLong", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"provider_name":"` + long(257) + `"}`)
		}, "properties.provider_name", "is 257 characters, limit is 256"},
		{"ProviderNameEscapedKeyTooLong", func(e *logingest.Event) {
			e.Properties = json.RawMessage(`{"provider\u005fname":["` + long(300) + `"]}`)
		}, "properties.provider_name", "is 304 bytes of JSON, limit is 256"},
		// Years outside 1..9999 in UTC: the offset can move year 1 into year 0.
		{"TimestampYear0ByOffset", func(e *logingest.Event) {
			e.Timestamp = mustParseTime(t, "0001-01-01T00:30:00+01:00")
		}, "timestamp", "is in year 0 in UTC, must be in years 1 to 9999"},
		{"TimestampYear0000WithOffset", func(e *logingest.Event) {
			e.Timestamp = mustParseTime(t, "0000-01-01T00:00:00+01:00")
		}, "timestamp", "is in year -1 in UTC, must be in years 1 to 9999"},
		{"TimestampYear10000", func(e *logingest.Event) {
			e.Timestamp = mustParseTime(t, "9999-12-31T23:30:00-01:00")
		}, "timestamp", "is in year 10000 in UTC, must be in years 1 to 9999"},
	}
	ing, _ := setup(t, nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := validEvent("v-" + tt.name)
			tt.mutate(&e)
			res, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
			require.NoError(t, err)
			require.Equal(t, logingest.StatusRejected, res.Results[0].Status)
			require.Contains(t, res.Results[0].Errors, logingest.FieldError{Field: tt.field, Reason: tt.reason})
		})
	}

	t.Run("AtTheLimitsIsAccepted", func(t *testing.T) {
		t.Parallel()
		e := validEvent(long(128))
		e.EventName = long(200)
		e.UserID = strings.Repeat("é", 256) // characters, not bytes
		e.Properties = deep(10)
		e.Timestamp = testNow.Add(24 * time.Hour)
		e.Priority = logingest.PriorityHigh
		res, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
		require.NoError(t, err)
		require.Equal(t, logingest.StatusAccepted, res.Results[0].Status, "%v", res.Results[0].Errors)
	})

	t.Run("EscapesPostgreSQLStoresAreAccepted", func(t *testing.T) {
		t.Parallel()
		e := validEvent("escapes")
		// An escaped backslash before u0000, a surrogate pair (upper and lower case hex), other escapes.
		e.Properties = json.RawMessage(`{"a":"\\u0000","b":"\ud83d\ude00 \uD83D\uDE00","c":"\u00e9\"\\\n","\ud83d\ude00":[1]}`)
		res, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
		require.NoError(t, err)
		require.Equal(t, logingest.StatusAccepted, res.Results[0].Status, "%v", res.Results[0].Errors)
	})

	t.Run("NumbersAndYearsAtTheLimitsAreAccepted", func(t *testing.T) {
		t.Parallel()
		e := validEvent("number-limits")
		e.Properties = json.RawMessage(`{"big":-9.99e130999,"small":1e-16000,"precise":1.5e-15999,"zero":0e-16000,` +
			`"int":123456789012345678901234567890,"f":-0.0,"e":1E+2,"provider_name":"` + long(256) + `"}`)
		e.DeviceInfo = json.RawMessage(`{"u":"\u00e9 é ✓ 😀"}`)
		e.Timestamp = mustParseTime(t, "0001-01-01T00:00:00Z").Add(time.Nanosecond)
		res, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
		require.NoError(t, err)
		require.Equal(t, logingest.StatusAccepted, res.Results[0].Status, "%v", res.Results[0].Errors)
	})

	t.Run("OldTimestampsAccepted", func(t *testing.T) {
		t.Parallel()
		e := validEvent("old")
		e.Timestamp = testNow.AddDate(0, 0, -30)
		res, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
		require.NoError(t, err)
		require.Equal(t, logingest.StatusAccepted, res.Results[0].Status)
	})

	t.Run("ConfiguredLimits", func(t *testing.T) {
		t.Parallel()
		ing, _ := setup(t, nil, &logingest.Config{Limits: logingest.Limits{MaxEventIDLength: 4, MaxObjectDepth: 2, MaxFutureSkew: time.Minute}})
		e := validEvent("12345")
		e.Properties = deep(3)
		e.Timestamp = testNow.Add(2 * time.Minute)
		res, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
		require.NoError(t, err)
		require.ElementsMatch(t, []logingest.FieldError{
			{Field: "event_id", Reason: "is 5 characters, limit is 4"},
			{Field: "properties", Reason: "is nested 3 levels deep, limit is 2"},
			{Field: "timestamp", Reason: "more than 1m0s in the future"},
		}, res.Results[0].Errors)
	})
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()

	t.Run("QueuedRequestsShareOneWrite", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, _ := setup(t, g, &logingest.Config{Writers: 1})

		results := make(chan ingestOutcome, 4)
		ingest := func(id string) {
			res, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent(id)})
			results <- ingestOutcome{res, err}
		}
		go ingest("first")
		require.Equal(t, 1, <-g.entered) // the only writer is now busy with "first"
		for _, id := range []string{"a", "b", "c"} {
			go ingest(id)
		}
		// The three requests queue behind the busy writer; wait until all are queued.
		require.Eventually(t, func() bool {
			return queued(ing) == 4
		}, 5*time.Second, time.Millisecond)
		g.release <- struct{}{}
		require.Equal(t, 3, <-g.entered, "the next write coalesces all three queued requests")
		g.release <- struct{}{}
		for range 4 {
			o := <-results
			require.NoError(t, o.err)
			require.Equal(t, 1, o.res.Accepted)
		}
	})

	t.Run("PerRequestResultsInMixedFlush", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, _ := setup(t, g, &logingest.Config{Writers: 1})
		// The goroutines only report back; every require runs on the test goroutine (a FailNow elsewhere would
		// not stop the test, and the receive below would then block forever).
		ingest := func(out chan<- ingestOutcome, events ...logingest.Event) {
			res, err := ing.Ingest(context.Background(), "", events)
			out <- ingestOutcome{res, err}
		}
		done := make(chan ingestOutcome, 1)
		go ingest(done, validEvent("blocker"))
		<-g.entered
		// Two requests in one flush, the second repeating an id from the first.
		resA := make(chan ingestOutcome, 1)
		go ingest(resA, validEvent("p"), validEvent("q"))
		require.Eventually(t, func() bool { return queued(ing) == 3 }, 5*time.Second, time.Millisecond)
		resB := make(chan ingestOutcome, 1)
		go ingest(resB, validEvent("q"), validEvent("r"))
		require.Eventually(t, func() bool { return queued(ing) == 5 }, 5*time.Second, time.Millisecond)
		g.release <- struct{}{}
		require.Equal(t, 4, <-g.entered)
		g.release <- struct{}{}
		blocker := <-done
		require.NoError(t, blocker.err)
		a, b := <-resA, <-resB
		require.NoError(t, a.err)
		require.NoError(t, b.err)
		require.Equal(t, 2, a.res.Accepted)
		require.Equal(t, []logingest.Status{logingest.StatusDuplicate, logingest.StatusAccepted},
			[]logingest.Status{b.res.Results[0].Status, b.res.Results[1].Status})
	})
}

// ingestOutcome carries an Ingest call's results from a goroutine back to the test goroutine, which asserts on it.
type ingestOutcome struct {
	res *logingest.BatchResult
	err error
}

func queued(ing *logingest.Ingester) int {
	n, _ := ing.QueueDepth()
	return n
}

func TestBackpressure(t *testing.T) {
	t.Parallel()

	t.Run("FullQueueFailsFast", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, b := setup(t, g, &logingest.Config{Writers: 1, QueueEvents: 2})
		errs := make(chan error, 2)
		go func() {
			_, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent("inflight")})
			errs <- err
		}()
		<-g.entered
		go func() {
			_, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent("queued")})
			errs <- err
		}()
		require.Eventually(t, func() bool { return queued(ing) == 2 }, 5*time.Second, time.Millisecond)

		_, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("refused")})
		require.ErrorIs(t, err, logingest.ErrOverloaded)
		require.InDelta(t, 1, testutil.ToFloat64(counter(t, b.reg, "logingest_queue_rejections_total")), 0)

		g.release <- struct{}{}
		<-g.entered
		g.release <- struct{}{}
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		// Once drained, the queue admits again.
		go func() { <-g.entered; g.release <- struct{}{} }()
		_, err = ing.Ingest(t.Context(), "", []logingest.Event{validEvent("later")})
		require.NoError(t, err)
	})

	t.Run("ByteBound", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, _ := setup(t, g, &logingest.Config{Writers: 1, QueueBytes: 1000})
		errs := make(chan error, 1)
		go func() {
			_, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent("inflight")})
			errs <- err
		}()
		<-g.entered
		big := validEvent("big")
		big.Properties = json.RawMessage(`{"a":"` + strings.Repeat("x", 2000) + `"}`)
		_, err := ing.Ingest(t.Context(), "", []logingest.Event{big})
		require.ErrorIs(t, err, logingest.ErrOverloaded)
		g.release <- struct{}{}
		require.NoError(t, <-errs)
	})

	t.Run("StoreErrorIsUnavailable", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("connection refused")
		fs := &fakeStore{Store: memstore.New(), AppendFunc: func(context.Context, []logingest.Event) ([]logingest.AppendResult, error) {
			return nil, boom
		}}
		ing, _ := setup(t, fs, nil)
		_, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("x")})
		require.ErrorIs(t, err, logingest.ErrUnavailable)
		require.ErrorIs(t, err, boom)
	})

	t.Run("WriteTimeoutIsUnavailable", func(t *testing.T) {
		t.Parallel()
		fs := &fakeStore{Store: memstore.New(), AppendFunc: func(ctx context.Context, _ []logingest.Event) ([]logingest.AppendResult, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		ing, _ := setup(t, fs, &logingest.Config{WriteTimeout: 5 * time.Millisecond})
		_, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("x")})
		require.ErrorIs(t, err, logingest.ErrUnavailable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("WrongStatusCountIsUnavailable", func(t *testing.T) {
		t.Parallel()
		fs := &fakeStore{Store: memstore.New(), AppendFunc: func(context.Context, []logingest.Event) ([]logingest.AppendResult, error) {
			return nil, nil
		}}
		ing, _ := setup(t, fs, nil)
		_, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("x")})
		require.ErrorIs(t, err, logingest.ErrUnavailable)
	})

	t.Run("CallerContextCanceled", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, _ := setup(t, g, &logingest.Config{Writers: 1})
		ctx, cancel := context.WithCancel(t.Context())
		errs := make(chan error, 1)
		go func() {
			_, err := ing.Ingest(ctx, "", []logingest.Event{validEvent("x")})
			errs <- err
		}()
		<-g.entered
		cancel()
		require.ErrorIs(t, <-errs, context.Canceled)
		g.release <- struct{}{}
	})
}

func TestClose(t *testing.T) {
	t.Parallel()

	t.Run("DrainsQueuedEvents", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		store := g.Store
		ing, err := logingest.New(g, &logingest.Config{Writers: 1, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)

		const n = 5
		acked := make(chan string, n)
		var wg sync.WaitGroup
		ingest := func(id string) {
			defer wg.Done()
			res, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent(id)})
			if err == nil && res.Accepted == 1 {
				acked <- id
			}
		}
		wg.Add(1)
		go ingest("e0")
		<-g.entered
		for i := 1; i < n; i++ {
			wg.Add(1)
			go ingest("e" + string(rune('0'+i)))
		}
		require.Eventually(t, func() bool { return queued(ing) == n }, 5*time.Second, time.Millisecond)

		closed := make(chan error, 1)
		go func() { closed <- ing.Close(context.Background()) }()
		// New work is refused while the queue drains.
		// A probe with a canceled context never waits for the (blocked) writer.
		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		require.Eventually(t, func() bool {
			_, err := ing.Ingest(canceled, "", []logingest.Event{validEvent("late")})
			return errors.Is(err, logingest.ErrClosed)
		}, 5*time.Second, time.Millisecond)
		go func() {
			for range g.entered {
				g.release <- struct{}{}
			}
		}()
		g.release <- struct{}{}
		require.NoError(t, <-closed)
		wg.Wait()
		close(acked)
		close(g.entered)

		var ids []string
		for id := range acked {
			ids = append(ids, id)
		}
		require.Len(t, ids, n, "every queued request was acknowledged")
		for _, id := range ids {
			page, err := store.Query(t.Context(), logingest.Filter{})
			require.NoError(t, err)
			found := false
			for _, e := range page.Events {
				found = found || e.EventID == id
			}
			require.True(t, found, "acknowledged event %s is stored", id)
		}
	})

	t.Run("CloseIsIdempotentAndHonoursContext", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, err := logingest.New(g, &logingest.Config{Writers: 1, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		errs := make(chan error, 1)
		go func() {
			_, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent("x")})
			errs <- err
		}()
		<-g.entered
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, ing.Close(ctx), context.Canceled, "a stuck write makes Close give up when ctx ends")
		g.release <- struct{}{}
		require.NoError(t, <-errs)
		require.NoError(t, ing.Close(context.Background()))
		require.NoError(t, ing.Close(context.Background()))
	})
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  logingest.Config
		want string
	}{
		{logingest.Config{Writers: -1}, "Writers must be at least 1"},
		{logingest.Config{FlushDelay: -time.Second}, "FlushDelay must not be negative"},
		{logingest.Config{QueueEvents: -5}, "QueueEvents must be at least 1"},
		{logingest.Config{Limits: logingest.Limits{MaxObjectDepth: -1}}, "Limits.MaxObjectDepth must not be negative"},
		{logingest.Config{Limits: logingest.Limits{MaxObjectDepth: 501}}, "Limits.MaxObjectDepth must be at most 500"},
		{logingest.Config{Limits: logingest.Limits{MaxObjectBytes: 16<<20 + 1}}, "Limits.MaxObjectBytes must be at most 16777216"},
		{logingest.Config{Limits: logingest.Limits{MaxIDLength: 601}}, "Limits.MaxIDLength must be at most 600"},
		{logingest.Config{Limits: logingest.Limits{MaxEventNameLength: 601}}, "Limits.MaxEventNameLength must be at most 600"},
		{logingest.Config{Limits: logingest.Limits{MaxEventIDLength: 601}}, "Limits.MaxEventIDLength must be at most 600"},
		{logingest.Config{WriteTimeout: time.Nanosecond}, "WriteTimeout must be at least 1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			_, err := logingest.New(memstore.New(), &tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}

	t.Run("NilConfigWorks", func(t *testing.T) {
		t.Parallel()
		ing, err := logingest.New(memstore.New(), nil)
		require.NoError(t, err)
		res, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("x")})
		require.NoError(t, err)
		require.Equal(t, 1, res.Accepted)
		require.NoError(t, ing.Close(t.Context()))
	})

	t.Run("NilStore", func(t *testing.T) {
		t.Parallel()
		_, err := logingest.New(nil, nil)
		require.ErrorContains(t, err, "store must not be nil")
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ing, b := setup(t, nil, nil)
	bad := validEvent("bad")
	bad.EventName = ""
	_, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("a"), bad})
	require.NoError(t, err)
	_, err = ing.Ingest(t.Context(), "", []logingest.Event{validEvent("a")})
	require.NoError(t, err)

	problems, err := testutil.GatherAndLint(b.reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	require.NoError(t, testutil.GatherAndCompare(b.reg, strings.NewReader(`
# HELP logingest_events_total Events received by the ingester, by event type and outcome (accepted, duplicate, rejected).
# TYPE logingest_events_total counter
logingest_events_total{event_type="behavioral",outcome="accepted"} 1
logingest_events_total{event_type="behavioral",outcome="duplicate"} 1
logingest_events_total{event_type="behavioral",outcome="rejected"} 1
# HELP logingest_validation_errors_total Validation failures of rejected events, by field.
# TYPE logingest_validation_errors_total counter
logingest_validation_errors_total{field="event_name"} 1
`), "logingest_events_total", "logingest_validation_errors_total"))

	// A second Ingester on the same registry shares the collectors instead of failing.
	ing2, err := logingest.New(memstore.New(), &logingest.Config{Registerer: b.reg, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, ing2.Close(t.Context()))
}

func counter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "copy"})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("metric %s not found", name)
	return nil
}

// serialStore reports that it can run one Append at a time.
type serialStore struct {
	*gate
}

func (serialStore) MaxConcurrentAppends() int { return 1 }

func TestAppendConcurrencyLimitsWriters(t *testing.T) {
	t.Parallel()
	g := newGate()
	ing, _ := setup(t, serialStore{g}, &logingest.Config{Writers: 8})
	results := make(chan error, 3)
	for _, id := range []string{"a", "b", "c"} {
		go func() {
			_, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent(id)})
			results <- err
		}()
	}
	first := <-g.entered
	// With one writer the other requests must queue rather than start their own Append.
	require.Eventually(t, func() bool { return queued(ing) == 3 }, 5*time.Second, time.Millisecond)
	require.Empty(t, g.entered, "no second Append runs while the first is in progress")
	g.release <- struct{}{}
	if first < 3 {
		require.Equal(t, 3-first, <-g.entered, "the queued requests share the next write")
		g.release <- struct{}{}
	}
	for range 3 {
		require.NoError(t, <-results)
	}
}

// TestSmallWritesRunOneAtATime: with two writers, small requests that queue while a write of small requests
// is in flight wait for it and then share one write, instead of a second, concurrent small write; a large
// request ends the wait at once.
func TestSmallWritesRunOneAtATime(t *testing.T) {
	t.Parallel()
	g := newGate()
	ing, _ := setup(t, g, &logingest.Config{Writers: 2, SmallRequestEvents: 1})
	errs := make(chan error, 10)
	ingest := func(ids ...string) {
		events := make([]logingest.Event, len(ids))
		for i, id := range ids {
			events[i] = validEvent(id)
		}
		go func() {
			_, err := ing.Ingest(context.Background(), "", events)
			errs <- err
		}()
	}
	ingest("a")
	require.Equal(t, 1, <-g.entered, "the first small request is written at once")
	for _, id := range []string{"b", "c", "d"} {
		ingest(id)
	}
	// b, c and d are queued and taken by the second writer, which holds them while the first write is in flight
	// (until then the first writer, once released, could take one of them itself).
	require.Eventually(t, func() bool { return queued(ing) == 4 && logingest.LaneBacklog(ing) == 0 }, 5*time.Second, time.Millisecond)
	require.Empty(t, g.entered, "no second small write starts while the first is in flight")
	g.release <- struct{}{}
	require.Equal(t, 3, <-g.entered, "the small requests that queued meanwhile share the next write")

	// A small write is in flight (b, c, d); the small requests queued now are held until a large one arrives.
	ingest("f")
	ingest("g")
	require.Eventually(t, func() bool { return queued(ing) == 5 && logingest.LaneBacklog(ing) == 0 }, 5*time.Second, time.Millisecond)
	ingest("h1", "h2")
	require.Equal(t, 4, <-g.entered, "a large request is written at once, with the small requests held")
	g.release <- struct{}{}
	g.release <- struct{}{}
	for range 7 {
		require.NoError(t, <-errs)
	}
}

// TestFlushDelayWaitsForFlushSize: with a FlushDelay the writer holds its first request until FlushSize events
// are queued (or the delay ends), so three single-event requests share one store write.
func TestFlushDelayWaitsForFlushSize(t *testing.T) {
	t.Parallel()
	g := newGate()
	ing, _ := setup(t, g, &logingest.Config{Writers: 1, FlushSize: 3, FlushDelay: time.Hour})
	errs := make(chan error, 3)
	for _, id := range []string{"a", "b", "c"} {
		go func() {
			_, err := ing.Ingest(context.Background(), "", []logingest.Event{validEvent(id)})
			errs <- err
		}()
	}
	require.Equal(t, 3, <-g.entered, "one write carries all three requests")
	g.release <- struct{}{}
	for range 3 {
		require.NoError(t, <-errs)
	}
}

func mustParseTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return ts
}

// TestIngestCorrectsClockSkew: with sent_at, the stored timestamp is received_at − (sent_at − timestamp) and the
// device's value is kept as OriginalTimestamp; without sent_at nothing changes.
func TestIngestCorrectsClockSkew(t *testing.T) {
	t.Parallel()
	ing, b := setup(t, nil, nil)
	tz := time.FixedZone("UTC+5", 5*3600)
	type tc struct {
		name          string
		timestamp     time.Time
		sentAt        time.Time
		wantTimestamp time.Time
	}
	cases := []tc{
		// The device clock is 3 hours ahead: it stamped an event 10 s before sending.
		{"clock 3h ahead", testNow.Add(3*time.Hour - 10*time.Second), testNow.Add(3 * time.Hour), testNow.Add(-10 * time.Second)},
		// 5 hours behind, in another zone: the correction is in absolute time.
		{"clock 5h behind", testNow.Add(-5*time.Hour - time.Minute).In(tz), testNow.Add(-5 * time.Hour).In(tz), testNow.Add(-time.Minute)},
		// Offline for 3 days with a correct clock: the timestamp stays 3 days old.
		{"offline 3 days", testNow.Add(-72 * time.Hour), testNow, testNow.Add(-72 * time.Hour)},
		// Offline for 2 days with a clock 26 h behind (beyond any future-skew bound either way).
		{"offline, clock behind", testNow.Add(-48*time.Hour - 26*time.Hour), testNow.Add(-26 * time.Hour), testNow.Add(-48 * time.Hour)},
		// Offline 4 days and the clock 30 h ahead: the raw timestamp is in the future, the corrected one is not.
		{"offline, clock ahead", testNow.Add(-96*time.Hour + 30*time.Hour), testNow.Add(30 * time.Hour), testNow.Add(-96 * time.Hour)},
	}
	events := make([]logingest.Event, 0, len(cases)+1)
	for i, c := range cases {
		e := validEvent(fmt.Sprintf("skew-%d", i))
		e.Timestamp, e.SentAt = c.timestamp, c.sentAt
		events = append(events, e)
	}
	plain := validEvent("no-sent-at")
	events = append(events, plain)
	res, err := ing.Ingest(t.Context(), "", events)
	require.NoError(t, err)
	require.Equal(t, len(events), res.Accepted, "%+v", res.Results)
	require.True(t, events[0].SentAt.Equal(cases[0].sentAt), "the caller's events are not modified")

	page, err := b.store.Query(t.Context(), logingest.Filter{SortBy: logingest.SortID, SortOrder: logingest.SortAsc})
	require.NoError(t, err)
	require.Len(t, page.Events, len(events))
	for i, c := range cases {
		got := page.Events[i]
		require.Equal(t, c.wantTimestamp.UTC(), got.Timestamp, c.name)
		require.Equal(t, c.timestamp.UTC(), got.OriginalTimestamp, "%s: the device's timestamp is kept", c.name)
		require.True(t, got.SentAt.IsZero(), c.name)
		require.Equal(t, res.Results[i].ID, got.ID, c.name)
	}
	last := page.Events[len(cases)]
	require.Equal(t, plain.Timestamp.UTC(), last.Timestamp, "without sent_at the timestamp is stored as sent")
	require.True(t, last.OriginalTimestamp.IsZero())
}

// TestIngestRejectsUnstorableSentAt: a sent_at outside years 1–9999 is rejected naming sent_at.
func TestIngestRejectsUnstorableSentAt(t *testing.T) {
	t.Parallel()
	ing, _ := setup(t, nil, nil)
	e := validEvent("bad-sent-at")
	e.SentAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err := ing.Ingest(t.Context(), "", []logingest.Event{e})
	require.NoError(t, err)
	require.Equal(t, 1, res.Rejected)
	require.Equal(t, "sent_at", res.Results[0].Errors[0].Field)
}

// TestIngestReportsIDs: accepted events and their retries report the stored id.
func TestIngestReportsIDs(t *testing.T) {
	t.Parallel()
	ing, _ := setup(t, nil, nil)
	res, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("a"), validEvent("b")})
	require.NoError(t, err)
	require.Positive(t, res.Results[0].ID)
	require.Greater(t, res.Results[1].ID, res.Results[0].ID)
	retry, err := ing.Ingest(t.Context(), "", []logingest.Event{validEvent("b"), {EventID: "bad"}})
	require.NoError(t, err)
	require.Equal(t, logingest.StatusDuplicate, retry.Results[0].Status)
	require.Equal(t, res.Results[1].ID, retry.Results[0].ID, "a retry sees the id of its first delivery")
	require.Zero(t, retry.Results[1].ID, "a rejected event has no id")
}
