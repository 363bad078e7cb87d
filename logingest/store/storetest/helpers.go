package storetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// Realistic values, shaped like the habit tracker's events in testdata/.
const (
	sourceProd    = "habit-tracker-prod"
	sourceStaging = "habit-tracker-staging"
)

var (
	// baseTime is the timestamp of the first generated event.
	baseTime = time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)

	sampleUsers = []string{
		"WrFJAp1hSvEwhM7r6QMgvJEQj7dg", "8QGdVPkhfUD4llYNbRQeGGSN0FfR", "", "15TnojHJy8qqhoD18Z8eoVNozctl",
		"aRjoCORtPc4qf8i7pvdUwSveYglT",
	}
	sampleVersions = []string{"2.0.1+7", "2.0.0+6", "1.9.4+5"}
	samplePlatform = []string{"ios", "android"}
	sampleModels   = []string{"iPhone 14", "SM-S918B", "Pixel 8"}
	sampleLocales  = []string{"fr_FR", "en_US", "de_DE"}
)

// sampleKind is one shape of event: its type, names and properties.
type sampleKind struct {
	typ   logingest.EventType
	names []string
	props func(i int) string
}

var sampleKinds = []sampleKind{
	{logingest.EventTypeBehavioral, []string{"habit_completed", "habit_skipped", "streak_extended", "button_tap"}, func(i int) string {
		return fmt.Sprintf(`{"habit_id": "%d", "habit_name": "Run 5k", "streak": %d}`, i%13, 100+i)
	}},
	{logingest.EventTypeTelemetry, []string{"sync_finished", "habit_fetched"}, func(i int) string {
		return fmt.Sprintf(`{"endpoint": "/habits", "method": "GET", "status_code": %d, "duration_ms": %d}`, []int{200, 500, 304}[i%3], 40+i)
	}},
	{logingest.EventTypeObservability, []string{"nfc_notifier_update", "auth_provider_update"}, func(i int) string {
		return fmt.Sprintf(`{"provider_name": "%s", "old_state": "idle", "new_state": "ready"}`,
			[]string{"habit_provider", "nfc_notifier", "auth_provider"}[i%3])
	}},
	{logingest.EventTypeError, []string{"sync_failed", "unhandled_exception"}, func(i int) string {
		return fmt.Sprintf(`{"error_type": "SocketException", "message": "Connection reset (attempt %d)", "fatal": %t, `+
			`"stack_trace": "#0 main (package:app/main.dart:12)"}`, i, i%2 == 0)
	}},
	{logingest.EventTypePerformance, []string{"frame_time", "cold_start"}, func(i int) string {
		return fmt.Sprintf(`{"metric": "frame_build", "value": %d.5, "unit": "ms"}`, 10+i%7)
	}},
}

// step is the spacing of generated timestamps: one millisecond, or TimePrecision if that is coarser, so that
// distinct generated times stay distinct in the store.
func (o Options) step() time.Duration { return max(o.TimePrecision, time.Millisecond) }

// at returns baseTime plus n steps.
func (o Options) at(n int) time.Time { return baseTime.Add(time.Duration(n) * o.step()) }

// newEvent returns the i-th of a deterministic sequence of valid, varied, already ingested events in
// sourceProd: timestamps grow with i, ReceivedAt follows two hours later, and event IDs are UUID-shaped but do not
// sort in i order.
func newEvent(o Options, i int) logingest.Event {
	k := sampleKinds[i%len(sampleKinds)]
	user := sampleUsers[(i+i/5)%len(sampleUsers)] // not in step with the event type
	session := ""
	if user != "" {
		session = fmt.Sprintf("17562883%05d_%s", i%7*1000+532, user)
	}
	prio := logingest.PriorityNormal
	if i%7 == 3 {
		prio = logingest.PriorityHigh
	}
	return logingest.Event{
		EventID:    eventID(i),
		Timestamp:  o.at(i),
		EventType:  k.typ,
		EventName:  k.names[i/len(sampleKinds)%len(k.names)],
		Properties: json.RawMessage(k.props(i)),
		UserID:     user,
		SessionID:  session,
		AppVersion: sampleVersions[i%len(sampleVersions)],
		DeviceInfo: json.RawMessage(fmt.Sprintf(`{"platform": "%s", "model": "%s", "os_version": "17.5", "locale": "%s"}`,
			samplePlatform[i%2], sampleModels[i%3], sampleLocales[i%len(sampleLocales)])),
		SequenceNumber: sequenceNumber(i),
		Priority:       prio,
		Source:         sourceProd,
		ReceivedAt:     o.at(i).Add(2 * time.Hour),
	}
}

