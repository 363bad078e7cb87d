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

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

func requestWithKey(header, value string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
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
		require.Equal(t, tt.want, logingest.APIKeyFromRequest(requestWithKey(tt.header, tt.value)), "%s: %s", tt.header, tt.value)
	}
}

func TestStaticKeys(t *testing.T) {
	t.Parallel()
	a := logingest.NewStaticKeys([]string{"k1", " ", "k2"}, logingest.ScopeIngest|logingest.ScopeRead, "")
	require.Equal(t, 2, a.Len())
	p, err := a.Authenticate(requestWithKey("X-API-Key", "k2"))
	require.NoError(t, err)
	require.Equal(t, logingest.DefaultSource, p.Source)
	require.True(t, p.Scopes.Has(logingest.ScopeRead))
	require.False(t, p.Scopes.Has(logingest.ScopeAdmin))
	require.NotContains(t, p.KeyID, "k2")

	_, err = a.Authenticate(requestWithKey("X-API-Key", "k3"))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)
	_, err = a.Authenticate(requestWithKey("", ""))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)

	var zero logingest.StaticKeys
	_, err = zero.Authenticate(requestWithKey("X-API-Key", "k1"))
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

	a := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Now: func() time.Time { return now }})
	p, err := a.Authenticate(requestWithKey("Authorization", "Bearer "+secret))
	require.NoError(t, err)
	require.Equal(t, logingest.Principal{KeyID: key.ID, Source: "habit-tracker-prod", Scopes: logingest.ScopeIngest}, p)

	_, err = a.Authenticate(requestWithKey("X-API-Key", secret))
	require.NoError(t, err)
	require.EqualValues(t, 1, ks.lookups.Load(), "second request within the TTL is served from the cache")

	_, err = a.Authenticate(requestWithKey("X-API-Key", "lk_nope"))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)

	// After the TTL the key is looked up again; a failing store is an error, not a 401.
	now = now.Add(2 * time.Second)
	ks.fail.Store(true)
	_, err = a.Authenticate(requestWithKey("X-API-Key", secret))
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

	a := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Now: func() time.Time { return testNow }})
	for _, s := range []string{expired, revoked} {
		_, err := a.Authenticate(requestWithKey("X-API-Key", s))
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
	_, err := a.Authenticate(requestWithKey("X-API-Key", "k1"))
	require.NoError(t, err)
	_, err = a.Authenticate(requestWithKey("X-API-Key", "k2"))
	require.ErrorContains(t, err, "boom")
	_, err = logingest.FirstOf(static).Authenticate(requestWithKey("X-API-Key", "k2"))
	require.ErrorIs(t, err, logingest.ErrUnauthorized)
}
