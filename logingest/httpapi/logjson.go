package httpapi

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/change66/logserver/logingest"
)

// appendLogJSON appends the JSON of toLogObject(e) to dst, byte for byte what json.Marshal produces for it
// (HTML-safe string escaping, compacted properties and device_info), without reflection: export writes
// millions of these. Stores return servable events (logingest.SanitizeStored); for one that is not (a time
// outside RFC 3339's years, properties that are not valid JSON) appendLogJSON falls back to json.Marshal and
// returns its error, as the other read endpoints would.
func appendLogJSON(dst []byte, e *logingest.Event) ([]byte, error) {
	if !servableJSON(e) {
		b, err := json.Marshal(toLogObject(e))
		return append(dst, b...), err
	}
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, e.ID, 10)
	dst = append(dst, `,"event_id":`...)
	dst = appendJSONString(dst, e.EventID)
	dst = append(dst, `,"timestamp":`...)
	dst = appendJSONTime(dst, e.Timestamp)
	dst = append(dst, `,"event_type":`...)
	dst = appendJSONString(dst, string(e.EventType))
	dst = append(dst, `,"event_name":`...)
	dst = appendJSONString(dst, e.EventName)
	dst = append(dst, `,"properties":`...)
	dst = appendJSONRaw(dst, e.Properties)
	dst = append(dst, `,"user_id":`...)
	dst = appendJSONOptString(dst, e.UserID)
	dst = append(dst, `,"session_id":`...)
	dst = appendJSONOptString(dst, e.SessionID)
	dst = append(dst, `,"app_version":`...)
	dst = appendJSONOptString(dst, e.AppVersion)
	dst = append(dst, `,"device_info":`...)
	dst = appendJSONRaw(dst, e.DeviceInfo)
	dst = append(dst, `,"sequence_number":`...)
	if e.SequenceNumber == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, *e.SequenceNumber, 10)
	}
	dst = append(dst, `,"priority":`...)
	dst = appendJSONString(dst, string(e.Priority))
	dst = append(dst, `,"created_at":`...)
	dst = appendJSONTime(dst, e.ReceivedAt)
	dst = append(dst, `,"processed_at":`...)
	dst = appendJSONOptTime(dst, e.ProcessedAt)
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, e.Source)
	dst = append(dst, `,"received_at":`...)
	dst = appendJSONTime(dst, e.ReceivedAt)
	dst = append(dst, `,"original_timestamp":`...)
	dst = appendJSONOptTime(dst, e.OriginalTimestamp)
	return append(dst, '}'), nil
}

// servableJSON reports whether json.Marshal(toLogObject(e)) succeeds.
func servableJSON(e *logingest.Event) bool {
	for _, t := range [...]time.Time{e.Timestamp, e.ReceivedAt, e.ProcessedAt, e.OriginalTimestamp} {
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return false
		}
	}
	return (len(e.Properties) == 0 || json.Valid(e.Properties)) && (len(e.DeviceInfo) == 0 || json.Valid(e.DeviceInfo))
}

func appendJSONTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendJSONOptTime is optTime's JSON: null for the zero time.
func appendJSONOptTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	return appendJSONTime(dst, t)
}

// appendJSONOptString is optString's JSON: null for "".
func appendJSONOptString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string escaped as encoding/json does by default: " \ and control
// characters, < > & as \u003c \u003e \u0026, U+2028 and U+2029 escaped, invalid UTF-8 as
// U+FFFD (stores sanitize it away before).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONRaw appends raw (a valid JSON value, or empty for null) compacted and HTML-escaped as json.Marshal
// writes a json.RawMessage: white space outside strings dropped, < > & U+2028 U+2029 escaped.
func appendJSONRaw(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	inString, start := false, 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped byte is copied as is
		case inString && c == '"':
			inString = false
		case inString && (c == '<' || c == '>' || c == '&'):
			dst = append(dst, raw[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case inString && c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8:
			dst = append(dst, raw[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xF])
			i += 2
			start = i + 1
		case inString:
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		}
	}
	return append(dst, raw[start:]...)
}