// sequenceNumber is the sequence number of newEvent(i): i+1, except every sixth event, which has none.
func sequenceNumber(i int) *int64 {
	if i%6 == 5 {
		return nil
	}
	return new(int64(i + 1))
}

// newEvents returns events n..n+count-1 of newEvent's sequence.
func newEvents(o Options, n, count int) []logingest.Event {
	out := make([]logingest.Event, count)
	for i := range out {
		out[i] = newEvent(o, n+i)
	}
	return out
}

// eventID returns a UUID-shaped id for i whose string order is unrelated to i.
func eventID(i int) string {
	h := uint64(i+1) * 0x9e3779b97f4a7c15
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), i>>12&0xfff, i&0xfff, h&0xffffffffffff)
}

// ref identifies an event in messages.
func ref(e logingest.Event) string { return e.Source + "/" + e.EventID }

func refs(events []logingest.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = ref(e)
	}
	return out
}

// cloneEvents returns a deep copy of events.
func cloneEvents(events []logingest.Event) []logingest.Event {
	out := slices.Clone(events)
	for i := range out {
		out[i].Properties = bytes.Clone(out[i].Properties)
		out[i].DeviceInfo = bytes.Clone(out[i].DeviceInfo)
		if out[i].SequenceNumber != nil {
			out[i].SequenceNumber = new(*out[i].SequenceNumber)
		}
	}
	return out
}

// appendInserted appends events and requires every one to be reported AppendInserted, with positive IDs that
// increase in slice order.
func appendInserted(ctx context.Context, s logingest.Store, events []logingest.Event) error {
	_, err := appendIDs(ctx, s, events)
	return err
}

// appendIDs appends events, requires every one to be reported AppendInserted with positive IDs that increase in
// slice order, and returns the IDs.
func appendIDs(ctx context.Context, s logingest.Store, events []logingest.Event) ([]int64, error) {
	res, err := s.Append(ctx, events)
	if err != nil {
		return nil, fmt.Errorf("Append(%d events): %w", len(events), err)
	}
	if err := wantStatuses(res, repeat(logingest.AppendInserted, len(events))); err != nil {
		return nil, err
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.ID
		if r.ID <= 0 {
			return nil, fmt.Errorf("Append reported ID %d for inserted event %d, want a positive ID", r.ID, i)
		}
		if i > 0 && r.ID <= ids[i-1] {
			return nil, fmt.Errorf("Append reported IDs %v, want them increasing in slice order", ids[:i+1])
		}
	}
	return ids, nil
}

// statuses returns the statuses of res.
func statuses(res []logingest.AppendResult) []logingest.AppendStatus {
	out := make([]logingest.AppendStatus, len(res))
	for i, r := range res {
		out[i] = r.Status
	}
	return out
}

func repeat(st logingest.AppendStatus, n int) []logingest.AppendStatus {
	out := make([]logingest.AppendStatus, n)
	for i := range out {
		out[i] = st
	}
	return out
}

func wantStatuses(res []logingest.AppendResult, want []logingest.AppendStatus) error {
	if got := statuses(res); !slices.Equal(got, want) {
		return fmt.Errorf("Append statuses = %v, want %v", got, want)
	}
	return nil
}

