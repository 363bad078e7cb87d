package storetest

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
)

// roundTripSeeds are event bodies FuzzRoundTrip always tries: ordinary ones and values at the edge of what
// validation accepts.
var roundTripSeeds = []string{
	`{"event_id":"e1","timestamp":"2025-08-27T11:00:00.123456789Z","event_type":"behavioral","event_name":"habit_completed",` +
		`"properties":{"habit_id":"h1","streak":7,"ratio":0.25},"user_id":"u1","session_id":"s1","app_version":"1.2.3+4",` +
		`"device_info":{"platform":"ios"},"sequence_number":3,"priority":"high"}`,
	`{"event_id":"e2","timestamp":"0001-01-01T00:00:00.000001Z","event_type":"error","event_name":"x"}`,
	`{"event_id":"e3","timestamp":"9999-12-31T23:00:00+01:00","event_type":"error","event_name":"x","sequence_number":-9223372036854775808}`,
	`{"event_id":"e4","timestamp":"2025-08-27T11:00:00Z","event_type":"telemetry","event_name":"n",` +
		`"properties":{"big":-9.99e130999,"small":1e-16000,"precise":1.5e-15999,"int":123456789012345678901234567890,"neg0":-0.0,"e":1E+2}}`,
	`{"event_id":"e5","timestamp":"2025-08-27T11:00:00Z","event_type":"performance","event_name":"\u00e9\ud83d\ude00",` +
		`"properties":{"s":"\\u0000 \ud83d\ude00 \u00e9\"\\\n\t","\ud83d\ude00":[[[{}]]],"dup":1,"dup":2,"provider_name":"p"}}`,
	`{"event_id":"e6","timestamp":"2025-08-27T11:00:00Z","event_type":"observability","event_name":"x","properties":{"a":1e1000000}}`,
	"{\"event_id\":\"e7\",\"timestamp\":\"2025-08-27T11:00:00Z\",\"event_type\":\"error\",\"event_name\":\"x\",\"properties\":{\"a\":\"\xff\"}}",
	`{"event_id":"e8","timestamp":"0000-01-01T00:00:00+01:00","event_type":"error","event_name":"x"}`,
	`{"event_id":"e9","timestamp":"2025-08-27T11:00:00Z","event_type":"error","event_name":"x","properties":null,"device_info":{}}`,
}

var fuzzSources atomic.Int64

// FuzzRoundTrip fuzzes the path from ingest to read on s: an event decoded from arbitrary JSON goes through
// the Ingester's validation (logingest.Validator), and whatever it accepts is appended to s and read back with
// Query. The read must succeed, encode to valid JSON, and equal what was sent: the same fields, times within
// opts.TimePrecision, and JSON objects semantically equal (numbers by value). Each
// event goes to a source of its own, so s may be shared by every input; pass one store, made once.
//
// Call it from a Fuzz function: the seed corpus (the edges of validation) runs in every go test, and
// go test -fuzz explores further.
func FuzzRoundTrip(f *testing.F, s logingest.Store, opts *Options) {
	f.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	now := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	v, err := logingest.NewValidator(&logingest.Config{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range roundTripSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var in logingest.Event
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		source := fmt.Sprintf("fuzz-%d-%d", time.Now().UnixNano(), fuzzSources.Add(1))
		p, err := v.Prepare(source, []logingest.Event{in})
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if len(p.Valid) == 0 {
			return
		}
		want := p.Valid[0]
		if _, err := s.Append(t.Context(), p.Valid); err != nil {
			t.Fatalf("Append of an event validation accepted failed: %v\n%s", err, body)
		}
		page, err := s.Query(t.Context(), logingest.Filter{Source: source, Limit: 2})
		if err != nil {
			t.Fatalf("Query: %v\n%s", err, body)
		}
		if len(page.Events) != 1 {
			t.Fatalf("Query returned %d events, want 1\n%s", len(page.Events), body)
		}
		got := page.Events[0]
		out, err := json.Marshal(page.Events)
		if err != nil || !json.Valid(out) {
			t.Fatalf("the read does not encode as valid JSON (%v)\n%s", err, body)
		}
		if err := sameEvent(o, got, want); err != nil {
			t.Fatalf("read back differs from what was sent: %v\nsent: %s", err, body)
		}
	})
}
