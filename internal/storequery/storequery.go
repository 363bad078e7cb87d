// Package storequery holds the parts of logingest.Store.Query that do not depend on the backend, shared by the
// stores in logingest/store: the value an event sorts by, the keyset cursor that travels as Page.NextCursor, and
// the exact-match conditions of a Filter. How a store turns them into SQL (placeholders, casts, time formats)
// stays in the store.
package storequery

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/change66/logserver/logingest"
)

// NullSequenceNumber is the value a nil Event.SequenceNumber sorts as: before every number in ascending order.
// SQL stores sort COALESCE(sequence_number, NullSequenceNumber) so that keyset comparisons never meet NULL.
const NullSequenceNumber = math.MinInt64

// SortValue returns the value e sorts by for field: a time.Time in UTC for SortTimestamp and SortReceivedAt
// (SortCreatedAt is its alias), an int64 for SortID and SortSequenceNumber (NullSequenceNumber when nil), and a
// string for every other field. An unknown field (which Filter.Normalize rejects) gives "", so every event
// sorts equal.
func SortValue(e *logingest.Event, field logingest.SortField) any {
	switch field {
	case logingest.SortTimestamp:
		return e.Timestamp.UTC()
	case logingest.SortReceivedAt, logingest.SortCreatedAt:
		return e.ReceivedAt.UTC()
	case logingest.SortID:
		return e.ID
	case logingest.SortEventID:
		return e.EventID
	case logingest.SortSequenceNumber:
		if e.SequenceNumber == nil {
			return int64(NullSequenceNumber)
		}
		return *e.SequenceNumber
	case logingest.SortEventType:
		return string(e.EventType)
	case logingest.SortEventName:
		return e.EventName
	case logingest.SortUserID:
		return e.UserID
	case logingest.SortSessionID:
		return e.SessionID
	case logingest.SortAppVersion:
		return e.AppVersion
	case logingest.SortPriority:
		return string(e.Priority)
	default:
		return ""
	}
}

// Cursor is a position in one sort order: the sort value of an event and the store's id of that event, which
// breaks ties between equal values in insertion order. Its text form, made by Encode and read by After, is
// base64url (unpadded) JSON.
type Cursor struct {
	// Field is the sort field the cursor was made for.
	Field logingest.SortField
	// Order, when set, ties the cursor to that sort order: After rejects it for the other one. Empty accepts
	// either order.
	Order logingest.SortOrder
	// Value is SortValue of the event for Field.
	Value any
	// ID is the store's positive id of the event: a row id, or an insertion sequence number.
	ID int64
}

// At returns the cursor pointing at e, whose store id is id, in the order by field. Order is left empty.
func At(e *logingest.Event, id int64, field logingest.SortField) Cursor {
	return Cursor{Field: field, Value: SortValue(e, field), ID: id}
}

// Compare orders two cursors of the same field ascending: by Value, then by ID. It returns -1, 0 or +1.
func (c Cursor) Compare(o Cursor) int {
	var r int
	switch v := c.Value.(type) {
	case time.Time:
		w, _ := o.Value.(time.Time)
		r = v.Compare(w)
	case int64:
		w, _ := o.Value.(int64)
		r = cmp.Compare(v, w)
	case string:
		w, _ := o.Value.(string)
		r = strings.Compare(v, w)
	}
	if r != 0 {
		return r
	}
	return cmp.Compare(c.ID, o.ID)
}

// wire is the JSON form of a Cursor. Times travel in Str as fixed-width UTC text with nanoseconds.
type wire struct {
	Field logingest.SortField `json:"f"`
	Order logingest.SortOrder `json:"o,omitempty"`
	Str   string              `json:"s,omitempty"`
	Bytes []byte              `json:"b,omitempty"` // a string value that is not valid UTF-8, which Str would alter
	Num   int64               `json:"n,omitempty"`
	ID    int64               `json:"i"`
}

// Encode returns the text form of c, for Page.NextCursor.
func (c Cursor) Encode() string {
	w := wire{Field: c.Field, Order: c.Order, ID: c.ID}
	switch v := c.Value.(type) {
	case time.Time:
		w.Str = FormatTime(v)
	case int64:
		w.Num = v
	case string:
		if utf8.ValidString(v) {
			w.Str = v
		} else {
			w.Bytes = []byte(v) // a row stored past validation: keep its exact bytes, or the keyset would drift
		}
	}
	b, _ := json.Marshal(w) //nolint:errchkjson // wire holds only strings and integers, which Marshal always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// After decodes f.After, a cursor made by Encode, for the normalized filter f. It returns (nil, nil) when
// f.After is empty, and a *logingest.ValidationError naming "cursor" (which matches logingest.ErrInvalid) when
// f.After is malformed, was made for another sort field than f.SortBy, or records another order than
// f.SortOrder.
func After(f logingest.Filter) (*Cursor, error) {
	if f.After == "" {
		return nil, nil //nolint:nilnil // no cursor: the first page
	}
	var w wire
	b, err := base64.RawURLEncoding.DecodeString(f.After)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&w)
	}
	c := Cursor{Field: w.Field, Order: w.Order, ID: w.ID}
	switch w.Field {
	case logingest.SortTimestamp, logingest.SortReceivedAt, logingest.SortCreatedAt:
		if err == nil {
			c.Value, err = ParseTime(w.Str)
		}
	case logingest.SortSequenceNumber, logingest.SortID:
		c.Value = w.Num
	default:
		c.Value = w.Str
		if w.Bytes != nil {
			c.Value = string(w.Bytes)
		}
	}
	if err != nil || w.Field != f.SortBy || (w.Order != "" && w.Order != f.SortOrder) || w.ID <= 0 {
		return nil, &logingest.ValidationError{Errors: []logingest.FieldError{
			{Field: "cursor", Reason: "malformed, or taken from a query with another sort field or order"},
		}}
	}
	return &c, nil
}

