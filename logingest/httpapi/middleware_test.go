package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	single := readFile(t, "single.json")

	// Every credential failure gets the same answer, apart from the request ID.
	var bodies []string
	for _, mk := range []func(r *http.Request){
		func(*http.Request) {},
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") },
		func(r *http.Request) { r.Header.Set("X-API-Key", "wrong") },
		func(r *http.Request) { r.Header.Set("Authorization", "Basic "+keyFull) },
	} {
		r := request(t, http.MethodPost, "/api/v1/ingest", "", single)
		r.Header.Set("X-Request-ID", "fixed-id")
		mk(r)
		w := serve(e.h, r)
		requireError(t, w, http.StatusUnauthorized, "unauthorized", "")
		require.Equal(t, `Bearer realm="logingest"`, w.Header().Get("WWW-Authenticate"))
		bodies = append(bodies, w.Body.String())
	}
	for _, b := range bodies[1:] {
		require.Equal(t, bodies[0], b)
	}

	// X-API-Key works as well as Bearer.
	r := request(t, http.MethodPost, "/api/v1/ingest", "", single)
	r.Header.Set("X-API-Key", keyIngest)
	require.Equal(t, http.StatusCreated, serve(e.h, r).Code)

	// Scopes.
	requireError(t, do(t, e.h, http.MethodPost, "/api/v1/ingest", keyRead, single), http.StatusForbidden, "forbidden", "")
	batch := readFile(t, "batch-50.json")
	requireError(t, do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyRead, batch), http.StatusForbidden, "forbidden", "")
	for _, path := range []string{"/api/v1/logs/filter", "/api/v1/logs/recent", "/api/v1/metrics", "/api/v1/status"} {
		requireError(t, do(t, e.h, http.MethodGet, path, keyIngest, nil), http.StatusForbidden, "forbidden", "")
		require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, path, keyRead, nil).Code, path)
	}
	require.EqualValues(t, 1, countStored(t, e.store, "app"), "refused requests store nothing")
}

func TestAuthSecureByDefault(t *testing.T) {
	t.Parallel()
	_, err := New(&fakeIngester{}, nil)
	require.NoError(t, err, "a nil Config works")
	h, err := New(&fakeIngester{}, &Config{Logger: testLogger(nil)})
	require.NoError(t, err)
	for _, path := range []string{"/api/v1/logs/filter", "/api/v1/status"} {
		requireError(t, do(t, h, http.MethodGet, path, keyFull, nil), http.StatusUnauthorized, "unauthorized", "")
	}
	requireError(t, do(t, h, http.MethodPost, "/api/v1/ingest", keyFull, []byte(`{}`)), http.StatusUnauthorized, "unauthorized", "")
}

func TestAuthenticatorFailureIs503(t *testing.T) {
	t.Parallel()
	auth := logingest.AuthenticatorFunc(func(*http.Request) (logingest.Principal, error) {
		return logingest.Principal{}, errors.New("key store: connection reset")
	})
	h, err := New(&fakeIngester{}, &Config{Authenticator: auth, Logger: testLogger(nil)})
	require.NoError(t, err)
	w := do(t, h, http.MethodGet, "/api/v1/status", keyFull, nil)
	requireError(t, w, http.StatusServiceUnavailable, "unavailable", "")
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.NotContains(t, w.Body.String(), "connection reset")
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{RequestsPerMinute: 60, Burst: 2})
	get := func(key string) *http.Response {
		return do(t, e.h, http.MethodGet, "/api/v1/logs/recent", key, nil).Result()
	}
	res := get(keyRead)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "2", res.Header.Get("RateLimit-Limit"))
	require.Equal(t, "1", res.Header.Get("RateLimit-Remaining"))
	require.Equal(t, "1", res.Header.Get("RateLimit-Reset"))
	res = get(keyRead)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "0", res.Header.Get("RateLimit-Remaining"))
	require.Equal(t, "2", res.Header.Get("RateLimit-Reset"))

	w := do(t, e.h, http.MethodGet, "/api/v1/logs/recent", keyRead, nil)
	requireError(t, w, http.StatusTooManyRequests, "rate_limited", "")
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Equal(t, "0", w.Header().Get("RateLimit-Remaining"))
	require.Equal(t, "2", w.Header().Get("RateLimit-Limit"))

	// Another key has its own bucket.
	require.Equal(t, http.StatusOK, get(keyFull).StatusCode)

	// Half a token is not enough; a whole one is.
	e.clock.Advance(500 * time.Millisecond)
	require.Equal(t, http.StatusTooManyRequests, get(keyRead).StatusCode)
	e.clock.Advance(500 * time.Millisecond)
	require.Equal(t, http.StatusOK, get(keyRead).StatusCode)
	require.Equal(t, http.StatusTooManyRequests, get(keyRead).StatusCode)

	// A refill to the full burst.
	e.clock.Advance(time.Hour)
	require.Equal(t, http.StatusOK, get(keyRead).StatusCode)
	require.Equal(t, http.StatusOK, get(keyRead).StatusCode)
}

func TestRateLimitDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{RequestsPerMinute: -1, Burst: 1})
	for range 20 {
		w := do(t, e.h, http.MethodGet, "/api/v1/status", keyRead, nil)
		require.Equal(t, http.StatusOK, w.Code)
		require.Empty(t, w.Header().Get("RateLimit-Limit"))
	}
}

func TestLocalLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rate := Rate{PerMinute: 60, Burst: 1}
	l := NewLocalLimiter(&LocalLimiterConfig{Now: clk.Now, MaxKeys: 5000})
	for i := range limiterSweepAt {
		d, err := l.Take(t.Context(), fmt.Sprint("k", i), rate, 1)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	require.Equal(t, limiterSweepAt, l.len())
	// Once the buckets are full again they are forgotten at the next sweep.
	clk.Advance(time.Second)
	_, err := l.Take(t.Context(), "fresh", rate, 1)
	require.NoError(t, err)
	require.Equal(t, 1, l.len())

	// Buckets in use are kept while there is room, and the sweep threshold grows so sweeping stays cheap; at
	// MaxKeys arbitrary buckets go, so memory never exceeds it.
	for i := range 20000 {
		_, err := l.Take(t.Context(), fmt.Sprint("ip", i), rate, 1)
		require.NoError(t, err)
		require.LessOrEqual(t, l.len(), 5000)
	}
	require.Equal(t, 5000, l.len())
}

func TestLocalLimiterGCRA(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := NewLocalLimiter(&LocalLimiterConfig{Now: clk.Now})
	rate := Rate{PerMinute: 600, Burst: 100} // 10 per second
	take := func(n int) RateDecision {
		d, err := l.Take(t.Context(), "ev:k", rate, n)
		require.NoError(t, err)
		return d
	}
	d := take(60)
	require.True(t, d.Allowed)
	require.Equal(t, 40, d.Remaining)
	require.Equal(t, 6*time.Second, d.Reset)
	d = take(41)
	require.False(t, d.Allowed, "41 > 40 left: refused, nothing spent")
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)
	require.Equal(t, 40, take(0).Remaining, "a refused take spends nothing; take(0) only reports")
	require.NoError(t, l.Return(t.Context(), "ev:k", rate, 30))
	require.Equal(t, 70, take(0).Remaining)
	require.NoError(t, l.Return(t.Context(), "ev:k", rate, 1000))
	require.Equal(t, 100, take(0).Remaining, "never more than the burst")
	require.True(t, take(100).Allowed)
	d = take(0)
	require.Equal(t, 0, d.Remaining)
	require.Equal(t, 100*time.Millisecond, d.RetryAfter, "an empty bucket reports when the next token comes")
	clk.Advance(time.Second)
	require.Equal(t, 10, take(0).Remaining)
}