// query runs f and checks the invariants every page must meet: a nil error, non-nil Events, at most Limit events
// and, unless SkipTotal, an exact Total (the suite's data sets are small).
func query(ctx context.Context, s logingest.Store, f logingest.Filter) (*logingest.Page, error) {
	p, err := s.Query(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("Query(%s): %w", describe(f), err)
	}
	if p == nil {
		return nil, fmt.Errorf("Query(%s) returned a nil Page and a nil error", describe(f))
	}
	if p.Events == nil {
		return nil, fmt.Errorf("Query(%s) returned nil Page.Events, want a non-nil slice", describe(f))
	}
	limit := cmp.Or(f.Limit, logingest.DefaultQueryLimit)
	if len(p.Events) > limit {
		return nil, fmt.Errorf("Query(%s) returned %d events, more than Limit %d", describe(f), len(p.Events), limit)
	}
	return p, nil
}

// queryAll returns every event matching f in one page of MaxQueryLimit; the data set must be smaller. It also
// checks that Total is exact and that the page has no NextCursor.
func queryAll(ctx context.Context, s logingest.Store, f logingest.Filter) ([]logingest.Event, error) {
	f.Limit = logingest.MaxQueryLimit
	p, err := query(ctx, s, f)
	if err != nil {
		return nil, err
	}
	if err := wantTotal(f, p, len(p.Events)); err != nil {
		return nil, err
	}
	if p.NextCursor != "" {
		if len(p.Events) == f.Limit {
			return nil, fmt.Errorf("data set too large for queryAll: %d events", len(p.Events))
		}
		return nil, fmt.Errorf("Query(%s) returned %d of %d events and NextCursor %q, want an empty NextCursor on the last page",
			describe(f), len(p.Events), p.Total, p.NextCursor)
	}
	return p.Events, nil
}

// wantTotal checks Page.Total against the exact count n: equal, or -1 when f.SkipTotal; never an estimate.
func wantTotal(f logingest.Filter, p *logingest.Page, n int) error {
	if f.SkipTotal && p.Total == -1 {
		return nil
	}
	if p.Total != int64(n) || p.TotalIsEstimate {
		return fmt.Errorf("Query(%s): Total = %d (estimate %t), want exactly %d", describe(f), p.Total, p.TotalIsEstimate, n)
	}
	return nil
}

// wantRefs compares events to want by identity and order, and reports the first difference.
func wantRefs(what string, got, want []logingest.Event) error {
	g, w := refs(got), refs(want)
	if slices.Equal(g, w) {
		return nil
	}
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	return fmt.Errorf("%s: got %d events, want %d; first difference at index %d:\n got  %s\n want %s",
		what, len(g), len(w), i, window(g, i), window(w, i))
}

// window formats up to three ids from index i, with the previous one for context.
func window(ids []string, i int) string {
	lo, hi := max(i-1, 0), min(i+3, len(ids))
	if lo >= hi {
		return "(end)"
	}
	s := strings.Join(ids[lo:hi], ", ")
	if hi < len(ids) {
		s += ", ..."
	}
	return fmt.Sprintf("[%d:] %s", lo, s)
}

