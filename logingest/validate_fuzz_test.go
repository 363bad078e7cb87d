package logingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// objectSeeds are the hostile and ordinary objects every fuzz target of this file starts from.
var objectSeeds = []string{
	`{}`, ` {"a":1} `, `{"a":[1,{"b":null}],"c":"x"}`, `{"a":1e1000000}`, `{"a":1e-20000}`, `{"a":-12.5e130999}`,
	`{"a":9.99e130999}`, `{"a":1e-16000}`, `{"a":1.5e-16000}`, `{"a":0E-16001}`, `{"a":1e+0000000001234567890}`,
	`{"a":"\u0000"}`, `{"a":"\\u0000"}`, `{"a":"\ud83d"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\uDE00"}`,
	"{\"a\":\"\xff\"}", "{\"\xe2\x82\":1}", `[1]`, `"x"`, `{"a":`, `{"provider_name":"p"}`,
	`{"provider\u005fname":"` + strings.Repeat("x", 300) + `"}`, `{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{}}}}}}}}}}}`,
}

// FuzzObjectShape checks objectShape, the check of properties and device_info, against an independent reading
// of the same bytes with encoding/json: whatever it accepts is one valid JSON object in valid UTF-8, nested as
// deep as it says, with no NUL and no unpaired surrogate in its strings and every number within the documented
// range; and a plain object (no escapes, no numbers) is never refused.
func FuzzObjectShape(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		depth, problem := objectShape(raw)
		if problem != "" {
			if plainObject(raw) {
				t.Fatalf("objectShape(%q) refused a plain object: %s", raw, problem)
			}
			return
		}
		if !json.Valid(raw) || !utf8.Valid(raw) || bytes.TrimLeft(raw, " \t\r\n")[0] != '{' {
			t.Fatalf("objectShape(%q) accepted what is not a UTF-8 JSON object", raw)
		}
		want, numbers, strs := readJSON(t, raw)
		if depth != want {
			t.Fatalf("objectShape(%q) depth = %d, encoding/json reads %d", raw, depth, want)
		}
		// encoding/json decodes an unpaired surrogate escape as U+FFFD: one that the input did not spell out
		// (as the character or as \ufffd) was an unpaired surrogate.
		spelled := bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
		for _, s := range strs {
			if strings.ContainsRune(s, 0) {
				t.Fatalf("objectShape(%q) accepted a NUL: %q", raw, s)
			}
			if strings.ContainsRune(s, utf8.RuneError) && !spelled {
				t.Fatalf("objectShape(%q) accepted an unpaired surrogate: %q", raw, s)
			}
		}
		for _, n := range numbers {
			if problem := checkNumber([]byte(n)); problem != "" {
				t.Fatalf("objectShape(%q) accepted the number %s: %s", raw, n, problem)
			}
		}
	})
}

// plainObject reports whether raw is a UTF-8 JSON object of at most 10 levels without escapes and numbers,
// which nothing may refuse.
func plainObject(raw []byte) bool {
	if !json.Valid(raw) || !utf8.Valid(raw) || bytes.ContainsAny(raw, `\0123456789`) {
		return false
	}
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && bytes.Count(raw, []byte("{"))+bytes.Count(raw, []byte("[")) <= 10
}

// readJSON reads raw with encoding/json's tokenizer: its maximum nesting depth, its numbers as written and its
// decoded strings (keys included).
func readJSON(t *testing.T, raw []byte) (maxDepth int, numbers, strs []string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return maxDepth, numbers, strs
		}
		if err != nil {
			t.Fatalf("encoding/json cannot read %q: %v", raw, err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
				maxDepth = max(maxDepth, depth)
			} else {
				depth--
			}
		case json.Number:
			numbers = append(numbers, string(v))
		case string:
			strs = append(strs, v)
		}
	}
}

// FuzzValidate feeds events decoded from arbitrary JSON to the Ingester's validation. Whatever it accepts can
// be served as it is (SanitizeStored changes nothing), encodes to valid JSON, has every timestamp in years
// 1 to 9999, and passes validation again unchanged.
func FuzzValidate(f *testing.F) {
	now := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	f.Add(`{"event_id":"e1","timestamp":"2025-08-27T11:00:00Z","event_type":"behavioral","event_name":"x"}`)
	f.Add(`{"event_id":"e1","timestamp":"0000-01-01T00:00:00+01:00","event_type":"error","event_name":"x"}`)
	f.Add(`{"event_id":"e1","timestamp":"0001-01-01T00:30:00+01:00","event_type":"error","event_name":"x"}`)
	f.Add(`{"event_id":"e1","timestamp":"9999-12-31T23:30:00-01:00","event_type":"error","event_name":"x"}`)
	f.Add("{\"event_id\":\"e\xff\",\"timestamp\":\"2025-08-27T11:00:00Z\",\"event_type\":\"error\"," +
		"\"event_name\":\"x\",\"user_id\":\"\\u0000\"}")
	for _, s := range objectSeeds {
		f.Add(`{"event_id":"e1","timestamp":"2025-08-27T11:00:00Z","event_type":"telemetry","event_name":"x","priority":"high",` +
			`"properties":` + s + `,"device_info":` + s + `}`)
	}
	val := newEventValidator(Limits{}.withDefaults())
	cfg := (&Config{Now: func() time.Time { return now }}).withDefaults()
	f.Fuzz(func(t *testing.T, body string) {
		var in Event
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		p := prepare(val, cfg, "app", []Event{in}, nil)
		if len(p.Valid) == 0 {
			if len(p.Result.Results[0].Errors) == 0 {
				t.Fatalf("rejected without a reason: %s", body)
			}
			return
		}
		e := p.Valid[0]
		served := e
		if changed := SanitizeStored(&served); changed != nil {
			t.Fatalf("validation accepted an event that cannot be served as it is (%v): %s", changed, body)
		}
		out, err := json.Marshal(e)
		if err != nil || !json.Valid(out) {
			t.Fatalf("accepted event does not encode as JSON (%v): %s", err, body)
		}
		if y := e.Timestamp.Year(); y < MinYear || y > MaxYear || e.Timestamp.Location() != time.UTC {
			t.Fatalf("accepted timestamp %v", e.Timestamp)
		}
		if errs := val.check(&e, now); errs != nil {
			t.Fatalf("an accepted event fails validation again: %v", errs)
		}
	})
}
