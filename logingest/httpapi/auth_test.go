package httpapi

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// challengeAuth is a custom Authenticator with its own 401 answer.
type challengeAuth struct{ logingest.AuthenticatorFunc }

func (challengeAuth) Challenge() (string, string) {
	return "missing or invalid session token", `Bearer realm="my-app", error="invalid_token"`
}

func TestUnauthorizedAnswerFromAuthenticator(t *testing.T) {
	t.Parallel()
	refuse := logingest.AuthenticatorFunc(func(*http.Request) (logingest.Principal, error) {
		return logingest.Principal{}, logingest.ErrUnauthorized
	})
	tests := []struct {
		name         string
		auth         logingest.Authenticator
		message, www string
	}{
		{"plain func", refuse, "missing or invalid credentials", `Bearer realm="logingest"`},
		{"no authenticator", nil, "missing or invalid credentials", `Bearer realm="logingest"`},
		{
			"static keys", logingest.NewStaticKeys([]string{"k"}, logingest.ScopeRead, ""),
			"missing or invalid API key", `Bearer realm="logingest"`,
		},
		{"challenger", challengeAuth{refuse}, "missing or invalid session token", `Bearer realm="my-app", error="invalid_token"`},
		{
			"first of", logingest.FirstOf(refuse, challengeAuth{refuse}),
			"missing or invalid session token", `Bearer realm="my-app", error="invalid_token"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := New(&fakeIngester{}, &Config{Authenticator: tt.auth, Logger: testLogger(nil)})
			require.NoError(t, err)
			resp := requireError(t, do(t, h, http.MethodGet, "/api/v1/status", "wrong", nil), http.StatusUnauthorized, "unauthorized", "")
			require.Equal(t, tt.message, resp.Message)
			w := do(t, h, http.MethodGet, "/api/v1/status", "", nil)
			require.Equal(t, tt.www, w.Header().Get("WWW-Authenticate"))
		})
	}
}

// TestEmptyKeyIDBucketPerSource: an Authenticator that leaves KeyID empty gets one request bucket per source,
// so one tenant's requests never use up another's limit.
func TestEmptyKeyIDBucketPerSource(t *testing.T) {
	t.Parallel()
	auth := logingest.AuthenticatorFunc(func(r *http.Request) (logingest.Principal, error) {
		switch logingest.APIKeyFromRequest(r) {
		case "tenant-a", "tenant-a-2":
			return logingest.Principal{Source: "a", Scopes: logingest.ScopeRead}, nil
		case "tenant-b":
			return logingest.Principal{Source: "b", Scopes: logingest.ScopeRead}, nil
		}
		return logingest.Principal{}, logingest.ErrUnauthorized
	})
	e := newEnv(t, &Config{Authenticator: auth, RequestsPerMinute: 1, Burst: 1})
	require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, "/api/v1/status", "tenant-a", nil).Code)
	require.Equal(t, http.StatusTooManyRequests, do(t, e.h, http.MethodGet, "/api/v1/status", "tenant-a-2", nil).Code,
		"principals without a KeyID share their source's bucket")
	require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, "/api/v1/status", "tenant-b", nil).Code,
		"another tenant has its own bucket")
}
