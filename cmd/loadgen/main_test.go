package main

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireCountsAddUp checks the identities every finished run must satisfy.
func requireCountsAddUp(t *testing.T, res *result) {
	t.Helper()
	require.Equal(t, res.Accepted+res.Duplicates, res.EventsAcked)
	require.Equal(t, res.EventsSent, res.EventsAcked+res.Rejected+res.EventsFailed, "every sent event has one outcome")
	require.Equal(t, res.Requests, res.Status201+res.Status4xx+res.Status429+res.Status503+res.Status5xx+
		res.StatusOther+res.TransportErrors+res.Canceled, "every attempt has one outcome")
	require.Zero(t, res.CountMismatches)
	require.Zero(t, res.BadAnswers)
}

func TestRunBatchGzipDuplicatesAndRetries(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1", unavailableEvery: 4}
	srv := newFakeServer(t, fake)

	res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-clients", "8", "-batch", "50", "-events", "5000",
		"-gzip", "-dup-fraction", "0.2", "-retry-max-wait", "1ms", "-seed", "7")
	require.NoError(t, err)
	got := fake.snapshot()
	require.Empty(t, got.problems)
	requireCountsAddUp(t, res)

	require.Equal(t, stopEvents, res.StopReason)
	require.EqualValues(t, 5000, res.EventsSent)
	require.EqualValues(t, 5000, res.EventsAcked, "events sent = events acknowledged")
	require.EqualValues(t, 1000, res.DuplicatesSent, "floor(5000 × 0.2) duplicates")
	require.EqualValues(t, got.accepted, res.Accepted)
	require.EqualValues(t, got.dups, res.Duplicates)
	require.Equal(t, res.DuplicatesSent, res.Duplicates, "every re-sent id is a duplicate at the server")
	require.Equal(t, got.dups, got.dupBodyOK, "a duplicate re-sends its original unchanged")
	require.Len(t, got.stored, 4000)

	require.Positive(t, got.refusals, "the fake answered some 503s")
	require.EqualValues(t, got.refusals, res.Status503)
	require.Equal(t, res.Status503, res.Retries, "each 503 was retried once")
	require.EqualValues(t, 100, res.Status201)
	require.Equal(t, res.Status201+res.Status503, res.Requests)
	require.EqualValues(t, got.requests, res.Requests)
	require.Equal(t, got.requests, got.gzipped, "every body is gzipped")
	require.Equal(t, map[string]int{"/api/v1/batch-ingest": got.requests}, got.paths)
	require.Zero(t, res.Errors)

	require.Positive(t, res.EventsPerSec)
	require.Positive(t, res.RequestsPerSec)
	require.Positive(t, res.P50Ms)
	require.LessOrEqual(t, res.P50Ms, res.P90Ms)
	require.LessOrEqual(t, res.P90Ms, res.P99Ms)
	require.LessOrEqual(t, res.P99Ms, res.MaxMs)
	require.EqualValues(t, 7, res.Seed)
}

func TestRunSingleEndpoint(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1"}
	srv := newFakeServer(t, fake)

	res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-clients", "4", "-batch", "1", "-events", "300",
		"-dup-fraction", "0.1")
	require.NoError(t, err)
	got := fake.snapshot()
	require.Empty(t, got.problems)
	requireCountsAddUp(t, res)
	require.Equal(t, map[string]int{"/api/v1/ingest": 300}, got.paths)
	require.Zero(t, got.gzipped)
	require.EqualValues(t, 300, res.Requests)
	require.EqualValues(t, 270, res.Accepted)
	require.EqualValues(t, 30, res.Duplicates)
	require.EqualValues(t, 30, res.DuplicatesSent)
	require.Equal(t, got.dups, got.dupBodyOK)
}

func TestRunDuplicatesReuseIDsAlreadySent(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1"}
	srv := newFakeServer(t, fake)

	// One client: the server sees requests in the order loadgen made them.
	res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-clients", "1", "-batch", "10", "-events", "1000",
		"-dup-fraction", "0.3")
	require.NoError(t, err)
	got := fake.snapshot()
	require.Empty(t, got.problems)
	requireCountsAddUp(t, res)
	require.Len(t, got.arrival, 1000)

	seen := map[string]bool{}
	var prefix string
	dups := 0
	for i, id := range got.arrival {
		run, n, ok := strings.Cut(id, "-")
		require.True(t, ok, id)
		if prefix == "" {
			prefix = run
		}
		require.Equal(t, prefix, run, "one run ID")
		num, err := strconv.Atoi(n)
		require.NoError(t, err)
		if seen[id] {
			dups++
			require.Less(t, num/10, i/10, "a duplicate re-sends an event of an earlier request")
			continue
		}
		require.Equal(t, i, num, "fresh event n carries id <run>-<n>")
		seen[id] = true
	}
	require.Equal(t, 300, dups)
	require.Equal(t, prefix, res.RunID)
	// The share of duplicates holds within any long stretch, not only in total.
	secondHalf := 0
	for i := 500; i < 1000; i++ {
		_, n, _ := strings.Cut(got.arrival[i], "-")
		if num, _ := strconv.Atoi(n); num != i {
			secondHalf++
		}
	}
	require.Equal(t, 150, secondHalf)
}

