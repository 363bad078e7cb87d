package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
)

// e2eDir holds the console's browser test (logingest/console/e2e: console.e2e.mjs, package.json, lock file).
var e2eDir = filepath.Join("..", "..", "logingest", "console", "e2e")

// e2eTools returns node and the Chromium binary. Outside CI a missing tool skips the test with the commands that
// install it; under CI=true it fails, so CI cannot pass without running the browser test.
func e2eTools(t *testing.T) (node, browser string) {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install -y nodejs npm)")
	}
	browser = os.Getenv("CHROMIUM_PATH")
	if browser == "" {
		browser = "/usr/bin/chromium"
	}
	if _, err := os.Stat(browser); err != nil {
		missing = append(missing, browser+" (apt-get install -y chromium, or set CHROMIUM_PATH)")
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (npm ci --prefix logingest/console/e2e)")
	}
	if len(missing) > 0 {
		msg := "console end-to-end test needs: " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a failure, not a skip)")
		}
		t.Skip("!!! SKIPPING BROWSER TEST !!! " + msg)
	}
	return node, browser
}

// TestConsoleE2E runs the web console in a real headless Chromium against the real server, on SQLite and on
// PostgreSQL: sign-in, dashboard charts, filters, search, event detail, live tail and export
// (logingest/console/e2e/console.e2e.mjs). The two stores run one after the other, so the browser's timing
// checks do not compete with each other for CPU.
func TestConsoleE2E(t *testing.T) { //nolint:tparallel // the subtests are sequential on purpose (see above)
	t.Parallel()
	node, browser := e2eTools(t)
	t.Run("sqlite", func(t *testing.T) { //nolint:paralleltest // sequential on purpose
		runConsoleE2E(t, node, browser, "sqlite", map[string]string{"DATA_DIR": t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) { //nolint:paralleltest // sequential on purpose
		runConsoleE2E(t, node, browser, "postgres", map[string]string{"DATA_DIR": t.TempDir(), "DATABASE_URL": pgtest.Schema(t)})
	})
}

func runConsoleE2E(t *testing.T, node, browser, label string, env map[string]string) {
	t.Helper()
	env["LOG_LEVEL"] = "warn"
	// The server runs in this race-instrumented test binary, where SQLite's pure-Go code is several times slower
	// than in production: on a loaded machine the first 300-event write took over the default 10s and was
	// answered 503. The console is what is tested here, not the write timeout.
	env["INGEST_WRITE_TIMEOUT"] = "2m"
	out := newLineWriter()
	ctx, cancel := context.WithCancel(context.Background())
	env["PORT"], env["HOST"] = "0", "127.0.0.1"
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(env), out, os.Stderr) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	// The first start prints a key (ingest and read) and points to the console.
	var baseURL, readKey, consoleLine string
	var banner []string
	timeout := time.After(2 * time.Minute) // generous: a loaded machine starts slowly
	for baseURL == "" {
		select {
		case line := <-out.lines:
			banner = append(banner, line)
			if m := keyRE.FindStringSubmatch(line); m != nil {
				readKey = m[1]
			}
			if strings.Contains(line, "web console") {
				consoleLine = line
			}
			if m := listenRE.FindStringSubmatch(line); m != nil {
				baseURL = m[1]
			}
		case err := <-done:
			t.Fatalf("server exited before listening: %v", err)
		case <-timeout:
			t.Fatal("server did not start within 2 minutes")
		}
	}
	require.NotEmpty(t, readKey, "the first start prints a key")
	select {
	case line := <-out.lines:
		consoleLine = line
	case <-timeout:
	}
	require.Contains(t, consoleLine, "web console: "+baseURL+"/ui/", "the start-up output points to the console")
	require.Contains(t, strings.Join(banner, "\n"), "open the web console at "+baseURL+"/ui/ and paste the key",
		"the first-start key comes with the console's address")

	// A second key, without the read scope, for the "clear message" check.
	var keyOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"keys", "create", "-name", "app", "-scopes", "ingest"}, envMap(env), &keyOut, os.Stderr))
	m := regexp.MustCompile(`(?m)^(lk_[0-9a-f]{12}_\S+)$`).FindStringSubmatch(keyOut.String())
	require.NotNil(t, m, keyOut.String())
	ingestKey := m[1]

	ingestSpread(t, baseURL, readKey)

	screenshots := os.Getenv("SCREENSHOT_DIR")
	if screenshots == "" {
		screenshots = filepath.Join(e2eDir, "screenshots")
	}
	// Bounds a browser test that hangs; it takes a minute or two on a quiet machine and over four on a loaded one.
	nctx, ncancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer ncancel()
	cmd := exec.CommandContext(nctx, node, "console.e2e.mjs")
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(),
		"CONSOLE_URL="+baseURL, "READ_KEY="+readKey, "INGEST_KEY="+ingestKey, "CHROMIUM_PATH="+browser,
		"SCREENSHOT_DIR="+absPath(t, screenshots), "LABEL="+label, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	output, err := cmd.CombinedOutput()
	t.Logf("console.e2e.mjs (%s):\n%s", label, output)
	require.NoError(t, err, "the browser test failed; see its output above")
	require.Contains(t, string(output), "E2E-RESULT ")
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

// ingestSpread ingests testdata/events.ndjson with its timestamps (three hours of a morning in 2025) stretched
// over the 22 hours to half an hour ago, so the default 24-hour dashboard shows a day of activity.
func ingestSpread(t *testing.T, baseURL, key string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "events.ndjson"))
	require.NoError(t, err)
	defer f.Close()
	var events []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		events = append(events, ev)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, events)
	parse := func(ev map[string]any) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, ev["timestamp"].(string))
		require.NoError(t, err)
		return ts
	}
	first := parse(events[0])
	start := time.Now().Add(-22 * time.Hour)
	for _, ev := range events {
		ev["timestamp"] = start.Add(parse(ev).Sub(first) * 7).UTC().Format(time.RFC3339Nano)
	}
	body, err := json.Marshal(map[string]any{"logs": events})
	require.NoError(t, err)
	// As the app does, a 503 (retryable: a store write timed out, the server is overloaded) is resent after its
	// Retry-After; a resent batch stores nothing twice. Any other answer must be 201.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, baseURL+"/api/v1/batch-ingest", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", answer)
			return
		}
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		t.Logf("batch-ingest answered 503 (%s); resending after %ds", answer, retry)
		select {
		case <-time.After(time.Duration(min(max(retry, 1), 10)) * time.Second):
		case <-t.Context().Done():
			t.Fatal("test ended while waiting to resend")
		}
	}
}
