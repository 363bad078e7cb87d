package logingest_test

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

func TestKeyLimitsValidate(t *testing.T) {
	t.Parallel()
	ok := []logingest.KeyLimits{
		{},
		{RequestsPerMinute: -1, EventsPerMinute: -1},
		{RequestsPerMinute: 0.001, RequestBurst: 1, EventsPerMinute: 1e9, EventsBurst: 100000},
		{RequestsPerMinute: 60, RequestBurst: 10},
	}
	for _, l := range ok {
		require.NoError(t, l.Validate(), "%+v", l)
		require.Equal(t, l, l.Sanitized())
	}
	bad := []struct {
		l     logingest.KeyLimits
		field string
	}{
		{logingest.KeyLimits{RequestsPerMinute: 0.0004}, "limits.requests_per_minute"}, // Redis: rounds to 0 per 1000 min
		{logingest.KeyLimits{RequestsPerMinute: 1e-9}, "limits.requests_per_minute"},   // in-memory: interval overflows
		{logingest.KeyLimits{EventsPerMinute: 1e9 + 1}, "limits.events_per_minute"},
		{logingest.KeyLimits{EventsPerMinute: math.NaN()}, "limits.events_per_minute"},
		{logingest.KeyLimits{RequestsPerMinute: math.Inf(1)}, "limits.requests_per_minute"},
		{logingest.KeyLimits{RequestBurst: math.MaxInt64}, "limits.request_burst"},
		{logingest.KeyLimits{EventsBurst: 100001}, "limits.events_burst"},
		{logingest.KeyLimits{EventsBurst: -1}, "limits.events_burst"},
	}
	for _, tt := range bad {
		err := tt.l.Validate()
		require.ErrorIs(t, err, logingest.ErrInvalid, "%+v", tt.l)
		var ve *logingest.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, tt.field, ve.Errors[0].Field)
		require.NoError(t, tt.l.Sanitized().Validate(), "Sanitized of %+v", tt.l)
	}
}

func TestValidateKeyName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ci", "iOS app (prod) — v2", strings.Repeat("é", 200), "ações ✓ 😀"} {
		require.NoError(t, logingest.ValidateKeyName(name), "%q", name)
	}
	for name, reason := range map[string]string{
		"":                       "must be 1 to 200 characters, not only spaces",
		"   ":                    "must be 1 to 200 characters, not only spaces",
		strings.Repeat("x", 201): "is 201 characters, limit is 200",
		"evil\x1b[31mred":        "must be printable text; U+001B is not",
		"two\nlines":             "must be printable text; U+000A is not",
		"nul\x00":                "must be printable text; U+0000 is not",
		"tab\there":              "must be printable text; U+0009 is not",
		"bidi\u202eevil":         "must be printable text; U+202E is not",
		"c1\u009b31m":            "must be printable text; U+009B is not",
		"bad\xffutf8":            "must be valid UTF-8",
	} {
		err := logingest.ValidateKeyName(name)
		require.ErrorIs(t, err, logingest.ErrInvalid, "%q", name)
		require.Equal(t, &logingest.ValidationError{Errors: []logingest.FieldError{{Field: "name", Reason: reason}}}, err, "%q", name)
	}
	require.ErrorContains(t, logingest.ValidateKeySource("a\nb"), "source: must be printable text")
}
