package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
	"github.com/change66/logserver/logingest/store/memstore"
	"github.com/change66/logserver/logingest/store/pgstore"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// spec is the embedded OpenAPI document, loaded and validated once per test binary.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

var loadSpecOnce = sync.OnceValues(func() (*spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &spec{doc: doc, router: router}, nil
})

func loadSpec(t *testing.T) *spec {
	t.Helper()
	s, err := loadSpecOnce()
	require.NoError(t, err)
	return s
}

// operations lists the spec's operations as "METHOD /path".
func (s *spec) operations() []string {
	var out []string
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// checker validates exchanges against the spec and records which operations and statuses were seen.
type checker struct {
	t    *testing.T
	spec *spec
	mu   sync.Mutex
	seen map[string][]int // "METHOD /path" -> statuses
}

func newChecker(t *testing.T) *checker {
	t.Helper()
	return &checker{t: t, spec: loadSpec(t), seen: map[string][]int{}}
}

// exchange is one request to send and the status it must get.
type exchange struct {
	name   string
	method string
	target string
	key    string
	body   []byte
	header map[string]string
	status int
	// code is the expected "error" of an error answer.
	code string
	// badRequest marks a request the spec itself refuses (so request validation must fail, not pass).
	badRequest bool
	// stream marks an answer that lasts until the client hangs up; run hangs up after its first flush.
	stream bool
}

// hangUpRecorder records an answer and cancels the request (the client hangs up) at its first flush.
type hangUpRecorder struct {
	*httptest.ResponseRecorder
	hangUp context.CancelFunc
}

func (r *hangUpRecorder) Flush() {
	r.ResponseRecorder.Flush()
	r.hangUp()
}

// run sends ex to h, validates the request (it must match the spec unless ex.badRequest, in which case it must
// not) and the answer (status documented, headers and body matching), and returns the answer.
func (c *checker) run(h http.Handler, ex exchange) *httptest.ResponseRecorder {
	t := c.t
	t.Helper()
	newReq := func() *http.Request {
		var body io.Reader
		if ex.body != nil {
			body = bytes.NewReader(ex.body)
		}
		r := httptest.NewRequestWithContext(t.Context(), ex.method, ex.target, body)
		if ex.body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		if ex.key != "" {
			r.Header.Set("X-API-Key", ex.key)
		}
		for k, v := range ex.header {
			r.Header.Set(k, v)
		}
		return r
	}
	w := httptest.NewRecorder()
	if ex.stream {
		// A stream answers until the client goes away: go away once its first bytes are flushed.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		h.ServeHTTP(&hangUpRecorder{ResponseRecorder: w, hangUp: cancel}, newReq().WithContext(ctx))
	} else {
		h.ServeHTTP(w, newReq())
	}
	require.Equal(t, ex.status, w.Code, "%s: %s", ex.name, w.Body)
	if ex.code != "" {
		var e struct {
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), ex.name)
		require.Equal(t, ex.code, e.Error, "%s: %s", ex.name, w.Body)
	}

	req := newReq()
	route, params, err := c.spec.router.FindRoute(req)
	if err != nil {
		// No operation: only answers of the router itself (404 unknown path, 405 wrong method) get here; they
		// must still be the documented error body.
		require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, w.Code, "%s: no route in the spec: %v", ex.name, err)
		c.validateSchema("Error", w.Body.Bytes(), ex.name)
		return w
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(t.Context(), in)
	if ex.badRequest {
		require.Error(t, reqErr, "%s: the spec should refuse this request", ex.name)
	} else {
		require.NoError(t, reqErr, "%s: request does not match the spec", ex.name)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 w.Code,
		Header:                 w.Header(),
		Options:                opts,
	}
	out.SetBodyBytes(w.Body.Bytes())
	require.NoError(t, openapi3filter.ValidateResponse(t.Context(), out), "%s: answer does not match the spec: %s", ex.name, w.Body)

	c.mu.Lock()
	op := route.Method + " " + route.Path
	c.seen[op] = append(c.seen[op], w.Code)
	c.mu.Unlock()
	return w
}

