package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/change66/logserver/logingest"
)

// Config configures a Handler. A nil *Config and the zero value of every field are reasonable defaults, except
// that a nil Authenticator rejects every /api/v1 request (secure by default).
type Config struct {
	// Logger receives the access log and error details, each line carrying the request's request_id.
	// Defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the HTTP metrics. When a collector with the same description is already registered
	// (for example by a second Handler), the existing one is shared. Defaults to nil: metrics are kept but not
	// registered.
	Registerer prometheus.Registerer
	// Authenticator identifies the caller of every /api/v1 request. Its errors matching
	// logingest.ErrUnauthorized give 401; any other error gives 503. Defaults to nil: every /api/v1 request is
	// answered 401.
	Authenticator logingest.Authenticator
	// Now returns the current time; it drives the rate limiter, uptime and the Stats windows. Defaults to
	// time.Now.
	Now func() time.Time

	// MaxBodyBytes bounds an ingest request body (MAX_REQUEST_SIZE_MB), both as sent on the wire and after
	// gzip or zstd decompression; larger bodies are answered 413. Defaults to 10 MiB.
	MaxBodyBytes int64
	// MaxEventBytes bounds one event, in bytes of JSON: the body of POST /api/v1/ingest (413 above it) and
	// each element of a batch's "logs" array (rejected alone, without being decoded). Defaults to 1 MiB.
	MaxEventBytes int64
	// MaxInflightBodyBytes bounds the memory of all ingest requests being read, decoded or ingested at once,
	// so memory stays bounded under any number of concurrent requests. Each request reserves its body buffer
	// as it grows (following the bytes that arrive, never the declared Content-Length), then what its events
	// take once decoded (estimated before decoding, measured after), and gives the body's share back once it
	// is decoded. A request that cannot reserve what it needs is answered 503 with Retry-After at once (it is
	// safe to retry). A negative value disables the bound. Defaults to 16 × MaxBodyBytes.
	MaxInflightBodyBytes int64
	// MaxInflightBodyBytesPerClient bounds the part of MaxInflightBodyBytes one client (an IP address, or an
	// IPv6 /64) may hold, so a few clients cannot take the whole budget from the others; past it the client's
	// request is answered 503 with Retry-After and keeps its rate-limit tokens spent. A negative value disables
	// it. Defaults to a quarter of MaxInflightBodyBytes, and at least 2 × MaxBodyBytes.
	MaxInflightBodyBytesPerClient int64
	// MinBodyBytesPerSecond is the slowest a request body may arrive, on average, after BodyGracePeriod: a
	// body that falls behind is answered 408, so a stalled upload cannot hold its share of the budget (or a
	// connection) for long. Only bodies read from a connection whose read deadline can be set
	// (http.ResponseController) are paced. A negative value disables it. Defaults to 16 KiB/s.
	MinBodyBytesPerSecond int64
	// BodyGracePeriod is how long a body may take before MinBodyBytesPerSecond applies. Defaults to 5s.
	BodyGracePeriod time.Duration
	// BodyReadTimeout bounds the time to read a whole request body, counted from the end of its headers; a
	// body still arriving then is answered 408. A negative value disables it. Defaults to 30s.
	BodyReadTimeout time.Duration
	// RequestsPerMinute is the sustained rate of /api/v1 requests allowed per API key (token bucket refilled
	// continuously). A negative value disables rate limiting. Defaults to 1000.
	RequestsPerMinute float64
	// Burst is the token bucket's capacity: how many requests one key may send at once after being idle.
	// Defaults to 100.
	Burst int
	// EventsPerMinute is the sustained rate of ingested events allowed per API key; a batch of n events costs
	// n tokens. A negative value disables the event limit. Defaults to 60000.
	EventsPerMinute float64
	// EventsBurst is the event bucket's capacity. A batch larger than it is refused with 400, since it could
	// never pass; keep it at least the Ingester's MaxBatchSize. Defaults to 10000.
	EventsBurst int
	// AuthFailuresPerMinute is how many failed authentications a client IP (an IPv6 /64) may make at once, and
	// per minute after that. Past it, every /api/v1 request from that client answers 429 until a token is back,
	// whatever key it carries. A negative value disables the limit. Defaults to 60.
	AuthFailuresPerMinute float64
	// RateLimiter keeps the buckets of the request, event and authentication failure limits. Defaults to
	// NewLocalLimiter with Now: limits are per process.
	RateLimiter RateLimiter
	// Keys enables the key management endpoints (GET and POST /api/v1/keys, POST /api/v1/keys/{id}/revoke
	// and /rotate), which need logingest.ScopeAdmin. Defaults to nil: those routes do not exist.
	Keys logingest.KeyStore

	// CORS configures cross-origin access. Defaults to the zero CORS: no CORS headers are sent.
	CORS CORS
	// Stream configures the live tail, GET /api/v1/logs/stream. The zero value works.
	Stream StreamConfig

	// Version is reported by GET /api/v1/status. Defaults to "".
	Version string
	// TrustedProxyHeader names a header set by a trusted reverse proxy that carries the client IP, for example
	// "X-Forwarded-For" or "X-Real-IP"; the first address in it is logged as client_ip and keys the
	// authentication failure limit. Set it only behind a proxy that overwrites (not appends to) that header:
	// otherwise any client can pick its own IP, and so escape the limit or lock out someone else's.
	// It never grants access. Defaults to "": the connection's remote address is used.
	TrustedProxyHeader string
	// PathPrefix is removed from the request path before routing, for routers that mount a handler without
	// stripping the mount point (chi's Mount). Requests outside it get 404. With http.StripPrefix leave it
	// empty. Defaults to "" (routes are matched on the full path).
	PathPrefix string
}

