package logingest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

func requestWithKey(t *testing.T, header, value string) *http.Request {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	if header != "" {
		r.Header.Set(header, value)
	}
	return r
}

func TestAPIKeyFromRequest(t *testing.T) {
	t.Parallel()
	tests := []struct{ header, value, want string }{
		{"Authorization", "Bearer abc", "abc"},
		{"Authorization", "bearer  abc ", "abc"},
		{"Authorization", "Basic abc", ""},
		{"X-API-Key", "xyz", "xyz"},
		{"", "", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, logingest.APIKeyFromRequest(requestWithKey(t, tt.header, tt.value)), "%s: %s", tt.header, tt.value)
	}
}

func TestStaticKeys(t *testing.T) {
	t.Parallel()
	a := logingest.NewStaticKeys([]string{"k1", " ", "k2"}, logingest.ScopeIngest|logingest.ScopeRead, "")
	require.Equal(t, 2, a.Len())
	p, err := a.Authenticate(requestWithKey(t, "X-API-Key", "k2"))
	require.NoError(t, err)
	require.Equal(t, logingest.DefaultSource, p.Source)
	require.True(t, p.Scopes.Has(logingest.ScopeRead))
	require.False(t, p.Scopes.Has(logingest.ScopeAdmin))
	require.NotContains(t, p.KeyID, "k2")

	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", "k3"))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)
	_, err = a.Authenticate(requestWithKey(t, "", ""))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)

	var zero logingest.StaticKeys
	_, err = zero.Authenticate(requestWithKey(t, "X-API-Key", "k1"))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)
}

func TestScopes(t *testing.T) {
	t.Parallel()
	s, err := logingest.ParseScopes("ingest, read")
	require.NoError(t, err)
	require.Equal(t, "ingest,read", s.String())
	_, err = logingest.ParseScopes("ingest,write")
	require.ErrorIs(t, err, logingest.ErrInvalid)
}

// countingKeyStore counts lookups so the cache can be observed.
type countingKeyStore struct {
	*memstore.Store
	lookups atomic.Int64
	fail    atomic.Bool
}

func (c *countingKeyStore) APIKeyByHash(ctx context.Context, hash string) (logingest.APIKey, error) {
	c.lookups.Add(1)
	if c.fail.Load() {
		return logingest.APIKey{}, errors.New("database is down")
	}
	return c.Store.APIKeyByHash(ctx, hash)
}

func TestKeyStoreAuthenticator(t *testing.T) {
	t.Parallel()
	now := testNow
	ks := &countingKeyStore{Store: memstore.New()}
	secret, key, err := logingest.GenerateAPIKey("app", "habit-tracker-prod", logingest.ScopeIngest, now)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, key.ID+"_"))
	require.GreaterOrEqual(t, len(secret), len(key.ID)+1+43, "at least 256 bits of secret")
	require.NotContains(t, key.Hash, secret)
	require.NoError(t, ks.CreateAPIKey(t.Context(), key))

	a, err := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Now: func() time.Time { return now }})
	require.NoError(t, err)
	p, err := a.Authenticate(requestWithKey(t, "Authorization", "Bearer "+secret))
	require.NoError(t, err)
	require.Equal(t, logingest.Principal{KeyID: key.ID, Source: "habit-tracker-prod", Scopes: logingest.ScopeIngest}, p)

	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", secret))
	require.NoError(t, err)
	require.EqualValues(t, 1, ks.lookups.Load(), "second request within the TTL is served from the cache")

	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", "lk_nope"))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)

	// After the TTL the key is looked up again; a failing store is an error, not a 401.
	now = now.Add(2 * time.Second)
	ks.fail.Store(true)
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", secret))
	require.Error(t, err)
	require.NotErrorIs(t, err, logingest.ErrUnauthorized)
}

func TestKeyStoreAuthenticatorRefusesInactiveKeys(t *testing.T) {
	t.Parallel()
	ks := memstore.New()
	expired, k1, err := logingest.GenerateAPIKey("old", "", logingest.ScopeIngest, testNow)
	require.NoError(t, err)
	k1.ExpiresAt = testNow.Add(-time.Minute)
	require.NoError(t, ks.CreateAPIKey(t.Context(), k1))
	revoked, k2, err := logingest.GenerateAPIKey("gone", "", logingest.ScopeIngest, testNow)
	require.NoError(t, err)
	k2.RevokedAt = testNow.Add(-time.Minute)
	require.NoError(t, ks.CreateAPIKey(t.Context(), k2))

	a, err := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	for _, s := range []string{expired, revoked} {
		_, err := a.Authenticate(requestWithKey(t, "X-API-Key", s))
		require.ErrorIs(t, err, logingest.ErrUnauthorized)
	}
}

