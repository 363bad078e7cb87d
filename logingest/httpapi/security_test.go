package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// keyEnv is a Handler whose keys live in a memstore, authenticated by a real KeyStoreAuthenticator.
type keyEnv struct {
	h      *Handler
	store  *memstore.Store
	clock  *logingesttest.Clock
	admins map[string]string // source → admin secret
}

func newKeyEnv(t *testing.T, cfg *Config) *keyEnv {
	t.Helper()
	clk := newClock()
	st := memstore.New()
	ing, err := logingest.New(st, &logingest.Config{Logger: slog.New(slog.DiscardHandler), Now: clk.Now, MaxBatchSize: 100})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ing.Close(context.Background())) })
	auth, err := logingest.NewKeyStoreAuthenticator(st, &logingest.KeyAuthConfig{Now: clk.Now})
	require.NoError(t, err)
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	c.Authenticator, c.Keys, c.Now, c.Logger = auth, st, clk.Now, testLogger(nil)
	h, err := New(ing, &c)
	require.NoError(t, err)
	e := &keyEnv{h: h, store: st, clock: clk, admins: map[string]string{}}
	for _, src := range []string{"app", "other"} {
		e.admins[src] = e.mint(t, src, logingest.ScopeAdmin)
	}
	return e
}

// mint stores a new key and returns its secret.
func (e *keyEnv) mint(t *testing.T, source string, scopes logingest.Scope) string {
	t.Helper()
	secret, k, err := logingest.GenerateAPIKey("test", source, scopes, e.clock.Now())
	require.NoError(t, err)
	require.NoError(t, e.store.CreateAPIKey(t.Context(), k))
	return secret
}

type issued struct {
	Key    keyView  `json:"key"`
	Secret string   `json:"secret"`
	OldKey *keyView `json:"old_key"`
}

// TestScopeEnforcementEveryRoute checks every /api/v1 route against a key of every scope: a key without the
// route's scope gets 403, a key with it never does.
func TestScopeEnforcementEveryRoute(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t, &Config{RequestsPerMinute: -1})
	keys := map[logingest.Scope]string{
		logingest.ScopeIngest: e.mint(t, "app", logingest.ScopeIngest),
		logingest.ScopeRead:   e.mint(t, "app", logingest.ScopeRead),
		logingest.ScopeAdmin:  e.admins["app"],
	}
	// The subtests run in parallel, so rotate and revoke each get their own key: revoking first must not make the
	// admin's rotation fail.
	keyID := func(secret string) string { return secret[:len("lk_")+12] }
	rotateID := keyID(e.mint(t, "app", logingest.ScopeIngest))
	revokeID := keyID(e.mint(t, "app", logingest.ScopeIngest))
	routes := []struct {
		method, path string
		need         logingest.Scope
		body         []byte
	}{
		{http.MethodPost, "/api/v1/ingest", logingest.ScopeIngest, readFile(t, "single.json")},
		{http.MethodPost, "/api/v1/batch-ingest", logingest.ScopeIngest, readFile(t, "batch-50.json")},
		{http.MethodGet, "/api/v1/logs/filter", logingest.ScopeRead, nil},
		{http.MethodGet, "/api/v1/logs/recent", logingest.ScopeRead, nil},
		{http.MethodGet, "/api/v1/metrics", logingest.ScopeRead, nil},
		{http.MethodGet, "/api/v1/status", logingest.ScopeRead, nil},
		{http.MethodGet, "/api/v1/keys", logingest.ScopeAdmin, nil},
		{http.MethodPost, "/api/v1/keys", logingest.ScopeAdmin, []byte(`{"name":"ci","scopes":["read"]}`)},
		{http.MethodPost, "/api/v1/keys/" + rotateID + "/rotate", logingest.ScopeAdmin, []byte(`{"grace":"1h"}`)},
		{http.MethodPost, "/api/v1/keys/" + revokeID + "/revoke", logingest.ScopeAdmin, nil},
	}
	// Every API route of the mux is in the table.
	for _, rt := range routes {
		_, pattern := e.h.mux.Handler(request(t, rt.method, rt.path, "", nil))
		require.NotEmpty(t, pattern, "%s %s", rt.method, rt.path)
	}
	for _, rt := range routes {
		for scope, key := range keys {
			t.Run(fmt.Sprintf("%s %s as %s", rt.method, rt.path, scope), func(t *testing.T) {
				t.Parallel()
				w := do(t, e.h, rt.method, rt.path, key, rt.body)
				if scope.Has(rt.need) {
					require.Less(t, w.Code, 300, "body: %s", w.Body)
				} else {
					requireError(t, w, http.StatusForbidden, "forbidden", "")
				}
			})
		}
		w := do(t, e.h, rt.method, rt.path, "", rt.body)
		requireError(t, w, http.StatusUnauthorized, "unauthorized", "")
	}
}

