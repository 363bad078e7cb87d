package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envMap(nil))
	require.NoError(t, err)
	require.Equal(t, 8080, cfg.Port)
	require.Equal(t, "./data", cfg.DataDir)
	require.Empty(t, cfg.DatabaseURL, "no database configured means the embedded store")
	require.InDelta(t, 1000.0, cfg.RateLimitPerMinute, 0)
	require.Equal(t, 1000, cfg.MaxBatchSize)
	require.Equal(t, 10, cfg.MaxRequestSizeMB)
	require.Zero(t, cfg.WorkerPoolSize, "unset leaves the Ingester's default (GOMAXPROCS, at least 2)")
	require.True(t, cfg.AutoMigrate)
	require.Equal(t, "FULL", cfg.SQLiteSynchronous, "durable by default: an acknowledged event survives power loss")
	cfg, err = loadConfig(envMap(map[string]string{"SQLITE_SYNCHRONOUS": "normal"}))
	require.NoError(t, err)
	require.Equal(t, "NORMAL", cfg.SQLiteSynchronous, "the documented opt-out")
}

func TestLoadConfigInvalidValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(envMap(map[string]string{
		"PORT":                           "eighty",
		"MAX_BATCH_SIZE":                 "0",
		"RATE_LIMIT_REQUESTS_PER_MINUTE": "-3",
		"LOG_LEVEL":                      "chatty",
		"SHUTDOWN_TIMEOUT":               "soon",
		"AUTO_MIGRATE":                   "perhaps",
		"DATABASE_URL":                   "mysql://x",
		"SQLITE_SYNCHRONOUS":             "OFF",
	}))
	require.Error(t, err)
	for _, name := range []string{
		"PORT", "MAX_BATCH_SIZE", "RATE_LIMIT_REQUESTS_PER_MINUTE", "LOG_LEVEL", "SHUTDOWN_TIMEOUT", "AUTO_MIGRATE", "DATABASE_URL", "SQLITE_SYNCHRONOUS",
	} {
		require.Contains(t, err.Error(), name)
	}
}

// TestLoadConfigRatesTheLimitersCanHold: server-wide rates and bursts within what the limiters represent
// (a rate of 1e-9 per minute overflowed the in-memory limiter's int64 nanoseconds into "unlimited").
func TestLoadConfigRatesTheLimitersCanHold(t *testing.T) {
	t.Parallel()
	for env, want := range map[[2]string]string{
		{"RATE_LIMIT_REQUESTS_PER_MINUTE", "1e-9"}:  "RATE_LIMIT_REQUESTS_PER_MINUTE must be 0 (unlimited) or between 0.001 and 1e+09, got 1e-09",
		{"RATE_LIMIT_EVENTS_PER_MINUTE", "2e9"}:     "RATE_LIMIT_EVENTS_PER_MINUTE must be 0 (unlimited) or between 0.001 and 1e+09, got 2e+09",
		{"AUTH_FAILURES_PER_MINUTE", "0.0001"}:      "AUTH_FAILURES_PER_MINUTE must be 0 (unlimited) or between 0.001 and 1e+09",
		{"RATE_LIMIT_REQUESTS_PER_MINUTE", "0.001"}: "RATE_LIMIT_BURST / RATE_LIMIT_REQUESTS_PER_MINUTE must be at most 150000000 minutes",
		{"RATE_LIMIT_EVENTS_PER_MINUTE", "NaN"}:     "RATE_LIMIT_EVENTS_PER_MINUTE must be a number",
	} {
		_, err := loadConfig(envMap(map[string]string{env[0]: env[1], "RATE_LIMIT_BURST": "1000000"}))
		if env[1] != "0.001" {
			_, err = loadConfig(envMap(map[string]string{env[0]: env[1]}))
		}
		require.ErrorContains(t, err, want, "%s=%s", env[0], env[1])
	}
	_, err := loadConfig(envMap(map[string]string{"RATE_LIMIT_REQUESTS_PER_MINUTE": "0.01", "RATE_LIMIT_BURST": "100"}))
	require.NoError(t, err)
}

func TestLoadConfigDatabaseFromSeedVariables(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envMap(map[string]string{
		"DB_HOST": "db.internal", "DB_PORT": "6543", "DB_NAME": "analytics_logs", "DB_USER": "app",
		"DB_PASSWORD": "s3cr/t", "DB_SSL_MODE": "require",
	}))
	require.NoError(t, err)
	require.Equal(t, "postgres://app:s3cr%2Ft@db.internal:6543/analytics_logs?sslmode=require", cfg.DatabaseURL)
	require.Equal(t, "postgres://app:xxxxx@db.internal:6543/analytics_logs?sslmode=require", redactURL(cfg.DatabaseURL))

	_, err = loadConfig(envMap(map[string]string{"DB_HOST": "h", "DB_SSL_MODE": "maybe"}))
	require.ErrorContains(t, err, "DB_SSL_MODE")
}