func TestRunRejectedEventsAreCounted(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1", rejectName: "habit_skipped"}
	srv := newFakeServer(t, fake)

	res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-batch", "20", "-events", "2000")
	require.NoError(t, err)
	got := fake.snapshot()
	requireCountsAddUp(t, res)
	require.Positive(t, res.Rejected)
	require.EqualValues(t, got.rejected, res.Rejected)
	require.EqualValues(t, got.accepted, res.Accepted)
	require.EqualValues(t, 2000, res.Accepted+res.Rejected)
	require.Zero(t, res.Errors, "a 201 with rejected events is not a failed request")
}

func TestRunEventsBound(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1"}
	srv := newFakeServer(t, fake)

	res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-clients", "3", "-batch", "100", "-events", "1234")
	require.NoError(t, err)
	got := fake.snapshot()
	require.Equal(t, stopEvents, res.StopReason)
	require.EqualValues(t, 1234, res.EventsSent)
	require.Len(t, got.arrival, 1234, "the server saw exactly -events events")
	require.EqualValues(t, 13, res.Requests, "12 full batches and one of 34")
	require.Equal(t, 13, got.requests)
}

func TestRunDurationBound(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1"}
	srv := newFakeServer(t, fake)

	res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-clients", "2", "-batch", "5",
		"-events", "1000000000", "-duration", "150ms")
	require.NoError(t, err)
	got := fake.snapshot()
	require.Equal(t, stopDuration, res.StopReason)
	require.Less(t, res.EventsSent, int64(1000000000))
	require.Positive(t, res.EventsSent)
	require.Less(t, res.WallSec, 5.0)
	requireCountsAddUp(t, res)
	require.Equal(t, res.EventsSent, res.EventsAcked, "requests in flight at the deadline finish")
	require.Len(t, got.arrival, int(res.EventsSent))
}

func TestRunUnavailableRetriesAreBounded(t *testing.T) {
	t.Parallel()
	for _, status := range []int{503, 429} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			fake := &fakeServer{key: "k1", alwaysStatus: status}
			srv := newFakeServer(t, fake)

			res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-clients", "1", "-batch", "10", "-events", "20",
				"-retries", "2", "-retry-max-wait", "1ms")
			require.ErrorContains(t, err, "no event was acknowledged")
			requireCountsAddUp(t, res)
			require.EqualValues(t, 6, res.Requests, "two requests, three attempts each")
			require.EqualValues(t, 4, res.Retries)
			require.EqualValues(t, 2, res.Errors)
			require.EqualValues(t, 20, res.EventsFailed)
			if status == 503 {
				require.EqualValues(t, 6, res.Status503)
			} else {
				require.EqualValues(t, 6, res.Status429)
			}
		})
	}
}

func TestRunWrongKeyStops(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "right"}
	srv := newFakeServer(t, fake)

	res, err := runJSON(t, "-url", srv.URL, "-key", "wrong", "-clients", "2", "-events", "100000")
	require.ErrorIs(t, err, errUnauthorized)
	require.Equal(t, stopUnauthorized, res.StopReason)
	require.LessOrEqual(t, res.Requests, int64(2), "no more requests after the first 401")
	require.Positive(t, res.Status4xx)
}

func TestRunRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"http://192.0.2.1:8080", "http://10.0.0.1", "http://example.com", "http://[2001:db8::1]:8080",
		"http://localhost.example.com", "http://127.0.0.1.example.com", "http://0.0.0.0:8080",
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), []string{"-url", u, "-key", "k"}, &stdout, &stderr)
		require.ErrorIs(t, err, errRemoteTarget, u)
		require.ErrorAs(t, err, new(usageError))
		require.Empty(t, stdout.String())
	}
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"http://127.0.0.1:8080", "http://127.9.8.7", "http://[::1]:8080/", "http://localhost:8080",
		"https://LOCALHOST", "http://[::ffff:127.0.0.1]:80",
	} {
		got, err := parseTarget(u, false)
		require.NoError(t, err, u)
		require.NotContains(t, got.Path, "//")
	}
	got, err := parseTarget("http://192.0.2.1:8080", true)
	require.NoError(t, err, "-allow-remote")
	require.Equal(t, "192.0.2.1", got.Hostname())

	for _, u := range []string{"ftp://127.0.0.1", "127.0.0.1:8080", "http://", "http://u:p@127.0.0.1", "http://127.0.0.1/?x=1"} {
		_, err := parseTarget(u, false)
		require.Error(t, err, u)
	}
}

func TestDialerRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	require.NoError(t, loopbackOnly("tcp", "127.0.0.1:80", nil))
	require.NoError(t, loopbackOnly("tcp6", "[::1]:80", nil))
	require.ErrorIs(t, loopbackOnly("tcp", "192.0.2.1:80", nil), errRemoteTarget)
	require.ErrorIs(t, loopbackOnly("tcp6", "[2001:db8::1]:80", nil), errRemoteTarget)
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	env := func(k string) string {
		if k == "LOADGEN_API_KEY" {
			return "from-env"
		}
		return ""
	}
	var stderr bytes.Buffer
	o, err := parseFlags(nil, env, &stderr)
	require.NoError(t, err)
	require.Equal(t, "from-env", o.key)
	require.Equal(t, "http://127.0.0.1:8080", o.url)
	require.Equal(t, 16, o.clients)
	require.EqualValues(t, 100000, o.events)
	require.Equal(t, time.Minute, o.duration)
	require.Equal(t, 50, o.batch)

	o, err = parseFlags([]string{"-key", "flag"}, env, &stderr)
	require.NoError(t, err)
	require.Equal(t, "flag", o.key, "-key wins over the environment")

	stderr.Reset()
	_, err = parseFlags([]string{"-h"}, env, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	help := stderr.String()
	for _, want := range []string{"-allow-remote", "never passed", "loopback", "-dup-fraction", "-json", "-source-file", "LOADGEN_API_KEY"} {
		require.Contains(t, help, want)
	}
	require.NotContains(t, help, "from-env", "help never prints the key")

	for _, args := range [][]string{
		{"-clients", "0"},
		{"-batch", "0"},
		{"-events", "0"},
		{"-duration", "0s"},
		{"-dup-fraction", "1"},
		{"-dup-fraction", "-0.1"},
		{"-dup-fraction", "NaN"},
		{"-timeout", "0s"},
		{"-retries", "-1"},
		{"-timestamps", "later"},
		{"-offline-fraction", "1.5"},
		{"-offline-min-age", "2h", "-offline-max-age", "1h"},
		{"-recent-spread", "-1s"},
		{"-users", "-1"},
		{"extra"},
		{"-nope"},
	} {
		_, err := parseFlags(args, env, &stderr)
		require.ErrorAs(t, err, new(usageError), args)
	}
	_, err = parseFlags(nil, func(string) string { return "" }, &stderr)
	require.ErrorContains(t, err, "missing API key")
}

func TestRunHelpAndExitCodes(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "Usage: loadgen")

	require.Zero(t, exitCode(nil, &stderr))
	require.Equal(t, 2, exitCode(usageError{errors.New("bad")}, &stderr))
	require.Equal(t, 1, exitCode(errors.New("boom"), &stderr))
}

func TestRunTextOutput(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1"}
	srv := newFakeServer(t, fake)

	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-url", srv.URL, "-key", "k1", "-events", "200", "-batch", "20"}, &stdout, &stderr)
	require.NoError(t, err)
	out := stdout.String()
	for _, want := range []string{
		"events/s", "requests/s", "p50", "p90", "p99", "max", "201: 10", "429: 0", "503: 0",
		"transport errors: 0", "200 acknowledged (200 accepted, 0 duplicate)", "CPU per event",
	} {
		require.Contains(t, out, want)
	}
}

func TestRunSourceFile(t *testing.T) {
	t.Parallel()
	fake := &fakeServer{key: "k1"}
	srv := newFakeServer(t, fake)

	res, err := runJSON(t, "-url", srv.URL, "-key", "k1", "-events", "40", "-batch", "20",
		"-source-file", "../../testdata/batch-50.json")
	require.NoError(t, err)
	require.EqualValues(t, 40, res.Accepted)

	_, err = runJSON(t, "-url", srv.URL, "-key", "k1", "-source-file", "does-not-exist.ndjson")
	require.Error(t, err)
}

// TestNoopServerBaseline: loadgen against its own no-op server acknowledges every event, single and batched,
// and the server refuses a body it cannot decode.
func TestNoopServerBaseline(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(noopHandler())
	t.Cleanup(srv.Close)
	for _, batch := range []string{"1", "50"} {
		res, err := runJSON(t, "-url", srv.URL, "-key", "k", "-clients", "4", "-batch", batch, "-events", "500")
		require.NoError(t, err)
		require.EqualValues(t, 500, res.EventsAcked, "batch %s", batch)
		require.Zero(t, res.Errors)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/v1/ingest", strings.NewReader("{"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