// validateSchema checks body against components/schemas/name.
func (c *checker) validateSchema(name string, body []byte, what string) {
	t := c.t
	t.Helper()
	ref := c.spec.doc.Components.Schemas[name]
	require.NotNil(t, ref, name)
	var v any
	require.NoError(t, json.Unmarshal(body, &v), what)
	require.NoError(t, ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()), "%s: %s", what, body)
}

// requireEveryOperation fails unless every operation of the spec was exercised.
func (c *checker) requireEveryOperation() {
	c.t.Helper()
	var missing []string
	for _, op := range c.spec.operations() {
		if len(c.seen[op]) == 0 {
			missing = append(missing, op)
		}
	}
	require.Empty(c.t, missing, "operations of the spec no test exercised")
}

// contractEnv is a Handler over a real store (SQLite or PostgreSQL) with key management.
type contractEnv struct {
	h                   http.Handler // the API and Ops, as cmd/logserver serves them
	full, ingest, admin string
	clock               *logingesttest.Clock
}

func newContractEnv(t *testing.T, st logingest.Store, cfg Config) *contractEnv {
	t.Helper()
	clk := newClock()
	ing, err := logingest.New(st, &logingest.Config{Logger: slog.New(slog.DiscardHandler), Now: clk.Now, MaxBatchSize: 100})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ing.Close(context.Background())) })
	ks, ok := st.(logingest.KeyStore)
	require.True(t, ok, "%T must be a KeyStore", st)
	auth, err := logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Now: clk.Now})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	cfg.Authenticator, cfg.Keys, cfg.Now, cfg.Logger = auth, ks, clk.Now, testLogger(nil)
	cfg.Registerer, cfg.Version = reg, "1.2.3"
	api, err := New(ing, &cfg)
	require.NoError(t, err)
	ops, err := NewOps(st, &OpsConfig{Registerer: reg, Gatherer: reg, Version: "1.2.3", Now: clk.Now, Logger: testLogger(nil)})
	require.NoError(t, err)
	h := serveBoth(api, ops)
	mint := func(scopes logingest.Scope) string {
		secret, k, err := logingest.GenerateAPIKey("contract", "app", scopes, clk.Now())
		require.NoError(t, err)
		require.NoError(t, ks.CreateAPIKey(t.Context(), k))
		return secret
	}
	return &contractEnv{
		h: h, clock: clk,
		full:   mint(logingest.ScopeIngest | logingest.ScopeRead),
		ingest: mint(logingest.ScopeIngest),
		admin:  mint(logingest.ScopeAdmin),
	}
}

func openSQLite(t *testing.T) logingest.Store {
	t.Helper()
	cfg := &sqlite.Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true}
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "contract.db"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func openPostgres(t *testing.T) logingest.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), pgtest.Schema(t), &pgstore.Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// TestOpenAPIContract sends every route of the real handler, over SQLite and over PostgreSQL, its success
// answers and its error answers, and validates each request and answer against the OpenAPI document with
// kin-openapi. It fails when an answer's status, header or body is not described, or when an operation of the
// document was never exercised.
func TestOpenAPIContract(t *testing.T) {
	t.Parallel()
	for _, backend := range []struct {
		name string
		open func(*testing.T) logingest.Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			c := newChecker(t)
			e := newContractEnv(t, backend.open(t), Config{MaxBodyBytes: 64 << 10})
			runContract(t, c, e)
			runErrorContract(t, c)
			c.requireEveryOperation()
		})
	}
}