func TestFirstOf(t *testing.T) {
	t.Parallel()
	static := logingest.NewStaticKeys([]string{"k1"}, logingest.ScopeRead, "")
	broken := logingest.AuthenticatorFunc(func(*http.Request) (logingest.Principal, error) {
		return logingest.Principal{}, errors.New("boom")
	})
	a := logingest.FirstOf(static, broken)
	_, err := a.Authenticate(requestWithKey(t, "X-API-Key", "k1"))
	require.NoError(t, err)
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", "k2"))
	require.ErrorContains(t, err, "boom")
	_, err = logingest.FirstOf(static).Authenticate(requestWithKey(t, "X-API-Key", "k2"))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)
}

// usageStore counts RecordKeyUsage calls so batching can be observed.
type usageStore struct {
	*memstore.Store
	writes atomic.Int64
	fail   atomic.Bool
}

func (u *usageStore) RecordKeyUsage(ctx context.Context, usage []logingest.KeyUsage) error {
	u.writes.Add(1)
	if u.fail.Load() {
		return errors.New("database is down")
	}
	return u.Store.RecordKeyUsage(ctx, usage)
}

func TestKeyStoreAuthenticatorBatchesUsage(t *testing.T) {
	t.Parallel()
	now := testNow
	ks := &usageStore{Store: memstore.New()}
	s1, k1, err := logingest.GenerateAPIKey("ios", "", logingest.ScopeIngest, now)
	require.NoError(t, err)
	s2, k2, err := logingest.GenerateAPIKey("android", "", logingest.ScopeIngest, now)
	require.NoError(t, err)
	require.NoError(t, ks.CreateAPIKey(t.Context(), k1))
	require.NoError(t, ks.CreateAPIKey(t.Context(), k2))
	a, err := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Now: func() time.Time { return now }})
	require.NoError(t, err)

	for i := range 100 {
		now = testNow.Add(time.Duration(i) * 100 * time.Millisecond) // crosses the cache TTL several times
		secret := s1
		if i%4 == 0 {
			secret = s2
		}
		_, err := a.Authenticate(requestWithKey(t, "X-API-Key", secret))
		require.NoError(t, err)
		_, err = a.Authenticate(requestWithKey(t, "X-API-Key", "lk_000000000000_unknown"))
		require.ErrorIs(t, err, logingest.ErrUnauthorized)
	}
	require.Zero(t, ks.writes.Load(), "no store write per request")

	// A failed flush keeps the counts for the next one.
	ks.fail.Store(true)
	require.Error(t, a.FlushUsage(t.Context()))
	ks.fail.Store(false)
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", s1))
	require.NoError(t, err)
	require.NoError(t, a.FlushUsage(t.Context()))
	require.EqualValues(t, 2, ks.writes.Load(), "one write per flush, whatever the number of requests and keys")
	require.NoError(t, a.FlushUsage(t.Context()))
	require.EqualValues(t, 2, ks.writes.Load(), "nothing to flush, no write")

	got1, err := ks.APIKeyByID(t.Context(), k1.ID)
	require.NoError(t, err)
	require.EqualValues(t, 76, got1.UseCount)
	require.Equal(t, now, got1.LastUsedAt)
	got2, err := ks.APIKeyByID(t.Context(), k2.ID)
	require.NoError(t, err)
	require.EqualValues(t, 25, got2.UseCount)
	require.Equal(t, testNow.Add(96*100*time.Millisecond), got2.LastUsedAt)
}

