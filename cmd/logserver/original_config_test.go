package main

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// originalEnv is the original server's config.example.env, with its defaults and example values.
func originalEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"PORT": "8080", "GIN_MODE": "release", "LOG_LEVEL": "info", "ENVIRONMENT": "production",
		"DB_HOST": "localhost", "DB_PORT": "5432", "DB_NAME": "analytics_logs", "DB_USER": "postgres",
		"DB_PASSWORD": "secret", "DB_SSL_MODE": "disable", "DB_MAX_CONNECTIONS": "100",
		"DB_MAX_IDLE_CONNECTIONS": "10", "DB_MAX_LIFETIME_MINUTES": "60",
		"API_KEYS": "key-one,key-two", "ENABLE_API_KEY_ROTATION": "true", "API_KEY_ROTATION_INTERVAL_HOURS": "24",
		"RATE_LIMIT_REQUESTS_PER_MINUTE": "1000", "RATE_LIMIT_BURST": "100", "MAX_BATCH_SIZE": "1000",
		"BATCH_TIMEOUT_SECONDS": "30", "WORKER_POOL_SIZE": "10", "ENABLE_METRICS": "true",
		"METRICS_PATH": "/metrics", "HEALTH_CHECK_PATH": "/health", "ENABLE_CORS": "true",
		"ALLOWED_ORIGINS": "*", "REQUEST_TIMEOUT_SECONDS": "30", "MAX_REQUEST_SIZE_MB": "10",
	}
}

// ignoredNames are the original's variables logingest reports as ignored.
var ignoredNames = []string{
	"GIN_MODE", "ENVIRONMENT", "BATCH_TIMEOUT_SECONDS", "ENABLE_API_KEY_ROTATION", "API_KEY_ROTATION_INTERVAL_HOURS",
}

// TestOriginalConfigEveryVariableWorksOrIsReported loads the original's .env: every variable is either read
// or reported as ignored with a reason, and the ones that map onto ours do.
func TestOriginalConfigEveryVariableWorksOrIsReported(t *testing.T) {
	t.Parallel()
	env := originalEnv(t)
	read := map[string]bool{}
	cfg, err := loadConfig(func(k string) string { read[k] = true; return env[k] })
	require.NoError(t, err)

	ignored := map[string]string{}
	for _, n := range cfg.Notices {
		require.NotEmpty(t, n.Reason, n.Variable)
		ignored[n.Variable] = n.Reason
	}
	require.ElementsMatch(t, ignoredNames, keys(ignored))
	require.Contains(t, ignored["ENABLE_API_KEY_ROTATION"], "logserver keys rotate")
	for name := range env {
		require.True(t, read[name], "%s is never read", name)
	}

	require.Equal(t, "postgres://postgres:secret@localhost:5432/analytics_logs?sslmode=disable", cfg.DatabaseURL)
	require.Equal(t, 100, cfg.DBMaxConns)
	require.Equal(t, 10, cfg.DBMinConns)
	require.Equal(t, time.Hour, cfg.DBMaxConnLifetime)
	require.Equal(t, []string{"*"}, cfg.CORSOrigins)
	require.True(t, cfg.EnableMetrics)
	require.Equal(t, 30*time.Second, cfg.ReadTimeout)
	require.Equal(t, 30*time.Second, cfg.WriteTimeoutHTTP)
	require.Equal(t, []string{"key-one", "key-two"}, cfg.APIKeys)
	require.Equal(t, 10, cfg.WorkerPoolSize)
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOriginalConfigCORSNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		origins []string
		notice  string
	}{
		{
			"ALLOWED_ORIGINS alone",
			map[string]string{"ENABLE_CORS": "true", "ALLOWED_ORIGINS": "https://viewer.example"},
			[]string{"https://viewer.example"},
			"",
		},
		{
			"both lists merge",
			map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example", "ALLOWED_ORIGINS": "https://b.example,https://a.example"},
			[]string{"https://a.example", "https://b.example"},
			"",
		},
		{"ENABLE_CORS=false wins", map[string]string{"ENABLE_CORS": "false", "ALLOWED_ORIGINS": "*"}, nil, "ALLOWED_ORIGINS"},
		{"ENABLE_CORS=true without origins", map[string]string{"ENABLE_CORS": "true"}, nil, "ENABLE_CORS"},
		{"nothing set", map[string]string{}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(envMap(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.origins, cfg.CORSOrigins)
			if tt.notice == "" {
				require.Empty(t, cfg.Notices)
			} else {
				require.Len(t, cfg.Notices, 1)
				require.Equal(t, tt.notice, cfg.Notices[0].Variable)
			}
		})
	}
	cfg, err := loadConfig(envMap(map[string]string{"ENABLE_API_KEY_ROTATION": "false"}))
	require.NoError(t, err)
	require.Empty(t, cfg.Notices, "rotation off is what logingest does: nothing to report")
	cfg, err = loadConfig(envMap(map[string]string{"REQUEST_TIMEOUT_SECONDS": "12", "HTTP_WRITE_TIMEOUT": "45s"}))
	require.NoError(t, err)
	require.Equal(t, 12*time.Second, cfg.ReadTimeout)
	require.Equal(t, 45*time.Second, cfg.WriteTimeoutHTTP, "our own variable wins")
}

