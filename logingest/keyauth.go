package logingest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/change66/logserver/internal/promutil"
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
	// CacheTTL is how long a lookup result (found or not) is reused. It bounds how long a revoked or expired key
	// keeps working on each server: every replica re-reads the key at most CacheTTL after caching it. The
	// default leaves room for a lookup's latency inside the one-second revocation promise. Defaults to 500ms.
	CacheTTL time.Duration
	// MaxEntries bounds the cache; when full it is emptied, so guessing keys cannot grow memory. Defaults to 10000.
	MaxEntries int
	// UsageFlushInterval is how often Run writes the usage counted since the last flush (RecordKeyUsage).
	// Defaults to 10s.
	UsageFlushInterval time.Duration
	// Registerer receives logingest_key_cache_requests_total{result}. Collectors already registered are shared.
	// Defaults to nil: the metric is kept but not registered.
	Registerer prometheus.Registerer
	// Logger receives usage flush failures. Defaults to slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// maxSecretLen bounds the presented secrets that are looked up at all; longer ones cannot be keys.
const maxSecretLen = 512

// KeyStoreAuthenticator authenticates requests against the keys of a KeyStore, by the SHA-256 hash of the
// presented key, caching each result (found or not) for CacheTTL. Revoked and expired keys are refused with
// ErrUnauthorized, like unknown ones. It counts each key's use in memory; Run (or FlushUsage) writes the counts
// with one RecordKeyUsage call per interval, never one write per request. It is safe for concurrent use.
//
// Lookups go by hash, so the secret itself is never compared with variable-time code: the map and index
// lookups compare hashes, which reveal nothing about a secret whose hash an attacker does not already know, and
// the found record's hash is compared again in constant time.
type KeyStoreAuthenticator struct {
	ks      KeyStore
	cfg     KeyAuthConfig
	metrics *prometheus.CounterVec

	mu    sync.Mutex
	cache map[string]keyCacheEntry
	usage map[string]KeyUsage // pending, by key ID
}

type keyCacheEntry struct {
	key   APIKey
	found bool
	until time.Time
}

// Values of logingest_key_cache_requests_total{result}.
const (
	cacheHit  = "hit"
	cacheMiss = "miss"
)

// NewKeyStoreAuthenticator returns an Authenticator backed by ks. A nil cfg uses the defaults. It returns an
// error only when its metric cannot be registered on cfg.Registerer.
func NewKeyStoreAuthenticator(ks KeyStore, cfg *KeyAuthConfig) (*KeyStoreAuthenticator, error) {
	var c KeyAuthConfig
	if cfg != nil {
		c = *cfg
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = 500 * time.Millisecond
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 10000
	}
	if c.UsageFlushInterval <= 0 {
		c.UsageFlushInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	m, err := promutil.Register(c.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logingest_key_cache_requests_total",
		Help: "API key validations by cache result (hit: served from memory, miss: looked up in the store).",
	}, []string{"result"}))
	if err != nil {
		return nil, fmt.Errorf("key authenticator: %w", err)
	}
	m.WithLabelValues(cacheHit)
	m.WithLabelValues(cacheMiss)
	return &KeyStoreAuthenticator{
		ks: ks, cfg: c, metrics: m,
		cache: make(map[string]keyCacheEntry),
		usage: make(map[string]KeyUsage),
	}, nil
}