func TestIPBucket(t *testing.T) {
	t.Parallel()
	require.Equal(t, "203.0.113.7", ipBucket("203.0.113.7"))
	require.Equal(t, "2001:db8:1:2::/64", ipBucket("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
	require.Equal(t, ipBucket("2001:db8:1:2::1"), ipBucket("2001:db8:1:2:ffff::9"))
	require.NotEqual(t, ipBucket("2001:db8:1:2::1"), ipBucket("2001:db8:1:3::1"))
}

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	logs := &logingesttest.LogBuffer{}
	ing := &fakeIngester{ingest: func(context.Context, string, []logingest.Event) (*logingest.BatchResult, error) {
		panic("boom: secret state")
	}}
	h, err := New(ing, &Config{Authenticator: testAuth(), Logger: testLogger(logs)})
	require.NoError(t, err)
	w := do(t, h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json"))
	resp := requireError(t, w, http.StatusInternalServerError, "internal", "")
	require.Equal(t, "internal error", resp.Message)
	require.NotContains(t, w.Body.String(), "secret")
	require.Contains(t, logs.String(), "boom: secret state")
	require.Contains(t, logs.String(), `"status":500`)

	// The handler keeps serving.
	require.Equal(t, http.StatusOK, do(t, h, http.MethodGet, "/api/v1/openapi.json", "", nil).Code)
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	logs := &logingesttest.LogBuffer{}
	e := newEnv(t, &Config{Logger: testLogger(logs)})
	tests := []struct {
		sent string
		keep bool
	}{
		{"abc-123_X.y", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"bad id", false},
		{"inject\r\nx: y", false},
		{"", false},
	}
	for _, tt := range tests {
		r := request(t, http.MethodGet, "/api/v1/logs/filter?page=0", keyRead, nil)
		r.Header["X-Request-Id"] = []string{tt.sent}
		w := serve(e.h, r)
		got := w.Header().Get("X-Request-ID")
		if tt.keep {
			require.Equal(t, tt.sent, got)
		} else {
			require.NotEqual(t, tt.sent, got)
			require.True(t, saneRequestID(got), got)
		}
		require.Equal(t, got, decode(t, w).RequestID, "the body carries the same ID")
		require.Contains(t, logs.String(), `"request_id":"`+got+`"`)
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	logs := &logingesttest.LogBuffer{}
	e := newEnv(t, &Config{Logger: testLogger(logs), TrustedProxyHeader: "X-Forwarded-For"})
	r := request(t, http.MethodGet, "/api/v1/logs/filter?user_id=u1", keyRead, nil)
	r.Header.Set("X-Request-ID", "log-test")
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	require.Equal(t, http.StatusOK, serve(e.h, r).Code)
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"msg":"http request"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	require.NotNil(t, line)
	require.Equal(t, "GET", line["method"])
	require.Equal(t, "/api/v1/logs/filter", line["route"])
	require.EqualValues(t, 200, line["status"])
	require.Equal(t, "log-test", line["request_id"])
	require.Equal(t, "k_read", line["key_id"])
	require.Equal(t, "203.0.113.9", line["client_ip"])
	require.Contains(t, line, "duration")
	require.Greater(t, line["bytes"], float64(0))
	require.NotContains(t, logs.String(), keyRead, "the key itself is never logged")
	require.Equal(t, 1, strings.Count(logs.String(), `"key_id"`), "key_id appears once in the access log line")
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, w := range []interface{ Header() http.Header }{
		do(t, e.h, http.MethodGet, "/api/v1/status", keyRead, nil),
		do(t, e.h, http.MethodGet, "/api/v1/status", "", nil),
		do(t, e.h, http.MethodGet, "/nope", "", nil),
	} {
		hdr := w.Header()
		require.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
		require.Equal(t, "DENY", hdr.Get("X-Frame-Options"))
		require.Equal(t, "no-referrer", hdr.Get("Referrer-Policy"))
		require.Contains(t, hdr.Get("Content-Security-Policy"), "default-src 'none'")
		require.Equal(t, "no-store", hdr.Get("Cache-Control"))
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	requireError(t, do(t, e.h, http.MethodGet, "/api/v1/nope", keyFull, nil), http.StatusNotFound, "not_found", "")
	requireError(t, do(t, e.h, http.MethodGet, "/", "", nil), http.StatusNotFound, "not_found", "")

	w := do(t, e.h, http.MethodGet, "/api/v1/ingest", keyFull, nil)
	requireError(t, w, http.StatusMethodNotAllowed, "method_not_allowed", "")
	require.Equal(t, "POST", w.Header().Get("Allow"))

	w = do(t, e.h, http.MethodDelete, "/api/v1/logs/filter", keyFull, nil)
	requireError(t, w, http.StatusMethodNotAllowed, "method_not_allowed", "")
	require.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
}

func TestCORS(t *testing.T) {
	t.Parallel()
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		r := request(t, http.MethodGet, "/api/v1/status", keyRead, nil)
		r.Header.Set("Origin", "https://app.example")
		w := serve(e.h, r)
		require.Equal(t, http.StatusOK, w.Code)
		require.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))

		// Without CORS a preflight is just an OPTIONS request to a route that has none.
		r = request(t, http.MethodOptions, "/api/v1/ingest", "", nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		w = serve(e.h, r)
		require.Equal(t, http.StatusMethodNotAllowed, w.Code)
		require.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
	})
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, &Config{CORS: CORS{AllowedOrigins: []string{" https://app.example/ ", ""}}})
		r := request(t, http.MethodGet, "/api/v1/status", keyRead, nil)
		r.Header.Set("Origin", "https://app.example")
		w := serve(e.h, r)
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "https://app.example", w.Header().Get("Access-Control-Allow-Origin"))
		require.Contains(t, w.Header().Values("Vary"), "Origin")
		require.Contains(t, w.Header().Get("Access-Control-Expose-Headers"), "X-Request-ID")

		r.Header.Set("Origin", "https://evil.example")
		w = serve(e.h, r)
		require.Equal(t, http.StatusOK, w.Code)
		require.Empty(t, w.Header().Get("Access-Control-Allow-Origin"), "unlisted origins are not echoed")
		require.Contains(t, w.Header().Values("Vary"), "Origin")
	})
	t.Run("preflight", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, &Config{CORS: CORS{AllowedOrigins: []string{"https://app.example"}, MaxAge: time.Hour}})
		pre := func(origin string) *http.Response {
			r := request(t, http.MethodOptions, "/api/v1/batch-ingest", "", nil)
			r.Header.Set("Origin", origin)
			r.Header.Set("Access-Control-Request-Method", "POST")
			r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			return serve(e.h, r).Result()
		}
		res := pre("https://app.example")
		require.Equal(t, http.StatusNoContent, res.StatusCode, "preflight needs no API key")
		require.Equal(t, "https://app.example", res.Header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET, POST, OPTIONS", res.Header.Get("Access-Control-Allow-Methods"))
		require.Contains(t, res.Header.Get("Access-Control-Allow-Headers"), "Authorization")
		require.Contains(t, res.Header.Get("Access-Control-Allow-Headers"), "X-API-Key")
		require.Equal(t, "3600", res.Header.Get("Access-Control-Max-Age"))

		res = pre("https://evil.example")
		require.Equal(t, http.StatusNoContent, res.StatusCode)
		require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
		require.Empty(t, res.Header.Get("Access-Control-Allow-Methods"))
	})
	t.Run("wildcard", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, &Config{CORS: CORS{
			AllowedOrigins: []string{"*"}, AllowedMethods: []string{"get", " "}, AllowedHeaders: []string{"x-custom"},
		}})
		r := request(t, http.MethodOptions, "/api/v1/status", "", nil)
		r.Header.Set("Origin", "https://anything.example")
		r.Header.Set("Access-Control-Request-Method", "GET")
		res := serve(e.h, r).Result()
		require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET", res.Header.Get("Access-Control-Allow-Methods"))
		require.Equal(t, "X-Custom", res.Header.Get("Access-Control-Allow-Headers"))
	})
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{MaxBodyBytes: -1}, "MaxBodyBytes"},
		{Config{Burst: -1}, "Burst"},
		{Config{CORS: CORS{MaxAge: -time.Second}}, "CORS.MaxAge"},
		{Config{CORS: CORS{AllowedOrigins: []string{"https://a.example\r\nX-Evil: 1"}}}, "CORS.AllowedOrigins[0]"},
		{Config{CORS: CORS{AllowedOrigins: []string{"https://a.example, https://b.example"}}}, "CORS.AllowedOrigins[0]"},
		{Config{CORS: CORS{AllowedMethods: []string{"GET", "PO ST"}}}, "CORS.AllowedMethods[1]"},
		{Config{CORS: CORS{AllowedHeaders: []string{"X-Ok", "bad:header"}}}, "CORS.AllowedHeaders[1]"},
		{Config{TrustedProxyHeader: "X Forwarded"}, "TrustedProxyHeader"},
		{Config{PathPrefix: "logs"}, "PathPrefix"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			t.Parallel()
			_, err := New(&fakeIngester{}, &tt.cfg)
			require.ErrorContains(t, err, tt.field)
		})
	}
	_, err := New(nil, nil)
	require.Error(t, err)
	_, err = New(&fakeIngester{noStore: true}, nil)
	require.Error(t, err)
}

func TestConfigNotMutated(t *testing.T) {
	t.Parallel()
	origins := []string{" https://a.example/ "}
	cfg := &Config{CORS: CORS{AllowedOrigins: origins}}
	_, err := New(&fakeIngester{}, cfg)
	require.NoError(t, err)
	require.Equal(t, Config{CORS: CORS{AllowedOrigins: []string{" https://a.example/ "}}}, *cfg)
}

// len reports how many buckets the limiter holds (for the memory-bound tests).
func (l *LocalLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tats)
}
