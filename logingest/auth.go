package logingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// Scope is a set of permissions carried by a key.
type Scope uint8

// Scopes. ScopeIngest writes events, ScopeRead reads them, ScopeAdmin manages keys.
const (
	ScopeIngest Scope = 1 << iota
	ScopeRead
	ScopeAdmin
)

// Has reports whether s includes every scope in want.
func (s Scope) Has(want Scope) bool { return s&want == want }

// String returns the scopes as a comma-separated list, for example "ingest,read".
func (s Scope) String() string {
	var parts []string
	if s.Has(ScopeIngest) {
		parts = append(parts, "ingest")
	}
	if s.Has(ScopeRead) {
		parts = append(parts, "read")
	}
	if s.Has(ScopeAdmin) {
		parts = append(parts, "admin")
	}
	return strings.Join(parts, ",")
}

// ParseScopes parses a comma-separated list such as "ingest,read". It returns a *ValidationError for unknown names.
func ParseScopes(s string) (Scope, error) {
	var out Scope
	for _, p := range strings.Split(s, ",") {
		switch strings.TrimSpace(p) {
		case "ingest":
			out |= ScopeIngest
		case "read":
			out |= ScopeRead
		case "admin":
			out |= ScopeAdmin
		case "":
		default:
			return 0, &ValidationError{Errors: []FieldError{{Field: "scopes", Reason: "unknown scope " + strings.TrimSpace(p) + " (want ingest, read, admin)"}}}
		}
	}
	return out, nil
}

// Principal is the authenticated caller of a request.
type Principal struct {
	// KeyID identifies the key without revealing it; safe to log.
	KeyID string
	// Source is the source the caller's events belong to and the only source it may read.
	Source string
	// Scopes are the caller's permissions.
	Scopes Scope
}

type principalKey struct{}

// NewContext returns a copy of ctx that carries p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal stored by NewContext, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticator decides who sent a request. It must be safe for concurrent use. It returns an error matching
// ErrUnauthorized when the request carries no valid credentials; any other error is treated as the
// authenticator's own failure (HTTP 503).
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(r *http.Request) (Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Principal, error) { return f(r) }

// APIKeyFromRequest returns the API key of r, taken from "Authorization: Bearer <key>" or, failing that,
// from the "X-API-Key" header. It returns "" when neither is present.
func APIKeyFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// HashKey returns the hex SHA-256 of an API key secret: the only form in which keys are kept at rest.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// StaticKeys authenticates requests against a fixed list of keys, for example from the API_KEYS variable.
// Every key gets Scopes and Source. Keys are kept only as SHA-256 hashes and compared in constant time.
// The zero value rejects every request.
type StaticKeys struct {
	hashes [][sha256.Size]byte
	ids    []string
	scopes Scope
	source string
}

// NewStaticKeys returns an Authenticator for keys. Empty keys are ignored. An empty source means DefaultSource.
func NewStaticKeys(keys []string, scopes Scope, source string) *StaticKeys {
	if source == "" {
		source = DefaultSource
	}
	s := &StaticKeys{scopes: scopes, source: source}
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		sum := sha256.Sum256([]byte(k))
		s.hashes = append(s.hashes, sum)
		s.ids = append(s.ids, "static_"+hex.EncodeToString(sum[:4]))
	}
	return s
}

// Len returns how many keys s accepts.
func (s *StaticKeys) Len() int { return len(s.hashes) }

// Authenticate implements Authenticator.
func (s *StaticKeys) Authenticate(r *http.Request) (Principal, error) {
	key := APIKeyFromRequest(r)
	if key == "" {
		return Principal{}, ErrUnauthorized
	}
	sum := sha256.Sum256([]byte(key))
	match := -1
	for i := range s.hashes {
		// Compare against every key so the time taken does not depend on which key matched.
		if subtle.ConstantTimeCompare(sum[:], s.hashes[i][:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Principal{}, ErrUnauthorized
	}
	return Principal{KeyID: s.ids[match], Source: s.source, Scopes: s.scopes}, nil
}

// APIKey is a key record kept by a KeyStore. The secret itself is never stored, only Hash.
type APIKey struct {
	// ID is the public identifier, safe to log and show.
	ID string
	// Name is a human label.
	Name string
	// Hash is HashKey(secret).
	Hash string
	// Source is the source the key writes to and may read.
	Source string
	// Scopes are the key's permissions.
	Scopes    Scope
	CreatedAt time.Time
	// ExpiresAt and RevokedAt are zero when not set.
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Active reports whether k may be used at now: not revoked and not expired.
func (k APIKey) Active(now time.Time) bool {
	return (k.RevokedAt.IsZero() || now.Before(k.RevokedAt)) && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// KeyStore is an optional Store interface for stores that persist API keys.
type KeyStore interface {
	// CreateAPIKey stores k. It returns an error matching ErrInvalid if a key with the same ID or Hash exists.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash returns the key whose Hash is hash, revoked or not, or an error matching ErrNotFound.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// ListAPIKeys returns every key ordered by CreatedAt, then ID.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
}
