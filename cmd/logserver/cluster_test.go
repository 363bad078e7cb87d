package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/natstest"
	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/client"
)

// roundRobin sends each request to the next replica, like a load balancer without health checks, and records
// every answer's status with its time.
type roundRobin struct {
	hosts []string
	n     atomic.Int64

	mu      sync.Mutex
	answers []answer
}

type answer struct {
	at     time.Time
	status int
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = rr.hosts[int(rr.n.Add(1))%len(rr.hosts)]
	r.Host = r.URL.Host
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		rr.mu.Lock()
		rr.answers = append(rr.answers, answer{time.Now(), resp.StatusCode})
		rr.mu.Unlock()
	}
	return resp, err
}

// consumer runs `logserver consume` in-process until stop is called.
type consumer struct {
	stop context.CancelFunc
	done chan error
}

func startConsumer(t *testing.T, env map[string]string) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{stop: cancel, done: make(chan error, 1)}
	e := map[string]string{"PORT": "0", "HOST": "127.0.0.1"}
	maps.Copy(e, env)
	go func() { c.done <- run(ctx, []string{"consume"}, envMap(e), io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			require.NoError(t, err)
			c.done <- nil
		case <-time.After(30 * time.Second):
			t.Error("consume did not stop within 30s")
		}
	})
	return c
}

