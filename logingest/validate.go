package logingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// Limits bounds the fields of one event. The zero value of every field means its default.
type Limits struct {
	// MaxEventIDLength is the longest accepted event_id, in characters. Defaults to 128; at most 600.
	MaxEventIDLength int
	// MaxEventNameLength is the longest accepted event_name, in characters. Defaults to 200; at most 600.
	MaxEventNameLength int
	// MaxIDLength is the longest accepted user_id, session_id, app_version and properties.provider_name, in
	// characters. Defaults to 256; at most 600.
	MaxIDLength int
	// MaxObjectBytes is the largest accepted properties or device_info object, in bytes of JSON. Defaults to
	// 32 KiB; at most 16 MiB.
	MaxObjectBytes int
	// MaxObjectDepth is the deepest accepted nesting of properties or device_info; the object itself is level 1.
	// Defaults to 10; at most 500.
	MaxObjectDepth int
	// MaxFutureSkew is how far past the server's clock a timestamp may be (client clock skew). Older timestamps
	// are always accepted, since offline buffers can be days old. Defaults to 24h.
	MaxFutureSkew time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxEventIDLength == 0 {
		l.MaxEventIDLength = 128
	}
	if l.MaxEventNameLength == 0 {
		l.MaxEventNameLength = 200
	}
	if l.MaxIDLength == 0 {
		l.MaxIDLength = 256
	}
	if l.MaxObjectBytes == 0 {
		l.MaxObjectBytes = 32 << 10
	}
	if l.MaxObjectDepth == 0 {
		l.MaxObjectDepth = 10
	}
	if l.MaxFutureSkew == 0 {
		l.MaxFutureSkew = 24 * time.Hour
	}
	return l
}

// Upper bounds of the configurable Limits, so that whatever validation accepts every store can hold: a
// PostgreSQL b-tree entry (the indexes on event_name, user_id, session_id and properties->>'provider_name')
// holds at most about 2.7 KB, that is 600 characters of up to 4 bytes; SQLite's JSON functions refuse nesting
// deeper than 1000; jsonb holds at most 255 MiB per value and SQLite 1 GB per string, far above 16 MiB.
const (
	maxConfigStringLength = 600
	maxConfigObjectBytes  = 16 << 20
	maxConfigObjectDepth  = 500
)

func (l Limits) validate() error {
	switch {
	case l.MaxEventIDLength > maxConfigStringLength:
		return fmt.Errorf("Limits.MaxEventIDLength must be at most %d", maxConfigStringLength)
	case l.MaxEventNameLength > maxConfigStringLength:
		return fmt.Errorf("Limits.MaxEventNameLength must be at most %d", maxConfigStringLength)
	case l.MaxIDLength > maxConfigStringLength:
		return fmt.Errorf("Limits.MaxIDLength must be at most %d", maxConfigStringLength)
	case l.MaxObjectBytes > maxConfigObjectBytes:
		return fmt.Errorf("Limits.MaxObjectBytes must be at most %d", maxConfigObjectBytes)
	case l.MaxObjectDepth > maxConfigObjectDepth:
		return fmt.Errorf("Limits.MaxObjectDepth must be at most %d", maxConfigObjectDepth)
	case l.MaxEventIDLength < 0:
		return fmt.Errorf("Limits.MaxEventIDLength must not be negative")
	case l.MaxEventNameLength < 0:
		return fmt.Errorf("Limits.MaxEventNameLength must not be negative")
	case l.MaxIDLength < 0:
		return fmt.Errorf("Limits.MaxIDLength must not be negative")
	case l.MaxObjectBytes < 0:
		return fmt.Errorf("Limits.MaxObjectBytes must not be negative")
	case l.MaxObjectDepth < 0:
		return fmt.Errorf("Limits.MaxObjectDepth must not be negative")
	case l.MaxFutureSkew < 0:
		return fmt.Errorf("Limits.MaxFutureSkew must not be negative")
	}
	return nil
}

// eventValidator checks one event: the static rules (required fields, enumerations) through go-playground/validator
// struct tags, and the configurable limits by hand.
type eventValidator struct {
	limits Limits
	v      *validator.Validate
}

// The validation tags of Event's enumerations (`validate:"required,event_type"`), checked by their Valid methods.
const (
	tagEventType = "event_type"
	tagPriority  = "priority"
)

func newEventValidator(l Limits) *eventValidator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	// The enumerations are checked against their one definition (EventTypes, Priorities), not a tag's copy.
	mustRegister(v, tagEventType, func(fl validator.FieldLevel) bool { return EventType(fl.Field().String()).Valid() })
	mustRegister(v, tagPriority, func(fl validator.FieldLevel) bool { return Priority(fl.Field().String()).Valid() })
	return &eventValidator{limits: l, v: v}
}

