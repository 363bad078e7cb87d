package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
)

// startServerLogs runs the real server command in-process on a free port and waits for its banner; the
// server's log output goes to stderr.
func startServerLogs(t *testing.T, env map[string]string, stderr io.Writer) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := newLineWriter()
	s := &server{done: make(chan error, 1), stop: cancel}
	env["PORT"] = "0"
	env["HOST"] = "127.0.0.1"
	go func() { s.done <- run(ctx, nil, envMap(env), out, stderr) }()
	// Generous: a loaded machine migrates a fresh database slowly; a healthy one starts in well under a second.
	timeout := time.After(2 * time.Minute)
	for s.url == "" {
		select {
		case line := <-out.lines:
			if m := keyRE.FindStringSubmatch(line); m != nil {
				s.key = m[1]
			}
			if m := listenRE.FindStringSubmatch(line); m != nil {
				s.url = m[1]
			}
		case err := <-s.done:
			t.Fatalf("server exited before listening: %v", err)
		case <-timeout:
			cancel()
			t.Fatal("server did not start within 2 minutes")
		}
	}
	t.Cleanup(func() {
		cancel()
		// Tests that care about the exit error check it through shutdown; here it is only reported.
		if err := <-s.done; err != nil {
			t.Logf("server exited: %v", err)
		}
	})
	return s
}

// send makes one request and returns the status and the X-Request-ID response header; the body is discarded.
func send(t *testing.T, s *server, method, path string, hdr map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("X-Request-ID")
}

// Values that must never become label values or reach the logs.
const (
	secretUserID    = "user-secret-4242"
	secretSessionID = "session-secret-777"
)

// badEvent is valid JSON but an invalid event: an unknown type, no name, and identifying fields.
var badEvent = []byte(`{"event_id":"bad-1","timestamp":"2025-08-27T09:00:00Z","event_type":"hacker",` +
	`"user_id":"` + secretUserID + `","session_id":"` + secretSessionID + `"}`)

// generateTraffic sends the app's events and a spread of bad requests, checking each status.
func generateTraffic(t *testing.T, s *server, key string) {
	t.Helper()
	js := map[string]string{"Content-Type": "application/json", "X-API-Key": key}
	textPlain := map[string]string{"Content-Type": "text/plain", "X-API-Key": key}
	wrongKey := map[string]string{"Content-Type": "application/json", "X-API-Key": "not-" + key}
	const okEvent = `{"event_id":"ok-1","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"habit_completed"}`
	cases := []struct {
		method, path string
		hdr          map[string]string
		body         []byte
		want         int
	}{
		{http.MethodPost, "/api/v1/batch-ingest", js, readTestdata(t, "batch-50.json"), http.StatusCreated},
		{http.MethodPost, "/api/v1/ingest", js, readTestdata(t, "single.json"), http.StatusCreated}, // a duplicate
		{http.MethodPost, "/api/v1/ingest", js, badEvent, http.StatusBadRequest},
		{http.MethodPost, "/api/v1/batch-ingest", js, []byte(`{"logs":[` + string(badEvent) + `,` + okEvent + `]}`), http.StatusCreated},
		{http.MethodPost, "/api/v1/ingest", js, []byte(`{"event_id":`), http.StatusBadRequest},
		{http.MethodPost, "/api/v1/ingest", textPlain, []byte(`x`), http.StatusUnsupportedMediaType},
		{http.MethodPost, "/api/v1/ingest", map[string]string{"Content-Type": "application/json"}, badEvent, http.StatusUnauthorized},
		{http.MethodPost, "/api/v1/ingest", wrongKey, badEvent, http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/logs/" + secretUserID, js, nil, http.StatusNotFound},
		{http.MethodGet, "/users/" + secretUserID + "/sessions/" + secretSessionID, js, nil, http.StatusNotFound},
		{http.MethodGet, "/api/v1/logs/filter?user_id=" + secretUserID, js, nil, http.StatusOK},
		{http.MethodGet, "/api/v1/metrics", map[string]string{"Authorization": "Bearer " + key}, nil, http.StatusOK},
		{http.MethodDelete, "/api/v1/ingest", js, nil, http.StatusMethodNotAllowed},
		{"BREW", "/liveness", nil, nil, http.StatusMethodNotAllowed},
		{http.MethodGet, "/liveness", nil, nil, http.StatusOK},
	}
	for _, c := range cases {
		code, _ := send(t, s, c.method, c.path, c.hdr, c.body)
		require.Equal(t, c.want, code, "%s %s", c.method, c.path)
	}
}

func scrape(t *testing.T, s *server) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/metrics", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func parseScrape(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err)
	return mfs
}

