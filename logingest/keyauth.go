package logingest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// GenerateAPIKey makes a new key for source with scopes, returning the secret (to show once) and the record to
// store (which holds only the secret's hash). The secret has the form "lk_<id>_<43 chars>": 256 random bits
// from crypto/rand, prefixed by the public ID so a leaked key can be identified without looking up its hash.
func GenerateAPIKey(name, source string, scopes Scope, now time.Time) (secret string, key APIKey, err error) {
	var idBytes [6]byte
	var secretBytes [32]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return "", APIKey{}, fmt.Errorf("generate key id: %w", err)
	}
	if _, err := rand.Read(secretBytes[:]); err != nil {
		return "", APIKey{}, fmt.Errorf("generate key secret: %w", err)
	}
	if source == "" {
		source = DefaultSource
	}
	id := "lk_" + hex.EncodeToString(idBytes[:])
	secret = id + "_" + base64.RawURLEncoding.EncodeToString(secretBytes[:])
	return secret, APIKey{
		ID:        id,
		Name:      name,
		Hash:      HashKey(secret),
		Source:    source,
		Scopes:    scopes,
		CreatedAt: now.UTC(),
	}, nil
}

// KeyAuthConfig configures a KeyStoreAuthenticator. The zero value is a reasonable default.
type KeyAuthConfig struct {
	// CacheTTL is how long a lookup result (found or not) is reused. It bounds how long a revoked key keeps
	// working. Defaults to 1s.
	CacheTTL time.Duration
	// MaxEntries bounds the cache; when full it is emptied, so guessing keys cannot grow memory. Defaults to 10000.
	MaxEntries int
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// KeyStoreAuthenticator authenticates requests against the keys of a KeyStore, by the SHA-256 hash of the
// presented key, caching each result for CacheTTL. Revoked and expired keys are refused with ErrUnauthorized,
// like unknown ones. It is safe for concurrent use.
type KeyStoreAuthenticator struct {
	ks  KeyStore
	cfg KeyAuthConfig

	mu    sync.Mutex
	cache map[string]keyCacheEntry
}

type keyCacheEntry struct {
	key   APIKey
	found bool
	until time.Time
}

// NewKeyStoreAuthenticator returns an Authenticator backed by ks. A nil cfg uses the defaults.
func NewKeyStoreAuthenticator(ks KeyStore, cfg *KeyAuthConfig) *KeyStoreAuthenticator {
	var c KeyAuthConfig
	if cfg != nil {
		c = *cfg
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = time.Second
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 10000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &KeyStoreAuthenticator{ks: ks, cfg: c, cache: make(map[string]keyCacheEntry)}
}

// Authenticate implements Authenticator. Store failures are returned as they are (not ErrUnauthorized), so the
// caller can answer 503 rather than reject a valid key.
func (a *KeyStoreAuthenticator) Authenticate(r *http.Request) (Principal, error) {
	secret := APIKeyFromRequest(r)
	if secret == "" {
		return Principal{}, ErrUnauthorized
	}
	hash := HashKey(secret)
	now := a.cfg.Now()

	a.mu.Lock()
	e, ok := a.cache[hash]
	a.mu.Unlock()
	if !ok || !now.Before(e.until) {
		k, err := a.ks.APIKeyByHash(r.Context(), hash)
		switch {
		case errors.Is(err, ErrNotFound):
			e = keyCacheEntry{until: now.Add(a.cfg.CacheTTL)}
		case err != nil:
			return Principal{}, fmt.Errorf("look up api key: %w", err)
		default:
			e = keyCacheEntry{key: k, found: true, until: now.Add(a.cfg.CacheTTL)}
		}
		a.mu.Lock()
		if len(a.cache) >= a.cfg.MaxEntries {
			clear(a.cache)
		}
		a.cache[hash] = e
		a.mu.Unlock()
	}
	if !e.found || !e.key.Active(now) {
		return Principal{}, ErrUnauthorized
	}
	return Principal{KeyID: e.key.ID, Source: e.key.Source, Scopes: e.key.Scopes}, nil
}

// FirstOf returns an Authenticator that tries each of auths in order and returns the first success. A request
// that every authenticator refuses with ErrUnauthorized gets ErrUnauthorized; any other error stops the chain.
func FirstOf(auths ...Authenticator) Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (Principal, error) {
		for _, a := range auths {
			p, err := a.Authenticate(r)
			if err == nil {
				return p, nil
			}
			if !errors.Is(err, ErrUnauthorized) {
				return Principal{}, err
			}
		}
		return Principal{}, ErrUnauthorized
	})
}
