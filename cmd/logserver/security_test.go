package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/internal/redistest"
)

var secretRE = regexp.MustCompile(`(?m)^(lk_[0-9a-f]{12})_\S+$`)

// createKey runs "logserver keys create" with env and returns the secret and its key ID.
func createKey(t *testing.T, env map[string]string, args ...string) (secret, id string) {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), append([]string{"keys", "create"}, args...), envMap(env), &out, io.Discard))
	m := secretRE.FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	return m[0], m[1]
}

// status sends one request and returns the answer's status and headers.
func (s *server) status(t *testing.T, method, path, key string, body []byte) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// keyCacheTTL is how long a server reuses a key lookup: logingest.KeyAuthConfig's default, which logserver uses.
// It is the revocation promise: every replica re-reads a key at most this long after caching it.
const keyCacheTTL = 500 * time.Millisecond

// TestRevocationPropagatesAcrossInstances runs two servers on one PostgreSQL database: a key revoked through
// instance A is refused by instance B, which had it cached, for every request B receives keyCacheTTL or more
// after the revocation, and for good once refused. It asserts the cache's bound, not how fast a loaded machine
// gets a request through: a request B received before the bound may still be served from its cache.
func TestRevocationPropagatesAcrossInstances(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	env := func() map[string]string {
		return map[string]string{"DATABASE_URL": dsn, "LOG_LEVEL": "error", "DATA_DIR": t.TempDir()}
	}
	admin, _ := createKey(t, env(), "-name", "ops", "-scopes", "admin")
	victim, victimID := createKey(t, env(), "-name", "ios", "-scopes", "read", "-source", "habit-tracker-prod")
	// Keys are managed per source: the admin key of the victim's source.
	adminProd, _ := createKey(t, env(), "-name", "ops-prod", "-scopes", "admin", "-source", "habit-tracker-prod")
	a := startServer(t, env())
	b := startServer(t, env())
	require.Empty(t, a.key, "keys exist: no first-start key")

	code, _ := b.status(t, http.MethodGet, "/api/v1/logs/recent", victim, nil)
	require.Equal(t, http.StatusOK, code, "B validates and caches the key")
	code, _ = a.status(t, http.MethodPost, "/api/v1/keys/"+victimID+"/revoke", admin, nil)
	require.Equal(t, http.StatusNotFound, code, "an admin of another source cannot see the key")

	code, _ = b.status(t, http.MethodGet, "/api/v1/logs/recent", victim, nil)
	require.Equal(t, http.StatusOK, code, "B (re)caches the key just before the revocation")
	code, _ = a.status(t, http.MethodPost, "/api/v1/keys/"+victimID+"/revoke", adminProd, nil)
	require.Equal(t, http.StatusOK, code)
	// The revocation committed before A answered, so before revokedAt. B caches a lookup for keyCacheTTL from
	// when the lookup started: any request B starts authenticating at revokedAt + keyCacheTTL or later finds no
	// live cache entry from before the commit and reads the revoked key. Both servers run in this process, on
	// this clock; a request's start here precedes B's reading of the clock.
	revokedAt := time.Now()
	bound := revokedAt.Add(keyCacheTTL)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var served, refusedAfter int
	for refused := false; ; <-tick.C {
		sent := time.Now()
		code, _ := b.status(t, http.MethodGet, "/api/v1/logs/recent", victim, nil)
		switch {
		case code == http.StatusUnauthorized:
			refused = true
		case refused:
			require.Failf(t, "a refused key came back", "B answered %d after refusing the revoked key", code)
		default:
			require.Equal(t, http.StatusOK, code)
			served++
		}
		if !sent.Before(bound) {
			require.Equal(t, http.StatusUnauthorized, code,
				"B served the revoked key to a request sent %s after the revocation (cache TTL %s)", sent.Sub(revokedAt), keyCacheTTL)
			if refusedAfter++; refusedAfter == 3 {
				break
			}
		}
	}
	t.Logf("instance B still served the revoked key from its cache to %d requests sent within %s of the revocation, then refused it",
		served, keyCacheTTL)
	code, _ = a.status(t, http.MethodGet, "/api/v1/logs/recent", victim, nil)
	require.Equal(t, http.StatusUnauthorized, code)
}