// TestBufferClusterSurvivesFailures is the buffer mode's proof: a three-node JetStream cluster (stream
// replicas 3), two logserver replicas, two writers (`logserver consume`) and PostgreSQL behind a TCP proxy.
// Clients send through the Go client at a steady rate while one NATS node is killed with SIGKILL, one replica
// and one writer are stopped, and PostgreSQL is cut off for 10 s. Afterwards every event a client saw
// acknowledged is stored exactly once, and no request was answered 5xx while the database was away.
func TestBufferClusterSurvivesFailures(t *testing.T) {
	t.Parallel()
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	schemaDSN := pgtest.Schema(t)
	dsn, err := url.Parse(schemaDSN)
	require.NoError(t, err)
	proxy := newTCPProxy(t, dsn.Host)
	dsn.Host = proxy.addr
	nats := natstest.Start(t, 3)

	const key = "cluster-key"
	env := map[string]string{
		"DATABASE_URL": dsn.String(), "API_KEYS": key, "LOG_LEVEL": "error",
		"INGEST_BUFFER": nats.URLs(), "INGEST_BUFFER_REPLICAS": "3", "INGEST_BUFFER_WRITERS": "0",
		"INGEST_BUFFER_ACK_WAIT": "4s", "INGEST_BUFFER_BATCH": "500",
		"RATE_LIMIT_REQUESTS_PER_MINUTE": "0", "RATE_LIMIT_EVENTS_PER_MINUTE": "0",
	}
	phase("NATS cluster and PostgreSQL schema ready")
	replicaA := startServer(t, copyEnv(env))
	replicaB := startServer(t, copyEnv(env))
	writer1 := startConsumer(t, env) // runs to the end
	writer2 := startConsumer(t, env)

	phase("replicas and writers started")
	rr := &roundRobin{}
	for _, s := range []*server{replicaA, replicaB} {
		u, err := url.Parse(s.url)
		require.NoError(t, err)
		rr.hosts = append(rr.hosts, u.Host)
	}
	var (
		mu    sync.Mutex
		acked = map[string]int{}
		bad   []client.Result
	)
	newClient := func() *client.Client {
		c, err := client.New("http://lb.invalid", &client.Config{
			APIKey:         key,
			HTTPClient:     &http.Client{Transport: rr, Timeout: 5 * time.Second},
			MaxBatchEvents: 50, FlushInterval: 50 * time.Millisecond,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
			Logger: slog.New(slog.DiscardHandler),
			OnResult: func(r client.Result) {
				mu.Lock()
				defer mu.Unlock()
				if r.Status == logingest.StatusAccepted || r.Status == logingest.StatusDuplicate {
					acked[r.EventID]++
				} else {
					bad = append(bad, r)
				}
			},
		})
		require.NoError(t, err)
		return c
	}

	// Two clients, each sending 200 events/s until stopLoad.
	loadCtx, stopLoad := context.WithCancel(t.Context())
	var load sync.WaitGroup
	var sent atomic.Int64
	clients := []*client.Client{newClient(), newClient()}
	for ci, c := range clients {
		load.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
				}
				e := logingest.Event{
					EventID: fmt.Sprintf("c%d-%06d", ci, i), Timestamp: time.Now().Add(-time.Second).UTC(),
					EventType: logingest.EventTypeBehavioral, EventName: "cluster_load",
					Properties: []byte(`{"client":` + fmt.Sprint(ci) + `}`),
				}
				if err := c.Send(loadCtx, e); err != nil {
					return
				}
				sent.Add(1)
			}
		})
	}
	waitFor := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-t.Context().Done():
		}
	}

	waitFor(3 * time.Second)
	phase("kill -9 NATS node n2")
	nats.Kill(t, 2)
	waitFor(4 * time.Second)
	phase("stop replica B and writer 2")
	replicaB.shutdown(t)
	writer2.stop()
	require.NoError(t, <-writer2.done)
	writer2.done <- nil
	waitFor(2 * time.Second)

	phase("cut PostgreSQL for 10s")
	outageStart := time.Now()
	sentAtCut := sent.Load()
	proxy.cut()
	waitFor(10 * time.Second)
	// Straight to PostgreSQL, not through the proxy: the events accepted during the outage wait in the stream.
	var storedAtRestore int64
	require.NoError(t, pgxCount(t, schemaDSN, &storedAtRestore))
	sentAtRestore := sent.Load()
	proxy.start()
	outageEnd := time.Now()
	phase("PostgreSQL is back")
	waitFor(2 * time.Second)
	stopLoad()
	load.Wait()
	for _, c := range clients {
		cctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		require.NoError(t, c.Close(cctx), "every event sent is answered")
		cancel()
	}

	phase("clients closed: every event answered")
	mu.Lock()
	require.Empty(t, bad, "no event failed or was rejected")
	require.Len(t, acked, int(sent.Load()), "every event sent was acknowledged")
	for id, n := range acked {
		if n != 1 {
			t.Fatalf("event %s has %d results, want 1", id, n)
		}
	}
	mu.Unlock()

	// Every acknowledged event reaches PostgreSQL exactly once, once the remaining writer caught up.
	conn, err := pgx.Connect(t.Context(), schemaDSN)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var total, distinct int64
	require.Eventually(t, func() bool {
		err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT event_id) FROM analytics_logs WHERE source = $1`,
			logingest.DefaultSource).Scan(&total, &distinct)
		require.NoError(t, err)
		return total >= int64(len(acked))
	}, 60*time.Second, 100*time.Millisecond, "the writers store every acknowledged event")
	phase("every acknowledged event stored")
	require.Equal(t, int64(len(acked)), total, "stored exactly the acknowledged events")
	require.Equal(t, total, distinct, "each exactly once")
	rows, err := conn.Query(t.Context(), `SELECT event_id FROM analytics_logs WHERE source = $1`, logingest.DefaultSource)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, id := range ids {
		if _, ok := acked[id]; !ok {
			t.Fatalf("stored event %s was never acknowledged", id)
		}
	}

	rr.mu.Lock()
	defer rr.mu.Unlock()
	var during, createdDuring, fivexx, all int
	for _, a := range rr.answers {
		all++
		inOutage := !a.at.Before(outageStart) && !a.at.After(outageEnd)
		if a.status >= 500 {
			fivexx++
			if inOutage {
				during++
			}
		}
		if a.status == http.StatusCreated && inOutage {
			createdDuring++
		}
	}
	t.Logf("%d events sent and stored once (%d during the outage); %d requests, %d answered 201 during the outage, "+
		"%d answered 5xx (all outside it)", len(acked), sentAtRestore-sentAtCut, all, createdDuring, fivexx)
	require.Zero(t, during, "no 5xx while PostgreSQL was away")
	require.Positive(t, createdDuring, "ingest kept answering 201 while PostgreSQL was away")
	require.Greater(t, sentAtRestore, sentAtCut, "the clients kept sending during the outage")
	require.LessOrEqual(t, storedAtRestore, sentAtCut, "nothing sent during the outage reached PostgreSQL before it returned")
	replicaA.shutdown(t)
	phase("replica A stopped")
	writer1.stop()
	require.NoError(t, <-writer1.done)
	writer1.done <- nil
	phase("writer 1 stopped")
}

func copyEnv(m map[string]string) map[string]string {
	return maps.Clone(m)
}

func pgxCount(t *testing.T, dsn string, n *int64) error {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(t.Context(), `SELECT count(*) FROM analytics_logs`).Scan(n)
}
