package main

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/sqlite"
)

func TestTermSafe(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain name (prod) — ✓":     "plain name (prod) — ✓",
		"evil\x1b[2J\x1b]0;pwned\a": `evil\x1b[2J\x1b]0;pwned\a`,
		"two\nlines\r\tx":           `two\nlines\r\tx`,
		"nul\x00":                   `nul\x00`,
		"bidi\u202eevil":            `bidi\u202eevil`,
		"c1\u009b":                  `c1\u009b`,
		"bad\xff":                   `bad\xff`,
		`back\slash`:                `back\\slash`,
	} {
		require.Equal(t, want, termSafe(in), "%q", in)
	}
}

// TestKeysList_EscapesStoredNames: a key stored with a hostile name (before validation existed, or written by
// another program) cannot reach the operator's terminal through `logserver keys list` as escape sequences.
func TestKeysList_EscapesStoredNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "logingest.db"), &sqlite.Config{AutoMigrate: true})
	require.NoError(t, err)
	_, key, err := logingest.GenerateAPIKey("evil\x1b[2J\x1b]0;owned\a\nfake-row", "src\x00\u202e", logingest.ScopeRead, time.Now())
	require.NoError(t, err)
	require.NoError(t, st.CreateAPIKey(t.Context(), key))
	require.NoError(t, st.Close())

	var out bytes.Buffer
	env := envMap(map[string]string{"DATA_DIR": dir, "LOG_LEVEL": "error", "API_KEYS": "x"})
	require.NoError(t, run(t.Context(), []string{"keys", "list"}, env, &out, io.Discard))
	require.NotContains(t, out.String(), "\x1b")
	require.NotContains(t, out.String(), "\a")
	require.NotContains(t, out.String(), "\x00")
	require.NotContains(t, out.String(), "\u202e")
	require.Contains(t, out.String(), `evil\x1b[2J\x1b]0;owned\a\nfake-row`)
	require.Contains(t, out.String(), `src\x00\u202e`)
	require.Equal(t, 2, bytes.Count(out.Bytes(), []byte("\n")), "a header and one row: %q", out.String())
}