// TestKeysRevokeAndRotateCommands: rotation issues a new key with the same name, scopes and source; the old one
// keeps working for the grace period only; revocation ends a key at once.
func TestKeysRevokeAndRotateCommands(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"}
	graceful, gracefulID := createKey(t, env, "-name", "ios", "-scopes", "ingest,read", "-source", "habit-tracker-prod")
	ended, endedID := createKey(t, env, "-name", "android", "-scopes", "read")
	revoked, revokedID := createKey(t, env, "-name", "web", "-scopes", "read")

	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"keys", "rotate", gracefulID, "-grace", "1h"}, envMap(env), &out, io.Discard))
	m := secretRE.FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	rotated := m[0]
	require.Contains(t, out.String(), "source habit-tracker-prod, scopes ingest,read")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"keys", "rotate", "-grace", "0s", endedID}, envMap(env), &out, io.Discard))
	endedNew := secretRE.FindString(out.String())
	require.NotEmpty(t, endedNew)
	require.NoError(t, run(t.Context(), []string{"keys", "revoke", revokedID}, envMap(env), io.Discard, io.Discard))
	require.Error(t, run(t.Context(), []string{"keys", "revoke", "lk_000000000000"}, envMap(env), io.Discard, io.Discard))
	require.ErrorContains(t, run(t.Context(), []string{"keys", "rotate"}, envMap(env), io.Discard, io.Discard), "usage")

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"keys", "list"}, envMap(env), &out, io.Discard))
	require.Equal(t, 5, strings.Count(out.String(), "\nlk_"), out.String())
	require.NotContains(t, out.String(), rotated[16:], "list never shows secrets")

	s := startServer(t, env)
	for key, want := range map[string]int{
		graceful: http.StatusOK, rotated: http.StatusOK, // within the grace period both work
		ended: http.StatusUnauthorized, endedNew: http.StatusOK,
		revoked: http.StatusUnauthorized,
	} {
		code, _ := s.status(t, http.MethodGet, "/api/v1/logs/recent", key, nil)
		require.Equal(t, want, code, key[:15])
	}
}

// TestRedisLimitSharedByInstances: two servers on one Redis spend from one request budget per key.
func TestRedisLimitSharedByInstances(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	env := func() map[string]string {
		return map[string]string{
			"DATA_DIR": t.TempDir(), "API_KEYS": "shared-key", "LOG_LEVEL": "error", "REDIS_URL": url,
			"REDIS_KEY_PREFIX": redistest.Prefix(t, url), "RATE_LIMIT_REQUESTS_PER_MINUTE": "1", "RATE_LIMIT_BURST": "4",
		}
	}
	e := env()
	a := startServer(t, e)
	b := startServer(t, e)
	for i, s := range []*server{a, b, a, b} {
		code, hdr := s.status(t, http.MethodGet, "/api/v1/status", "shared-key", nil)
		require.Equal(t, http.StatusOK, code, "request %d", i)
		require.Equal(t, fmt.Sprint(3-i), hdr.Get("RateLimit-Remaining"), "request %d", i)
	}
	for _, s := range []*server{a, b} {
		code, hdr := s.status(t, http.MethodGet, "/api/v1/status", "shared-key", nil)
		require.Equal(t, http.StatusTooManyRequests, code, "each instance alone would still allow 2 more")
		require.NotEmpty(t, hdr.Get("Retry-After"))
		require.Equal(t, "4", hdr.Get("RateLimit-Limit"))
		require.Equal(t, "0", hdr.Get("RateLimit-Remaining"))
		require.NotEmpty(t, hdr.Get("RateLimit-Reset"))
	}
	// A server with another prefix (another deployment) has its own budget.
	other := env()
	c := startServer(t, other)
	code, _ := c.status(t, http.MethodGet, "/api/v1/status", "shared-key", nil)
	require.Equal(t, http.StatusOK, code)
}

