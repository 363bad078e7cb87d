package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/change66/logserver/logingest"
)

// termSafe returns s fit to print on an operator's terminal: every byte or character that is not printable
// text (control characters such as ESC, which starts ANSI escape sequences, NUL, tabs and line breaks,
// invisible formatting characters such as bidirectional overrides, invalid UTF-8) is shown as a Go escape
// (\x1b, \n, \u202e), and so is the backslash itself, so the output cannot be mistaken for another value.
// Stored key names and sources are untrusted: keys can be created through the API.
func termSafe(s string) string {
	clean := true
	for _, r := range s {
		if r == '\\' || r == utf8.RuneError || (r != ' ' && !unicode.IsPrint(r)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := fmt.Sprintf("%+q", string(r)) // "\x1b", "\n", "\u202e"
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// flagNames rewrites the field errors of err (validation errors of key fields) with the CLI's flag names.
func flagNames(err error) string {
	flags := map[string]string{
		"name": "-name", "source": "-source",
		"limits.requests_per_minute": "-requests-per-minute", "limits.events_per_minute": "-events-per-minute",
	}
	var parts []string
	for _, e := range unwrapAll(err) {
		if ve, ok := errors.AsType[*logingest.ValidationError](e); ok {
			for _, fe := range ve.Errors {
				name := flags[fe.Field]
				if name == "" {
					name = fe.Field
				}
				parts = append(parts, name+" "+fe.Reason)
			}
		}
	}
	return strings.Join(parts, "; ")
}

// unwrapAll returns the errors joined in err (errors.Join), or err itself.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok { // errors.Join's list, not a wrapped error
		return j.Unwrap()
	}
	return []error{err}
}
