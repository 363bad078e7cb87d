package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	errDown := errors.New("dial tcp 10.9.9.9:5432: connection refused")
	tests := []struct {
		name      string
		ping      error
		ready     error
		health    int
		readiness int
		failing   string
	}{
		{"all ok", nil, nil, 200, 200, ""},
		{"store down", errDown, nil, 503, 503, "store"},
		{"draining", nil, errors.New("draining"), 200, 503, "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rd := &fakeReader{ping: func(context.Context) error { return tt.ping }}
			h, err := NewOps(rd, &OpsConfig{
				Logger:  testLogger(nil),
				Ready:   func(context.Context) error { return tt.ready },
				Version: "v9",
			})
			require.NoError(t, err)
			check := func(path string, want int) healthBody {
				w := do(t, h, http.MethodGet, path, "", nil)
				require.Equal(t, want, w.Code, "%s: %s", path, w.Body)
				require.NotContains(t, w.Body.String(), "10.9.9.9", "no internal detail")
				var b healthBody
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b))
				if want != http.StatusOK {
					require.NotEmpty(t, w.Header().Get("Retry-After"))
				}
				return b
			}
			hb := check("/health", tt.health)
			require.Equal(t, "v9", hb.Version)
			rb := check("/readiness", tt.readiness)
			if tt.failing != "" {
				require.NotEqual(t, "ok", rb.Checks[tt.failing])
			}
			if tt.health == http.StatusOK {
				require.Equal(t, "healthy", hb.Status)
			} else {
				require.Equal(t, "unhealthy", hb.Status)
				require.Equal(t, "unreachable", hb.Checks["store"])
			}
			require.Equal(t, "alive", check("/liveness", 200).Status)
		})
	}
}

func TestStatusStoreDown(t *testing.T) {
	t.Parallel()
	rd := &fakeReader{ping: func(context.Context) error { return logingest.ErrUnavailable }}
	h, err := New(&fakeIngester{reader: rd}, &Config{Authenticator: testAuth(), Logger: testLogger(nil)})
	require.NoError(t, err)
	w := do(t, h, http.MethodGet, "/api/v1/status", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code)
	got := decodeData[statusData](t, w)
	require.Equal(t, "unhealthy", got.Database.Status)
	require.Equal(t, "degraded", got.Status)
	require.Nil(t, got.Metrics)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, &Config{Registerer: reg, RequestsPerMinute: 60, Burst: 1})
	ops, err := NewOps(e.store, &OpsConfig{Registerer: reg, Gatherer: reg, Logger: testLogger(nil)})
	require.NoError(t, err)

	require.Equal(t, http.StatusOK, do(t, e.h, http.MethodGet, "/api/v1/status", keyRead, nil).Code)
	require.Equal(t, http.StatusTooManyRequests, do(t, e.h, http.MethodGet, "/api/v1/status", keyRead, nil).Code)
	require.Equal(t, http.StatusUnauthorized, do(t, e.h, http.MethodGet, "/api/v1/status", "", nil).Code)
	require.Equal(t, http.StatusUnauthorized, do(t, e.h, http.MethodGet, "/api/v1/status", "bogus", nil).Code)
	require.Equal(t, http.StatusForbidden, do(t, e.h, http.MethodGet, "/api/v1/status", keyIngest, nil).Code)
	require.Equal(t, http.StatusNotFound, do(t, e.h, http.MethodGet, "/random/12345", "", nil).Code)

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	m := e.h.metrics
	require.InDelta(t, 1, testutil.ToFloat64(m.requests.WithLabelValues("/api/v1/status", "GET", "2xx")), 0)
	require.InDelta(t, 4, testutil.ToFloat64(m.requests.WithLabelValues("/api/v1/status", "GET", "4xx")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.requests.WithLabelValues("unmatched", "GET", "4xx")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.rateLimited.WithLabelValues(limitRequests)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.authFailures.WithLabelValues(authMissing)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.authFailures.WithLabelValues(authInvalid)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.authFailures.WithLabelValues(authForbidden)), 0)

	require.Equal(t, http.StatusNotFound, do(t, e.h, http.MethodGet, "/metrics", "", nil).Code, "the API serves no ops routes")
	w := do(t, ops, http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	for _, name := range []string{
		"logingest_http_requests_total", "logingest_http_request_duration_seconds",
		"logingest_http_rate_limited_total", "logingest_auth_failures_total",
	} {
		require.Contains(t, body, name)
	}
	require.NotContains(t, body, "/random/12345", "raw paths never become label values")
}

func TestMetricsWithoutGatherer(t *testing.T) {
	t.Parallel()
	ops, err := NewOps(&fakeReader{}, &OpsConfig{Logger: testLogger(nil)})
	require.NoError(t, err)
	requireError(t, do(t, ops, http.MethodGet, "/metrics", "", nil), http.StatusNotFound, "not_found", "")
}

func TestOpsSeparateFromAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ops, err := NewOps(e.store, &OpsConfig{Logger: testLogger(nil)})
	require.NoError(t, err)
	for _, path := range OpsPaths() {
		requireError(t, do(t, e.h, http.MethodGet, path, "", nil), http.StatusNotFound, "not_found", "")
	}
	for _, path := range []string{"/health", "/readiness", "/liveness"} {
		require.Equal(t, http.StatusOK, do(t, ops, http.MethodGet, path, "", nil).Code, path)
	}
	requireError(t, do(t, ops, http.MethodGet, "/api/v1/status", keyRead, nil), http.StatusNotFound, "not_found", "")
	requireError(t, do(t, ops, http.MethodPost, "/health", "", nil), http.StatusMethodNotAllowed, "method_not_allowed", "")
	_, err = NewOps(nil, nil)
	require.Error(t, err)
}

func TestTwoHandlersOneRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	a := newEnv(t, &Config{Registerer: reg})
	b := newEnv(t, &Config{Registerer: reg})
	ops, err := NewOps(a.store, &OpsConfig{Registerer: reg, Logger: testLogger(nil)})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, do(t, a.h, http.MethodGet, "/api/v1/status", keyRead, nil).Code)
	require.Equal(t, http.StatusOK, do(t, b.h, http.MethodGet, "/api/v1/status", keyRead, nil).Code)
	require.Equal(t, http.StatusOK, do(t, ops, http.MethodGet, "/liveness", "", nil).Code)
	n, err := testutil.GatherAndCount(reg, "logingest_http_requests_total")
	require.NoError(t, err)
	require.Equal(t, 2, n, "one series per route, shared by the three handlers")
	require.InDelta(t, 2, testutil.ToFloat64(a.h.metrics.requests.WithLabelValues("/api/v1/status", "GET", "2xx")), 0,
		"both handlers count into the shared collector")
	require.InDelta(t, 1, testutil.ToFloat64(a.h.metrics.requests.WithLabelValues("/liveness", "GET", "2xx")), 0,
		"and so does Ops")
}

func TestMetricsRegistrationConflict(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	// A different collector with the same name and other labels cannot be shared: New reports it.
	require.NoError(t, reg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logingest_http_requests_total", Help: "other",
	}, []string{"path"})))
	_, err := New(&fakeIngester{}, &Config{Registerer: reg})
	require.Error(t, err)
}

// mountedClient ingests single.json through srv under /logs and reads it back.
func exerciseMounted(t *testing.T, srv *httptest.Server) {
	t.Helper()
	post := func(path string, body []byte) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", keyFull)
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = res.Body.Close() })
		return res
	}
	get := func(path string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+keyFull)
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = res.Body.Close() })
		return res
	}
	res := post("/logs/api/v1/ingest", readFile(t, "single.json"))
	require.Equal(t, http.StatusCreated, res.StatusCode)
	res = post("/logs/api/v1/batch-ingest", readFile(t, "batch-50.json"))
	require.Equal(t, http.StatusCreated, res.StatusCode)

	res = get("/logs/api/v1/logs/filter?page_size=5&event_type=behavioral")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var resp struct {
		Data filterData `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&resp))
	require.Len(t, resp.Data.Logs, 5)
	require.Positive(t, resp.Data.TotalCount)

	require.Equal(t, http.StatusOK, get("/logs/api/v1/status").StatusCode)
	require.Equal(t, http.StatusNotFound, get("/logs/nope").StatusCode)
	require.Equal(t, http.StatusMethodNotAllowed, get("/logs/api/v1/ingest").StatusCode)
}

func TestMountStripPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	mux := http.NewServeMux()
	mux.Handle("/logs/", http.StripPrefix("/logs", e.h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	exerciseMounted(t, srv)
}

func TestMountChi(t *testing.T) {
	t.Parallel()
	t.Run("PathPrefix", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, &Config{PathPrefix: "/logs/"})
		r := chi.NewRouter()
		r.Mount("/logs", e.h)
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		exerciseMounted(t, srv)
	})
	t.Run("StripPrefix", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		r := chi.NewRouter()
		r.Mount("/logs", http.StripPrefix("/logs", e.h))
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		exerciseMounted(t, srv)
	})
}

func TestPathPrefixOutside(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Config{PathPrefix: "/logs"})
	requireError(t, do(t, e.h, http.MethodGet, "/logsx/api/v1/status", keyRead, nil), http.StatusNotFound, "not_found", "")
	requireError(t, do(t, e.h, http.MethodGet, "/api/v1/status", keyRead, nil), http.StatusNotFound, "not_found", "")
	w := do(t, e.h, http.MethodGet, "/logs/api/v1/status", keyRead, nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `"status":"ok"`)

	ops, err := NewOps(e.store, &OpsConfig{PathPrefix: "/ops", Logger: testLogger(nil)})
	require.NoError(t, err)
	requireError(t, do(t, ops, http.MethodGet, "/health", "", nil), http.StatusNotFound, "not_found", "")
	require.Equal(t, http.StatusOK, do(t, ops, http.MethodGet, "/ops/health", "", nil).Code)
}