// eventFields are the JSON names of logingest.Event, the only values the "field" label may take.
func eventFields() []string {
	var names []string
	rt := reflect.TypeFor[logingest.Event]()
	for f := range rt.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// TestMetricsAudit scrapes a real server after real and bad traffic and checks the exposition: it lints clean,
// has every logingest metric the dashboards rely on, and its label values are bounded — route labels are
// patterns, never raw paths, and no user, session or key ever becomes a label value.
func TestMetricsAudit(t *testing.T) {
	t.Parallel()
	const key = "audit-key-0123456789abcdef"
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_LEVEL": "error"})
	generateTraffic(t, s, key)
	text := scrape(t, s)
	mfs := parseScrape(t, text)

	t.Run("Inventory", func(t *testing.T) {
		t.Parallel()
		var names []string
		for name, mf := range mfs {
			if !strings.HasPrefix(name, "logingest_") {
				continue
			}
			labels := map[string]bool{}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = true
				}
			}
			names = append(names, name)
			t.Logf("%-42s %-9s labels=%v series=%d", name, mf.GetType(), slices.Sorted(mapsKeys(labels)), len(mf.GetMetric()))
		}
		require.Subset(t, names, []string{
			"logingest_http_requests_total", "logingest_http_request_duration_seconds",
			"logingest_http_rate_limited_total", "logingest_auth_failures_total",
			"logingest_events_total", "logingest_validation_errors_total", "logingest_batch_size_events",
			"logingest_flush_size_events", "logingest_queue_events", "logingest_queue_bytes",
			"logingest_queue_wait_seconds", "logingest_store_write_duration_seconds",
			"logingest_store_write_errors_total", "logingest_queue_rejections_total", "logingest_ingest_calls_total",
		})
	})

	t.Run("Lint", func(t *testing.T) {
		t.Parallel()
		problems, err := promlint.New(strings.NewReader(text)).Lint()
		require.NoError(t, err)
		require.Empty(t, problems, "promlint problems in the /metrics exposition")
	})

	t.Run("BoundedLabels", func(t *testing.T) {
		t.Parallel()
		allowed := map[string]*regexp.Regexp{
			"route": regexp.MustCompile(`^(unmatched|/(health|readiness|liveness|metrics)|` +
				`/api/v1/(ingest|batch-ingest|logs/filter|logs/recent|metrics|status|keys|keys/\{id\}/(revoke|rotate)))$`),
			"method":     regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|OTHER)$`),
			"code":       regexp.MustCompile(`^([1-5]xx|other)$`),
			"reason":     regexp.MustCompile(`^(missing|invalid|forbidden|error|evicted|refused)$`), // auth failures; connections shed
			"event_type": regexp.MustCompile(`^(behavioral|telemetry|observability|error|performance|invalid)$`),
			"outcome":    regexp.MustCompile(`^(accepted|duplicate|rejected)$`),
			"result":     regexp.MustCompile(`^(ok|invalid|overloaded|unavailable|closed|canceled|hit|miss)$`),
			"limit":      regexp.MustCompile(`^(requests|events|auth_failures)$`),
			"field":      regexp.MustCompile(`^(` + strings.Join(eventFields(), "|") + `)$`),
		}
		seen := map[string]map[string]bool{}
		for name, mf := range mfs {
			if !strings.HasPrefix(name, "logingest_") {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					re, ok := allowed[lp.GetName()]
					require.True(t, ok, "%s has label %q that nobody reviewed for cardinality", name, lp.GetName())
					require.Regexp(t, re, lp.GetValue(), "%s{%s}", name, lp.GetName())
					if seen[lp.GetName()] == nil {
						seen[lp.GetName()] = map[string]bool{}
					}
					seen[lp.GetName()][lp.GetValue()] = true
				}
			}
		}
		// The traffic did reach the labels this test is about.
		require.True(t, seen["route"]["unmatched"], "requests to unknown paths share the route label \"unmatched\"")
		require.True(t, seen["method"]["OTHER"], "unknown methods share the method label \"OTHER\"")
		require.True(t, seen["event_type"]["invalid"], "an unknown event type is counted as \"invalid\"")
		require.True(t, seen["outcome"]["rejected"])
		require.NotEmpty(t, seen["field"], "validation errors are counted by field")
		for _, secret := range []string{secretUserID, secretSessionID, key, "hacker"} {
			require.NotContains(t, text, secret, "a request value leaked into /metrics")
		}
	})

	t.Run("Promtool", func(t *testing.T) {
		t.Parallel()
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("promtool is not installed; CI=true requires it (apt-get install -y prometheus)")
			}
			t.Skip("!!! SKIPPING promtool check metrics: promtool is not installed (apt-get install -y prometheus) !!!")
		}
		cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool check metrics:\n%s", out)
	})
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestAccessLog checks the JSON access log: every request is logged with request_id, route (a pattern), status
// and duration, authenticated requests with key_id, and no API key — valid or not — ever appears in the logs.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	const key = "access-log-key-s3cr3t-9f8e7d"
	logs := &logingesttest.LogBuffer{}
	s := startServerLogs(t, map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_FORMAT": "json", "LOG_LEVEL": "info",
	}, logs)
	generateTraffic(t, s, key)
	code, reqID := send(t, s, http.MethodGet, "/api/v1/logs/recent?limit=1", map[string]string{"Authorization": "Bearer " + key}, nil)
	require.Equal(t, http.StatusOK, code)
	require.NotEmpty(t, reqID)
	s.shutdown(t) // flushes everything the server logs

	text := logs.String()
	require.NotContains(t, text, key, "the API key is in the logs")
	require.NotContains(t, text, "not-"+key, "a wrong API key is in the logs")

	var access []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "LOG_FORMAT=json writes one JSON object per line: %s", line)
		if rec["msg"] == "http request" {
			access = append(access, rec)
		}
	}
	require.Len(t, access, 16, "one access log line per request")

	var withKey int
	for _, rec := range access {
		require.NotEmpty(t, rec["request_id"], "%v", rec)
		require.Regexp(t, `^(unmatched|/[a-z0-9/_-]*)$`, rec["route"], "%v", rec)
		require.NotContains(t, rec["route"], secretUserID, "route is the pattern, not the path")
		require.IsType(t, float64(0), rec["status"], "%v", rec)
		require.IsType(t, float64(0), rec["duration"], "%v", rec)
		require.NotEmpty(t, rec["method"], "%v", rec)
		if id, ok := rec["key_id"].(string); ok {
			withKey++
			require.Regexp(t, `^static_[0-9a-f]{8}$`, id)
		}
		if rec["request_id"] == reqID {
			require.Equal(t, "/api/v1/logs/recent", rec["route"])
			require.InDelta(t, 200.0, rec["status"], 0)
			require.NotEmpty(t, rec["key_id"], "an authenticated request is logged with its key id")
		}
	}
	require.GreaterOrEqual(t, withKey, 8, "authenticated requests carry key_id")
	require.True(t, slices.ContainsFunc(access, func(r map[string]any) bool { return r["request_id"] == reqID }),
		"the X-Request-ID answered is the request_id logged")
}