// CORS configures cross-origin resource sharing. The zero value disables CORS.
type CORS struct {
	// AllowedOrigins lists the origins (scheme://host[:port]) that may call the API from a browser; "*" allows
	// every origin. Only a matching origin is echoed in Access-Control-Allow-Origin, never the list.
	// Defaults to empty: CORS is off.
	AllowedOrigins []string
	// AllowedMethods is sent in Access-Control-Allow-Methods on preflight responses. Defaults to
	// GET, POST, OPTIONS.
	AllowedMethods []string
	// AllowedHeaders is sent in Access-Control-Allow-Headers on preflight responses. Defaults to
	// Authorization, Content-Type, Content-Encoding, X-API-Key, X-Request-ID.
	AllowedHeaders []string
	// MaxAge is how long a browser may cache a preflight response. Defaults to 10 minutes.
	MaxAge time.Duration
}

// Defaults.
const (
	defaultMaxBodyBytes          = 10 << 20
	defaultMaxEventBytes         = 1 << 20
	defaultMinBodyBytesPerSecond = 16 << 10
	defaultBodyGracePeriod       = 5 * time.Second
	defaultBodyReadTimeout       = 30 * time.Second
	defaultRequestsPerMinute     = 1000
	defaultBurst                 = 100
	defaultEventsPerMinute       = 60000
	defaultEventsBurst           = 10000
	defaultAuthFailures          = 60
	defaultCORSMaxAge            = 10 * time.Minute
)

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.MaxBodyBytes == 0 {
		out.MaxBodyBytes = defaultMaxBodyBytes
	}
	if out.MaxEventBytes == 0 {
		out.MaxEventBytes = defaultMaxEventBytes
	}
	if out.MaxInflightBodyBytes == 0 {
		out.MaxInflightBodyBytes = 16 * out.MaxBodyBytes
	}
	if out.MaxInflightBodyBytesPerClient == 0 {
		out.MaxInflightBodyBytesPerClient = max(out.MaxInflightBodyBytes/4, 2*out.MaxBodyBytes)
	}
	if out.MinBodyBytesPerSecond == 0 {
		out.MinBodyBytesPerSecond = defaultMinBodyBytesPerSecond
	}
	if out.BodyGracePeriod == 0 {
		out.BodyGracePeriod = defaultBodyGracePeriod
	}
	if out.BodyReadTimeout == 0 {
		out.BodyReadTimeout = defaultBodyReadTimeout
	}
	if out.RequestsPerMinute == 0 {
		out.RequestsPerMinute = defaultRequestsPerMinute
	}
	if out.Burst == 0 {
		out.Burst = defaultBurst
	}
	if out.EventsPerMinute == 0 {
		out.EventsPerMinute = defaultEventsPerMinute
	}
	if out.EventsBurst == 0 {
		out.EventsBurst = defaultEventsBurst
	}
	if out.AuthFailuresPerMinute == 0 {
		out.AuthFailuresPerMinute = defaultAuthFailures
	}
	out.CORS = out.CORS.withDefaults()
	out.Stream = out.Stream.withDefaults()
	out.PathPrefix = strings.TrimSuffix(out.PathPrefix, "/")
	return out
}