// TestUnauthorizedAnswersAreIdentical: unknown, malformed, expired, revoked and missing keys get byte-for-byte
// the same answer, so a client cannot tell which keys exist.
func TestUnauthorizedAnswersAreIdentical(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t, nil)
	expired, k1, err := logingest.GenerateAPIKey("old", "app", logingest.ScopeRead, e.clock.Now())
	require.NoError(t, err)
	k1.ExpiresAt = e.clock.Now().Add(-time.Second)
	require.NoError(t, e.store.CreateAPIKey(t.Context(), k1))
	revoked := e.mint(t, "app", logingest.ScopeRead)
	require.NoError(t, e.store.RevokeAPIKey(t.Context(), revoked[:15], e.clock.Now().Add(-time.Second)))
	unknown, _, err := logingest.GenerateAPIKey("never stored", "app", logingest.ScopeRead, e.clock.Now())
	require.NoError(t, err)

	var first []byte
	for name, key := range map[string]string{
		"unknown": unknown, "malformed": "not-a-key", "expired": expired, "revoked": revoked, "missing": "",
		"huge": strings.Repeat("k", 4000), "revoked with a typo": revoked + "x",
	} {
		r := request(t, http.MethodGet, "/api/v1/logs/recent", key, nil)
		r.Header.Set("X-Request-ID", "fixed-id")
		w := serve(e.h, r)
		require.Equal(t, http.StatusUnauthorized, w.Code, name)
		require.Equal(t, `Bearer realm="logingest"`, w.Header().Get("WWW-Authenticate"), name)
		if first == nil {
			first = w.Body.Bytes()
			continue
		}
		require.Equal(t, string(first), w.Body.String(), name)
	}
	require.JSONEq(t, `{"success":false,"error":"unauthorized","message":"missing or invalid API key",`+
		`"code":"unauthorized","retryable":false,"request_id":"fixed-id"}`, string(first))
}