// describe formats the non-zero fields of f.
func describe(f logingest.Filter) string {
	var parts []string
	v := reflect.ValueOf(f)
	for i := range v.NumField() {
		if fv := v.Field(i); !fv.IsZero() {
			x := fv.Interface()
			if t, ok := x.(time.Time); ok {
				x = t.Format(time.RFC3339Nano)
			}
			parts = append(parts, fmt.Sprintf("%s: %v", v.Type().Field(i).Name, x))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// expect returns the events of all (given in insertion order) that match keep, ordered by field and order with
// ties broken by insertion order in the same direction: the order the contract requires of Query.
func expect(
	all []logingest.Event, keep func(logingest.Event) bool, field logingest.SortField, order logingest.SortOrder,
) []logingest.Event {
	var out []logingest.Event
	for _, e := range all {
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b logingest.Event) int { return compareBy(field, a, b) })
	if order == logingest.SortDesc {
		slices.Reverse(out)
	}
	return out
}

// compareBy compares two events on one sort field. Strings compare bytewise; the suite only sorts on values that
// also order this way under the usual database collations. SortID compares equal, so that expect, given events
// in insertion order, keeps that order. A nil sequence number sorts before every number.
func compareBy(field logingest.SortField, a, b logingest.Event) int {
	switch field {
	case logingest.SortID:
		return 0
	case logingest.SortEventID:
		return strings.Compare(a.EventID, b.EventID)
	case logingest.SortTimestamp:
		return a.Timestamp.Compare(b.Timestamp)
	case logingest.SortReceivedAt, logingest.SortCreatedAt:
		return a.ReceivedAt.Compare(b.ReceivedAt)
	case logingest.SortSequenceNumber:
		return cmp.Compare(seqValue(a.SequenceNumber), seqValue(b.SequenceNumber))
	case logingest.SortEventType:
		return strings.Compare(string(a.EventType), string(b.EventType))
	case logingest.SortEventName:
		return strings.Compare(a.EventName, b.EventName)
	case logingest.SortUserID:
		return strings.Compare(a.UserID, b.UserID)
	case logingest.SortSessionID:
		return strings.Compare(a.SessionID, b.SessionID)
	case logingest.SortAppVersion:
		return strings.Compare(a.AppVersion, b.AppVersion)
	case logingest.SortPriority:
		return strings.Compare(string(a.Priority), string(b.Priority))
	}
	panic("storetest: unknown sort field " + string(field))
}

// seqValue is the value a sequence number sorts as: math.MinInt64 for nil.
func seqValue(p *int64) int64 {
	if p == nil {
		return math.MinInt64
	}
	return *p
}

// fmtSeq formats a sequence number, "nil" for nil.
func fmtSeq(p *int64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatInt(*p, 10)
}

// sameEvent reports how got differs from want: every field equal, times within o.TimePrecision and in UTC, JSON
// semantically equal, a positive ID (equal to want's when want has one) and a ProcessedAt in UTC or zero.
func sameEvent(o Options, got, want logingest.Event) error {
	var errs []error
	field := func(name string, g, w any) {
		if g != w {
			errs = append(errs, fmt.Errorf("%s = %q, want %q", name, g, w))
		}
	}
	field("EventID", got.EventID, want.EventID)
	field("Source", got.Source, want.Source)
	field("EventType", got.EventType, want.EventType)
	field("EventName", got.EventName, want.EventName)
	field("UserID", got.UserID, want.UserID)
	field("SessionID", got.SessionID, want.SessionID)
	field("AppVersion", got.AppVersion, want.AppVersion)
	field("Priority", got.Priority, want.Priority)
	if (got.SequenceNumber == nil) != (want.SequenceNumber == nil) ||
		got.SequenceNumber != nil && *got.SequenceNumber != *want.SequenceNumber {
		errs = append(errs, fmt.Errorf("SequenceNumber = %s, want %s (nil, absent, is not 0)",
			fmtSeq(got.SequenceNumber), fmtSeq(want.SequenceNumber)))
	}
	switch {
	case want.ID != 0 && got.ID != want.ID:
		errs = append(errs, fmt.Errorf("ID = %d, want %d (the ID Append reported)", got.ID, want.ID))
	case got.ID <= 0:
		errs = append(errs, fmt.Errorf("ID = %d, want a positive ID", got.ID))
	}
	if zone, off := got.ProcessedAt.Zone(); zone != "UTC" || off != 0 {
		errs = append(errs, fmt.Errorf("ProcessedAt = %s, want it in UTC", got.ProcessedAt))
	}
	if !got.SentAt.IsZero() {
		errs = append(errs, fmt.Errorf("SentAt = %s, want zero (input only, never stored)", got.SentAt))
	}
	errs = append(errs, sameTime(o, "Timestamp", got.Timestamp, want.Timestamp), sameTime(o, "ReceivedAt", got.ReceivedAt, want.ReceivedAt),
		sameTime(o, "OriginalTimestamp", got.OriginalTimestamp, want.OriginalTimestamp),
		sameJSON("Properties", got.Properties, want.Properties), sameJSON("DeviceInfo", got.DeviceInfo, want.DeviceInfo))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("event %s differs from the appended one:\n%w", ref(want), err)
	}
	return nil
}

// sameTime requires got to be in UTC and to be want within o.TimePrecision.
func sameTime(o Options, name string, got, want time.Time) error {
	if zone, off := got.Zone(); zone != "UTC" || off != 0 {
		return fmt.Errorf("%s = %s, want it in UTC", name, got)
	}
	d := got.Sub(want).Abs()
	if o.TimePrecision == 0 && d != 0 || o.TimePrecision > 0 && d >= o.TimePrecision {
		return fmt.Errorf("%s = %s, want %s (TimePrecision %s)",
			name, got.Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano), o.TimePrecision)
	}
	return nil
}

