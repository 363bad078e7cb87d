package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
)

// tcpProxy forwards connections to a target until it is cut, then can be restored on the same address: a
// database that goes away and comes back, as seen from the server.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0"}
	p.start()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) start() {
	p.t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(p.t.Context(), "tcp", p.addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	})
}

func (p *tcpProxy) forward(client net.Conn) {
	var d net.Dialer
	server, err := d.DialContext(context.Background(), "tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, client, server)
	p.mu.Unlock()
	p.wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	go pipe(server, client)
	go pipe(client, server)
}

// cut closes the listener and every forwarded connection, and waits for the copying goroutines.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func eventBody(id string) []byte {
	return []byte(`{"event_id":"` + id + `","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"habit_completed"}`)
}

// TestDatabaseOutage: PostgreSQL goes away while the server runs. Readiness fails, ingest answers 503 with
// Retry-After (never 500), and when the database comes back the server recovers by itself; the event refused
// during the outage is stored when the client retries.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	dsn, err := url.Parse(pgtest.Schema(t))
	require.NoError(t, err)
	proxy := newTCPProxy(t, dsn.Host)
	dsn.Host = proxy.addr
	s := startServer(t, map[string]string{"DATABASE_URL": dsn.String(), "API_KEYS": "k", "LOG_LEVEL": "error"})

	code, _ := s.status(t, http.MethodPost, "/api/v1/ingest", "k", eventBody("before"))
	require.Equal(t, http.StatusCreated, code)

	proxy.cut()
	code, _ = s.status(t, http.MethodGet, "/readiness", "k", nil)
	require.Equal(t, http.StatusServiceUnavailable, code)
	code, hdr := s.status(t, http.MethodPost, "/api/v1/ingest", "k", eventBody("during"))
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.NotEmpty(t, hdr.Get("Retry-After"))

	proxy.start()
	require.Eventually(t, func() bool {
		code, _ := s.status(t, http.MethodGet, "/readiness", "k", nil)
		return code == http.StatusOK
	}, 2*time.Minute, 50*time.Millisecond, "readiness recovers when the database is back")
	code, _ = s.status(t, http.MethodPost, "/api/v1/ingest", "k", eventBody("during"))
	require.Equal(t, http.StatusCreated, code, "the retried event is stored")

	code, _ = s.status(t, http.MethodGet, "/api/v1/logs/filter?page_size=10", "k", nil)
	require.Equal(t, http.StatusOK, code)
}

// TestUnreachableDatabaseAtStartup: one clear message naming the database, no stack trace.
func TestUnreachableDatabaseAtStartup(t *testing.T) {
	t.Parallel()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	var stderr bytes.Buffer
	err = run(t.Context(), nil, envMap(map[string]string{
		"DATABASE_URL": "postgres://app:secret@" + addr + "/analytics_logs?sslmode=disable", "LOG_LEVEL": "error",
	}), io.Discard, &stderr)
	require.Error(t, err)
	require.Contains(t, err.Error(), "open PostgreSQL at postgres://app:xxxxx@"+addr)
	require.Contains(t, err.Error(), "connection refused")
	require.NotContains(t, err.Error()+stderr.String(), "secret", "the password is never printed")
	require.NotContains(t, err.Error()+stderr.String(), "goroutine ")
	require.NotErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, strings.Count(err.Error(), "open PostgreSQL"))
}
