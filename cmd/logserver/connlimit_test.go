package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// limitedServer serves handler on a loopback listener capped at maxConns; now is the limiter's clock.
func limitedServer(t *testing.T, maxConns int, handler http.Handler) (string, *connLimiter) {
	t.Helper()
	cl, err := newConnLimiter(maxConns, prometheus.NewRegistry())
	require.NoError(t, err)
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: handler, ConnState: cl.connState, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(cl.listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return ln.Addr().String(), cl
}

// keepAlive is a client connection that sends one GET per call and keeps the connection.
type keepAlive struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &keepAlive{conn: c, r: bufio.NewReader(c)}
}

func (k *keepAlive) get(path string) (*http.Response, error) {
	_ = k.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k.conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// TestConnLimiterEvictsIdleConnections is case 7 of issue 14: idle keep-alive connections used to pile up
// (3,000 held 91 MiB for 120 s). At the cap, the longest idle one makes room for a new client.
func TestConnLimiterEvictsIdleConnections(t *testing.T) {
	t.Parallel()
	addr, cl := limitedServer(t, 3, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	var idle []*keepAlive
	for i := range 3 {
		k := dialKeepAlive(t, addr)
		resp, err := k.get("/")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		idle = append(idle, k)
		// The server marks a connection idle after it wrote the answer, which the client may read first: wait for
		// each before the next, so that idle[0] is the one idle the longest (else the order is a race).
		require.Eventually(t, func() bool { cl.mu.Lock(); defer cl.mu.Unlock(); return len(cl.waiting) == i+1 },
			5*time.Second, time.Millisecond, "%d idle connections", i+1)
	}

	fresh := dialKeepAlive(t, addr)
	resp, err := fresh.get("/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a new client gets in at the cap")

	// The oldest idle connection was closed to make room: its next request fails.
	_, err = idle[0].get("/")
	require.Error(t, err)
	require.InDelta(t, 1, testutil.ToFloat64(cl.closed.WithLabelValues("evicted")), 0)
	require.Eventually(t, func() bool { return testutil.ToFloat64(cl.openGauge) <= 3 }, 5*time.Second, time.Millisecond)
}

// TestConnLimiterRefusesWhenEveryConnectionIsBusy: with every connection in a request, a new one is answered
// 503 with Retry-After at once, and gets in once a place frees up.
func TestConnLimiterRefusesWhenEveryConnectionIsBusy(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	addr, cl := limitedServer(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered.Done()
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	results := make(chan error, 2)
	for range 2 {
		k := dialKeepAlive(t, addr)
		go func() { _, err := k.get("/block"); results <- err }()
	}
	entered.Wait()

	c, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.JSONEq(t, refusalBody, string(body))
	require.InDelta(t, 1, testutil.ToFloat64(cl.closed.WithLabelValues("refused")), 0)

	close(release)
	require.NoError(t, <-results)
	require.NoError(t, <-results)
	resp2, err := dialKeepAlive(t, addr).get("/")
	require.NoError(t, err, "the busy connections are idle now, so a new client evicts one")
	require.Equal(t, http.StatusOK, resp2.StatusCode)
}

// TestConnLimiterEvictsSilentNewConnections: a connection that never sends a request counts as idle once
// newConnGrace has passed, so connect-and-wait cannot hold the cap either.
func TestConnLimiterEvictsSilentNewConnections(t *testing.T) {
	t.Parallel()
	addr, cl := limitedServer(t, 1, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	var mu sync.Mutex
	now := time.Now()
	cl.mu.Lock()
	cl.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cl.mu.Unlock()

	silent := dialKeepAlive(t, addr)
	require.Eventually(t, func() bool { cl.mu.Lock(); defer cl.mu.Unlock(); return len(cl.waiting) == 1 },
		5*time.Second, time.Millisecond)
	c, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "within its grace a new connection is not evicted")
	_ = c.Close()

	mu.Lock()
	now = now.Add(newConnGrace)
	mu.Unlock()
	resp, err = dialKeepAlive(t, addr).get("/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = silent.get("/")
	require.Error(t, err, "the silent connection was evicted")
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestMetricsAddr: with METRICS_ADDR, /metrics and pprof are served there and /metrics is gone from the API
// port; the connection cap's metrics are exported.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	maddr := freeAddr(t)
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error", "METRICS_ADDR": maddr})
	code, _ := s.status(t, http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusNotFound, code, "/metrics is not on the API port")

	get := func(url string) (int, string) {
		resp, err := http.Get(url) //nolint:noctx // test helper on loopback
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("http://" + maddr + "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "logingest_http_open_connections")
	require.Contains(t, body, `logingest_http_connections_shed_total{reason="evicted"}`)
	code, _ = get("http://" + maddr + "/debug/pprof/")
	require.Equal(t, http.StatusOK, code)

	s2 := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error"})
	code, _ = s2.status(t, http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code, "without METRICS_ADDR /metrics stays on the API port")
	code, _ = s2.status(t, http.MethodGet, "/debug/pprof/", "", nil)
	require.Equal(t, http.StatusNotFound, code, "pprof is never on the API port")
}

// fakeClock sets cl's clock to a fixed time that the returned func advances.
func fakeClock(cl *connLimiter) (advance func(time.Duration)) {
	var mu sync.Mutex
	now := time.Now()
	cl.mu.Lock()
	cl.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cl.mu.Unlock()
	return func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

// evictableAt counts the waiting connections the limiter may evict at its clock's now.
func evictableAt(cl *connLimiter) (evictable, protected int) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	now := cl.now()
	for _, t := range cl.waiting {
		if t.After(now) {
			protected++
		} else {
			evictable++
		}
	}
	return evictable, protected
}

// TestConnLimiterNeverEvictsARequestInFlight: a keep-alive connection that was idle the longest but has begun
// to send a POST (its header read by the server, not yet complete, so http.Server still reports it idle) is
// not the one evicted at the cap; a truly idle one is, and the POST completes. A header that still trickles in
// headerGrace later counts as idle again.
func TestConnLimiterNeverEvictsARequestInFlight(t *testing.T) {
	t.Parallel()
	addr, cl := limitedServer(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}))
	advance := fakeClock(cl)

	pending := dialKeepAlive(t, addr) // idle first: the longest idle
	resp, err := pending.get("/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	advance(time.Second)
	idle := dialKeepAlive(t, addr)
	resp, err = idle.get("/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	advance(time.Second)
	require.Eventually(t, func() bool { e, p := evictableAt(cl); return e == 2 && p == 0 },
		10*time.Second, time.Millisecond, "two idle connections")

	// The POST's first bytes: the server reads them, and the connection stops being evictable.
	_ = pending.conn.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = fmt.Fprint(pending.conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { e, p := evictableAt(cl); return e == 1 && p == 1 },
		10*time.Second, time.Millisecond, "the connection with a request arriving is protected")

	resp, err = dialKeepAlive(t, addr).get("/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a new client gets in at the cap")
	_, err = idle.get("/")
	require.Error(t, err, "the truly idle connection was the one evicted")

	_, err = fmt.Fprint(pending.conn, "Content-Length: 7\r\n\r\n{\"a\":1}")
	require.NoError(t, err)
	resp, err = http.ReadResponse(pending.r, nil)
	require.NoError(t, err, "the POST that was on its way in is answered")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"a":1}`, string(body))
	require.InDelta(t, 1, testutil.ToFloat64(cl.closed.WithLabelValues("evicted")), 0)

	// A header that never completes is protected for headerGrace only.
	require.Eventually(t, func() bool { e, p := evictableAt(cl); return e == 2 && p == 0 },
		10*time.Second, time.Millisecond, "both connections idle after their requests")
	_, err = fmt.Fprint(pending.conn, "POST /upload HTTP/1.1\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, p := evictableAt(cl); return p == 1 }, 10*time.Second, time.Millisecond)
	advance(headerGrace)
	e, p := evictableAt(cl)
	require.Equal(t, 2, e, "a trickling header counts as idle after headerGrace")
	require.Zero(t, p)
}

// TestConnLimiterSkipsUnreadRequests: a waiting connection whose request sits unread in the kernel (the
// server's goroutine has not run yet, as on a loaded machine) is not evicted; the new connection is refused
// instead, and the request is still there to be read.
func TestConnLimiterSkipsUnreadRequests(t *testing.T) {
	t.Parallel()
	cl, err := newConnLimiter(1, prometheus.NewRegistry())
	require.NoError(t, err)
	advance := fakeClock(cl)
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	client, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	raw, err := ln.Accept()
	require.NoError(t, err)
	require.True(t, cl.admit())
	sc := &limitedConn{Conn: raw, l: cl}
	t.Cleanup(func() { _ = sc.Close() })
	cl.connState(sc, http.StateIdle)
	advance(time.Second)

	require.False(t, hasUnreadInput(sc.Conn), "nothing sent yet")
	const request = "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	_, err = io.WriteString(client, request)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hasUnreadInput(sc.Conn) }, 10*time.Second, time.Millisecond,
		"the request arrives in the kernel's buffer")

	require.False(t, cl.admit(), "no connection is idle: the new one is refused")
	require.InDelta(t, 1, testutil.ToFloat64(cl.closed.WithLabelValues("refused")), 0)
	require.Zero(t, testutil.ToFloat64(cl.closed.WithLabelValues("evicted")))
	_ = sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(request))
	_, err = io.ReadFull(sc, got)
	require.NoError(t, err, "the connection is still open")
	require.Equal(t, request, string(got))
	require.False(t, hasUnreadInput(sc.Conn), "read: nothing unread")
}
