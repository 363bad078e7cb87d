package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimiter caps the connections the API server holds open (MAX_CONNECTIONS). Its listener counts accepted
// connections until they close, and http.Server.ConnState tells it which ones wait between requests. When a
// connection arrives at the cap, the one idle the longest (keep-alive between requests, or connected for more
// than newConnGrace without sending a request) is closed to make room, so idle connections can never lock
// clients out; when none is idle, the new connection is answered 503 with Retry-After and closed at once
// instead of waiting in the kernel's queue. Every connection is thus bounded: at most max of them, each idle
// one until HTTP_IDLE_TIMEOUT or until a new client needs its place.
//
// Only a truly idle connection is evicted, never one whose next request is on its way in: a connection leaves
// the idle set as soon as the server reads a byte of a request from it (http.Server reports StateActive only
// once the whole header is read), and one whose bytes wait unread in the kernel — the server's goroutine has not
// run yet, as on a CPU-starved machine — is skipped. Closing either would lose a request the client already
// sent, and a client cannot safely resend a POST it does not know was not processed. A request whose header
// still trickles in headerGrace after its first byte (which no honest client does) counts as idle again, so
// trickling cannot hold places beyond that.
type connLimiter struct {
	max     int
	now     func() time.Time
	mu      sync.Mutex
	open    int
	waiting map[*limitedConn]time.Time // idle or new connections, with the time from which they may be evicted

	openGauge prometheus.Gauge
	closed    *prometheus.CounterVec // reason: evicted, refused
}

// newConnGrace is how long a new connection may stay silent before it counts as idle: an honest client sends
// its request right after connecting.
const newConnGrace = time.Second

// headerGrace is how long a connection whose next request has begun to arrive is kept from eviction while its
// header completes: net/http's own rule for when a new connection counts as idle at shutdown.
const headerGrace = 5 * time.Second

// refusalBody is the JSON body of the answer to a connection over the cap.
const refusalBody = `{"success":false,"error":"overloaded","message":"too many connections, retry later",` +
	`"code":"overloaded","retryable":true}` + "\n"

// refusal is the whole answer to a connection over the cap.
var refusal = []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"+
	"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(refusalBody), refusalBody))

func newConnLimiter(maxConns int, reg prometheus.Registerer) (*connLimiter, error) {
	l := &connLimiter{
		max:     maxConns,
		now:     time.Now,
		waiting: make(map[*limitedConn]time.Time),
		openGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logingest_http_open_connections",
			Help: "Connections the API server holds open (at most MAX_CONNECTIONS).",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_http_connections_shed_total",
			Help: "Connections closed because MAX_CONNECTIONS was reached: evicted (idle, to make room) or refused (answered 503).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{l.openGauge, l.closed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	l.closed.WithLabelValues("evicted")
	l.closed.WithLabelValues("refused")
	return l, nil
}

// listener wraps ln so that every connection it accepts counts against the cap.
func (l *connLimiter) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, l: l}
}

// connState is the http.Server ConnState hook.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateIdle:
		l.waiting[lc] = l.now()
		lc.armed.Store(true)
	case http.StateNew:
		l.waiting[lc] = l.now().Add(newConnGrace)
		lc.armed.Store(true)
	default:
		delete(l.waiting, lc)
		lc.armed.Store(false)
	}
}

// requestArriving is called when the first bytes of a request are read from a waiting connection: it may not
// be evicted for headerGrace, by which time the server has the whole header and reports it active.
func (l *connLimiter) requestArriving(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.waiting[c]; ok {
		l.waiting[c] = l.now().Add(headerGrace)
	}
}

// admit reserves a place for a new connection, evicting the longest-waiting idle one at the cap. It returns
// false when every connection is busy.
func (l *connLimiter) admit() bool {
	l.mu.Lock()
	if l.open < l.max {
		l.open++
		l.openGauge.Inc()
		l.mu.Unlock()
		return true
	}
	victim := l.idlest(l.now())
	if victim == nil {
		l.mu.Unlock()
		l.closed.WithLabelValues("refused").Inc()
		return false
	}
	delete(l.waiting, victim)
	victim.armed.Store(false)
	// The victim's place goes to the new connection: count it now, and let the victim's Close give back its own.
	l.open++
	l.openGauge.Inc()
	l.mu.Unlock()
	l.closed.WithLabelValues("evicted").Inc()
	_ = victim.Close()
	return true
}

// idlest returns the connection idle the longest at now that has no request waiting unread in the kernel, or
// nil. A connection with such a request stays in the waiting set: reading it makes it busy. Caller holds l.mu.
func (l *connLimiter) idlest(now time.Time) *limitedConn {
	var skip map[*limitedConn]bool
	for {
		var victim *limitedConn
		var since time.Time
		for c, t := range l.waiting {
			if !t.After(now) && !skip[c] && (victim == nil || t.Before(since)) {
				victim, since = c, t
			}
		}
		if victim == nil || !hasUnreadInput(victim.Conn) {
			return victim
		}
		if skip == nil {
			skip = make(map[*limitedConn]bool)
		}
		skip[victim] = true
	}
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.waiting, c)
	l.open--
	l.openGauge.Dec()
}

type limitedListener struct {
	net.Listener
	l *connLimiter
}

// Accept returns the next connection that fits under the cap; those that do not are answered and closed here.
func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ll.l.admit() {
			return &limitedConn{Conn: c, l: ll.l}, nil
		}
		// A fresh socket's send buffer is empty: the write does not block, but never wait for a client.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(refusal)
		_ = c.Close()
	}
}

type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
	// armed is set while the connection waits (new or idle) and no byte of a request has been read since, so
	// that Read takes the limiter's lock only for the first bytes of each request.
	armed atomic.Bool
}

// Read marks the connection as receiving a request when its first bytes arrive after a wait.
func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.armed.Load() && c.armed.CompareAndSwap(true, false) {
		c.l.requestArriving(c)
	}
	return n, err
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	if errors.Is(err, net.ErrClosed) {
		return nil // evicted first, then closed by the server
	}
	return err
}
