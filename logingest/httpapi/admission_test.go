package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// admittingIngester is a fakeIngester with the optional Admit method.
type admittingIngester struct {
	fakeIngester
	admit  func(events int) error
	asked  []int
	ingest atomic.Int32
}

func (a *admittingIngester) Admit(events int) error {
	a.asked = append(a.asked, events)
	return a.admit(events)
}

// countingBody fails the test's expectations if it is read: a refused request must not be read.
type countingBody struct {
	io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestEarlyAdmission: when the Backend's Admit refuses, the ingest endpoints answer 503 overloaded with the
// Retry-After it computed, before reading the body; small batches ask for the small-request lane, larger ones
// with the events their Content-Length suggests (estBytesPerEvent each), and without a Content-Length as batches
// of unknown size (0).
func TestEarlyAdmission(t *testing.T) {
	t.Parallel()
	ing := &admittingIngester{admit: func(int) error { return &logingest.OverloadedError{RetryAfter: 7 * time.Second} }}
	ing.fakeIngester.ingest = func(context.Context, string, []logingest.Event) (*logingest.BatchResult, error) {
		ing.ingest.Add(1)
		return nil, errors.New("Ingest must not be reached")
	}
	h, err := New(ing, &Config{Authenticator: testAuth()})
	require.NoError(t, err)

	bigBatch := readFile(t, "batch-50.json")
	require.Greater(t, len(bigBatch), smallBodyBytes)
	for _, c := range []struct {
		path    string
		body    []byte
		chunked bool // no Content-Length
		want    int
	}{
		{"/api/v1/ingest", readFile(t, "single.json"), false, 1},
		{"/api/v1/batch-ingest", bigBatch, false, (len(bigBatch) + estBytesPerEvent - 1) / estBytesPerEvent},
		{"/api/v1/batch-ingest", bigBatch, true, 0},
		{"/api/v1/batch-ingest", []byte(`{"logs":[` + strings.TrimSpace(string(readFile(t, "single.json"))) + `]}`), false, 1},
	} {
		body := &countingBody{Reader: strings.NewReader(string(c.body))}
		r := request(t, http.MethodPost, c.path, keyIngest, c.body)
		r.Body = io.NopCloser(body)
		r.ContentLength = int64(len(c.body))
		if c.chunked {
			r.ContentLength = -1
		}
		w := serve(h, r)
		requireError(t, w, http.StatusServiceUnavailable, "overloaded", "")
		require.Equal(t, "7", w.Header().Get("Retry-After"), c.path)
		require.Zero(t, body.read.Load(), "%s: a refused body is not read", c.path)
		require.Equal(t, c.want, ing.asked[len(ing.asked)-1], "%s: events asked about", c.path)
	}
	require.Zero(t, ing.ingest.Load())
}

// TestOverloadedRetryAfter: an *OverloadedError from Ingest sets Retry-After; the plain sentinel gets one
// spread over retryAfterSeconds ± retryAfterSpread.
func TestOverloadedRetryAfter(t *testing.T) {
	t.Parallel()
	spread := map[string]bool{}
	for s := retryAfterSeconds - retryAfterSpread; s <= retryAfterSeconds+retryAfterSpread; s++ {
		spread[strconv.Itoa(s)] = true
	}
	for _, tc := range []struct {
		err  error
		want map[string]bool
	}{
		{&logingest.OverloadedError{RetryAfter: 3 * time.Second}, map[string]bool{"3": true}},
		{&logingest.OverloadedError{RetryAfter: 1500 * time.Millisecond}, map[string]bool{"2": true}},
		{&logingest.OverloadedError{}, map[string]bool{"1": true}},
		{logingest.ErrOverloaded, spread},
	} {
		ing := &fakeIngester{ingest: func(context.Context, string, []logingest.Event) (*logingest.BatchResult, error) {
			return nil, tc.err
		}}
		h, err := New(ing, &Config{Authenticator: testAuth()})
		require.NoError(t, err)
		w := do(t, h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, readFile(t, "batch-50.json"))
		requireError(t, w, http.StatusServiceUnavailable, "overloaded", "")
		require.True(t, tc.want[w.Header().Get("Retry-After")], "%v: Retry-After %q", tc.err, w.Header().Get("Retry-After"))
	}
}

// TestBodyBudgetRetryAfterFromSchedule: a body refused for lack of memory (the in-flight budget) gets its
// Retry-After from the Ingester's retry schedule, like the Ingester's own refusals: successive refusals are
// given later and later slots instead of one fixed value, and the refused request holds no queue room.
func TestBodyBudgetRetryAfterFromSchedule(t *testing.T) {
	t.Parallel()
	ing, err := logingest.New(memstore.New(), &logingest.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ing.Close(context.Background())) })
	h, err := New(ing, &Config{Authenticator: testAuth(), MaxInflightBodyBytes: 100, RequestsPerMinute: -1, EventsPerMinute: -1})
	require.NoError(t, err)
	body := readFile(t, "batch-50.json")
	seen := map[string]int{}
	for range 2000 {
		w := do(t, h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, body)
		requireError(t, w, http.StatusServiceUnavailable, "overloaded", "")
		seen[w.Header().Get("Retry-After")]++
	}
	require.Greater(t, len(seen), 5, "Retry-After values %v", seen)
	require.NotContains(t, seen, "", "every refusal says when to come back")
	events, _ := ing.QueueDepth()
	require.Zero(t, events, "refused requests gave their room back")
}
