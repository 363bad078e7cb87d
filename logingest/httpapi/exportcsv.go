package httpapi

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/change66/logserver/logingest"
)

// appendCSVHeader appends the CSV header record (exportColumns).
func appendCSVHeader(dst []byte) []byte {
	for i, c := range exportColumns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendCSVField(dst, c)
	}
	return append(dst, '\n')
}

// appendCSVRecord appends e as one CSV record of exportColumns (sequence_number empty when absent), byte for
// byte what encoding/csv's Writer (comma, no CRLF) writes for it (TestAppendCSVRecordMatchesEncodingCSV).
// Free-text cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) are
// prefixed with an apostrophe: the ingest key is public, so an event can carry anything.
func appendCSVRecord(dst []byte, e *logingest.Event) []byte {
	dst = strconv.AppendInt(dst, e.ID, 10)
	dst = appendCSVText(append(dst, ','), e.EventID)
	dst = append(dst, ',')
	dst = e.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano) // never needs quotes
	dst = append(dst, ',')
	dst = e.ReceivedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = appendCSVText(append(dst, ','), string(e.EventType))
	dst = appendCSVText(append(dst, ','), e.EventName)
	dst = appendCSVText(append(dst, ','), e.UserID)
	dst = appendCSVText(append(dst, ','), e.SessionID)
	dst = appendCSVText(append(dst, ','), e.AppVersion)
	dst = appendCSVText(append(dst, ','), string(e.Priority))
	dst = append(dst, ',')
	if e.SequenceNumber != nil {
		dst = strconv.AppendInt(dst, *e.SequenceNumber, 10)
	}
	dst = appendCSVText(append(dst, ','), e.Source)
	dst = appendCSVText(append(dst, ','), []byte(e.Properties))
	dst = appendCSVText(append(dst, ','), []byte(e.DeviceInfo))
	return append(dst, '\n')
}

// appendCSVText appends s as a cell, with an apostrophe first when it starts with = + - @, tab or carriage
// return (a formula to a spreadsheet).
func appendCSVText[T string | []byte](dst []byte, s T) []byte {
	if len(s) > 0 {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			// Starting with an apostrophe, the cell needs quotes only for the characters inside it.
			dst = append(dst, '\'')
			if !csvQuote(s, false) {
				return append(dst, s...)
			}
			dst = dst[:len(dst)-1]
			dst = append(dst, '"', '\'')
			return append(appendCSVQuoted(dst, s), '"')
		}
	}
	return appendCSVField(dst, s)
}

// appendCSVField appends s as encoding/csv writes a field: as is, or quoted, with each " doubled.
func appendCSVField[T string | []byte](dst []byte, s T) []byte {
	if !csvQuote(s, true) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	return append(appendCSVQuoted(dst, s), '"')
}

// appendCSVQuoted appends s with each " doubled.
func appendCSVQuoted[T string | []byte](dst []byte, s T) []byte {
	start := 0
	for i := range len(s) {
		if s[i] == '"' {
			dst = append(dst, s[start:i+1]...)
			dst = append(dst, '"')
			start = i + 1
		}
	}
	return append(dst, s[start:]...)
}

// csvQuote reports whether encoding/csv quotes the field s: when it holds a comma, a quote, \r or \n, is
// exactly `\.`, or (first is true: s is the whole field) starts with a Unicode space.
func csvQuote[T string | []byte](s T, first bool) bool {
	if len(s) == 0 {
		return false
	}
	if len(s) == 2 && s[0] == '\\' && s[1] == '.' && first {
		return true
	}
	for i := range len(s) {
		if c := s[i]; c == '\n' || c == '\r' || c == '"' || c == ',' {
			return true
		}
	}
	if !first {
		return false
	}
	var r rune
	if b, ok := any(s).([]byte); ok {
		r, _ = utf8.DecodeRune(b)
	} else {
		r, _ = utf8.DecodeRuneInString(string(s))
	}
	return unicode.IsSpace(r)
}
