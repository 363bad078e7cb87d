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

// template is one source event with the fields loadgen sets removed: members holds the rest, encoded as the
// members of a JSON object without the braces (`"event_type":"behavioral","event_name":...`); anonymous
// reports that the source event had no user_id (loadgen then sends none either).
type template struct {
	members   []byte
	anonymous bool
}

// setFields are the members loadgen writes itself (event_id, timestamp, user_id, session_id) or the server
// stamps (source, received_at); they are dropped from templates.
var setFields = []string{"event_id", "timestamp", "user_id", "session_id", "source", "received_at"}

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
			return template{}, fmt.Errorf("missing %s", f)
		}
	}
	u, ok := obj["user_id"]
	anonymous := !ok || string(u) == "null" || string(u) == `""`
	for _, f := range setFields {
		delete(obj, f)
	}
	b, err := json.Marshal(obj) // sorted keys, compact values
	if err != nil {
		return template{}, err
	}
	return template{members: b[1 : len(b)-1], anonymous: anonymous}, nil
}

// job is one request's worth of events, its body built before any client picks it up.
type job struct {
	events int // events in body
	dups   int // of which re-send an earlier event
	body   []byte
}

// freshSlot remembers what a fresh event was made of, so a duplicate can re-send it byte for byte.
type freshSlot struct {
	n    int64 // event number, the suffix of its event_id
	tpl  int32
	user int32 // user number; its session is user's session number sess
	sess int32
	ts   int64 // timestamp, Unix microseconds
}

// shape is what the app's traffic looks like, beyond the templates: how old timestamps are and how many users
// send. The zero shape sends every event with the build time and the templates' own users (the old "all now"
// load).
type shape struct {
	// recentSpread: a live event's timestamp is up to this much before the build time (uniform), the delay
	// between the app logging it and sending it.
	recentSpread time.Duration
	// offlineFraction of events are buffered offline events, their age log-uniform between offlineMinAge and
	// offlineMaxAge.
	offlineFraction              float64
	offlineMinAge, offlineMaxAge time.Duration
	// users sending (user_id and session_id chosen per event among users×sessionsPerUser); 0 keeps no users.
	users, sessionsPerUser int
}

// realisticShape is loadgen's default: what the habit tracker app sends. Most events are live, logged seconds
// before they are sent; 5% come from devices that were offline, hours to days old; 5,000 users with 3
// sessions each.
var realisticShape = shape{
	recentSpread:    10 * time.Second,
	offlineFraction: 0.05,
	offlineMinAge:   time.Hour,
	offlineMaxAge:   72 * time.Hour,
	users:           5000,
	sessionsPerUser: 3,
}

// timestamp returns the timestamp of a fresh event built at base (Unix microseconds), offset i in its request.
func (sh *shape) timestamp(rng *rand.Rand, base int64, i int) int64 {
	switch {
	case sh.offlineFraction > 0 && rng.Float64() < sh.offlineFraction:
		lo, hi := math.Log(float64(sh.offlineMinAge)), math.Log(float64(max(sh.offlineMaxAge, sh.offlineMinAge)))
		age := time.Duration(math.Exp(lo + rng.Float64()*(hi-lo)))
		return base - age.Microseconds()
	case sh.recentSpread > 0:
		return base - rng.Int64N(sh.recentSpread.Microseconds()+1)
	}
	return base + int64(i)
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
	shape       shape
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
		longest = max(longest, len(t.members))
	}
	return &builder{
		eventSize:   3*len(runID) + longest + 160,
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
		s := freshSlot{n: n, tpl: int32(b.rng.IntN(len(b.tpls))), ts: b.shape.timestamp(b.rng, base, i)} //nolint:gosec // len(tpls) fits
		if b.shape.users > 0 {
			s.user = int32(b.rng.IntN(b.shape.users))                   //nolint:gosec // users fits
			s.sess = int32(b.rng.IntN(max(1, b.shape.sessionsPerUser))) //nolint:gosec // sessions fit
		}
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
	t := &b.tpls[s.tpl]
	if b.shape.users > 0 {
		// "u<run-id>-<user>" and "s<run-id>-<user>-<session>": fresh users per run, as many as -users says. An
		// anonymous template (signed-out app) keeps its session but sends no user.
		if !t.anonymous {
			dst = append(dst, `"user_id":"u`...)
			dst = append(dst, b.runID...)
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(s.user), 10)
			dst = append(dst, `",`...)
		}
		dst = append(dst, `"session_id":"s`...)
		dst = append(dst, b.runID...)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(s.user), 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(s.sess), 10)
		dst = append(dst, `",`...)
	}
	dst = append(dst, t.members...)
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
