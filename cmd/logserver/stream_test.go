package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLiveTailOutlivesWriteTimeout: HTTP_WRITE_TIMEOUT bounds how long an ordinary answer may take, but a live
// tail (GET /api/v1/logs/stream, Server-Sent Events) stays open as long as its client watches: it keeps
// delivering fresh events well past the server's write timeout.
func TestLiveTailOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const key, writeTimeout = "tail-key", time.Second
	s := startServer(t, map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_LEVEL": "error", "HTTP_WRITE_TIMEOUT": writeTimeout.String(),
	})
	// Bounds a read that would otherwise hang; the stream itself is expected to live on.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/logs/stream", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	opened := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := bufio.NewScanner(resp.Body)

	// Ingest an event and wait for it on the stream, again and again, until the stream has been open for three
	// times the write timeout.
	for i := 0; i < 3 || time.Since(opened) < 3*writeTimeout; i++ {
		id := fmt.Sprintf("tail-%d", i)
		body := fmt.Sprintf(`{"event_id":%q,"timestamp":%q,"event_type":"behavioral","event_name":"live"}`,
			id, time.Now().UTC().Format(time.RFC3339Nano))
		code, answer := s.do(t, http.MethodPost, "/api/v1/ingest", key, []byte(body))
		require.Equal(t, http.StatusCreated, code, answer)
		for found := false; !found; {
			require.True(t, lines.Scan(), "the stream ended %s after it opened (HTTP_WRITE_TIMEOUT %s): %v",
				time.Since(opened).Round(time.Millisecond), writeTimeout, lines.Err())
			found = strings.HasPrefix(lines.Text(), "data: ") && strings.Contains(lines.Text(), `"event_id":"`+id+`"`)
		}
	}
	t.Logf("the live tail delivered events for %s with HTTP_WRITE_TIMEOUT=%s", time.Since(opened).Round(time.Millisecond), writeTimeout)
}