// Match is one exact-match condition of a Filter: Column must equal Value. Column is a constant column name
// that both SQL schemas share, never user input.
type Match struct {
	Column string
	Value  string
}

// Matches returns the exact-match conditions that f sets, in this fixed order: source, event_type, event_name,
// user_id, session_id, app_version, priority. Filter.ProviderName and the time bounds are not included: each
// store has its own expression or value format for them.
func Matches(f logingest.Filter) []Match {
	var out []Match
	for _, m := range []Match{
		{"source", f.Source},
		{"event_type", string(f.EventType)},
		{"event_name", f.EventName},
		{"user_id", f.UserID},
		{"session_id", f.SessionID},
		{"app_version", f.AppVersion},
		{"priority", string(f.Priority)},
	} {
		if m.Value != "" {
			out = append(out, m)
		}
	}
	return out
}

// DurationMs returns the value of properties.duration_ms when it is a JSON number from 0 to
// logingest.MaxDurationMs, the values Stats.AverageLatencyMs averages; ok is false otherwise.
func DurationMs(props json.RawMessage) (ms float64, ok bool) {
	raw := topLevel(props, "duration_ms")
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	var v float64
	if json.Unmarshal(raw, &v) != nil || v > logingest.MaxDurationMs || v < 0 {
		return 0, false
	}
	return v, true
}

// StringField returns the string value of the top-level key of the JSON object obj, or "" when obj is not an
// object, the key is absent, or its value is not a string. With duplicate keys the last one wins, as in
// PostgreSQL's jsonb.
func StringField(obj json.RawMessage, key string) string {
	raw := topLevel(obj, key)
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// topLevel returns the raw value of key in the JSON object obj (the last one when repeated), or nil.
func topLevel(obj json.RawMessage, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if len(obj) == 0 || json.Unmarshal(obj, &m) != nil {
		return nil
	}
	return bytes.TrimSpace(m[key])
}

// SearchDocument is the text Filter.Search matches in the reference implementation (memstore): the fields
// listed at logingest.SearchTerms, joined by spaces, JSON as stored.
func SearchDocument(e *logingest.Event) string {
	doc := strings.Join([]string{e.EventName, e.UserID, e.SessionID, string(e.Properties)}, " ")
	n := 0
	for i := range doc {
		if n == logingest.MaxSearchDocument {
			return doc[:i]
		}
		n++
	}
	return doc
}

// SearchMatches reports whether e matches every term (as returned by logingest.SearchTerms), case-insensitively.
func SearchMatches(e *logingest.Event, terms []string) bool {
	if len(terms) == 0 {
		return true
	}
	doc := strings.ToLower(SearchDocument(e))
	for _, t := range terms {
		if !strings.Contains(doc, strings.ToLower(t)) {
			return false
		}
	}
	return true
}

// Platform returns device_info.platform as the rollups count it: the string value cut to 64 characters, or ""
// when it is absent or not a string.
func Platform(deviceInfo json.RawMessage) string {
	p := StringField(deviceInfo, "platform")
	if n := 0; len(p) > 64 {
		for i := range p {
			if n == 64 {
				return p[:i]
			}
			n++
		}
	}
	return p
}

// RollupPart is one piece of a time window over received_at, read from one source: Grain is time.Minute or
// time.Hour for the rollup tables (whole buckets in [From, To)), or 0 for the events themselves
// (received_at > From, or >= when FromIncl; received_at < To, or <= when ToIncl).
type RollupPart struct {
	Grain            time.Duration
	From, To         time.Time
	FromIncl, ToIncl bool
}

// RollupParts splits the window (a, b] of received_at into whole hours, whole minutes and at most two raw
// edges shorter than a minute each, so that a sum over the parts equals a count over the events while reading
// at most ~2 hours of minute rows and ~2 minutes of events. Times are UTC.
func RollupParts(a, b time.Time) []RollupPart {
	a, b = a.UTC(), b.UTC()
	if !a.Before(b) {
		return nil
	}
	loM, hiM := a.Truncate(time.Minute).Add(time.Minute), b.Truncate(time.Minute)
	if !loM.Before(hiM) {
		return []RollupPart{{From: a, To: b, ToIncl: true}}
	}
	parts := []RollupPart{{From: a, To: loM}}
	loH, hiH := loM.Truncate(time.Hour), hiM.Truncate(time.Hour)
	if !loH.Equal(loM) {
		loH = loH.Add(time.Hour)
	}
	if loH.Before(hiH) {
		if loM.Before(loH) {
			parts = append(parts, RollupPart{Grain: time.Minute, From: loM, To: loH})
		}
		parts = append(parts, RollupPart{Grain: time.Hour, From: loH, To: hiH})
		if hiH.Before(hiM) {
			parts = append(parts, RollupPart{Grain: time.Minute, From: hiH, To: hiM})
		}
	} else {
		parts = append(parts, RollupPart{Grain: time.Minute, From: loM, To: hiM})
	}
	return append(parts, RollupPart{From: hiM, To: b, FromIncl: true, ToIncl: true})
}

// RollupFilter reports whether the rollups can answer f: only Source, EventType, EventName, AppVersion and
// Priority are set among the filters.
func RollupFilter(f logingest.Filter) bool {
	return f.UserID == "" && f.SessionID == "" && f.ProviderName == "" && f.StartTime.IsZero() &&
		f.EndTime.IsZero() && f.Search == ""
}
