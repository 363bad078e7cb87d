package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// Decoding of ingest bodies. readBody has already bounded the body; this file bounds what decoding allocates on
// top of it, because a small body can decode into much more memory (a 10 MiB array of empty objects is 3.5
// million events):
//   - walkEnvelope splits a batch's "logs" array into its elements without decoding them, and stops at element
//     maxEvents+1 with a *logingest.LimitError naming the limit, so an oversized batch costs one scan of the
//     body and no allocation per element;
//   - an element longer than maxEventBytes is rejected on its own, without being decoded;
//   - decodeCost estimates what decoding will allocate before it happens, and decodedSize measures it after,
//     so the handler reserves both from the in-flight budget (see reservation).

// batchLimits bounds the decoding of one batch.
type batchLimits struct {
	maxEvents     int   // most elements in "logs"; at least 1
	maxEventBytes int64 // largest element, in bytes of JSON; 0 means unbounded
}

// fallbackMaxEvents bounds a batch when the Ingester does not report its MaxBatchSize.
const fallbackMaxEvents = 10000

// batchEnvelope is a batch body split by walkEnvelope: the elements of its "logs" array, as sub-slices of the body.
type batchEnvelope struct {
	logs  []json.RawMessage
	array []byte // the "logs" array itself, "[" to "]"
	// sentAt is the envelope's sent_at (the device's clock at sending), zero when absent; decodeBatch gives it
	// to every event without its own.
	sentAt time.Time
}

// walkEnvelope checks that body is a JSON object and splits its "logs" member into elements without decoding
// them. Keys match as encoding/json matches struct fields (case-insensitively; the last "logs" wins; a "logs"
// that is neither an array nor null is an error even when another one follows). Any "logs" array longer than
// lim.maxEvents ends the walk with a *logingest.LimitError. The error is nil or a 400-class error naming the
// field.
func walkEnvelope(body []byte, lim batchLimits) (batchEnvelope, error) {
	if err := checkJSON(body); err != nil {
		return batchEnvelope{}, err
	}
	// body is valid JSON from here on, so the scan below needs no error handling.
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return batchEnvelope{}, bodyError(`must be a JSON object with a "logs" array`)
	}
	var (
		env      batchEnvelope
		notArray bool
		sentAt   []byte
	)
	i = skipSpace(body, i+1)
	for body[i] != '}' {
		keyEnd := skipString(body, i)
		isLogs := keyMatches(body[i:keyEnd], fieldLogs)
		isSentAt := keyMatches(body[i:keyEnd], fieldSentAt)
		i = skipSpace(body, keyEnd) // at ':'
		i = skipSpace(body, i+1)    // at the value
		end := skipValue(body, i)   // after the value
		switch {
		case isLogs && body[i] == '[':
			logs, err := splitArray(body[i:end], lim.maxEvents)
			if err != nil {
				return batchEnvelope{}, err
			}
			env = batchEnvelope{logs: logs, array: body[i:end]}
		case isLogs && body[i] == 'n': // null resets, as for a Go slice
			env = batchEnvelope{}
		case isLogs:
			notArray = true
		case isSentAt:
			sentAt = body[i:end]
		}
		i = skipSpace(body, end)
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	if notArray {
		return batchEnvelope{}, logsError("must be an array of events")
	}
	if len(env.logs) == 0 {
		return batchEnvelope{}, logsError("must contain at least one event")
	}
	t, fe := parseTime(sentAt, fieldSentAt)
	if fe != nil {
		return batchEnvelope{}, &logingest.ValidationError{Errors: []logingest.FieldError{*fe}}
	}
	env.sentAt = t
	return env, nil
}

// splitArray splits a valid JSON array into its elements, refusing more than maxEvents of them as soon as
// element maxEvents+1 starts.
func splitArray(array []byte, maxEvents int) ([]json.RawMessage, error) {
	var logs []json.RawMessage
	i := skipSpace(array, 1)
	for array[i] != ']' {
		if len(logs) == maxEvents {
			return nil, &logingest.LimitError{Field: fieldLogs, Limit: int64(maxEvents), Unit: "events"}
		}
		end := skipValue(array, i)
		logs = append(logs, array[i:end:end])
		i = skipSpace(array, end)
		if array[i] == ',' {
			i = skipSpace(array, i+1)
		}
	}
	return logs, nil
}

// keyMatches reports whether the quoted JSON string key names field as encoding/json matches a struct field's
// name: exactly or under Unicode case folding.
func keyMatches(quoted []byte, field string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return bytes.EqualFold(inner, []byte(field))
	}
	var key string
	if json.Unmarshal(quoted, &key) != nil {
		return false
	}
	return strings.EqualFold(key, field)
}

// The scanners below walk JSON that json.Valid accepted; they return the index just past what they skip.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString skips the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue skips the value starting at b[i]. Nesting is counted, not recursed into, so depth costs no stack.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return i
			}
			i++
		}
		return i
	}
}

