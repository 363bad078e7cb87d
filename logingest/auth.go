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
	for p := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(p) {
		case "ingest":
			out |= ScopeIngest
		case "read":
			out |= ScopeRead
		case "admin":
			out |= ScopeAdmin
		case "":
		default:
			return 0, &ValidationError{Errors: []FieldError{{
				Field:  "scopes",
				Reason: "unknown scope " + strings.TrimSpace(p) + " (want ingest, read, admin)",
			}}}
		}
	}
	return out, nil
}

// Principal is the authenticated caller of a request.
type Principal struct {
	// KeyID identifies the credential the request was made with, without revealing it: it is logged as
	// key_id and keys the per-key rate limits of httpapi, so an Authenticator gives every credential its own
	// KeyID (two credentials with one KeyID share their limits). It may be empty: the limits are then kept per
	// Source, so principals without a KeyID share a bucket only within their source, never across tenants.
	// Safe to log.
	KeyID string
	// Source is the source the caller's events belong to and the only source it may read.
	Source string
	// Scopes are the caller's permissions.
	Scopes Scope
	// Limits overrides the server's default rate limits for this caller; zero fields keep the defaults.
	Limits KeyLimits
}

// KeyLimits are per-key overrides of the server's rate limits. A zero field means "use the server default";
// a negative rate means "unlimited" for that limit.
type KeyLimits struct {
	// RequestsPerMinute is the sustained rate of API requests.
	RequestsPerMinute float64 `json:"requests_per_minute,omitempty"`
	// RequestBurst is how many requests may be sent at once after an idle period.
	RequestBurst int `json:"request_burst,omitempty"`
	// EventsPerMinute is the sustained rate of ingested events; a batch of n events costs n.
	EventsPerMinute float64 `json:"events_per_minute,omitempty"`
	// EventsBurst is the largest number of events that may be sent at once after an idle period.
	EventsBurst int `json:"events_burst,omitempty"`
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

// Challenger is an optional Authenticator interface: Challenge returns the message of the 401 answer to a
// request the Authenticator refused, and its WWW-Authenticate header value, so that the answer names the
// credentials this Authenticator expects. Every refusal gets the same answer, so it never tells why a
// credential was refused. Without it (or for an empty value), httpapi answers "missing or invalid credentials"
// with `Bearer realm="logingest"`.
type Challenger interface {
	Challenge() (message, wwwAuthenticate string)
}

// apiKeyChallenge is the 401 answer of the API key authenticators.
func apiKeyChallenge() (message, wwwAuthenticate string) {
	return "missing or invalid API key", `Bearer realm="logingest"`
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
	return strings.TrimSpace(r.Header.Get("X-Api-Key")) // X-API-Key, spelled canonically: Get then allocates nothing
}

// HashKey returns the hex SHA-256 of an API key secret: the only form in which keys are kept at rest.
//
// Plain SHA-256, without a pepper or a slow KDF, is deliberate. A slow hash (bcrypt, argon2) or a secret
// pepper (HMAC) protects low-entropy secrets such as passwords against offline guessing after a database leak;
// the secrets GenerateAPIKey makes carry 256 random bits, so guessing one from its hash costs 2^255 SHA-256
// evaluations on average, whatever the hash costs. A pepper would add a second secret to deploy and rotate for
// no gain, and a slow hash would put a CPU-bound step on every cache miss. The hash is also what keys are looked
// up by, so it must be deterministic, which rules out per-key salts. Keys supplied by operators (API_KEYS) may
// be weaker; they are never stored, only kept in memory.
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

// Challenge implements Challenger: the answer speaks of API keys.
func (s *StaticKeys) Challenge() (message, wwwAuthenticate string) { return apiKeyChallenge() }

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
	// ID is the public identifier ("lk_" and 12 hex digits), safe to log and show; it is also the prefix of
	// the secret, so a leaked secret can be traced to its record.
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
	// LastUsedAt and UseCount are usage statistics kept by RecordKeyUsage; they lag behind real use by the
	// authenticator's flush interval. CreateAPIKey ignores them: a new key has never been used.
	LastUsedAt time.Time
	UseCount   int64
	// Limits overrides the server's rate limits for this key.
	Limits KeyLimits
}

// Active reports whether k may be used at now: not revoked and not expired.
func (k APIKey) Active(now time.Time) bool {
	return (k.RevokedAt.IsZero() || now.Before(k.RevokedAt)) && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// KeyUsage is the use of one key over a flush interval, as recorded by RecordKeyUsage.
type KeyUsage struct {
	// ID is the key's ID.
	ID string
	// Count is how many requests the key authenticated.
	Count int64
	// LastUsedAt is when it last did.
	LastUsedAt time.Time
}

// KeyStore is an optional Store interface for stores that persist API keys. All methods must be safe for
// concurrent use. Because KeyStore is optional (checked with a type assertion), methods are added to it as key
// management grows; a store that implements an older version of it is simply not a KeyStore, and servers fall
// back to keys from configuration.
//
// It is the one key-management interface: KeyStoreAuthenticator, RotateAPIKey, httpapi's key endpoints
// (httpapi.Config.Keys) and the logserver keys commands all use it, and storetest checks its contract on every
// store that implements it.
type KeyStore interface {
	// CreateAPIKey stores k, ignoring k.LastUsedAt and k.UseCount. It returns an error matching ErrInvalid if
	// a key with the same ID or Hash exists.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash returns the key whose Hash is hash, revoked or not, or an error matching ErrNotFound.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// APIKeyByID returns the key whose ID is id, revoked or not, or an error matching ErrNotFound.
	APIKeyByID(ctx context.Context, id string) (APIKey, error)
	// ListAPIKeys returns every key ordered by CreatedAt, then ID.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey sets the RevokedAt of key id to at. It is idempotent: a key already revoked keeps its
	// earlier RevokedAt. It returns an error matching ErrNotFound when no key has that ID.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// ExpireAPIKey sets the ExpiresAt of key id to at unless the key already expires earlier: it only ever
	// shortens a key's life. It returns an error matching ErrNotFound when no key has that ID.
	ExpireAPIKey(ctx context.Context, id string, at time.Time) error
	// RecordKeyUsage adds each usage's Count to its key's UseCount and sets LastUsedAt to the later of the
	// stored value and the usage's. Usages of unknown IDs are ignored. The store does not retain the slice.
	RecordKeyUsage(ctx context.Context, usage []KeyUsage) error
}
