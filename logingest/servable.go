package logingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// SanitizeStored makes an event read from a store servable, and returns what it changed (nil when nothing).
// Validation keeps such values out, but a row written by an older version, by hand or by another program may
// still hold them, and one such row must not break every page that contains it. The rule:
//
//   - A time (Timestamp, ReceivedAt) whose UTC year is outside MinYear..MaxYear, which JSON cannot encode, is
//     replaced by the zero time (served as 0001-01-01T00:00:00Z: "unknown").
//   - Invalid UTF-8 in a string field, or inside the strings of Properties or DeviceInfo, is replaced by
//     U+FFFD (one per run of invalid bytes).
//   - Properties or DeviceInfo that are still not a JSON object are dropped (served as absent).
//
// Stores call it on every event Query returns, after taking the page's cursor from the stored values, and
// log the changes with LogSanitized. The event keeps every other field, so it still counts and pages like
// the others.
func SanitizeStored(e *Event) []FieldError {
	var changed []FieldError
	for _, t := range []struct {
		field string
		v     *time.Time
	}{{"timestamp", &e.Timestamp}, {"received_at", &e.ReceivedAt}} {
		if t.v.IsZero() {
			continue
		}
		if y := t.v.UTC().Year(); y < MinYear || y > MaxYear {
			changed = append(changed, FieldError{Field: t.field, Reason: fmt.Sprintf("year %d is outside %d to %d; served as the zero time", y, MinYear, MaxYear)})
			*t.v = time.Time{}
		}
	}
	for _, s := range []struct {
		field string
		v     *string
	}{{"event_id", &e.EventID}, {"event_name", &e.EventName}, {"user_id", &e.UserID}, {"session_id", &e.SessionID},
		{"app_version", &e.AppVersion}, {"source", &e.Source}} {
		if !utf8.ValidString(*s.v) {
			changed = append(changed, FieldError{Field: s.field, Reason: "invalid UTF-8; replaced by U+FFFD"})
			*s.v = strings.ToValidUTF8(*s.v, "\uFFFD")
		}
	}
	for _, o := range []struct {
		field string
		v     *json.RawMessage
	}{{"properties", &e.Properties}, {"device_info", &e.DeviceInfo}} {
		raw := *o.v
		if len(raw) == 0 {
			continue
		}
		if !utf8.Valid(raw) {
			changed = append(changed, FieldError{Field: o.field, Reason: "invalid UTF-8; replaced by U+FFFD"})
			raw = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
			*o.v = raw
		}
		if !isJSONObject(raw) {
			changed = append(changed, FieldError{Field: o.field, Reason: "not a JSON object; served as absent"})
			*o.v = nil
		}
	}
	return changed
}

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