func TestKeyStoreAuthenticatorRunFlushesOnShutdown(t *testing.T) {
	t.Parallel()
	ks := memstore.New()
	secret, key, err := logingest.GenerateAPIKey("ios", "", logingest.ScopeIngest, testNow)
	require.NoError(t, err)
	require.NoError(t, ks.CreateAPIKey(t.Context(), key))
	// An interval that never ticks during the test: only the final flush can write.
	a, err := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{UsageFlushInterval: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for range 3 {
		_, err := a.Authenticate(requestWithKey(t, "X-API-Key", secret))
		require.NoError(t, err)
	}
	cancel()
	require.NoError(t, <-done)
	got, err := ks.APIKeyByID(t.Context(), key.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, got.UseCount)
}

func TestKeyStoreAuthenticatorCacheMetric(t *testing.T) {
	t.Parallel()
	now := testNow
	ks := memstore.New()
	secret, key, err := logingest.GenerateAPIKey("ios", "", logingest.ScopeIngest, now)
	require.NoError(t, err)
	require.NoError(t, ks.CreateAPIKey(t.Context(), key))
	reg := prometheus.NewPedanticRegistry()
	a, err := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Registerer: reg, Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Registerer: reg})
	require.NoError(t, err, "a second authenticator shares the metric")
	for range 3 {
		_, err := a.Authenticate(requestWithKey(t, "X-API-Key", secret))
		require.NoError(t, err)
	}
	now = now.Add(time.Second) // the TTL ends: the next validation reads the store again
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", secret))
	require.NoError(t, err)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP logingest_key_cache_requests_total API key validations by cache result (hit: served from memory, miss: looked up in the store).
# TYPE logingest_key_cache_requests_total counter
logingest_key_cache_requests_total{result="hit"} 2
logingest_key_cache_requests_total{result="miss"} 2
`), "logingest_key_cache_requests_total"))
}

func TestKeyStoreAuthenticatorPrincipalCarriesLimits(t *testing.T) {
	t.Parallel()
	ks := memstore.New()
	secret, key, err := logingest.GenerateAPIKey("ios", "s", logingest.ScopeIngest, testNow)
	require.NoError(t, err)
	key.Limits = logingest.KeyLimits{RequestsPerMinute: 5, EventsBurst: 10}
	require.NoError(t, ks.CreateAPIKey(t.Context(), key))
	a, err := logingest.NewKeyStoreAuthenticator(ks, nil)
	require.NoError(t, err)
	p, err := a.Authenticate(requestWithKey(t, "X-API-Key", secret))
	require.NoError(t, err)
	require.Equal(t, key.Limits, p.Limits)
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", strings.Repeat("x", 100000)))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)
}

func TestRotateAPIKey(t *testing.T) {
	t.Parallel()
	ks := memstore.New()
	oldSecret, old, err := logingest.GenerateAPIKey("ios", "habit-tracker-prod", logingest.ScopeIngest|logingest.ScopeRead, testNow)
	require.NoError(t, err)
	old.ExpiresAt = testNow.Add(90 * 24 * time.Hour)
	old.Limits = logingest.KeyLimits{EventsPerMinute: 600}
	require.NoError(t, ks.CreateAPIKey(t.Context(), old))

	rotatedAt := testNow.Add(10 * 24 * time.Hour)
	secret, key, err := logingest.RotateAPIKey(t.Context(), ks, old.ID, 24*time.Hour, rotatedAt)
	require.NoError(t, err)
	require.NotEqual(t, old.ID, key.ID)
	require.NotEqual(t, oldSecret, secret)
	require.Equal(t, logingest.HashKey(secret), key.Hash)
	require.Equal(t, []any{old.Name, old.Source, old.Scopes, old.Limits}, []any{key.Name, key.Source, key.Scopes, key.Limits})
	require.Equal(t, rotatedAt.Add(90*24*time.Hour), key.ExpiresAt, "the new key gets the old key's lifetime")
	stored, err := ks.APIKeyByID(t.Context(), key.ID)
	require.NoError(t, err)
	require.Equal(t, key.Hash, stored.Hash)
	gone, err := ks.APIKeyByID(t.Context(), old.ID)
	require.NoError(t, err)
	require.Equal(t, rotatedAt.Add(24*time.Hour), gone.ExpiresAt)

	// The grace period is honoured by the authenticator: the old key works until it ends, then stops.
	now := rotatedAt.Add(23 * time.Hour)
	a, err := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", oldSecret))
	require.NoError(t, err)
	now = rotatedAt.Add(24 * time.Hour)
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", oldSecret))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)
	_, err = a.Authenticate(requestWithKey(t, "X-API-Key", secret))
	require.NoError(t, err)

	_, _, err = logingest.RotateAPIKey(t.Context(), ks, old.ID, time.Hour, now)
	require.ErrorIs(t, err, logingest.ErrInvalid, "an expired key cannot be rotated")
	_, _, err = logingest.RotateAPIKey(t.Context(), ks, "lk_000000000000", time.Hour, now)
	require.ErrorIs(t, err, logingest.ErrNotFound)
	_, _, err = logingest.RotateAPIKey(t.Context(), ks, key.ID, -time.Hour, now)
	require.ErrorIs(t, err, logingest.ErrInvalid)
}