// checkJSON returns a *ValidationError saying where body stops being valid JSON, or nil.
func checkJSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return bodyError("must not be empty")
	}
	if json.Valid(body) {
		return nil
	}
	// Only the offset of the first syntax error is wanted: Unmarshal checks the whole input before it decodes
	// anything, and an empty struct keeps nothing, so even a huge invalid body allocates nothing per element.
	err := json.Unmarshal(body, &struct{}{})
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		line, col := position(body, se.Offset)
		return bodyError(fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, se.Error()))
	}
	return bodyError("invalid JSON")
}

func logsError(reason string) error {
	return &logingest.ValidationError{Errors: []logingest.FieldError{{Field: fieldLogs, Reason: reason}}}
}

func bodyError(reason string) error {
	return &logingest.ValidationError{Errors: []logingest.FieldError{{Field: fieldBody, Reason: reason}}}
}

// position returns the 1-based line and column of the byte a *json.SyntaxError blames: the last one read,
// at Offset-1.
func position(body []byte, offset int64) (line, col int) {
	i := min(max(offset-1, 0), int64(len(body)))
	before := body[:i]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(i) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// decodedBatch is a batch body split into the events to ingest and the ones rejected while decoding.
type decodedBatch struct {
	results   []logingest.Result // one per element of logs; rejected ones are filled in
	events    []logingest.Event  // the elements that decoded
	positions []int              // positions[j] is the index in logs of events[j]
}

// decodeBatch decodes the elements of env. The fast path decodes the whole "logs" array into typed events with
// one json.Unmarshal. When anything in the batch is off — a malformed or oversized element, a null, a bad
// timestamp — it falls back to decoding each element on its own, so one bad event is rejected alone with its
// field and reason. Both paths give the same events and rejections (FuzzDecodeBatch checks it).
func decodeBatch(env batchEnvelope, lim batchLimits) decodedBatch {
	var b decodedBatch
	if events, ok := decodeBatchFast(env, lim); ok {
		b = decodedBatch{
			results:   make([]logingest.Result, len(events)),
			events:    events,
			positions: make([]int, len(events)),
		}
		for i := range b.positions {
			b.positions[i] = i
		}
	} else {
		b = decodeBatchSlow(env, lim)
	}
	if !env.sentAt.IsZero() {
		for i := range b.events {
			if b.events[i].SentAt.IsZero() { // an event's own sent_at wins
				b.events[i].SentAt = env.sentAt
			}
		}
	}
	return b
}

// decodeBatchSlow decodes each element of env on its own.
func decodeBatchSlow(env batchEnvelope, lim batchLimits) decodedBatch {
	b := decodedBatch{
		results:   make([]logingest.Result, len(env.logs)),
		events:    make([]logingest.Event, 0, len(env.logs)),
		positions: make([]int, 0, len(env.logs)),
	}
	for i, raw := range env.logs {
		if lim.maxEventBytes > 0 && int64(len(raw)) > lim.maxEventBytes {
			b.results[i] = logingest.Result{Index: i, Status: logingest.StatusRejected, Errors: []logingest.FieldError{
				{Field: fieldEvent, Reason: fmt.Sprintf("exceeds limit of %d %s", lim.maxEventBytes, unitBytes)},
			}}
			continue
		}
		ev, errs := decodeEvent(raw)
		if errs != nil {
			b.results[i] = logingest.Result{Index: i, EventID: ev.EventID, Status: logingest.StatusRejected, Errors: errs}
			continue
		}
		b.events = append(b.events, ev)
		b.positions = append(b.positions, i)
	}
	return b
}

// decodeBatchFast decodes a well-formed batch in one json.Unmarshal; ok is false when any element needs the
// per-element path.
func decodeBatchFast(env batchEnvelope, lim batchLimits) (events []logingest.Event, ok bool) {
	if lim.maxEventBytes > 0 {
		for _, raw := range env.logs {
			if int64(len(raw)) > lim.maxEventBytes {
				return nil, false
			}
		}
	}
	var logs []*wireEvent
	if json.Unmarshal(env.array, &logs) != nil || len(logs) != len(env.logs) {
		return nil, false
	}
	events = make([]logingest.Event, len(logs))
	for i, w := range logs {
		if w == nil { // null element: the per-element path rejects it as "must be a JSON object"
			return nil, false
		}
		ts, fe := parseTimestamp(w.Timestamp)
		if fe != nil {
			return nil, false
		}
		sent, fe := parseTime(w.SentAt, fieldSentAt)
		if fe != nil {
			return nil, false
		}
		events[i] = w.Event
		events[i].Timestamp = ts
		events[i].SentAt = sent
		events[i].ReceivedAt = time.Time{}
		events[i].Source = ""
	}
	return events, true
}

// wireEvent decodes an event as sent. Timestamp is parsed by hand to name the field in errors; the fields the
// server stamps are accepted in any form and ignored (the Ingester overwrites them).
type wireEvent struct {
	logingest.Event
	Timestamp json.RawMessage `json:"timestamp"`
	SentAt    json.RawMessage `json:"sent_at"`
	// Server-stamped fields, ignored.
	ReceivedAt        json.RawMessage `json:"received_at"`
	Source            json.RawMessage `json:"source"`
	ID                json.RawMessage `json:"id"`
	CreatedAt         json.RawMessage `json:"created_at"`
	ProcessedAt       json.RawMessage `json:"processed_at"`
	OriginalTimestamp json.RawMessage `json:"original_timestamp"`
}

// decodeEvent decodes one event object. A non-nil error list means the event is rejected; the returned Event
// then carries whatever could be decoded (its EventID identifies it in results).
func decodeEvent(raw []byte) (logingest.Event, []logingest.FieldError) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return logingest.Event{}, []logingest.FieldError{{Field: fieldEvent, Reason: "must be a JSON object"}}
	}
	var w wireEvent
	var errs []logingest.FieldError
	if err := json.Unmarshal(raw, &w); err != nil {
		errs = append(errs, decodeFieldError(err))
	}
	ts, fe := parseTimestamp(w.Timestamp)
	if fe != nil {
		errs = append(errs, *fe)
	}
	sent, fe := parseTime(w.SentAt, fieldSentAt)
	if fe != nil {
		errs = append(errs, *fe)
	}
	ev := w.Event
	ev.Timestamp = ts
	ev.SentAt = sent
	ev.ReceivedAt = time.Time{}
	ev.Source = ""
	return ev, errs
}