// Authenticate implements Authenticator. Store failures are returned as they are (not ErrUnauthorized), so the
// caller can answer 503 rather than reject a valid key.
func (a *KeyStoreAuthenticator) Authenticate(r *http.Request) (Principal, error) {
	secret := APIKeyFromRequest(r)
	if secret == "" || len(secret) > maxSecretLen {
		return Principal{}, ErrUnauthorized
	}
	hash := HashKey(secret)
	now := a.cfg.Now()

	a.mu.Lock()
	e, ok := a.cache[hash]
	a.mu.Unlock()
	if ok && now.Before(e.until) {
		a.metrics.WithLabelValues(cacheHit).Inc()
	} else {
		a.metrics.WithLabelValues(cacheMiss).Inc()
		k, err := a.ks.APIKeyByHash(r.Context(), hash)
		switch {
		case errors.Is(err, ErrNotFound):
			e = keyCacheEntry{until: now.Add(a.cfg.CacheTTL)}
		case err != nil:
			return Principal{}, fmt.Errorf("look up api key: %w", err)
		default:
			// Defence in depth against a store whose lookup is looser than byte equality.
			found := subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) == 1
			e = keyCacheEntry{key: k, found: found, until: now.Add(a.cfg.CacheTTL)}
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
	a.mu.Lock()
	u := a.usage[e.key.ID]
	u.ID, u.Count, u.LastUsedAt = e.key.ID, u.Count+1, latest(u.LastUsedAt, now)
	a.usage[e.key.ID] = u
	a.mu.Unlock()
	return Principal{KeyID: e.key.ID, Source: e.key.Source, Scopes: e.key.Scopes, Limits: e.key.Limits.Sanitized()}, nil
}

// Challenge implements Challenger: the answer speaks of API keys.
func (a *KeyStoreAuthenticator) Challenge() (message, wwwAuthenticate string) {
	return apiKeyChallenge()
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// FlushUsage writes the usage counted since the last flush with one RecordKeyUsage call, and does nothing when
// there is none. When the write fails the counts are kept for the next flush and the error is returned.
func (a *KeyStoreAuthenticator) FlushUsage(ctx context.Context) error {
	a.mu.Lock()
	if len(a.usage) == 0 {
		a.mu.Unlock()
		return nil
	}
	pending := a.usage
	a.usage = make(map[string]KeyUsage, len(pending))
	a.mu.Unlock()

	batch := make([]KeyUsage, 0, len(pending))
	for _, u := range pending {
		batch = append(batch, u)
	}
	slices.SortFunc(batch, func(x, y KeyUsage) int { return strings.Compare(x.ID, y.ID) }) // stable lock order in the store
	if err := a.ks.RecordKeyUsage(ctx, batch); err != nil {
		a.mu.Lock()
		for id, u := range pending {
			cur := a.usage[id]
			cur.ID, cur.Count, cur.LastUsedAt = id, cur.Count+u.Count, latest(cur.LastUsedAt, u.LastUsedAt)
			a.usage[id] = cur
		}
		a.mu.Unlock()
		return fmt.Errorf("record key usage: %w", err)
	}
	return nil
}

// Run flushes usage every UsageFlushInterval until ctx ends, then flushes once more (within 5 seconds, on a
// context that is not canceled) and returns nil. Flush failures are logged and retried at the next interval.
func (a *KeyStoreAuthenticator) Run(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.UsageFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := a.FlushUsage(fctx); err != nil {
				a.cfg.Logger.Error("flush api key usage on shutdown", slog.Any("error", err))
			}
			return nil
		case <-tick.C:
			if err := a.FlushUsage(ctx); err != nil && ctx.Err() == nil {
				a.cfg.Logger.Warn("flush api key usage", slog.Any("error", err))
			}
		}
	}
}

// RotateAPIKey replaces key id: it creates a new key with the same name, source, scopes and limits (and, when
// the old key expires, the same lifetime counted from now), then makes the old key expire at now+grace, or
// keeps its earlier expiry. A zero grace ends the old key at once. It returns the new secret, to show once,
// and the new record. It returns an error matching ErrNotFound for an unknown ID and ErrInvalid for a key
// that is already revoked or expired.
func RotateAPIKey(ctx context.Context, ks KeyStore, id string, grace time.Duration, now time.Time) (string, APIKey, error) {
	if grace < 0 {
		return "", APIKey{}, &ValidationError{Errors: []FieldError{{Field: "grace", Reason: "must not be negative"}}}
	}
	old, err := ks.APIKeyByID(ctx, id)
	if err != nil {
		return "", APIKey{}, fmt.Errorf("rotate api key: %w", err)
	}
	if !old.Active(now) {
		return "", APIKey{}, fmt.Errorf("rotate api key %s: key is revoked or expired: %w", id, ErrInvalid)
	}
	secret, key, err := GenerateAPIKey(old.Name, old.Source, old.Scopes, now)
	if err != nil {
		return "", APIKey{}, err
	}
	key.Limits = old.Limits
	if !old.ExpiresAt.IsZero() {
		key.ExpiresAt = key.CreatedAt.Add(old.ExpiresAt.Sub(old.CreatedAt))
	}
	if err := ks.CreateAPIKey(ctx, key); err != nil {
		return "", APIKey{}, fmt.Errorf("rotate api key: %w", err)
	}
	if err := ks.ExpireAPIKey(ctx, id, now.Add(grace)); err != nil {
		return "", APIKey{}, fmt.Errorf("rotate api key: expire old key: %w", err)
	}
	return secret, key, nil
}

// FirstOf returns an Authenticator that tries each of auths in order and returns the first success. A request
// that every authenticator refuses with ErrUnauthorized gets ErrUnauthorized; any other error stops the chain.
// It is a Challenger answering as the first of auths that is one.
func FirstOf(auths ...Authenticator) Authenticator {
	return firstOf(auths)
}

type firstOf []Authenticator

func (f firstOf) Authenticate(r *http.Request) (Principal, error) {
	for _, a := range f {
		p, err := a.Authenticate(r)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrUnauthorized) {
			return Principal{}, err
		}
	}
	return Principal{}, ErrUnauthorized
}

func (f firstOf) Challenge() (message, wwwAuthenticate string) {
	for _, a := range f {
		if c, ok := a.(Challenger); ok {
			return c.Challenge()
		}
	}
	return "", ""
}