func TestKeyEndpoints(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t, &Config{RequestsPerMinute: -1})
	admin := e.admins["app"]

	// Create: the source is the caller's, whatever the body says (unknown fields are refused).
	w := do(t, e.h, http.MethodPost, "/api/v1/keys", admin, []byte(`{"name":"ios","scopes":["ingest"],"source":"other"}`))
	requireError(t, w, http.StatusBadRequest, "validation_failed", "body")
	w = do(t, e.h, http.MethodPost, "/api/v1/keys", admin, []byte(`{"name":"","scopes":["write"],"expires_in":"soon"}`))
	resp := requireError(t, w, http.StatusBadRequest, "validation_failed", "")
	require.ElementsMatch(t, []string{"name", "scopes", "expires_in"}, fields(resp.Errors))
	// Names are printable text; limits are within what the limiters can represent.
	w = do(t, e.h, http.MethodPost, "/api/v1/keys", admin, []byte(`{"name":"evil\u001b[2J\n","scopes":["read"],`+
		`"limits":{"requests_per_minute":1e-9,"request_burst":9223372036854775807,"events_per_minute":1e10,"events_burst":-5}}`))
	resp = requireError(t, w, http.StatusBadRequest, "validation_failed", "")
	require.ElementsMatch(t, []string{
		"name", "limits.requests_per_minute", "limits.request_burst", "limits.events_per_minute",
		"limits.events_burst",
	}, fields(resp.Errors))
	require.Contains(t, w.Body.String(), "must be printable text; U+001B is not")
	require.Contains(t, w.Body.String(), "between 0.001 and 1e+09 per minute")
	w = do(t, e.h, http.MethodPost, "/api/v1/keys", admin,
		[]byte(`{"name":"ios","scopes":["ingest","read"],"expires_in":"720h","limits":{"events_per_minute":600}}`))
	require.Equal(t, http.StatusCreated, w.Code, w.Body)
	created := decodeData[issued](t, w)
	require.Equal(t, "app", created.Key.Source)
	require.Equal(t, []string{"ingest", "read"}, created.Key.Scopes)
	require.Equal(t, e.clock.Now().Add(720*time.Hour), *created.Key.ExpiresAt)
	require.InDelta(t, 600, created.Key.Limits.EventsPerMinute, 0)
	require.True(t, strings.HasPrefix(created.Secret, created.Key.ID+"_"))
	require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, "/api/v1/logs/recent", created.Secret, nil).Code)

	// List: only this source's keys, never a hash or a secret.
	w = do(t, e.h, http.MethodGet, "/api/v1/keys", admin, nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.NotContains(t, w.Body.String(), created.Secret[len(created.Key.ID):])
	k, err := e.store.APIKeyByID(t.Context(), created.Key.ID)
	require.NoError(t, err)
	require.NotContains(t, w.Body.String(), k.Hash)
	list := decodeData[struct{ Keys []keyView }](t, w)
	require.Len(t, list.Keys, 2) // the admin key and the new one
	for _, kv := range list.Keys {
		require.Equal(t, "app", kv.Source)
	}

	// Another source's admin can neither see nor touch this key.
	other := e.admins["other"]
	w = do(t, e.h, http.MethodGet, "/api/v1/keys", other, nil)
	require.NotContains(t, w.Body.String(), created.Key.ID)
	for _, action := range []string{"revoke", "rotate"} {
		w = do(t, e.h, http.MethodPost, "/api/v1/keys/"+created.Key.ID+"/"+action, other, nil)
		requireError(t, w, http.StatusNotFound, "not_found", "")
	}
	w = do(t, e.h, http.MethodPost, "/api/v1/keys/lk_000000000000/revoke", admin, nil)
	requireError(t, w, http.StatusNotFound, "not_found", "")

	// Rotate: a new secret now, the old one until the grace period ends.
	w = do(t, e.h, http.MethodPost, "/api/v1/keys/"+created.Key.ID+"/rotate", admin, []byte(`{"grace":"1h"}`))
	require.Equal(t, http.StatusCreated, w.Code, w.Body)
	rotated := decodeData[issued](t, w)
	require.NotEqual(t, created.Key.ID, rotated.Key.ID)
	require.Equal(t, created.Key.Scopes, rotated.Key.Scopes)
	require.Equal(t, e.clock.Now().Add(time.Hour), *rotated.OldKey.ExpiresAt)
	require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, "/api/v1/logs/recent", rotated.Secret, nil).Code)
	e.clock.Advance(59 * time.Minute)
	require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, "/api/v1/logs/recent", created.Secret, nil).Code)
	e.clock.Advance(time.Minute)
	require.Equal(t, http.StatusUnauthorized, do(t, e.h, http.MethodGet, "/api/v1/logs/recent", created.Secret, nil).Code)

	// Revoke: the key stops working once the cached validation expires (1s).
	require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, "/api/v1/logs/recent", rotated.Secret, nil).Code)
	w = do(t, e.h, http.MethodPost, "/api/v1/keys/"+rotated.Key.ID+"/revoke", admin, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body)
	require.NotNil(t, decodeData[struct{ Key keyView }](t, w).Key.RevokedAt)
	e.clock.Advance(time.Second)
	require.Equal(t, http.StatusUnauthorized, do(t, e.h, http.MethodGet, "/api/v1/logs/recent", rotated.Secret, nil).Code)
	w = do(t, e.h, http.MethodPost, "/api/v1/keys/"+rotated.Key.ID+"/rotate", admin, nil)
	requireError(t, w, http.StatusBadRequest, "invalid", "")
}

