// Package httpapi serves the logingest HTTP API as two http.Handlers an application mounts where it wants:
//
//   - New returns the API (Handler): event ingestion, filtering, stats and key management under /api/v1,
//     every request authenticated and rate limited;
//   - NewOps returns the operational endpoints (Ops): /health, /readiness, /liveness and /metrics, without
//     authentication, for probes and Prometheus.
//
// cmd/logserver serves both on one port. An embedding application usually mounts the API under a prefix of its
// own mux and either mounts Ops where its probes look or leaves it out.
//
// It holds no SQL and imports no store backend: the API talks to a Backend (Ingest for writes, Store for
// reads), declared here as a small consumer-side interface that *logingest.Ingester implements, and Ops pings
// a Pinger (every logingest.Store).
//
// # What New turns on by default
//
// With a nil *Config the API is locked and limited, and does nothing cross-origin: every request is refused
// 401 until Config.Authenticator is set; each key gets 1000 requests and 60000 events per minute (bursts of
// 100 and 10000), and each client IP 60 failed authentications per minute, counted in this process; bodies
// are bounded to 10 MiB each and 160 MiB in flight; no CORS headers are sent (set Config.CORS for browser
// clients on another origin); key management routes are absent (set Config.Keys). Negative values turn a
// limit off.
//
// # Routes
//
// Handler serves:
//
//	POST /api/v1/ingest        one event                              201, 400, 401, 403, 408, 413, 415, 429, 503
//	POST /api/v1/batch-ingest  {"logs":[...]}                         201, 400, 401, 403, 408, 413, 415, 429, 503
//	GET  /api/v1/logs/filter   filter, sort and page events           200, 400, 401, 403, 429, 503
//	GET  /api/v1/logs/recent   newest received events (?limit=)       200, 400, 401, 403, 429, 503
//	GET  /api/v1/logs/export   every matching event, NDJSON or CSV    200, 400, 401, 403, 429, 503
//	GET  /api/v1/logs/stream   live tail, Server-Sent Events          200, 400, 401, 403, 429, 503
//	GET  /api/v1/metrics       Stats of the caller's source           200, 401, 403, 429, 503
//	GET  /api/v1/dashboard     aggregates (store is an Aggregator)    200, 400, 401, 403, 404, 429, 503
//	GET  /api/v1/status        version, uptime, store reachability    200, 401, 403, 429
//	GET  /api/v1/keys          the caller's source's keys (admin)     200, 401, 403, 429, 503
//	POST /api/v1/keys          create a key, secret shown once        201, 400, 401, 403, 429, 503
//	POST /api/v1/keys/{id}/revoke   revoke a key                      200, 401, 403, 404, 429, 503
//	POST /api/v1/keys/{id}/rotate   new key, old one expires after grace  201, 400, 401, 403, 404, 429, 503
//	GET  /api/v1/openapi.json  the OpenAPI 3.1 document (no key)      200
//
// Ops serves:
//
//	GET  /health               store ping and query: healthy, degraded 200, 503
//	GET  /readiness            store reachable and OpsConfig.Ready    200, 503
//	GET  /liveness             process alive                          200
//	GET  /metrics              Prometheus exposition of Gatherer      200, 404 when no Gatherer
//
// Unknown paths answer 404 and known paths with another method 405 (with Allow), both as JSON.
//
// # Wire shapes
//
// The answers are the original log server's shapes, as supersets, so its clients (the Flutter app and the web
// log viewer) work unchanged: success answers are {"success":true,"message":…,"data":…}; errors are
// {"error":<the original's machine code>,"message":…,"details":[{"field","message"}]} plus logingest's code,
// errors, limit, retryable and request_id. OpenAPIDocument returns the contract (also served at
// GET /api/v1/openapi.json); tests validate real answers against it.
//
// # Ingestion semantics
//
// Both ingest endpoints are idempotent on event_id: a resent event is reported "duplicate" with 201, so a client
// that retries until it sees 201 never loops. The single endpoint answers 400 when its event is rejected.
// The batch endpoint decodes every element of "logs" on its own, so one malformed or invalid event is rejected
// with its field errors while the other events of the batch are stored; it answers 201 with per-event results
// whenever the request itself is well-formed, even if every event was rejected, because resending the same
// batch cannot succeed. Whole-request problems (malformed envelope, missing or empty "logs", too many events,
// body too large, wrong Content-Type or Content-Encoding) store nothing and answer 400, 413 or 415.
// Bodies may be compressed (Content-Encoding: gzip or zstd); Config.MaxBodyBytes bounds them before and after
// decompression, so a compression bomb costs at most that much memory.
//
// # Memory under hostile input
//
// The ingest key ships in the app, so every bound holds against a client that sends anything:
//   - a body is read as its bytes arrive, into chunks reserved from Config.MaxInflightBodyBytes before they are
//     allocated (never from the declared Content-Length); one client holds at most
//     Config.MaxInflightBodyBytesPerClient; a body slower than Config.MinBodyBytesPerSecond is answered 408;
//   - a batch's "logs" array is split without decoding and refused at element MaxBatchSize+1 (400 naming
//     "logs" and the limit), so millions of tiny elements cost one scan; an element over Config.MaxEventBytes
//     is rejected alone without being decoded; what decoding allocates is reserved from the same budget
//     (estimated before, measured after) and the body's share is given back once decoded.
//
// # Authentication and limits
//
// Every /api/v1 request is authenticated by Config.Authenticator; ingest routes need logingest.ScopeIngest,
// read routes logingest.ScopeRead and key routes (present when Config.Keys is set) logingest.ScopeAdmin. Reads
// and key management only ever see the caller's own source. Unknown, malformed, expired and revoked keys get
// the same 401 answer.
//
// Each API key has a request bucket (Config.RequestsPerMinute, Config.Burst) and an event bucket
// (Config.EventsPerMinute, Config.EventsBurst; a batch of n events costs n), both overridable per key through
// logingest.Principal.Limits. Failed authentications are limited per client IP (Config.AuthFailuresPerMinute);
// once a client is over that limit, every request from it gets 429 until it recovers, valid key or not, so the
// answer never tells a guessed key from a wrong one. A refused request gets 429 with Retry-After and
// RateLimit-* headers. A request refused after it was charged gives back its event tokens whenever none of its
// events was stored. It gets its request token back only when the failure was not its doing: a 503 because the
// server is overloaded or a dependency is unavailable (a retry is expected). Every failure the client caused
// keeps the request token — any 4xx (malformed or invalid input, a limit, its own rate limit), a 503 for its own
// share of the body budget, and a 500 — because the ingest key ships in the app and anyone may hold it: failing
// requests must not be free. Request tokens given back are themselves limited per key to the key's request
// rate, so no failure can be farmed into more than twice the rate. Config.RateLimiter decides where the buckets
// live (in memory by default; shared by replicas with a Redis implementation).
package httpapi
