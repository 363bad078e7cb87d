package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/change66/logserver/logingest"
)

func (h *Handler) handleIngest(w http.ResponseWriter, r *http.Request) {
	body, release, err := h.readBody(w, r)
	defer release()
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ev, errs := decodeEvent(body)
	if errs != nil {
		// Only now tell a malformed body (whole-request error) from an invalid event: the decode above already
		// validated the JSON, so the common path scans the body once.
		if err := checkJSON(body); err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeError(w, r, &logingest.ValidationError{Errors: errs})
		return
	}
	if err := h.chargeEvents(w, r, 1); err != nil {
		h.writeError(w, r, err)
		return
	}
	p, _ := logingest.FromContext(r.Context())
	res, err := h.ing.Ingest(r.Context(), sourceOf(p), []logingest.Event{ev})
	if err != nil {
		h.writeError(w, r, fmt.Errorf("ingest: %w", err))
		return
	}
	if len(res.Results) != 1 {
		h.writeError(w, r, fmt.Errorf("ingest: ingester returned %d results for 1 event", len(res.Results)))
		return
	}
	out := res.Results[0]
	switch out.Status {
	case logingest.StatusAccepted:
		h.writeOK(w, r, http.StatusCreated, "event accepted", toIngestData(out))
	case logingest.StatusDuplicate:
		h.writeOK(w, r, http.StatusCreated, "event already stored", toIngestData(out))
	default:
		h.writeError(w, r, &logingest.ValidationError{Errors: out.Errors})
	}
}

func (h *Handler) handleBatchIngest(w http.ResponseWriter, r *http.Request) {
	body, release, err := h.readBody(w, r)
	defer release()
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	b, err := decodeBatch(body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if bs, ok := h.ing.(batchSizer); ok && len(b.results) > bs.MaxBatchSize() {
		h.writeError(w, r, &logingest.LimitError{Field: fieldLogs, Limit: int64(bs.MaxBatchSize()), Unit: "events"})
		return
	}
	if err := h.chargeEvents(w, r, len(b.results)); err != nil {
		h.writeError(w, r, err)
		return
	}
	results, events, positions := b.results, b.events, b.positions
	if len(events) > 0 {
		p, _ := logingest.FromContext(r.Context())
		res, err := h.ing.Ingest(r.Context(), sourceOf(p), events)
		if err != nil {
			h.writeError(w, r, fmt.Errorf("ingest batch: %w", err))
			return
		}
		if len(res.Results) != len(events) {
			h.writeError(w, r, fmt.Errorf("ingest batch: ingester returned %d results for %d events", len(res.Results), len(events)))
			return
		}
		for j, out := range res.Results {
			out.Index = positions[j]
			results[positions[j]] = out
		}
	}
	data := toBatchData(results)
	msg := fmt.Sprintf("batch processed: %d accepted, %d duplicates, %d rejected", data.Accepted, data.Duplicates, data.Rejected)
	h.writeOK(w, r, http.StatusCreated, msg, data)
}

// readBody checks the Content-Type and Content-Encoding of r and reads its body, decompressing gzip or zstd. Both
// the wire body and the decompressed body are bounded by MaxBodyBytes; a compression bomb never allocates more
// than that. The body's buffer is reserved from the MaxInflightBodyBytes budget as it grows; the caller must
// call release (always non-nil) once it no longer uses the body or anything decoded from it.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	var reserved int64
	release = func() {
		if reserved > 0 {
			h.inflight.Release(reserved)
			reserved = 0
		}
	}
	reserve := func(n int64) bool {
		if h.inflight == nil {
			return true
		}
		if !h.inflight.TryAcquire(n) {
			return false
		}
		reserved += n
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, release, &mediaTypeError{msg: "Content-Type must be application/json"}
	}
	encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch encoding {
	case "", "identity":
		encoding = ""
	case encGzip, "x-gzip":
		encoding = encGzip
	case encZstd:
	default:
		return nil, release, &mediaTypeError{msg: "Content-Encoding must be gzip, zstd or identity"}
	}
	limit := h.cfg.MaxBodyBytes
	tooLarge := &logingest.LimitError{Field: fieldBody, Limit: limit, Unit: "bytes", TooLarge: true}
	if r.ContentLength > limit {
		return nil, release, tooLarge
	}
	// The wire body is capped by MaxBytesReader, the decompressed body by LimitReader (and readAtMost), so a
	// compression bomb costs at most limit+1 bytes.
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch encoding {
	case encGzip:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, release, bodyReadError(err, tooLarge, encoding)
		}
		defer func() { _ = zr.Close() }() // Close only reports errors Read already returned
		src = io.LimitReader(zr, limit+1)
	case encZstd:
		// One synchronous decoder (no goroutines) whose window, hence its memory, is bounded by the body limit.
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(max(limit, zstd.MinWindowSize))))
		if err != nil {
			return nil, release, bodyReadError(err, tooLarge, encoding)
		}
		defer zr.Close()
		src = io.LimitReader(zr, limit+1)
	}
	sizeHint := int64(0)
	if encoding == "" && r.ContentLength > 0 {
		sizeHint = r.ContentLength
	}
	body, err = readAtMost(src, limit, sizeHint, reserve)
	if err != nil {
		return nil, release, bodyReadError(err, tooLarge, encoding)
	}
	if int64(len(body)) > limit {
		return nil, release, tooLarge
	}
	return body, release, nil
}

