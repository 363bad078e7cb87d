package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// defaultTemplates are realistic events from the habit tracker app (a copy of testdata/events.ndjson).
//
//go:embed testdata_embed.ndjson
var defaultTemplates []byte

// template is one source event with the fields loadgen sets removed, encoded as the members of a JSON object
// without the braces: `"event_type":"behavioral","event_name":...`.
type template []byte

// setFields are the members loadgen writes itself (event_id, timestamp) or the server stamps (source,
// received_at); they are dropped from templates.
var setFields = []string{"event_id", "timestamp", "source", "received_at"}

// parseTemplates reads template events from r: newline-delimited JSON objects, a JSON array of objects, or a
// batch body {"logs":[...]}, in any mix. Every template needs an event_type and an event_name.
func parseTemplates(r io.Reader) ([]template, error) {
	dec := json.NewDecoder(r)
	var out []template
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("template %d: %w", len(out)+1, err)
		}
		objs, err := templateObjects(raw)
		if err != nil {
			return nil, fmt.Errorf("template %d: %w", len(out)+1, err)
		}
		for _, obj := range objs {
			t, err := newTemplate(obj)
			if err != nil {
				return nil, fmt.Errorf("template %d: %w", len(out)+1, err)
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no template events")
	}
	return out, nil
}

// templateObjects expands one top-level JSON value into event objects.
func templateObjects(raw json.RawMessage) ([]map[string]json.RawMessage, error) {
	switch raw = bytes.TrimSpace(raw); {
	case len(raw) > 0 && raw[0] == '[':
		var objs []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &objs); err != nil {
			return nil, err
		}
		return objs, nil
	case len(raw) > 0 && raw[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
		if logs, ok := obj["logs"]; ok && len(obj) == 1 {
			return templateObjects(logs)
		}
		return []map[string]json.RawMessage{obj}, nil
	}
	return nil, errors.New("not a JSON object or array")
}

func newTemplate(obj map[string]json.RawMessage) (template, error) {
	for _, f := range []string{"event_type", "event_name"} {
		if v, ok := obj[f]; !ok || string(v) == "null" || string(v) == `""` {
			return nil, fmt.Errorf("missing %s", f)
		}
	}
	for _, f := range setFields {
		delete(obj, f)
	}
	b, err := json.Marshal(obj) // sorted keys, compact values
	if err != nil {
		return nil, err
	}
	return template(b[1 : len(b)-1]), nil
}

// job is one request's worth of events, its body built before any client picks it up.
type job struct {
	events int // events in body
	dups   int // of which re-send an earlier event
	body   []byte
}

// freshSlot remembers what a fresh event was made of, so a duplicate can re-send it byte for byte.
type freshSlot struct {
	n   int64 // event number, the suffix of its event_id
	tpl int32
	ts  int64 // timestamp, Unix microseconds
}

// dupWindow is how many recent fresh events a duplicate may re-send. It bounds the builder's memory
// (a few hundred KiB) however long the run.
const dupWindow = 1 << 16

// builder makes request bodies in order. Event n gets event_id "<run-id>-<n>", a template chosen by the seeded
// random source, and the build time (plus n's offset in its batch in microseconds) as its timestamp. A
// duplicate re-sends, unchanged, a fresh event from an earlier request; which events are duplicates is fixed by
// dupFraction alone (see isDup), so the duplicate count is exact. It is not safe for concurrent use.
type builder struct {
	runID       string
	tpls        []template
	total       int64 // events to build
	batch       int
	dupFraction float64
	rng         *rand.Rand
	eventSize   int // a generous estimate of one encoded event, to size bodies

	secs    int64  // the second secText shows, Unix
	secText []byte // secs formatted as 2006-01-02T15:04:05, reused: formatting dominates building otherwise

	n      int64 // next event number
	fresh  int64 // fresh events built so far
	recent []freshSlot
}

func newBuilder(runID string, tpls []template, total int64, batch int, dupFraction float64, seed uint64) *builder {
	longest := 0
	for _, t := range tpls {
		longest = max(longest, len(t))
	}
	return &builder{
		eventSize:   len(runID) + longest + 80,
		runID:       runID,
		tpls:        tpls,
		total:       total,
		batch:       batch,
		dupFraction: dupFraction,
		rng:         rand.New(rand.NewPCG(seed, 0x6c6f616467656e)),
		recent:      make([]freshSlot, min(dupWindow, int(total))),
	}
}

// dupsThrough returns how many of events 0..n are duplicates: floor((n+1)·dupFraction), except that the first
// batch holds no duplicates (nothing was sent before it), a debt later events pay back.
func (b *builder) dupsThrough(n int64) int64 {
	if n < 0 {
		return 0
	}
	d := int64(math.Floor(float64(n+1) * b.dupFraction))
	return max(0, min(d, n+1-int64(b.batch)))
}

func (b *builder) isDup(n int64) bool { return b.dupsThrough(n) > b.dupsThrough(n-1) }

// next builds the next request at time now, or returns nil when every event has been built.
func (b *builder) next(now time.Time) *job {
	if b.n >= b.total {
		return nil
	}
	count := int(min(int64(b.batch), b.total-b.n))
	single := b.batch == 1
	freshBefore := b.fresh
	// Fresh events of this request overwrite the ring; keep duplicates to events that are still there.
	window := min(freshBefore, int64(len(b.recent)-count))

	body := make([]byte, 0, count*b.eventSize+16)
	if !single {
		body = append(body, `{"logs":[`...)
	}
	j := &job{events: count}
	base := now.UnixMicro()
	for i := range count {
		n := b.n
		b.n++
		if i > 0 {
			body = append(body, ',')
		}
		if window > 0 && b.isDup(n) {
			k := freshBefore - 1 - b.rng.Int64N(window)
			s := b.recent[k%int64(len(b.recent))]
			body = b.appendEvent(body, s)
			j.dups++
			continue
		}
		s := freshSlot{n: n, tpl: int32(b.rng.IntN(len(b.tpls))), ts: base + int64(i)} //nolint:gosec // len(tpls) fits
		b.recent[b.fresh%int64(len(b.recent))] = s
		b.fresh++
		body = b.appendEvent(body, s)
	}
	if !single {
		body = append(body, "]}"...)
	}
	j.body = body
	return j
}

func (b *builder) appendEvent(dst []byte, s freshSlot) []byte {
	dst = append(dst, `{"event_id":"`...)
	dst = append(dst, b.runID...)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, s.n, 10)
	dst = append(dst, `","timestamp":"`...)
	dst = b.appendTimestamp(dst, s.ts)
	dst = append(dst, `",`...)
	dst = append(dst, b.tpls[s.tpl]...)
	return append(dst, '}')
}

// appendTimestamp appends the Unix microsecond time us as RFC 3339 UTC with microseconds.
func (b *builder) appendTimestamp(dst []byte, us int64) []byte {
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	if b.secText == nil || sec != b.secs {
		b.secs = sec
		b.secText = time.Unix(sec, 0).UTC().AppendFormat(b.secText[:0], "2006-01-02T15:04:05")
	}
	dst = append(dst, b.secText...)
	dst = append(dst, '.')
	for div := int64(1e5); div > 0; div /= 10 {
		dst = append(dst, byte('0'+frac/div%10))
	}
	return append(dst, 'Z')
}
