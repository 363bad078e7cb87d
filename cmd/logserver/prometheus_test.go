package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/dashtest"
	"github.com/change66/logserver/internal/natstest"
	"github.com/change66/logserver/logingest/logingesttest"
)

// promResult is the part of a Prometheus /api/v1/query answer the test reads.
type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"` //nolint:tagliatelle // format fixed by the Prometheus HTTP API
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// values returns the sample values of r, with their labels, for failure messages and logs.
func (r promResult) values() (vals []float64, desc string) {
	var b strings.Builder
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			continue
		}
		vals = append(vals, v)
		fmt.Fprintf(&b, "%v=%s ", s.Metric, str)
	}
	return vals, b.String()
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// quoteAll renders targets as a YAML flow sequence's items.
func quoteAll(targets []string) string {
	q := make([]string, len(targets))
	for i, t := range targets {
		q[i] = strconv.Quote(t)
	}
	return strings.Join(q, ", ")
}

// startPrometheus runs the prometheus binary scraping targets (host:port) every second, on loopback, with its
// storage in a temporary directory, and returns its base URL. It stops Prometheus when the test ends.
func startPrometheus(t *testing.T, bin string, targets ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: logserver
    static_configs:
      - targets: [%s]
`, quoteAll(targets))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLoopbackPort(t)))
	logs := &logingesttest.LogBuffer{}
	// When the test ends (t.Context is done just before the cleanups run), Prometheus gets an interrupt and, if it
	// has not exited 10s later, is killed.
	cmd := exec.CommandContext(t.Context(), bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	// exited is closed, not sent on, so that both the readiness loop and the cleanup can wait for it.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		<-exited // an interrupted or killed Prometheus exits with an error; only its output matters here
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})

	base := "http://" + addr
	// Generous: a loaded machine starts Prometheus slowly; a healthy one answers within a second.
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/-/ready", nil)
		require.NoError(t, err)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		require.True(t, time.Now().Before(deadline), "prometheus not ready within 2 minutes:\n%s", logs.String())
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %v\n%s", waitErr, logs.String())
		case <-tick.C:
		}
	}
}

func promQuery(t *testing.T, base, expr string) promResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r promResult
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Equal(t, "success", r.Status, "query %s: %s", expr, r.Error)
	require.Equal(t, "vector", r.Data.ResultType, expr)
	return r
}

// trafficLoop sends, every 250ms until ctx is done: a batch of new events, an invalid event, a request with
// a wrong key, and (unless floodKey is empty) ten requests on a second key whose rate limit they exceed. It
// waits for each answer however long a loaded machine takes: an answer cut short by a client timeout would
// count as a client error, not as the traffic it stands for.
func trafficLoop(ctx context.Context, s *server, key, floodKey string) {
	client := &http.Client{Timeout: 2 * time.Minute}
	post := func(method, path, k string, body string) {
		req, err := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", k)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		var b strings.Builder
		b.WriteString(`{"logs":[`)
		for j := range 20 {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b,
				`{"event_id":"e2e-%d-%d","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"habit_completed"}`, i, j)
		}
		b.WriteString(`]}`)
		post(http.MethodPost, "/api/v1/batch-ingest", key, b.String())
		post(http.MethodPost, "/api/v1/ingest", key, string(badEvent))
		post(http.MethodPost, "/api/v1/ingest", "wrong-"+key, string(badEvent))
		for range 10 {
			if floodKey == "" {
				break
			}
			post(http.MethodGet, "/api/v1/status", floodKey, "")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TestPrometheusScrapesServerMetricsPanels runs a real Prometheus against a running logserver and waits until
// every server-metrics panel query returns data — and a non-zero value for the panels the traffic drives.
//
// What it proves does not depend on the machine's speed: the flood key's rate limit (one request a minute) is
// exceeded by any client at all, and each query's rate window spans many scrapes and traffic rounds, so a loaded
// machine that answers a round in seconds, or misses a scrape, still shows every panel; all panels are polled
// together, under one generous deadline.
func TestPrometheusScrapesServerMetricsPanels(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the prometheus binary is not installed; CI=true requires it (apt-get install -y prometheus)")
		}
		t.Skip("!!! SKIPPING the Prometheus end-to-end test: the prometheus binary is not installed (apt-get install -y prometheus) !!!")
	}
	const key = "e2e-key"
	env := map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_LEVEL": "error",
		"RATE_LIMIT_REQUESTS_PER_MINUTE": "1200", "RATE_LIMIT_BURST": "20",
	}
	// The flood key may send one request a minute after its burst of 20: ten a round exceed that from the third
	// round on, however slowly the rounds go.
	floodKey, _ := createKey(t, env, "-name", "flood", "-scopes", "read", "-requests-per-minute", "1")
	s := startServer(t, env)
	// A second server in buffer mode feeds the buffer panels (17-21). Its writer takes one traffic round (20
	// events) a write: under load, in this race-built binary, a backlog of hundreds of events did not commit
	// within the writer's 10s write timeout, was retried whole and never written.
	bs := startServer(t, map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_LEVEL": "error",
		"INGEST_BUFFER": natstest.Start(t, 1).URLs(), "INGEST_BUFFER_WRITERS": "1", "INGEST_BUFFER_BATCH": "20",
	})
	var wg sync.WaitGroup
	wg.Go(func() { trafficLoop(t.Context(), s, key, floodKey) }) // stops when the test ends
	wg.Go(func() { trafficLoop(t.Context(), bs, key, "") })      // ingest only: feeds the buffer panels
	t.Cleanup(wg.Wait)                                           // runs before the servers' cleanup

	u, err := url.Parse(s.url)
	require.NoError(t, err)
	bu, err := url.Parse(bs.url)
	require.NoError(t, err)
	base := startPrometheus(t, bin, u.Host, bu.Host)

	// Panels that may legitimately be zero under healthy traffic: queue depth, queue rejections, write errors,
	// and the buffer's lag, stream size, redeliveries and dead letters.
	mayBeZero := map[uint32]bool{9: true, 11: true, 13: true, 18: true, 19: true, 20: true, 21: true}
	// $__rate_interval: Grafana makes it at least four scrape intervals, and more over longer time ranges (5m
	// over a day). 5m spans many scrapes and traffic rounds even when a loaded machine takes half a minute per
	// round (seen at load average 35); on a quiet machine the panels have data as soon as two scrapes differ.
	const rateInterval = "5m"
	pending := serverMetricsQueries(t)
	last := make(map[string]string, len(pending))
	deadline := time.Now().Add(6 * time.Minute)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		pending = slices.DeleteFunc(pending, func(q dashtest.Query) bool {
			r := promQuery(t, base, dashtest.ExpandPromQL(q.Expr, rateInterval))
			vals, desc := r.values()
			last[q.Name()] = desc
			ok := len(vals) > 0
			if ok && !mayBeZero[q.PanelID] {
				ok = slices.ContainsFunc(vals, func(v float64) bool { return v > 0 && !math.IsInf(v, 0) })
			}
			if ok {
				t.Logf("%s: %s", q.Name(), desc)
			}
			return ok
		})
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, q := range pending {
				fmt.Fprintf(&b, "\n  %s: %s (last: %s)", q.Name(), dashtest.ExpandPromQL(q.Expr, rateInterval), last[q.Name()])
			}
			require.Failf(t, "panels without data", "within 6 minutes:%s", b.String())
		}
		<-tick.C
	}
}