// syncLog is a concurrency-safe stderr for the server's log.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestOriginalEnvServes starts the server with the original's .env (on SQLite): each ignored variable is logged
// once, by name, and the web viewer's CORS and the app's calls work.
func TestOriginalEnvServes(t *testing.T) {
	t.Parallel()
	env := originalEnv(t)
	for _, k := range []string{"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_SSL_MODE"} {
		delete(env, k) // the embedded store: this test is about the names, not PostgreSQL
	}
	env["DATA_DIR"] = t.TempDir()
	env["LOG_FORMAT"] = "json"
	env["ALLOWED_ORIGINS"] = "https://viewer.example"
	env["METRICS_PATH"] = "/internal/prometheus"
	env["HEALTH_CHECK_PATH"] = "/healthz"
	logs := &syncLog{}
	s := startServerLogs(t, env, logs)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, s.url+"/api/v1/logs/recent", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "https://viewer.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "x-api-key")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "https://viewer.example", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))

	code, body := s.do(t, http.MethodPost, "/api/v1/ingest", "key-one", readTestdata(t, "single.json"))
	require.Equal(t, http.StatusCreated, code, "%v", body)
	code, body = s.do(t, http.MethodGet, "/healthz", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "healthy", body["status"])
	code, _ = send(t, s, http.MethodGet, "/internal/prometheus", nil, nil)
	require.Equal(t, http.StatusOK, code)
	s.shutdown(t)

	out := logs.String()
	for _, name := range ignoredNames {
		require.Equal(t, 1, strings.Count(out, `"variable":"`+name+`"`), "%s reported once:\n%s", name, out)
	}
	require.Equal(t, 0, strings.Count(out, `"variable":"ALLOWED_ORIGINS"`))
}

func TestEnableMetricsFalse(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error", "ENABLE_METRICS": "false"})
	code, _ := send(t, s, http.MethodGet, "/metrics", nil, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = send(t, s, http.MethodGet, "/health", nil, nil)
	require.Equal(t, http.StatusOK, code)
}

func TestWithPoolParam(t *testing.T) {
	t.Parallel()
	u := "postgres://u@h/db?sslmode=disable"
	require.Equal(t, u+"&pool_min_conns=10", withPoolParam(u, "pool_min_conns", true, "10"))
	require.Equal(t, u, withPoolParam(u, "pool_min_conns", false, "10"), "off leaves the URL alone")
	own := u + "&pool_max_conn_lifetime=5m"
	require.Equal(t, own, withPoolParam(own, "pool_max_conn_lifetime", true, "1h0m0s"), "the URL's own setting wins")
	require.Equal(t, "postgres://h/db?pool_min_conns=2", withPoolParam("postgres://h/db", "pool_min_conns", true, "2"))
}