func TestDotenvRealEnvironmentWins(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), ".env")
	require.NoError(t, os.WriteFile(path, []byte("PORT=9000\nAPI_KEYS=a,b\n# comment\n"), 0o600))
	lookup := func(k string) (string, bool) {
		if k == "PORT" {
			return "9100", true
		}
		return "", false
	}
	getenv, err := envWithDotenv(lookup, path)
	require.NoError(t, err)
	cfg, err := loadConfig(getenv)
	require.NoError(t, err)
	require.Equal(t, 9100, cfg.Port)
	require.Equal(t, []string{"a", "b"}, cfg.APIKeys)

	getenv, err = envWithDotenv(lookup, filepath.Join(t.TempDir(), "missing.env"))
	require.NoError(t, err)
	require.Empty(t, getenv("API_KEYS"))

	bad := filepath.Join(t.TempDir(), ".env")
	require.NoError(t, os.WriteFile(bad, []byte("PORT='unterminated\n"), 0o600))
	_, err = envWithDotenv(lookup, bad)
	require.Error(t, err)
}

func TestRunRejectsInvalidConfiguration(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), nil, envMap(map[string]string{"PORT": "70000", "DATA_DIR": t.TempDir()}), &stdout, &stderr)
	require.ErrorContains(t, err, "PORT must be an integer between 0 and 65535")
	require.ErrorContains(t, run(t.Context(), []string{"bogus"}, envMap(nil), &stdout, &stderr), `unknown command "bogus"`)
}

// lineWriter is a concurrency-safe stdout that hands every complete line to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 100)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		select {
		case w.lines <- strings.TrimRight(line, "\n"):
		default:
		}
	}
}

var (
	listenRE = regexp.MustCompile(`listening on (http://\S+)`)
	keyRE    = regexp.MustCompile(`^\s+(lk_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$`)
)

type server struct {
	url  string
	key  string
	done chan error
	stop context.CancelFunc
}

// startServer runs the real server command in-process on a free port and waits for its banner.
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	return startServerLogs(t, env, io.Discard)
}

func (s *server) shutdown(t *testing.T) {
	t.Helper()
	s.stop()
	require.NoError(t, <-s.done)
	s.done <- nil // let the cleanup's receive return
}

func (s *server) do(t *testing.T, method, path, key string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	require.NoError(t, err)
	return b
}

// TestNewcomerPath is the README's quick start: no configuration, a generated key printed once, the app's
// events in and out, and a restart that keeps both the events and the key.
func TestNewcomerPath(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"}
	s := startServer(t, env)
	require.NotEmpty(t, s.key, "first start prints a key")

	code, body := s.do(t, http.MethodPost, "/api/v1/ingest", s.key, readTestdata(t, "single.json"))
	require.Equal(t, http.StatusCreated, code, body)
	code, body = s.do(t, http.MethodPost, "/api/v1/batch-ingest", s.key, readTestdata(t, "batch-50.json"))
	require.Equal(t, http.StatusCreated, code, body)
	data := body["data"].(map[string]any)
	require.InDelta(t, 49.0, data["accepted"], 0, "batch-50 repeats single.json's event")
	require.InDelta(t, 1.0, data["duplicates"], 0)

	code, _ = s.do(t, http.MethodGet, "/api/v1/logs/filter", "wrong-key", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	s.shutdown(t)

	// Restart on the same data directory: no new key, the old key works, the events are still there.
	s2 := startServer(t, env)
	require.Empty(t, s2.key, "a key is only generated on the very first start")
	code, body = s2.do(t, http.MethodGet, "/api/v1/logs/filter?page_size=10&event_type=behavioral", s.key, nil)
	require.Equal(t, http.StatusOK, code, body)
	data = body["data"].(map[string]any)
	require.InDelta(t, 21.0, data["total_count"], 0)
	require.Len(t, data["logs"], 10)
}

func TestAPIKeysFromEnvironment(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k-one, k-two", "LOG_LEVEL": "error"})
	require.Empty(t, s.key, "no key is generated when API_KEYS is set")
	code, _ := s.do(t, http.MethodPost, "/api/v1/ingest", "k-two", readTestdata(t, "single.json"))
	require.Equal(t, http.StatusCreated, code)
	code, _ = s.do(t, http.MethodGet, "/api/v1/logs/recent?limit=1", "k-one", nil)
	require.Equal(t, http.StatusOK, code)
}

// TestShutdownLosesNothingAcknowledged stops the server while clients are sending, then checks that every
// event that got a 201 is in the database.
func TestShutdownLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, map[string]string{"DATA_DIR": dir, "API_KEYS": "k", "LOG_LEVEL": "error", "RATE_LIMIT_REQUESTS_PER_MINUTE": "0"})

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	// Shut down mid-stream: once enough events are acknowledged that requests are surely in flight.
	enough := make(chan struct{})
	const clients = 8
	reqErrs := make(chan error, clients) // require only in the test goroutine
	for c := range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range 1000 {
				id := fmt.Sprintf("c%d-e%d", c, i)
				ev := fmt.Sprintf(`{"event_id":%q,"timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"habit_completed"}`, id)
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+"/api/v1/ingest", strings.NewReader(ev))
				if err != nil {
					reqErrs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-API-Key", "k")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					return // 503 while draining
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) == 300 {
					close(enough)
				}
				mu.Unlock()
			}
		})
	}
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	select {
	case <-enough:
	case err := <-reqErrs:
		require.NoError(t, err)
	case <-clientsDone:
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		t.Fatalf("every client stopped (a request failed or was refused) after %d acknowledgements, before 300", n)
	}
	s.shutdown(t)
	<-clientsDone

	require.NotEmpty(t, acked)
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "logingest.db"), &sqlite.Config{AutoMigrate: true})
	require.NoError(t, err)
	defer store.Close()
	stored := map[string]bool{}
	f := logingest.Filter{Limit: logingest.MaxQueryLimit, SortBy: logingest.SortReceivedAt, SortOrder: logingest.SortAsc}
	for {
		page, err := store.Query(t.Context(), f)
		require.NoError(t, err)
		for _, e := range page.Events {
			stored[e.EventID] = true
		}
		if page.NextCursor == "" {
			break
		}
		f.After = page.NextCursor
	}
	for _, id := range acked {
		require.True(t, stored[id], "acknowledged event %s is stored", id)
	}
	t.Logf("%d events acknowledged before shutdown, all stored", len(acked))
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"})
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"migrate", "status"}, env, &out, io.Discard))
	require.Contains(t, out.String(), "pending")

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate", "up"}, env, &out, io.Discard))
	require.Contains(t, out.String(), "applied up 001_")

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate", "down"}, env, &out, io.Discard))
	require.Regexp(t, `applied down \d{3}_`, out.String())
	require.Equal(t, 1, strings.Count(out.String(), "applied down"), "down rolls back one step by default")

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate", "up"}, env, &out, io.Discard))
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate", "status"}, env, &out, io.Discard))
	require.NotContains(t, out.String(), "pending")
}