// mustRegister registers a validation tag; it fails only for an empty tag or a nil func, a bug here.
func mustRegister(v *validator.Validate, tag string, fn validator.Func) {
	if err := v.RegisterValidation(tag, fn); err != nil {
		panic(fmt.Sprintf("register validation %q: %v", tag, err))
	}
}

// check returns every problem with e, which has already been normalised (priority defaulted, objects defaulted).
func (ev *eventValidator) check(e *Event, now time.Time) []FieldError {
	var errs []FieldError
	// The validator walks the struct by reflection, which costs a dozen allocations per event; passesTags checks
	// the same rules directly, so only an event that breaks one goes through it (to name the fields).
	if !passesTags(e) {
		if err := ev.v.Struct(e); err != nil {
			var verrs validator.ValidationErrors
			if !errors.As(err, &verrs) {
				return []FieldError{{Field: "event", Reason: err.Error()}}
			}
			for _, fe := range verrs {
				errs = append(errs, FieldError{Field: fe.Field(), Reason: tagReason(fe)})
			}
		}
	}
	l := ev.limits
	errs = checkLen(errs, "event_id", e.EventID, l.MaxEventIDLength)
	errs = checkLen(errs, "event_name", e.EventName, l.MaxEventNameLength)
	errs = checkLen(errs, "user_id", e.UserID, l.MaxIDLength)
	errs = checkLen(errs, "session_id", e.SessionID, l.MaxIDLength)
	errs = checkLen(errs, "app_version", e.AppVersion, l.MaxIDLength)
	errs = ev.checkObject(errs, "properties", e.Properties)
	errs = ev.checkObject(errs, "device_info", e.DeviceInfo)
	ev0 := reflect.ValueOf(e).Elem()
	for _, f := range eventFields.times { // every timestamp the client sent (timestamp, sent_at, ...)
		t, _ := reflect.TypeAssert[time.Time](ev0.Field(f.index))
		errs = checkYear(errs, f.name, t)
	}
	if !e.Timestamp.IsZero() && e.Timestamp.After(now.Add(l.MaxFutureSkew)) {
		errs = append(errs, FieldError{Field: "timestamp", Reason: fmt.Sprintf("more than %s in the future", l.MaxFutureSkew)})
	}
	return errs
}

// passesTags reports whether e satisfies the validate tags of Event: when it does, the
// validator would report nothing. TestPassesTagsMatchesValidator keeps the two in step.
func passesTags(e *Event) bool {
	return e.EventID != "" && !e.Timestamp.IsZero() && e.EventType != "" && e.EventType.Valid() && e.EventName != "" &&
		(e.Priority == "" || e.Priority.Valid())
}

// MinYear and MaxYear bound the year of every timestamp, in UTC: RFC 3339 (and so JSON encoding of a
// time.Time) only has four-digit years, and year 0 does not exist in the proleptic Gregorian calendar of
// PostgreSQL. The offset counts: 0001-01-01T00:30:00+01:00 is in year 0 in UTC and is rejected.
const (
	MinYear = 1
	MaxYear = 9999
)

// checkYear rejects a set time whose UTC year is outside MinYear..MaxYear. The zero time is "not set" and left
// to the required check.
func checkYear(errs []FieldError, field string, t time.Time) []FieldError {
	if t.IsZero() {
		return errs
	}
	if y := t.UTC().Year(); y < MinYear || y > MaxYear {
		return append(errs, FieldError{Field: field, Reason: fmt.Sprintf("is in year %d in UTC, must be in years %d to %d", y, MinYear, MaxYear)})
	}
	return errs
}

func tagReason(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case tagEventType:
		return oneOfReason(EventTypes())
	case tagPriority:
		return oneOfReason(Priorities())
	}
	return "failed " + fe.Tag() + " check"
}

// checkLen checks that s is valid UTF-8 without NUL (which no PostgreSQL text can hold) and at most maxChars
// characters long.
func checkLen(errs []FieldError, field, s string, maxChars int) []FieldError {
	if strings.IndexByte(s, 0) >= 0 {
		return append(errs, FieldError{Field: field, Reason: "must not contain the NUL character (U+0000)"})
	}
	if len(s) <= maxChars { // bytes ≥ characters: the common case needs no rune count
		if !utf8.ValidString(s) {
			return append(errs, FieldError{Field: field, Reason: reasonInvalidUTF8})
		}
		return errs
	}
	if !utf8.ValidString(s) {
		return append(errs, FieldError{Field: field, Reason: reasonInvalidUTF8})
	}
	if n := utf8.RuneCountInString(s); n > maxChars {
		return append(errs, FieldError{Field: field, Reason: fmt.Sprintf("is %d characters, limit is %d", n, maxChars)})
	}
	return errs
}