func decodeFieldError(err error) logingest.FieldError {
	if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := strings.TrimPrefix(ute.Field, "Event.")
		if field == "" {
			field = fieldEvent
		}
		return logingest.FieldError{Field: field, Reason: fmt.Sprintf("must be %s, not %s", kindName(ute.Type), ute.Value)}
	}
	return logingest.FieldError{Field: fieldEvent, Reason: "could not be decoded"}
}

// kindName describes the JSON value a Go type accepts.
func kindName(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// parseTimestamp parses an RFC 3339 timestamp. Absent and null give the zero time, which validation reports as
// missing.
func parseTimestamp(raw json.RawMessage) (time.Time, *logingest.FieldError) {
	return parseTime(raw, "timestamp")
}

// parseTime is parseTimestamp for the time field named field.
func parseTime(raw json.RawMessage, field string) (time.Time, *logingest.FieldError) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	s, ok := plainJSONString(raw)
	if !ok {
		var decoded string // its own variable: taking s's address would move s to the heap on every call
		if err := json.Unmarshal(raw, &decoded); err != nil {
			return time.Time{}, &logingest.FieldError{Field: field, Reason: "must be a string holding an RFC 3339 time"}
		}
		s = decoded
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		reason := "must be an RFC 3339 time such as 2024-01-15T10:30:00Z"
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			reason += " (" + strings.TrimPrefix(pe.Message, ": ") + ")"
		}
		return time.Time{}, &logingest.FieldError{Field: field, Reason: reason}
	}
	return t, nil
}

// plainJSONString returns the string raw encodes when raw is a JSON string of printable ASCII without escapes
// (as every RFC 3339 time is), which it decodes to itself; ok is false for anything else, left to
// json.Unmarshal.
func plainJSONString(raw []byte) (_ string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(inner), true
}

// wireEventSize is what decoding one element allocates besides the bytes it copies out of the body.
var wireEventSize = int64(reflect.TypeFor[wireEvent]().Size())

// decodeCost is the estimated memory that decoding n events from rawBytes bytes of JSON allocates: decoding
// copies at most the bytes it reads, plus one wireEvent per element. (Strings with invalid UTF-8 can decode up
// to three times longer; decodedSize measures the real figure afterwards.)
func decodeCost(rawBytes, n int) int64 {
	return int64(rawBytes) + int64(n)*wireEventSize
}

// eventLayout lists the fields of logingest.Event whose contents live outside the struct: strings, slices and
// pointers. It is computed once and never changes.
var eventLayout = func() (fields []int) {
	t := reflect.TypeFor[logingest.Event]()
	for i := range t.NumField() {
		switch t.Field(i).Type.Kind() {
		case reflect.String, reflect.Slice, reflect.Pointer:
			fields = append(fields, i)
		default: // held inside the struct
		}
	}
	return fields
}()

// eventSize is the size of the logingest.Event struct itself.
var eventSize = int64(reflect.TypeFor[logingest.Event]().Size())

// decodedSize measures the memory events hold: each struct, plus the strings, slices and pointed-to values of
// its fields.
func decodedSize(events []logingest.Event) int64 {
	total := int64(len(events)) * eventSize
	for i := range events {
		v := reflect.ValueOf(&events[i]).Elem()
		for _, f := range eventLayout {
			fv := v.Field(f)
			switch fv.Kind() {
			case reflect.String:
				total += int64(fv.Len())
			case reflect.Slice:
				total += int64(fv.Cap()) * int64(fv.Type().Elem().Size()) //nolint:gosec // an element's size fits in int64
			case reflect.Pointer:
				if !fv.IsNil() {
					total += int64(fv.Type().Elem().Size()) //nolint:gosec // a value's size fits in int64
				}
			default: // eventLayout holds only the kinds above
			}
		}
	}
	return total
}