// readAtMost reads r to EOF but never holds more than limit+1 bytes: the buffer grows by doubling, capped at
// limit+1, so an over-limit body (or a gzip bomb) costs at most limit+1 bytes before it is refused. The caller
// compares len with limit. sizeHint, when positive, sizes the first allocation. reserve is asked for every
// allocation's size before it is made; when it refuses, readAtMost returns an error matching
// logingest.ErrOverloaded.
func readAtMost(r io.Reader, limit, sizeHint int64, reserve func(int64) bool) ([]byte, error) {
	ceiling := limit + 1
	// One byte past the hint lets a body of exactly Content-Length bytes reach EOF without growing the buffer.
	size := min(max(sizeHint+1, 512), ceiling)
	if !reserve(size) {
		return nil, errBodyBudget
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= ceiling {
				return buf, nil
			}
			next := min(int64(cap(buf))*2, ceiling)
			if !reserve(next - int64(cap(buf))) {
				return nil, errBodyBudget
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// errBodyBudget refuses a body that does not fit the MaxInflightBodyBytes budget: 503, retry later.
var errBodyBudget = fmt.Errorf("ingest bodies in flight use the whole memory budget: %w", logingest.ErrOverloaded)

func bodyReadError(err error, tooLarge *logingest.LimitError, encoding string) error {
	if errors.Is(err, logingest.ErrOverloaded) {
		return err
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge
	}
	// A zstd frame that needs a window larger than the body limit would decompress to more than the limit.
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return tooLarge
	}
	reason := "could not be read"
	if encoding != "" {
		reason = "is not valid " + encoding
	}
	return fmt.Errorf("read body: %w: %w", &logingest.ValidationError{Errors: []logingest.FieldError{{Field: fieldBody, Reason: reason}}}, err)
}

// checkJSON returns a *ValidationError saying where body stops being valid JSON, or nil.
func checkJSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return bodyError("must not be empty")
	}
	if json.Valid(body) {
		return nil
	}
	var v any
	err := json.Unmarshal(body, &v)
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		line, col := position(body, se.Offset)
		return bodyError(fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, se.Error()))
	}
	return bodyError("invalid JSON")
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