func (ev *eventValidator) checkObject(errs []FieldError, field string, raw json.RawMessage) []FieldError {
	if len(raw) > ev.limits.MaxObjectBytes {
		return append(errs, FieldError{Field: field, Reason: fmt.Sprintf("is %d bytes, limit is %d", len(raw), ev.limits.MaxObjectBytes)})
	}
	depth, problem := objectShape(raw)
	if problem != "" {
		return append(errs, FieldError{Field: field, Reason: problem})
	}
	if depth > ev.limits.MaxObjectDepth {
		return append(errs, FieldError{
			Field:  field,
			Reason: fmt.Sprintf("is nested %d levels deep, limit is %d", depth, ev.limits.MaxObjectDepth),
		})
	}
	if field == "properties" {
		errs = ev.checkProviderName(errs, raw)
	}
	return errs
}

// checkProviderName bounds properties.provider_name, which the stores index (PostgreSQL: a b-tree on
// properties->>'provider_name', whose entries cannot exceed about 2.7 KB): a string of at most MaxIDLength
// characters, or any other value of at most MaxIDLength bytes of JSON. raw is a valid JSON object.
func (ev *eventValidator) checkProviderName(errs []FieldError, raw json.RawMessage) []FieldError {
	// Only decode objects that can hold the key: literally, or spelled with escapes.
	if !bytes.Contains(raw, []byte("provider_name")) && !bytes.Contains(raw, []byte(`\u`)) {
		return errs
	}
	v, ok := topLevelMember(raw, "provider_name")
	if !ok {
		return errs
	}
	limit := ev.limits.MaxIDLength
	var s string
	if json.Unmarshal(v, &s) == nil {
		if n := utf8.RuneCountInString(s); n > limit {
			return append(errs, FieldError{Field: "properties.provider_name", Reason: fmt.Sprintf("is %d characters, limit is %d", n, limit)})
		}
		return errs
	}
	if len(v) > limit {
		return append(errs, FieldError{Field: "properties.provider_name", Reason: fmt.Sprintf("is %d bytes of JSON, limit is %d", len(v), limit)})
	}
	return errs
}

// objectShape returns the maximum nesting depth of raw and, when raw cannot be stored, why. raw must be a
// single valid JSON object in valid UTF-8 whose strings contain neither the escape \u0000 nor an unpaired
// UTF-16 surrogate escape, and whose numbers are within MaxJSONNumberMagnitude and MaxJSONNumberScale: all of
// these are valid JSON (or, for invalid UTF-8, accepted by encoding/json), but PostgreSQL's jsonb rejects them,
// and a response that carries invalid UTF-8 is not JSON. (Raw control characters cannot occur: valid JSON
// escapes them.)
func objectShape(raw json.RawMessage) (int, string) {
	i := skipSpaces(raw, 0)
	if i == len(raw) || raw[i] != '{' || !json.Valid(raw) {
		return 0, "must be a JSON object"
	}
	// json.Valid does not look at the bytes inside strings, and only strings can hold bytes >= 0x80.
	if !utf8.Valid(raw) {
		return 0, reasonInvalidUTF8
	}
	depth, maxDepth, inString := 0, 0, false
	for ; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				if raw[i+1] != 'u' { // json.Valid: an escape is complete
					i++
					continue
				}
				switch u := hex4(raw[i+2 : i+6]); {
				case u == 0:
					return 0, `must not contain \u0000 (NUL)`
				case u >= 0xD800 && u <= 0xDBFF: // a high surrogate must be followed by a low one
					if i+11 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
						return 0, unpairedSurrogate
					}
					if lo := hex4(raw[i+8 : i+12]); lo < 0xDC00 || lo > 0xDFFF {
						return 0, unpairedSurrogate
					}
					i += 11
				case u >= 0xDC00 && u <= 0xDFFF:
					return 0, unpairedSurrogate
				default:
					i += 5
				}
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			end := i + 1
			for end < len(raw) && isNumberByte(raw[end]) {
				end++
			}
			if problem := checkNumber(raw[i:end]); problem != "" {
				return 0, problem
			}
			i = end - 1
		case '{', '[':
			depth++
			if depth > maxDepth {
				maxDepth = depth
			}
		case '}', ']':
			depth--
		}
	}
	return maxDepth, ""
}

// reasonInvalidUTF8 is the FieldError reason for text that is not valid UTF-8.
const reasonInvalidUTF8 = "must be valid UTF-8"

const unpairedSurrogate = "must not contain an unpaired UTF-16 surrogate escape"

// hex4 decodes four hexadecimal digits (already validated by json.Valid).
func hex4(b []byte) int {
	n := 0
	for _, c := range b {
		n <<= 4
		switch {
		case c >= '0' && c <= '9':
			n |= int(c - '0')
		case c >= 'a' && c <= 'f':
			n |= int(c-'a') + 10
		default:
			n |= int(c-'A') + 10
		}
	}
	return n
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