func runContract(t *testing.T, c *checker, e *contractEnv) {
	t.Helper()
	single := readFile(t, "single.json")
	batch := readFile(t, "batch-50.json")
	var b struct {
		Logs []json.RawMessage `json:"logs"`
	}
	require.NoError(t, json.Unmarshal(batch, &b))
	oneBad := fmt.Appendf(nil, `{"logs":[%s,{"event_id":"bad-1","timestamp":"yesterday","event_type":"nope","event_name":""}]}`, b.Logs[0])
	tooMany := fmt.Appendf(nil, `{"logs":[%s]}`, strings.TrimSuffix(strings.Repeat(`{"event_id":"x"},`, 101), ","))
	huge := fmt.Appendf(nil, `{"logs":[{"event_id":"big","properties":{"pad":%q}}]}`, strings.Repeat("x", 70<<10))

	h := e.h
	for _, ex := range []exchange{
		{name: "ingest", method: "POST", target: "/api/v1/ingest", key: e.ingest, body: single, status: 201},
		{name: "ingest again", method: "POST", target: "/api/v1/ingest", key: e.full, body: single, status: 201},
		{
			name: "ingest with sent_at", method: "POST", target: "/api/v1/ingest", key: e.ingest, status: 201,
			body: []byte(`{"event_id":"skewed-1","timestamp":"2025-08-27T15:00:00Z","sent_at":"2025-08-27T15:00:30Z",` +
				`"event_type":"telemetry","event_name":"tick","sequence_number":0}`),
		},
		{
			name: "batch with sent_at", method: "POST", target: "/api/v1/batch-ingest", key: e.ingest, status: 201,
			body: []byte(`{"sent_at":"2025-08-27T15:00:30Z","logs":[{"event_id":"skewed-2","timestamp":"2025-08-27T15:00:00Z",` +
				`"event_type":"telemetry","event_name":"tick"}]}`),
		},
		{
			name: "filter by created_at", method: "GET", target: "/api/v1/logs/filter?sort_by=created_at&sort_order=desc",
			key: e.full, status: 200,
		},
		{name: "filter by id", method: "GET", target: "/api/v1/logs/filter?sort_by=id&sort_order=asc", key: e.full, status: 200},
		{name: "batch", method: "POST", target: "/api/v1/batch-ingest", key: e.ingest, body: batch, status: 201},
		{name: "batch with a rejected event", method: "POST", target: "/api/v1/batch-ingest", key: e.ingest, body: oneBad, status: 201},
		{
			name: "ingest invalid JSON", method: "POST", target: "/api/v1/ingest", key: e.ingest, body: []byte(`{"event_id":`),
			status: 400, code: "invalid_json", badRequest: true,
		},
		{
			name: "ingest invalid event", method: "POST", target: "/api/v1/ingest", key: e.ingest,
			body: []byte(`{"event_id":"e","timestamp":"2025-08-27T09:00:00Z","event_type":"nope","event_name":"n"}`), status: 400,
			code: "validation_error", badRequest: true,
		},
		{
			name: "empty batch", method: "POST", target: "/api/v1/batch-ingest", key: e.ingest, body: []byte(`{"logs":[]}`),
			status: 400, code: "empty_batch", badRequest: true,
		},
		{
			name: "batch too large", method: "POST", target: "/api/v1/batch-ingest", key: e.ingest, body: tooMany, status: 400,
			code: "batch_too_large",
		},
		{name: "body too large", method: "POST", target: "/api/v1/batch-ingest", key: e.ingest, body: huge, status: 413, code: "too_large"},
		{
			name: "wrong content type", method: "POST", target: "/api/v1/ingest", key: e.ingest, body: single,
			header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: "unsupported_media_type",
			badRequest: true,
		},
		{name: "no key", method: "POST", target: "/api/v1/ingest", body: single, status: 401, code: "unauthorized"},
		{name: "wrong key", method: "GET", target: "/api/v1/logs/recent", key: "lk_nope", status: 401, code: "unauthorized"},
		{name: "ingest key reads", method: "GET", target: "/api/v1/metrics", key: e.ingest, status: 403, code: "forbidden"},
		{name: "filter", method: "GET", target: "/api/v1/logs/filter?page=1&page_size=10", key: e.full, status: 200},
		{
			name: "filter every parameter", method: "GET",
			target: "/api/v1/logs/filter?event_type=behavioral&event_name=habit_completed&user_id=u&session_id=s" +
				"&app_version=2.0.0+6&priority=normal&provider_name=p&start_time=2025-01-01T00:00:00Z" +
				"&end_time=2026-01-01T00:00:00Z&search=habit&sort_by=event_name&sort_order=asc&page=2&page_size=5",
			key: e.full, status: 200,
		},
		{
			name: "filter bad event_type", method: "GET", target: "/api/v1/logs/filter?event_type=nope", key: e.full, status: 400,
			code: "invalid_event_type", badRequest: true,
		},
		{
			name: "filter bad start_time", method: "GET", target: "/api/v1/logs/filter?start_time=yesterday", key: e.full,
			status: 400, code: "invalid_start_time", badRequest: true,
		},
		{
			name: "filter bad end_time", method: "GET", target: "/api/v1/logs/filter?end_time=2020", key: e.full, status: 400,
			code: "invalid_end_time", badRequest: true,
		},
		{
			name: "filter bad priority", method: "GET", target: "/api/v1/logs/filter?priority=urgent", key: e.full, status: 400,
			code: "invalid_priority", badRequest: true,
		},
		{
			name: "filter bad page_size", method: "GET", target: "/api/v1/logs/filter?page_size=5000", key: e.full, status: 400,
			code: "validation_error", badRequest: true,
		},
		{name: "recent", method: "GET", target: "/api/v1/logs/recent?limit=5", key: e.full, status: 200},
		{
			name: "recent with a request ID", method: "GET", target: "/api/v1/logs/recent", key: e.full, status: 200,
			header: map[string]string{"X-Request-ID": "viewer-42"},
		},
		{
			name: "recent bad limit", method: "GET", target: "/api/v1/logs/recent?limit=0", key: e.full, status: 400,
			code: "validation_error", badRequest: true,
		},
		{name: "metrics", method: "GET", target: "/api/v1/metrics", key: e.full, status: 200},
		{name: "dashboard", method: "GET", target: "/api/v1/dashboard?event_type=behavioral&search=habit", key: e.full, status: 200},
		{
			name: "dashboard bad top", method: "GET", target: "/api/v1/dashboard?top=0", key: e.full, status: 400,
			code: "validation_error", badRequest: true,
		},
		{
			name: "export bad format", method: "GET", target: "/api/v1/logs/export?format=xml", key: e.full, status: 400,
			code: "validation_error", badRequest: true,
		},
		{
			name: "stream bad Last-Event-ID", method: "GET", target: "/api/v1/logs/stream", key: e.full, status: 400,
			header: map[string]string{"Last-Event-ID": "garbage"}, code: "validation_error",
		},
		{name: "export csv", method: "GET", target: "/api/v1/logs/export?format=csv&event_type=error", key: e.full, status: 200},
		{name: "stream", method: "GET", target: "/api/v1/logs/stream?event_type=error", key: e.full, status: 200, stream: true},
		{name: "status", method: "GET", target: "/api/v1/status", key: e.full, status: 200},
		{name: "openapi", method: "GET", target: "/api/v1/openapi.json", status: 200},
		{name: "list keys", method: "GET", target: "/api/v1/keys", key: e.admin, status: 200},
		{
			name: "create key bad", method: "POST", target: "/api/v1/keys", key: e.admin, body: []byte(`{"name":"","scopes":[]}`),
			status: 400, code: "validation_error", badRequest: true,
		},
		{
			name: "revoke unknown key", method: "POST", target: "/api/v1/keys/lk_000000000000/revoke", key: e.admin, status: 404,
			code: "not_found",
		},
		{
			name: "rotate unknown key", method: "POST", target: "/api/v1/keys/lk_000000000000/rotate", key: e.admin, status: 404,
			code: "not_found",
		},
		{name: "health", method: "GET", target: "/health", status: 200},
		{name: "readiness", method: "GET", target: "/readiness", status: 200},
		{name: "liveness", method: "GET", target: "/liveness", status: 200},
		{name: "prometheus", method: "GET", target: "/metrics", status: 200},
		{name: "unknown path", method: "GET", target: "/api/v1/nope", key: e.full, status: 404, code: "not_found"},
		{name: "wrong method", method: "DELETE", target: "/api/v1/ingest", key: e.full, status: 405, code: "method_not_allowed"},
		{name: "wrong method on a probe", method: "POST", target: "/health", status: 405, code: "method_not_allowed"},
	} {
		c.run(h, ex)
	}

	// Export: every NDJSON line is a log object.
	w := c.run(h, exchange{
		name: "export ndjson", method: "GET", target: "/api/v1/logs/export?format=ndjson&sort_by=id", key: e.full, status: 200,
	})
	lines := bytes.Split(bytes.TrimSpace(w.Body.Bytes()), []byte("\n"))
	require.Greater(t, len(lines), 50)
	for _, line := range lines {
		c.validateSchema("LogObject", line, "export line")
	}

	// Paging by cursor, with the cursor the first page gave.
	const pageQuery = "/api/v1/logs/filter?page_size=20&sort_by=timestamp"
	w = c.run(h, exchange{name: "filter page 1", method: "GET", target: pageQuery, key: e.full, status: 200})
	var page struct {
		Data filterData `json:"data"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
	require.NotEmpty(t, page.Data.NextCursor)
	next := pageQuery + "&cursor=" + page.Data.NextCursor
	c.run(h, exchange{name: "filter by cursor", method: "GET", target: next, key: e.full, status: 200})
	c.run(h, exchange{
		name: "filter bad cursor", method: "GET", target: "/api/v1/logs/filter?cursor=garbage", key: e.full,
		status: 400, code: "validation_error",
	})

	// Key management: create, rotate, revoke the created key.
	w = c.run(h, exchange{
		name: "create key", method: "POST", target: "/api/v1/keys", key: e.admin, status: 201,
		body: []byte(`{"name":"ci","scopes":["ingest"],"expires_in":"720h","limits":{"requests_per_minute":60}}`),
	})
	var created struct {
		Data issuedKey `json:"data"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &created))
	rotate := "/api/v1/keys/" + created.Data.Key.ID + "/rotate"
	w = c.run(h, exchange{name: "rotate key", method: "POST", target: rotate, key: e.admin, body: []byte(`{"grace":"1h"}`), status: 201})
	var rotated struct {
		Data issuedKey `json:"data"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rotated))
	c.run(h, exchange{
		name: "rotate bad grace", method: "POST", target: rotate, key: e.admin, body: []byte(`{"grace":"soon"}`),
		status: 400, code: "validation_error",
	})
	revoke := "/api/v1/keys/" + rotated.Data.Key.ID + "/revoke"
	c.run(h, exchange{name: "revoke key", method: "POST", target: revoke, key: e.admin, status: 200})
}

// runErrorContract drives the answers that need a failing dependency or a tight limit: 429 with its headers,
// 503 with Retry-After, 500, and the degraded and unhealthy health reports. The store does not matter to them,
// so they use fakes.
func runErrorContract(t *testing.T, c *checker) {
	t.Helper()
	// 429: a bucket of one request per key.
	limited := newEnv(t, &Config{RequestsPerMinute: 1, Burst: 1})
	ev := readFile(t, "single.json")
	c.run(limited.h, exchange{name: "first request", method: "POST", target: "/api/v1/ingest", key: keyIngest, body: ev, status: 201})
	w := c.run(limited.h, exchange{
		name: "rate limited", method: "POST", target: "/api/v1/ingest", key: keyIngest, body: ev, status: 429, code: "rate_limited",
	})
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.Equal(t, "1", w.Header().Get("RateLimit-Limit"))

	for _, tt := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"store unavailable", fmt.Errorf("dial: %w", logingest.ErrUnavailable), 503, "database_error"},
		{"store bug", errors.New("unexpected"), 500, "database_error"},
	} {
		rd := &fakeReader{
			query: func(context.Context, logingest.Filter) (*logingest.Page, error) { return nil, tt.err },
			stats: func(context.Context, logingest.StatsQuery) (*logingest.Stats, error) { return nil, tt.err },
		}
		ing := &fakeIngester{ingest: func(context.Context, string, []logingest.Event) (*logingest.BatchResult, error) {
			return nil, fmt.Errorf("write: %w", logingest.ErrOverloaded)
		}}
		ing.reader = rd
		api, err := New(ing, &Config{Authenticator: testAuth(), Logger: testLogger(nil), Keys: memstore.New()})
		require.NoError(t, err)
		ops, err := NewOps(rd, &OpsConfig{Logger: testLogger(nil)})
		require.NoError(t, err)
		h := serveBoth(api, ops)
		for _, path := range []string{"/api/v1/logs/filter", "/api/v1/logs/recent", "/api/v1/metrics"} {
			c.run(h, exchange{name: tt.name + " " + path, method: "GET", target: path, key: keyRead, status: tt.status, code: tt.code})
		}
		c.run(h, exchange{name: tt.name + " status", method: "GET", target: "/api/v1/status", key: keyRead, status: 200})
		c.run(h, exchange{name: tt.name + " health", method: "GET", target: "/health", status: 200})
		w := c.run(h, exchange{
			name: "overloaded ingest", method: "POST", target: "/api/v1/ingest", key: keyIngest, body: ev, status: 503, code: "overloaded",
		})
		require.Contains(t, []string{"3", "4", "5", "6", "7"}, w.Header().Get("Retry-After"))
		c.run(h, exchange{
			name: "overloaded batch", method: "POST", target: "/api/v1/batch-ingest", key: keyIngest,
			body: readFile(t, "batch-50.json"), status: 503, code: "overloaded",
		})
		c.run(h, exchange{name: "prometheus without gatherer", method: "GET", target: "/metrics", status: 404, code: "not_found"})
	}

	down := &fakeReader{ping: func(context.Context) error { return logingest.ErrUnavailable }}
	draining := func(context.Context) error { return errors.New("draining") }
	api, err := New(&fakeIngester{reader: down}, &Config{Authenticator: testAuth(), Logger: testLogger(nil)})
	require.NoError(t, err)
	ops, err := NewOps(down, &OpsConfig{Logger: testLogger(nil), Ready: draining})
	require.NoError(t, err)
	h := serveBoth(api, ops)
	c.run(h, exchange{name: "unhealthy", method: "GET", target: "/health", status: 503})
	c.run(h, exchange{name: "not ready", method: "GET", target: "/readiness", status: 503})
	c.run(h, exchange{name: "status store down", method: "GET", target: "/api/v1/status", key: keyRead, status: 200})
}

// TestOpenAPIDescribesEveryRoute walks the patterns the handler registers (with every optional route on) and
// fails when the document lacks one of them, or describes an operation the handler does not have.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	reg := prometheus.NewRegistry()
	e := newEnv(t, &Config{Keys: memstore.New()})
	ops, err := NewOps(e.store, &OpsConfig{Gatherer: reg, Logger: testLogger(nil)})
	require.NoError(t, err)
	var registered []string
	for _, p := range append(slices.Clone(e.h.patterns), ops.h.patterns...) {
		method, path, ok := strings.Cut(p, " ")
		require.True(t, ok, "pattern %q has no method", p)
		registered = append(registered, method+" "+path)
	}
	sort.Strings(registered)
	require.NotEmpty(t, registered)
	for _, op := range registered {
		require.Contains(t, s.operations(), op, "route %s is not in openapi.json", op)
	}
	for _, op := range s.operations() {
		require.True(t, slices.Contains(registered, op), "openapi.json describes %s, which the handler does not register", op)
	}
}

// TestOpenAPIServed checks that the document is served without a key and is the embedded one.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	w := do(t, e.h, http.MethodGet, "/api/v1/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.JSONEq(t, string(OpenAPIDocument()), w.Body.String())
	require.Contains(t, w.Body.String(), "Retry contract")
}