// batchOf returns a batch-ingest body of n valid events whose IDs start with prefix.
func batchOf(prefix string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"logs":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b,
			`{"event_id":"%s-%d","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"habit_completed"}`,
			prefix, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func TestEventRateLimit(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, &Config{Registerer: reg, RequestsPerMinute: 60, Burst: 3, EventsPerMinute: 60, EventsBurst: 100})
	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, batchOf("a", 60))
	require.Equal(t, http.StatusCreated, w.Code, w.Body)

	// 60 more events do not fit in the 40 left: 429 with the event bucket's headers, nothing stored.
	w = do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, batchOf("b", 60))
	requireError(t, w, http.StatusTooManyRequests, "rate_limited", "")
	require.Equal(t, "100", w.Header().Get("RateLimit-Limit"))
	require.Equal(t, "40", w.Header().Get("RateLimit-Remaining"))
	require.Equal(t, "60", w.Header().Get("RateLimit-Reset"))
	require.Equal(t, "20", w.Header().Get("Retry-After"))
	require.EqualValues(t, 60, countStored(t, e.store, "app"))

	// The refused request keeps its request token (it ran into its own limit; were a 429 free, a key could have
	// the server read and decode batches without end): none of 3 is left after three requests.
	w = do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, batchOf("c", 40))
	require.Equal(t, http.StatusCreated, w.Code, w.Body)
	require.Equal(t, "0", w.Header().Get("RateLimit-Remaining"), "request bucket: 3 - 3 charged requests")

	// A batch larger than the event burst can never pass: 400, not 429.
	e.clock.Advance(time.Hour)
	w = do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, batchOf("d", 101))
	requireError(t, w, http.StatusBadRequest, "limit_exceeded", "logs")
	require.InDelta(t, 1, testutil.ToFloat64(e.h.metrics.rateLimited.WithLabelValues(limitEvents)), 0)
}

func TestRateLimitGivesBackFailedRequests(t *testing.T) {
	t.Parallel()
	// Rejected single events (400) give back their event token: the bucket of 2 still takes 2 valid ones.
	e := newEnv(t, &Config{RequestsPerMinute: -1, EventsPerMinute: 60, EventsBurst: 2})
	event := func(id, eventType string) []byte {
		return fmt.Appendf(nil, `{"event_id":%q,"timestamp":"2025-08-27T09:00:00Z","event_type":%q,"event_name":"n"}`, id, eventType)
	}
	for range 5 {
		w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, event("x", "nope"))
		requireError(t, w, http.StatusBadRequest, "validation_failed", "")
	}
	for i := range 2 {
		w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, event(fmt.Sprintf("ok-%d", i), "behavioral"))
		require.Equal(t, http.StatusCreated, w.Code, w.Body)
	}
	w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, event("ok-3", "behavioral"))
	requireError(t, w, http.StatusTooManyRequests, "rate_limited", "")

	// A 503 the client did not cause gives back the request token, so a client retrying an overloaded server is
	// not locked out; refunds are limited to the key's rate (burst 2 here), so 2 + 2 answers pass, then 429.
	ing := &fakeIngester{ingest: func(context.Context, string, []logingest.Event) (*logingest.BatchResult, error) {
		return nil, logingest.ErrOverloaded
	}}
	h, err := New(ing, &Config{Authenticator: testAuth(), Logger: testLogger(nil), RequestsPerMinute: 60, Burst: 2})
	require.NoError(t, err)
	for range 4 {
		w := do(t, h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json"))
		requireError(t, w, http.StatusServiceUnavailable, "overloaded", "")
	}
	w = do(t, h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json"))
	requireError(t, w, http.StatusTooManyRequests, "rate_limited", "")

	// Malformed requests (other 4xx) keep their request token: the app's key is public, so they must not be free.
	h, err = New(ing, &Config{Authenticator: testAuth(), Logger: testLogger(nil), RequestsPerMinute: 60, Burst: 2})
	require.NoError(t, err)
	for range 2 {
		requireError(t, do(t, h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(`{`)), http.StatusBadRequest, "validation_failed", "")
	}
	requireError(t, do(t, h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(`{`)), http.StatusTooManyRequests, "rate_limited", "")
}

// TestRefundsCannotBeFarmed is case 2 of issue 14 at the HTTP layer: a value that made the store fail gave the
// request token back on every 503, so a key limited to 60 requests a minute sent 7,676 of them in 8 s. Failures
// the client causes keep their token, and refunds of the others are limited to the key's rate.
func TestRefundsCannotBeFarmed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error // what every Ingest call fails with
		maxSent int   // requests answered before the first 429, at most
	}{
		{"store unavailable (maybe a poison value)", logingest.ErrUnavailable, 2 * 60},
		{"overloaded", logingest.ErrOverloaded, 2 * 60},
		{"our bug (500)", errors.New("boom"), 60},
		{"client's share of the budget", errClientBudget, 60},
		{"invalid", &logingest.ValidationError{Errors: []logingest.FieldError{{Field: "event_type", Reason: "bad"}}}, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ing := &fakeIngester{ingest: func(context.Context, string, []logingest.Event) (*logingest.BatchResult, error) {
				return nil, tt.err
			}}
			clk := newClock() // frozen: no refill during the test
			h, err := New(ing, &Config{
				Authenticator: testAuth(), Logger: testLogger(nil), Now: clk.Now, RequestsPerMinute: 60, Burst: 60,
			})
			require.NoError(t, err)
			sent := 0
			for ; sent < 10_000; sent++ {
				w := do(t, h, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json"))
				if w.Code == http.StatusTooManyRequests {
					break
				}
				require.Equal(t, classify(tt.err).status, w.Code, w.Body.String())
			}
			require.Equal(t, tt.maxSent, sent, "failing requests answered before the key's limit applied")
		})
	}
}

