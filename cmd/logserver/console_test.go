package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// TestConsoleMount: the console at /ui/ with / redirecting to it, the API beside it, and CONSOLE_ENABLED=false
// removing both.
func TestConsoleMount(t *testing.T) {
	t.Parallel()
	client := &http.Client{CheckRedirect: noRedirect}
	getStatus := func(url string) (int, http.Header) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}

	on := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error"})
	code, hdr := getStatus(on.url + "/")
	require.Equal(t, http.StatusFound, code)
	require.Equal(t, "/ui/", hdr.Get("Location"))
	code, hdr = getStatus(on.url + "/ui/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, hdr.Get("Content-Security-Policy"), "script-src 'self'")
	code, hdr = getStatus(on.url + "/ui")
	require.Contains(t, []int{http.StatusMovedPermanently, http.StatusTemporaryRedirect}, code)
	require.Equal(t, "/ui/", hdr.Get("Location"))
	code, _ = getStatus(on.url + "/liveness")
	require.Equal(t, http.StatusOK, code, "the API's routes are unchanged")
	code, _ = on.do(t, http.MethodGet, "/api/v1/logs/recent", "k", nil)
	require.Equal(t, http.StatusOK, code)

	off := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error", "CONSOLE_ENABLED": "false"})
	code, _ = getStatus(off.url + "/ui/")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = getStatus(off.url + "/")
	require.Equal(t, http.StatusNotFound, code)
}