func (c CORS) withDefaults() CORS {
	out := CORS{MaxAge: c.MaxAge}
	// Copy the slices so the caller's Config can be reused or changed without affecting the Handler.
	for _, o := range c.AllowedOrigins {
		if o = strings.TrimSpace(o); o != "" {
			out.AllowedOrigins = append(out.AllowedOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	out.AllowedMethods = canonicalList(c.AllowedMethods, []string{http.MethodGet, http.MethodPost, http.MethodOptions}, strings.ToUpper)
	out.AllowedHeaders = canonicalList(c.AllowedHeaders,
		[]string{"Authorization", "Content-Type", "Content-Encoding", "X-API-Key", "X-Request-ID"},
		textproto.CanonicalMIMEHeaderKey)
	if out.MaxAge == 0 {
		out.MaxAge = defaultCORSMaxAge
	}
	return out
}

func canonicalList(in, def []string, canon func(string) string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, canon(s))
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

func (c Config) validate() error {
	var errs []error
	if c.MaxBodyBytes < 1 {
		errs = append(errs, fieldErr("MaxBodyBytes", "must be at least 1"))
	}
	if c.MaxEventBytes < 1 {
		errs = append(errs, fieldErr("MaxEventBytes", "must be at least 1"))
	}
	if c.BodyGracePeriod < 0 {
		errs = append(errs, fieldErr("BodyGracePeriod", "must not be negative"))
	}
	if c.RequestsPerMinute > 0 && c.Burst < 1 {
		errs = append(errs, fieldErr("Burst", "must be at least 1 when rate limiting is on"))
	}
	if c.EventsPerMinute > 0 && c.EventsBurst < 1 {
		errs = append(errs, fieldErr("EventsBurst", "must be at least 1 when the event limit is on"))
	}
	if c.CORS.MaxAge < 0 {
		errs = append(errs, fieldErr("CORS.MaxAge", "must not be negative"))
	}
	for i, o := range c.CORS.AllowedOrigins {
		if !validHeaderValue(o) {
			errs = append(errs, fmt.Errorf("CORS.AllowedOrigins[%d] must not contain control characters or commas", i))
		}
	}
	for i, m := range c.CORS.AllowedMethods {
		if !validToken(m) {
			errs = append(errs, fmt.Errorf("CORS.AllowedMethods[%d] must be an HTTP token", i))
		}
	}
	for i, h := range c.CORS.AllowedHeaders {
		if !validToken(h) {
			errs = append(errs, fmt.Errorf("CORS.AllowedHeaders[%d] must be an HTTP token", i))
		}
	}
	if c.TrustedProxyHeader != "" && !validToken(c.TrustedProxyHeader) {
		errs = append(errs, fieldErr("TrustedProxyHeader", "must be an HTTP header name"))
	}
	if c.PathPrefix != "" && !strings.HasPrefix(c.PathPrefix, "/") {
		errs = append(errs, fieldErr("PathPrefix", `must start with "/"`))
	}
	return errors.Join(errs...)
}

// fieldErr names the Config field first, as validation errors do throughout (River's validate).
func fieldErr(field, reason string) error { return fmt.Errorf("%s %s", field, reason) }

// validToken reports whether s is an RFC 9110 token (header names, methods).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < ' ' || c == 0x7f || c == ',' {
			return false
		}
	}
	return true
}