// TestRedisDownFallsBackToLocalLimits points REDIS_URL at a port where nothing listens: the server serves
// traffic, still enforces the limits per process, and reports the fallback in its metrics.
func TestRedisDownFallsBackToLocalLimits(t *testing.T) {
	t.Parallel()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	s := startServer(t, map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error", "REDIS_URL": "redis://" + deadAddr + "/0",
		"RATE_LIMIT_REQUESTS_PER_MINUTE": "1", "RATE_LIMIT_BURST": "3",
	})
	for i := range 3 {
		code, _ := s.status(t, http.MethodPost, "/api/v1/ingest", "k", readTestdata(t, "single.json"))
		require.Equal(t, http.StatusCreated, code, "request %d", i)
	}
	code, _ := s.status(t, http.MethodPost, "/api/v1/ingest", "k", readTestdata(t, "single.json"))
	require.Equal(t, http.StatusTooManyRequests, code, "the local fallback still limits")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/metrics", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^logingest_ratelimit_fallback_total [1-9]`, string(text))
	require.Contains(t, string(text), "logingest_ratelimit_fallback_active 1")
}

func TestAuthFailuresLimitedPerClient(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": "right-key", "LOG_LEVEL": "error", "AUTH_FAILURES_PER_MINUTE": "3",
	})
	for i := range 3 {
		code, _ := s.status(t, http.MethodGet, "/api/v1/status", fmt.Sprint("guess-", i), nil)
		require.Equal(t, http.StatusUnauthorized, code)
	}
	code, hdr := s.status(t, http.MethodGet, "/api/v1/status", "guess-3", nil)
	require.Equal(t, http.StatusTooManyRequests, code)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	code, _ = s.status(t, http.MethodGet, "/api/v1/status", "right-key", nil)
	require.Equal(t, http.StatusTooManyRequests, code, "a blocked client cannot tell a right guess from a wrong one")
}

// TestSlowClientIsCutOff: a client that sends its headers one byte at a time is disconnected by the server's
// ReadHeaderTimeout, and other clients are served meanwhile.
func TestSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error", "HTTP_READ_HEADER_TIMEOUT": "300ms"})
	addr := strings.TrimPrefix(s.url, "http://")
	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	defer conn.Close()

	header := "GET /api/v1/status HTTP/1.1\r\nHost: " + addr + "\r\nX-API-Key: k\r\nUser-Agent: slowloris\r\n\r\n"
	start := time.Now()
	sent := make(chan int, 1)
	go func() { // one byte every 50ms: the whole header would take several seconds
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for ; n < len(header); n++ {
			if _, err := conn.Write([]byte{header[n]}); err != nil {
				break
			}
			<-tick.C
		}
		sent <- n
	}()

	// Meanwhile another client is served normally.
	code, _ := s.status(t, http.MethodGet, "/api/v1/status", "k", nil)
	require.Equal(t, http.StatusOK, code)

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		require.NotEqual(t, http.StatusOK, resp.StatusCode, "the slow request must not be served")
	}
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server, not our read deadline, must end the connection")
	cutAfter := time.Since(start)
	require.Less(t, cutAfter, 3*time.Second, "cut off by the 300ms ReadHeaderTimeout")
	_ = conn.Close()
	require.Less(t, <-sent, len(header), "the header was never completely sent")
	t.Logf("slow client cut off after %s", cutAfter.Round(time.Millisecond))

	code, _ = s.status(t, http.MethodGet, "/api/v1/status", "k", nil)
	require.Equal(t, http.StatusOK, code, "the server keeps serving")
}

// TestOversizedHeadersRefused: MaxHeaderBytes bounds what a client can make the server buffer.
func TestOversizedHeadersRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error"})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/api/v1/status", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", "k")
	req.Header.Set("X-Padding", strings.Repeat("a", 200<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}
