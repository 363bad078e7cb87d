package logingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// SanitizeStored makes an event read from a store servable, and returns what it changed (nil when nothing).
// Validation keeps such values out, but a row written by an older version, by hand or by another program may
// still hold them, and one such row must not break every page that contains it. The rule:
//
//   - A time (every time.Time field: Timestamp, ReceivedAt, ...) whose UTC year is outside MinYear..MaxYear,
//     which JSON cannot encode, is replaced by the zero time ("unknown").
//   - Invalid UTF-8 in a string field, or inside the strings of Properties or DeviceInfo, is replaced by
//     U+FFFD (one per run of invalid bytes).
//   - Properties or DeviceInfo that are still not a JSON object are dropped (served as absent).
//
// Stores call it on every event Query returns, after taking the page's cursor from the stored values, and
// log the changes with LogSanitized. The event keeps every other field, so it still counts and pages like
// the others.
func SanitizeStored(e *Event) []FieldError {
	var changed []FieldError
	v := reflect.ValueOf(e).Elem()
	for _, f := range eventFields.times {
		t, ok := reflect.TypeAssert[*time.Time](v.Field(f.index).Addr())
		if !ok || t.IsZero() {
			continue
		}
		if y := t.UTC().Year(); y < MinYear || y > MaxYear {
			changed = append(changed, FieldError{
				Field: f.name, Reason: fmt.Sprintf("year %d is outside %d to %d; served as the zero time", y, MinYear, MaxYear),
			})
			*t = time.Time{}
		}
	}
	for _, f := range eventFields.strings {
		sv := v.Field(f.index)
		if s := sv.String(); !utf8.ValidString(s) {
			changed = append(changed, FieldError{Field: f.name, Reason: "invalid UTF-8; replaced by U+FFFD"})
			sv.SetString(strings.ToValidUTF8(s, "\uFFFD"))
		}
	}
	for _, f := range eventFields.objects {
		o, ok := reflect.TypeAssert[*json.RawMessage](v.Field(f.index).Addr())
		if !ok || len(*o) == 0 {
			continue
		}
		raw := *o
		if !utf8.Valid(raw) {
			changed = append(changed, FieldError{Field: f.name, Reason: "invalid UTF-8; replaced by U+FFFD"})
			raw = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
			*o = raw
		}
		if !isJSONObject(raw) {
			changed = append(changed, FieldError{Field: f.name, Reason: "not a JSON object; served as absent"})
			*o = nil
		}
	}
	return changed
}

// eventField is one field of Event: its index and its JSON name.
type eventField struct {
	index int
	name  string
}

// eventFields lists the fields of Event that SanitizeStored and validation check, by kind, found by
// reflection so that a field added to Event is covered without touching them.
var eventFields = func() (out struct{ times, strings, objects []eventField }) {
	t := reflect.TypeFor[Event]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			name = f.Name
		}
		switch {
		case f.Type == reflect.TypeFor[time.Time]():
			out.times = append(out.times, eventField{i, name})
		case f.Type == reflect.TypeFor[json.RawMessage]():
			out.objects = append(out.objects, eventField{i, name})
		case f.Type.Kind() == reflect.String:
			out.strings = append(out.strings, eventField{i, name})
		}
	}
	return out
}()

// isJSONObject reports whether raw is one valid JSON object.
func isJSONObject(raw []byte) bool {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(raw)
}

// LogSanitized logs, at warning level, that the stored event e (whose store id is id, 0 when unknown) was
// served sanitised, and why. It logs with the logger of ctx (ContextWithLogger; for a request served by
// httpapi it carries the request id), else with fallback.
func LogSanitized(ctx context.Context, fallback *slog.Logger, e *Event, id int64, changed []FieldError) {
	if len(changed) == 0 {
		return
	}
	attrs := []slog.Attr{
		slog.String("event_id", strings.ToValidUTF8(e.EventID, "\uFFFD")),
		slog.String("source", strings.ToValidUTF8(e.Source, "\uFFFD")),
		slog.Any("changes", changed),
	}
	if id != 0 {
		attrs = append(attrs, slog.Int64("row_id", id))
	}
	LoggerFromContext(ctx, fallback).LogAttrs(ctx, slog.LevelWarn, "stored event cannot be served as stored; served sanitised", attrs...)
}
