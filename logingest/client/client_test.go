package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/client"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/memstore"
)

const testKey = "client-test-key"

// testBundle is a real logingest server (httpapi + Ingester + memstore) behind an interceptable front.
type testBundle struct {
	store *memstore.Store
	srv   *httptest.Server
	// front, when set, answers a request instead of the server (return false to pass it on).
	front    atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
	requests atomic.Int64
	gzipped  atomic.Int64

	mu      sync.Mutex
	results []client.Result
}

func setup(t *testing.T, hcfg *httpapi.Config) *testBundle {
	t.Helper()
	b := &testBundle{store: memstore.New()}
	logger := slog.New(slog.DiscardHandler)
	ing, err := logingest.New(b.store, &logingest.Config{Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ing.Close(context.Background()) })
	if hcfg == nil {
		hcfg = &httpapi.Config{}
	}
	hcfg.Logger = logger
	hcfg.Authenticator = logingest.NewStaticKeys([]string{testKey}, logingest.ScopeIngest|logingest.ScopeRead, "svc")
	h, err := httpapi.New(ing, hcfg)
	require.NoError(t, err)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		if r.Header.Get("Content-Encoding") == "gzip" {
			b.gzipped.Add(1)
		}
		if f := b.front.Load(); f != nil && (*f)(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *testBundle) setFront(f func(w http.ResponseWriter, r *http.Request) bool) { b.front.Store(&f) }

func (b *testBundle) config(cfg client.Config) *client.Config {
	cfg.APIKey = testKey
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	cfg.OnResult = func(r client.Result) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.results = append(b.results, r)
	}
	return &cfg
}

// result returns the first result for id.
func (b *testBundle) result(id string) client.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.results {
		if r.EventID == id {
			return r
		}
	}
	return client.Result{}
}

func (b *testBundle) statuses() map[logingest.Status]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[logingest.Status]int{}
	for _, r := range b.results {
		out[r.Status]++
	}
	return out
}

func (b *testBundle) stored(t *testing.T) int64 {
	t.Helper()
	p, err := b.store.Query(t.Context(), logingest.Filter{Source: "svc", Limit: 1})
	require.NoError(t, err)
	return p.Total
}

func event(i int) logingest.Event {
	return logingest.Event{
		EventID:    fmt.Sprintf("evt-%05d", i),
		Timestamp:  time.Now().Add(-time.Minute).UTC(),
		EventType:  logingest.EventTypeBehavioral,
		EventName:  "order_paid",
		Properties: []byte(`{"amount":12}`),
	}
}

func sendAll(t *testing.T, c *client.Client, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, c.Send(t.Context(), event(i)))
	}
}

func TestBatchesByCountAndDelivers(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c, err := client.New(b.srv.URL, b.config(client.Config{MaxBatchEvents: 100, FlushInterval: time.Hour}))
	require.NoError(t, err)
	sendAll(t, c, 250)
	require.NoError(t, c.Flush(t.Context()))
	require.Equal(t, int64(3), b.requests.Load(), "250 events in batches of 100")
	require.Equal(t, int64(3), b.gzipped.Load())
	require.Equal(t, map[logingest.Status]int{logingest.StatusAccepted: 250}, b.statuses())
	require.Equal(t, int64(250), b.stored(t))
	require.NoError(t, c.Close(t.Context()))
}

func TestBatchesByBytesAndTime(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c, err := client.New(b.srv.URL, b.config(client.Config{MaxBatchBytes: 2048, FlushInterval: 20 * time.Millisecond, DisableGzip: true}))
	require.NoError(t, err)
	sendAll(t, c, 40) // ~150 bytes each: several requests by size
	require.NoError(t, c.Flush(t.Context()))
	require.GreaterOrEqual(t, b.requests.Load(), int64(3))
	require.Zero(t, b.gzipped.Load())
	before := b.requests.Load()
	require.NoError(t, c.Send(t.Context(), event(1000)))
	// The timer alone sends the lone event.
	deadline := time.Now().Add(10 * time.Second)
	for b.stored(t) != 41 {
		require.True(t, time.Now().Before(deadline), "the flush interval never sent the event")
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, before+1, b.requests.Load())
	require.NoError(t, c.Close(t.Context()))
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var refused atomic.Int64
	var mu sync.Mutex
	var times []time.Time
	b.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		switch refused.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		case 3: // a connection error
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return true
				}
			}
			w.WriteHeader(http.StatusBadGateway) // cannot cut the connection: still a retryable answer
			return true
		}
		return false
	})
	c, err := client.New(b.srv.URL, b.config(client.Config{Senders: 1}))
	require.NoError(t, err)
	sendAll(t, c, 10)
	require.NoError(t, c.Flush(t.Context()))
	require.Equal(t, map[logingest.Status]int{logingest.StatusAccepted: 10}, b.statuses())
	require.Equal(t, int64(10), b.stored(t))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, times, 4)
	require.GreaterOrEqual(t, times[1].Sub(times[0]), time.Second, "Retry-After: 1 after the 503")
	require.GreaterOrEqual(t, times[2].Sub(times[1]), time.Second, "Retry-After: 1 after the 429")
	require.NoError(t, c.Close(t.Context()))
}

func TestTimeoutIsRetriedAndResendIsDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	hc := &http.Client{Transport: &slowFirst{next: http.DefaultTransport, delay: 300 * time.Millisecond}, Timeout: 100 * time.Millisecond}
	c, err := client.New(b.srv.URL, b.config(client.Config{HTTPClient: hc, Senders: 1}))
	require.NoError(t, err)
	sendAll(t, c, 5)
	require.NoError(t, c.Flush(t.Context()))
	// The first attempt reached the server and stored the events; the retry is answered duplicate.
	require.Equal(t, map[logingest.Status]int{logingest.StatusDuplicate: 5}, b.statuses())
	require.Equal(t, int64(5), b.stored(t))
	require.NoError(t, c.Close(t.Context()))
}