// decodeEnvelope returns the elements of a {"logs":[...]} body, undecoded, so each event can fail on its own.
func decodeEnvelope(body []byte) ([]json.RawMessage, error) {
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	var env struct {
		Logs []json.RawMessage `json:"logs"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field == fieldLogs {
			return nil, &logingest.ValidationError{Errors: []logingest.FieldError{{Field: fieldLogs, Reason: "must be an array of events"}}}
		}
		return nil, bodyError(`must be a JSON object with a "logs" array`)
	}
	if len(env.Logs) == 0 {
		return nil, &logingest.ValidationError{Errors: []logingest.FieldError{{Field: fieldLogs, Reason: "must contain at least one event"}}}
	}
	return env.Logs, nil
}

// Content encodings accepted on ingest bodies.
const (
	encGzip = "gzip"
	encZstd = "zstd"
)

// decodedBatch is a batch body split into the events to ingest and the ones rejected while decoding.
type decodedBatch struct {
	results   []logingest.Result // one per element of logs; rejected ones are filled in
	events    []logingest.Event  // the elements that decoded
	positions []int              // positions[j] is the index in logs of events[j]
}

// decodeBatch decodes a batch body. The fast path decodes the whole envelope into typed events with one
// json.Unmarshal (one validating scan and one decoding scan of the body). When anything in the batch is off —
// a malformed element, a null, a bad timestamp, a syntax error — it falls back to splitting the array and
// decoding each element on its own, so one bad event is rejected alone with its field and reason. Both paths
// give the same events and rejections.
func decodeBatch(body []byte) (decodedBatch, error) {
	if events, ok := decodeBatchFast(body); ok {
		b := decodedBatch{
			results:   make([]logingest.Result, len(events)),
			events:    events,
			positions: make([]int, len(events)),
		}
		for i := range b.positions {
			b.positions[i] = i
		}
		return b, nil
	}
	logs, err := decodeEnvelope(body)
	if err != nil {
		return decodedBatch{}, err
	}
	b := decodedBatch{
		results:   make([]logingest.Result, len(logs)),
		events:    make([]logingest.Event, 0, len(logs)),
		positions: make([]int, 0, len(logs)),
	}
	for i, raw := range logs {
		ev, errs := decodeEvent(raw)
		if errs != nil {
			b.results[i] = logingest.Result{Index: i, EventID: ev.EventID, Status: logingest.StatusRejected, Errors: errs}
			continue
		}
		b.events = append(b.events, ev)
		b.positions = append(b.positions, i)
	}
	return b, nil
}

// decodeBatchFast decodes a well-formed batch in one json.Unmarshal; ok is false when any element needs the
// per-element path (including an empty or missing logs array, so the slow path reports it).
func decodeBatchFast(body []byte) (events []logingest.Event, ok bool) {
	var env struct {
		Logs []*wireEvent `json:"logs"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Logs) == 0 {
		return nil, false
	}
	events = make([]logingest.Event, len(env.Logs))
	for i, w := range env.Logs {
		if w == nil { // null element: the per-element path rejects it as "must be a JSON object"
			return nil, false
		}
		ts, fe := parseTimestamp(w.Timestamp)
		if fe != nil {
			return nil, false
		}
		events[i] = w.Event
		events[i].Timestamp = ts
		events[i].ReceivedAt = time.Time{}
		events[i].Source = ""
	}
	return events, true
}

// wireEvent decodes an event as sent. Timestamp is parsed by hand to name the field in errors; the fields the
// server stamps are accepted in any form and ignored (the Ingester overwrites them).
type wireEvent struct {
	logingest.Event
	Timestamp  json.RawMessage `json:"timestamp"`
	ReceivedAt json.RawMessage `json:"received_at"`
	Source     json.RawMessage `json:"source"`
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
	ev := w.Event
	ev.Timestamp = ts
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
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, &logingest.FieldError{Field: "timestamp", Reason: "must be a string holding an RFC 3339 time"}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		reason := "must be an RFC 3339 time such as 2024-01-15T10:30:00Z"
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			reason += " (" + strings.TrimPrefix(pe.Message, ": ") + ")"
		}
		return time.Time{}, &logingest.FieldError{Field: "timestamp", Reason: reason}
	}
	return t, nil
}
