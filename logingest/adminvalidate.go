package logingest

import (
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The ranges of per-key limits (KeyLimits) that every limiter and store can represent. The in-memory limiter
// keeps one token's refill time (1 minute / rate) and a full bucket's (burst of them) as int64 nanoseconds, at
// most about 292 years; the Redis limiter keeps the rate as an integer number of tokens per 1000 minutes. So a
// rate must be at least 0.001 per minute (a token per 1000 minutes) and at most 1e9 (a token per 60 ns), and
// a burst at most 100000: 100000 tokens at 0.001 per minute refill in 1e8 minutes (190 years), within
// MaxBucketMinutes. Both stores keep rates as double precision and bursts as 32-bit integers.
const (
	MinKeyRatePerMinute = 0.001
	MaxKeyRatePerMinute = 1_000_000_000
	MaxKeyBurst         = 100_000
)

// MaxBucketMinutes bounds burst / rate-per-minute, the minutes an empty bucket takes to refill, for any rate
// limit (per key or server-wide): 1.5e8 minutes (285 years) is the most the in-memory limiter's int64
// nanoseconds hold with margin.
const MaxBucketMinutes = 150_000_000

// MaxKeyNameLength bounds API key names (and key sources), in characters.
const MaxKeyNameLength = 200

// Validate checks that every set field of l is within the ranges the limiters and stores can represent: a
// rate is 0 (the server default), negative (unlimited) or between MinKeyRatePerMinute and MaxKeyRatePerMinute;
// a burst is 0 (the server default) or between 1 and MaxKeyBurst. It returns a *ValidationError (matching
// ErrInvalid) naming each bad field as "limits.<json name>".
func (l KeyLimits) Validate() error {
	var errs []FieldError
	for _, r := range []struct {
		field string
		v     float64
	}{{"limits.requests_per_minute", l.RequestsPerMinute}, {"limits.events_per_minute", l.EventsPerMinute}} {
		if reason := rateProblem(r.v); reason != "" {
			errs = append(errs, FieldError{Field: r.field, Reason: reason})
		}
	}
	for _, b := range []struct {
		field string
		v     int
	}{{"limits.request_burst", l.RequestBurst}, {"limits.events_burst", l.EventsBurst}} {
		if b.v < 0 || b.v > MaxKeyBurst {
			errs = append(errs, FieldError{Field: b.field, Reason: fmt.Sprintf("must be 0 (server default) or between 1 and %d", MaxKeyBurst)})
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Errors: errs}
	}
	return nil
}

func rateProblem(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "must be a finite number"
	case v == 0 || v < 0:
		return ""
	case v < MinKeyRatePerMinute || v > MaxKeyRatePerMinute:
		return fmt.Sprintf("must be 0 (server default), negative (unlimited) or between %g and %g per minute",
			MinKeyRatePerMinute, float64(MaxKeyRatePerMinute))
	}
	return ""
}

// Sanitized returns l with every field that Validate would refuse reset to 0 (the server default), so that a
// key stored before validation existed cannot break a limiter.
func (l KeyLimits) Sanitized() KeyLimits {
	if rateProblem(l.RequestsPerMinute) != "" {
		l.RequestsPerMinute = 0
	}
	if rateProblem(l.EventsPerMinute) != "" {
		l.EventsPerMinute = 0
	}
	if l.RequestBurst < 0 || l.RequestBurst > MaxKeyBurst {
		l.RequestBurst = 0
	}
	if l.EventsBurst < 0 || l.EventsBurst > MaxKeyBurst {
		l.EventsBurst = 0
	}
	return l
}

// ValidateKeyName checks an API key name: 1 to MaxKeyNameLength characters of printable text (letters, marks,
// numbers, punctuation, symbols and the ASCII space; no control characters, escape sequences, NUL, line
// breaks, or invisible formatting characters such as bidirectional overrides), not only spaces. It returns a
// *ValidationError (matching ErrInvalid) naming the field "name".
func ValidateKeyName(name string) error { return validateLabel("name", name) }

// ValidateKeySource checks the source of an API key with the rules of ValidateKeyName; the field is "source".
func ValidateKeySource(source string) error { return validateLabel("source", source) }

func validateLabel(field, s string) error {
	reason := ""
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		reason = reasonInvalidUTF8
	case strings.TrimSpace(s) == "":
		reason = fmt.Sprintf("must be 1 to %d characters, not only spaces", MaxKeyNameLength)
	case n > MaxKeyNameLength:
		reason = fmt.Sprintf("is %d characters, limit is %d", n, MaxKeyNameLength)
	default:
		for _, r := range s {
			if r != ' ' && !unicode.IsPrint(r) {
				reason = fmt.Sprintf("must be printable text; %U is not", r)
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return &ValidationError{Errors: []FieldError{{Field: field, Reason: reason}}}
}