// slowFirst delivers the first request but holds its answer for delay, so the client's timeout fires.
type slowFirst struct {
	next  http.RoundTripper
	delay time.Duration
	n     atomic.Int64
}

func (s *slowFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.n.Add(1) > 1 {
		return s.next.RoundTrip(r)
	}
	resp, err := s.next.RoundTrip(r.WithContext(context.WithoutCancel(r.Context())))
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(s.delay):
	case <-r.Context().Done():
	}
	resp.Body.Close()
	return nil, fmt.Errorf("answer too late: %w", r.Context().Err())
}

func TestPerEventResults(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c, err := client.New(b.srv.URL, b.config(client.Config{}))
	require.NoError(t, err)
	bad := event(1)
	bad.EventType = "nope"
	require.NoError(t, c.Send(t.Context(), event(0)))
	require.NoError(t, c.Send(t.Context(), bad))
	require.NoError(t, c.Send(t.Context(), event(0))) // the same event twice in one batch
	require.NoError(t, c.Flush(t.Context()))
	rej := b.result("evt-00001")
	want := map[logingest.Status]int{logingest.StatusAccepted: 1, logingest.StatusRejected: 1, logingest.StatusDuplicate: 1}
	require.Equal(t, want, b.statuses())
	require.Equal(t, logingest.StatusRejected, rej.Status)
	require.Equal(t, "event_type", rej.Errors[0].Field)
	require.NoError(t, c.Close(t.Context()))
}

func TestRefusedForGoodFails(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cfg := b.config(client.Config{})
	cfg.APIKey = "wrong"
	c, err := client.New(b.srv.URL, cfg)
	require.NoError(t, err)
	sendAll(t, c, 3)
	require.NoError(t, c.Flush(t.Context()))
	r := b.result("evt-00000")
	require.Equal(t, client.StatusFailed, r.Status)
	require.ErrorContains(t, r.Err, "401")
	require.Equal(t, int64(1), b.requests.Load(), "a 401 is not retried")
	require.NoError(t, c.Close(t.Context()))
}

func TestTooLargeIsSplit(t *testing.T) {
	t.Parallel()
	b := setup(t, &httpapi.Config{MaxBodyBytes: 4096})
	c, err := client.New(b.srv.URL, b.config(client.Config{DisableGzip: true, MaxBatchBytes: 64 << 10}))
	require.NoError(t, err)
	sendAll(t, c, 100) // ~15 KB in one batch: 413, then halves until they fit
	require.NoError(t, c.Flush(t.Context()))
	require.Equal(t, map[logingest.Status]int{logingest.StatusAccepted: 100}, b.statuses())
	require.Equal(t, int64(100), b.stored(t))
	require.NoError(t, c.Close(t.Context()))
}

func TestQueueIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.setFront(func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	c, err := client.New(b.srv.URL, b.config(client.Config{QueueEvents: 10, MaxBatchEvents: 5}))
	require.NoError(t, err)
	sendAll(t, c, 10)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Send(ctx, event(10)), context.DeadlineExceeded)
	cctx, ccancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer ccancel()
	err = c.Close(cctx)
	require.ErrorContains(t, err, "10 events undelivered")
	require.Equal(t, map[logingest.Status]int{client.StatusFailed: 10}, b.statuses())
	require.ErrorIs(t, c.Send(t.Context(), event(11)), client.ErrClosed)
}

func TestSpoolSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	dir := t.TempDir()
	b.setFront(func(w http.ResponseWriter, _ *http.Request) bool { w.WriteHeader(http.StatusBadGateway); return true })
	c, err := client.New(b.srv.URL, b.config(client.Config{SpoolDir: dir, MaxBatchEvents: 20}))
	require.NoError(t, err)
	sendAll(t, c, 50)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, c.Close(ctx), "50 events undelivered")
	files, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	require.NoError(t, err)
	require.Len(t, files, 3, "three batches wait on disk")

	b.front.Store(nil)
	b.mu.Lock()
	b.results = nil // the first client reported them failed; now the second's results
	b.mu.Unlock()
	c2, err := client.New(b.srv.URL, b.config(client.Config{SpoolDir: dir}))
	require.NoError(t, err)
	require.NoError(t, c2.Flush(t.Context()))
	require.NoError(t, c2.Close(t.Context()))
	require.Equal(t, int64(50), b.stored(t))
	require.Equal(t, map[logingest.Status]int{logingest.StatusAccepted: 50}, b.statuses())
	files, err = filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.Empty(t, files, "the spool is empty once everything is answered")
}

func TestSpoolRecoversACrash(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	dir := t.TempDir()
	// A process died after spooling three events and half of a fourth.
	var journal []byte
	for i := range 3 {
		raw := fmt.Appendf(nil, `{"event_id":"crash-%d","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"x"}`, i)
		journal = append(append(journal, raw...), '\n')
	}
	journal = append(journal, `{"event_id":"torn","times`...)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "current.ndjson"), journal, 0o600))
	c, err := client.New(b.srv.URL, b.config(client.Config{SpoolDir: dir}))
	require.NoError(t, err)
	require.NoError(t, c.Flush(t.Context()))
	require.NoError(t, c.Close(t.Context()))
	require.Equal(t, int64(3), b.stored(t))
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := client.New("ftp://x", nil)
	require.ErrorContains(t, err, "http:// or https://")
	_, err = client.New("http://x", &client.Config{QueueEvents: 5, MaxBatchEvents: 10})
	require.ErrorContains(t, err, "QueueEvents")
}