func TestKeysAndEraseUserCommands(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"})
	var out bytes.Buffer
	create := []string{"keys", "create", "-name", "ci", "-scopes", "ingest,read", "-source", "habit-tracker-dev"}
	require.NoError(t, run(t.Context(), create, env, &out, io.Discard))
	m := regexp.MustCompile(`(?m)^(lk_[0-9a-f]{12}_\S+)$`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	secret := m[1]

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"keys", "list"}, env, &out, io.Discard))
	require.Contains(t, out.String(), "habit-tracker-dev")
	require.NotContains(t, out.String(), secret[len("lk_")+13:], "list never shows secrets")
	require.ErrorContains(t, run(t.Context(), []string{"keys", "create"}, env, &out, io.Discard), "-name is required")
	// Names and sources are printable text; limits are within what the limiters can represent.
	bad := []string{"keys", "create", "-name", "evil\x1b[2J", "-source", "a\nb", "-requests-per-minute", "0.0001"}
	err := run(t.Context(), bad, env, &out, io.Discard)
	require.ErrorContains(t, err, "-name must be printable text; U+001B is not")
	require.ErrorContains(t, err, "-source must be printable text; U+000A is not")
	require.ErrorContains(t, err,
		"-requests-per-minute must be 0 (server default), negative (unlimited) or between 0.001 and 1e+09 per minute")

	// The secret is shown once: when it cannot be written, the command fails and says which key to revoke.
	err = run(t.Context(), create, env, failingWriter{}, io.Discard)
	require.ErrorContains(t, err, "could not be written")
	require.Regexp(t, "logserver keys revoke lk_[0-9a-f]{12}", err.Error())

	require.ErrorContains(t, run(t.Context(), []string{"erase-user"}, env, &out, io.Discard), "-user-id is required")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"erase-user", "-user-id", "nobody"}, env, &out, io.Discard))
	require.Contains(t, out.String(), "deleted 0 events")
}

// failingWriter fails every write, like a closed stdout.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout is closed") }

// TestConfigExampleListsEveryVariable keeps config.example.env and loadConfig in step: every variable the server
// reads is documented there, and nothing documented there is ignored.
func TestConfigExampleListsEveryVariable(t *testing.T) {
	t.Parallel()
	read := map[string]bool{}
	record := func(extra map[string]string) func(string) string {
		return func(k string) string { read[k] = true; return extra[k] }
	}
	_, err := loadConfig(record(nil))
	require.NoError(t, err)
	_, err = loadConfig(record(map[string]string{"DB_HOST": "h"}))
	require.NoError(t, err)

	data, err := os.ReadFile(filepath.Join("..", "..", "config.example.env"))
	require.NoError(t, err)
	documented := map[string]bool{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			documented[strings.TrimSpace(k)] = true
		}
	}
	require.Equal(t, read, documented)
}