// sameJSON requires got to be a JSON value semantically equal to want: same members regardless of order and
// spacing, numbers equal as decimals.
func sameJSON(name string, got, want json.RawMessage) error {
	g, err := decodeJSON(got)
	if err != nil {
		return fmt.Errorf("%s = %q, not valid JSON: %w", name, got, err)
	}
	w, err := decodeJSON(want)
	if err != nil {
		panic("storetest: invalid JSON in test data: " + string(want))
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("%s = %s, want %s", name, got, want)
	}
	return nil
}

// decodeJSON decodes b with numbers normalised to exact decimal strings, so 1e2 and 100 are equal.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return normalizeNumbers(v), nil
}

func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(v))
		if !ok {
			return string(v)
		}
		return r.RatString()
	case map[string]any:
		for k, x := range v {
			v[k] = normalizeNumbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = normalizeNumbers(x)
		}
	}
	return v
}

// wantEvents requires got to hold want's events in want's order, each equal to its appended copy.
func wantEvents(o Options, what string, got, want []logingest.Event) error {
	if err := wantRefs(what, got, want); err != nil {
		return err
	}
	var errs []error
	for i := range got {
		errs = append(errs, sameEvent(o, got[i], want[i]))
	}
	return errors.Join(errs...)
}

// canceled returns a context that is already canceled.
func canceled(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return ctx
}

// wantCtxErr requires err to be non-nil and to wrap ctx's error.
func wantCtxErr(ctx context.Context, what string, err error) error {
	return wantErr(what+" with a done context", err, ctx.Err(), ctxErrName(ctx))
}

// ctxErrName names the error of a done ctx as Go code, for messages: "context.Canceled" or
// "context.DeadlineExceeded".
func ctxErrName(ctx context.Context) string {
	switch err := ctx.Err(); {
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	default:
		return fmt.Sprint(err)
	}
}

// wantInvalid requires err to match logingest.ErrInvalid.
func wantInvalid(what string, err error) error {
	return wantErr(what, err, logingest.ErrInvalid, "logingest.ErrInvalid")
}

// wantNotFound requires err to match logingest.ErrNotFound.
func wantNotFound(what string, err error) error {
	return wantErr(what, err, logingest.ErrNotFound, "logingest.ErrNotFound")
}

// wantErr requires err to match target, which messages call name. The failure wraps a wrong err, so it can be
// inspected; a nil err is reported as such.
func wantErr(what string, err, target error, name string) error {
	switch {
	case err == nil:
		return fmt.Errorf("%s returned a nil error, want one matching %s", what, name)
	case !errors.Is(err, target):
		return fmt.Errorf("%s returned error %w, want one matching %s", what, err, name)
	}
	return nil
}

// wantSameIDs requires the results at the indexes of each group to carry one ID, positive, distinct between
// groups.
func wantSameIDs(res []logingest.AppendResult, groups [][]int) error {
	seen := map[int64]bool{}
	for _, g := range groups {
		id := res[g[0]].ID
		if id <= 0 || seen[id] {
			return fmt.Errorf("Append results %v: ID %d at index %d, want a positive ID of its own", res, id, g[0])
		}
		seen[id] = true
		for _, i := range g[1:] {
			if res[i].ID != id {
				return fmt.Errorf("Append results %v: a duplicate at index %d has ID %d, want %d, the ID of its first occurrence (index %d)",
					res, i, res[i].ID, id, g[0])
			}
		}
	}
	return nil
}