func TestPerKeyLimitOverrides(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t, &Config{RequestsPerMinute: 60, Burst: 100})
	secret, k, err := logingest.GenerateAPIKey("tight", "app", logingest.ScopeRead, e.clock.Now())
	require.NoError(t, err)
	k.Limits = logingest.KeyLimits{RequestsPerMinute: 1, RequestBurst: 2}
	require.NoError(t, e.store.CreateAPIKey(t.Context(), k))
	for range 2 {
		w := do(t, e.h, http.MethodGet, "/api/v1/status", secret, nil)
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "2", w.Header().Get("RateLimit-Limit"))
	}
	w := do(t, e.h, http.MethodGet, "/api/v1/status", secret, nil)
	requireError(t, w, http.StatusTooManyRequests, "rate_limited", "")
	require.Equal(t, "60", w.Header().Get("Retry-After"))
	// The server default still applies to other keys.
	w = do(t, e.h, http.MethodGet, "/api/v1/keys", e.admins["app"], nil)
	require.Equal(t, "100", w.Header().Get("RateLimit-Limit"))
}

func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{AuthFailuresPerMinute: 3, TrustedProxyHeader: "X-Real-IP"})
	from := func(ip, key string) *http.Response {
		r := request(t, http.MethodGet, "/api/v1/status", key, nil)
		r.Header.Set("X-Real-IP", ip)
		return serve(e.h, r).Result()
	}
	for i := range 3 {
		require.Equal(t, http.StatusUnauthorized, from("198.51.100.7", fmt.Sprint("guess-", i)).StatusCode)
	}
	res := from("198.51.100.7", "guess-3")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	require.Equal(t, "20", res.Header.Get("Retry-After"))
	require.Equal(t, "3", res.Header.Get("RateLimit-Limit"))
	// A blocked client is refused before its key is checked, so a right guess looks like a wrong one.
	require.Equal(t, http.StatusTooManyRequests, from("198.51.100.7", keyRead).StatusCode)
	// Other clients are not affected.
	require.Equal(t, http.StatusOK, from("198.51.100.8", keyRead).StatusCode)
	// One token back after 20s: the valid key gets through and costs nothing; the next wrong guess is refused.
	e.clock.Advance(20 * time.Second)
	require.Equal(t, http.StatusOK, from("198.51.100.7", keyRead).StatusCode)
	require.Equal(t, http.StatusUnauthorized, from("198.51.100.7", "guess-4").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, from("198.51.100.7", "guess-5").StatusCode)
	require.InDelta(t, 3, testutil.ToFloat64(e.h.metrics.rateLimited.WithLabelValues(limitAuthFailures)), 0)
}

// TestTenantIsolation attacks source "other" with a read key of source "app": no parameter, sort, page,
// cursor (one minted for "other" included), recent, metrics or status answer shows anything of "other".
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{RequestsPerMinute: -1})
	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyFull, batchOf("mine", 5))
	require.Equal(t, http.StatusCreated, w.Code)
	// The victim's events, one of which claims source "app" in its body: the server stamps the key's source.
	theirs := bytes.Replace(batchOf("theirs", 30), []byte(`"event_id":"theirs-0"`), []byte(`"source":"app","event_id":"theirs-0"`), 1)
	w = do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyOther, theirs)
	require.Equal(t, http.StatusCreated, w.Code)
	require.EqualValues(t, 30, countStored(t, e.store, "other"))
	require.EqualValues(t, 5, countStored(t, e.store, "app"))

	// A cursor minted for the victim's source.
	w = do(t, e.h, http.MethodGet, "/api/v1/logs/filter?page_size=2", keyOther, nil)
	victimCursor := decodeData[filterData](t, w).NextCursor
	require.NotEmpty(t, victimCursor)

	leak := func(w *httptest.ResponseRecorder) {
		t.Helper()
		require.NotContains(t, w.Body.String(), "theirs-", "answer leaks the other source: %s", w.Body)
		require.NotContains(t, w.Body.String(), `"other"`, "answer leaks the other source: %s", w.Body)
	}
	for _, q := range []string{
		"", "source=other", "source=", "source=*", "source=other&source=app", "Source=other", "tenant=other",
		"user_id=" + "%25", "event_name=%25", "sort_by=event_name&sort_order=desc", "sort_by=timestamp&sort_order=asc",
		"sort_by=received_at", "page=2&page_size=1", "page=1000000&page_size=1000", "page_size=1000",
		"cursor=" + victimCursor, "cursor=" + victimCursor + "&sort_by=timestamp", "cursor=garbage",
		"start_time=2000-01-01T00:00:00Z&end_time=2100-01-01T00:00:00Z",
	} {
		w := do(t, e.h, http.MethodGet, "/api/v1/logs/filter?"+q, keyRead, nil)
		leak(w)
		if w.Code == http.StatusOK {
			for _, ev := range decodeData[filterData](t, w).Logs {
				require.Equal(t, "app", ev.Source, q)
			}
		}
	}
	for _, path := range []string{
		"/api/v1/logs/recent", "/api/v1/logs/recent?limit=1000", "/api/v1/logs/recent?source=other",
		"/api/v1/metrics", "/api/v1/metrics?source=other", "/api/v1/status",
	} {
		w := do(t, e.h, http.MethodGet, path, keyRead, nil)
		leak(w)
	}
	w = do(t, e.h, http.MethodGet, "/api/v1/metrics", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `"total_logs":5`)
}

// TestDeeplyNestedBodies: a 100k-deep JSON body is refused quickly with 400, without blowing the stack.
func TestDeeplyNestedBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{RequestsPerMinute: -1})
	deep := strings.Repeat("[", 100_000)
	for _, c := range []struct{ path, body string }{
		{"/api/v1/batch-ingest", deep},
		{"/api/v1/batch-ingest", `{"logs":` + deep},
		{"/api/v1/batch-ingest", `{"logs":[` + strings.Repeat(`{"a":`, 100_000) + `1` + strings.Repeat("}", 100_000) + `]}`},
		{"/api/v1/ingest", deep + strings.Repeat("]", 100_000)},
		{"/api/v1/ingest", `{"event_id":"x","properties":` + deep + strings.Repeat("]", 100_000) + `}`},
	} {
		start := time.Now()
		w := do(t, e.h, http.MethodPost, c.path, keyIngest, []byte(c.body))
		require.Less(t, time.Since(start), 5*time.Second)
		require.Equal(t, http.StatusBadRequest, w.Code, "%s: %.100s", c.path, w.Body)
		require.True(t, json.Valid(w.Body.Bytes()))
	}
	require.EqualValues(t, 0, countStored(t, e.store, "app"))
}
