package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// proc is a logserver process (`serve` or `consume`) started from the binary the test built: a real process,
// so the test can kill it with SIGKILL.
type proc struct {
	name   string
	url    string // http://127.0.0.1:port, from the line the process prints once it listens
	cmd    *exec.Cmd
	stderr *bytes.Buffer // read only after exited is closed
	exited chan struct{} // closed when the process has exited
}

// procURLRE matches the line `serve` (listening on …) and `consume` (metrics on …/metrics) print on stdout.
var procURLRE = regexp.MustCompile(`(?:listening on|metrics on) (http://[^/\s]+)`)

// startProc starts bin with the subcommand sub on a free loopback port and waits, up to 60 s, until it listens.
// It is killed when the test ends (SIGKILL, and Pdeathsig if the test binary dies first); its stderr is logged
// when the test failed.
func startProc(t *testing.T, bin, name, sub string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, sub)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=0", "HOST=127.0.0.1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir() // no .env from the repository
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &proc{name: name, cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := procURLRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s (%s) stderr:\n%s", name, cmd.ProcessState, tail(p.stderr.String(), 4000))
		}
	})
	select {
	case p.url = <-urls:
	case <-p.exited:
		t.Fatalf("%s exited before listening: %s", name, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start within 60s", name)
	}
	return p
}

// kill sends SIGKILL (kill -9) and waits for the process to exit.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit after SIGKILL", p.name)
	}
}

// stop sends SIGINT and requires a clean exit within 30 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	select {
	case <-p.exited:
		require.True(t, p.cmd.ProcessState.Success(), "%s exited %s: %s", p.name, p.cmd.ProcessState,
			tail(p.stderr.String(), 4000))
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30s of SIGINT", p.name)
	}
}

// TestBufferClusterSurvivesFailures is the buffer mode's proof: a three-node JetStream cluster (stream
// replicas 3), two logserver replicas (`logserver serve`), two writers (`logserver consume`), all real
// processes, and PostgreSQL behind a TCP proxy. Clients send through the Go client and a round-robin balancer at
// a steady rate while one NATS node, one replica and one writer are killed with SIGKILL, and PostgreSQL is cut
// off for 10 s; the writer is killed during the outage, while the writers hold fetched batches they cannot
// commit, so its batch must be redelivered to the other writer. Afterwards every event a client saw
// acknowledged is stored exactly once, and no request was answered 5xx while the database was away. Each phase
// waits on a condition (events acknowledged, stored, in flight) with a deadline, and logs its time and counts.
func TestBufferClusterSurvivesFailures(t *testing.T) {
	t.Parallel()
	began := time.Now()
	bin := hostileBinary(t)
	schemaDSN := pgtest.Schema(t)
	dsn, err := url.Parse(schemaDSN)
	require.NoError(t, err)
	proxy := newTCPProxy(t, dsn.Host)
	dsn.Host = proxy.addr
	nats := natstest.Start(t, 3)

	const key = "cluster-key"
	env := map[string]string{
		"DATABASE_URL": dsn.String(), "API_KEYS": key, "LOG_LEVEL": "warn",
		"INGEST_BUFFER": nats.URLs(), "INGEST_BUFFER_REPLICAS": "3", "INGEST_BUFFER_WRITERS": "0",
		"INGEST_BUFFER_ACK_WAIT": "4s", "INGEST_BUFFER_BATCH": "500",
		"RATE_LIMIT_REQUESTS_PER_MINUTE": "0", "RATE_LIMIT_EVENTS_PER_MINUTE": "0",
	}
	// The first replica creates the stream; the others find it.
	replicaA := startProc(t, bin, "replica A", "serve", copyEnv(env))
	replicaB := startProc(t, bin, "replica B", "serve", copyEnv(env))
	writer1 := startProc(t, bin, "writer 1", "consume", copyEnv(env)) // runs to the end
	writer2 := startProc(t, bin, "writer 2", "consume", copyEnv(env))

	rr := &roundRobin{}
	for _, s := range []*proc{replicaA, replicaB} {
		u, err := url.Parse(s.url)
		require.NoError(t, err)
		rr.hosts = append(rr.hosts, u.Host)
	}
	var (
		mu    sync.Mutex
		acked = map[string]int{}
		bad   []client.Result
	)
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	// Straight to PostgreSQL, not through the proxy.
	conn, err := pgx.Connect(t.Context(), schemaDSN)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	stored := func() (total, distinct int64) {
		err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT event_id) FROM analytics_logs WHERE source = $1`,
			logingest.DefaultSource).Scan(&total, &distinct)
		require.NoError(t, err)
		return total, distinct
	}
	js := jetStream(t, nats.URLs())
	ackPending := func() int {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, "LOGINGEST", "logingest-writers")
		if err != nil {
			return 0
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0
		}
		return info.NumAckPending
	}
	phase := func(what string) {
		total, _ := stored()
		t.Logf("%6.1fs %-58s acked %6d  stored %6d", time.Since(began).Seconds(), what, ackedCount(), total)
	}
	// waitUntil polls cond every 50 ms; the test fails if it does not hold within d.
	waitUntil := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		require.Eventually(t, cond, d, 50*time.Millisecond, what)
	}
	// moreAcked waits until n more events than now are acknowledged: the load goes on through what just happened.
	moreAcked := func(n int, what string) {
		t.Helper()
		from := ackedCount()
		waitUntil(30*time.Second, what, func() bool { return ackedCount() >= from+n })
	}
	phase("NATS cluster, schema, 2 replicas and 2 writers started")

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
	t.Cleanup(stopLoad)

	waitUntil(30*time.Second, "load flows end to end", func() bool {
		total, _ := stored()
		return ackedCount() >= 300 && total >= 100
	})
	phase("load flows: events acknowledged and stored")

	nats.Kill(t, 2)
	phase("kill -9 NATS node n2")
	moreAcked(300, "acknowledgements go on without NATS node n2")
	phase("load goes on with two NATS nodes")

	replicaB.kill(t)
	phase("kill -9 replica B")
	moreAcked(300, "acknowledgements go on through replica A alone")
	phase("load goes on through replica A")

	outageStart := time.Now()
	sentAtCut := sent.Load()
	proxy.cut()
	phase("PostgreSQL cut for 10s")
	// Events acknowledged from now on wait in the stream; the writers hold fetched batches they cannot commit.
	waitUntil(8*time.Second, "the writers hold batches during the outage", func() bool {
		return ackPending() > 0
	})
	pending := ackPending()
	writer2.kill(t)
	phase(fmt.Sprintf("kill -9 writer 2 (%d messages in flight to the writers)", pending))
	outageEnd := outageStart.Add(10 * time.Second)
	select { // the outage lasts 10 s: a duration the issue asks for, not a synchronisation
	case <-time.After(time.Until(outageEnd)):
	case <-t.Context().Done():
	}
	storedAtRestore, _ := stored()
	sentAtRestore := sent.Load()
	proxy.start()
	outageEnd = time.Now()
	phase("PostgreSQL is back")
	moreAcked(300, "acknowledgements go on after the outage")
	stopLoad()
	load.Wait()
	for _, c := range clients {
		cctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		require.NoError(t, c.Close(cctx), "every event sent is answered")
		cancel()
	}
	phase("load stopped, clients closed: every event answered")

	mu.Lock()
	require.Empty(t, bad, "no event failed or was rejected")
	require.Len(t, acked, int(sent.Load()), "every event sent was acknowledged")
	for id, n := range acked {
		if n != 1 {
			t.Fatalf("event %s has %d results, want 1", id, n)
		}
	}
	mu.Unlock()

	// Every acknowledged event reaches PostgreSQL exactly once, once the remaining writer caught up (it takes
	// over writer 2's batch after INGEST_BUFFER_ACK_WAIT).
	var total, distinct int64
	waitUntil(60*time.Second, "the writers store every acknowledged event", func() bool {
		total, distinct = stored()
		return total >= int64(len(acked))
	})
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
	redelivered := counterValue(t, writer1.url+"/metrics", "logingest_buffer_redeliveries_total")

	rr.mu.Lock()
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
	rr.mu.Unlock()
	t.Logf("%d events sent and stored once (%d during the outage); %d requests, %d answered 201 during the outage, "+
		"%d answered 5xx (all outside it); writer 1 saw %.0f redeliveries", len(acked), sentAtRestore-sentAtCut, all,
		createdDuring, fivexx, redelivered)
	require.Zero(t, during, "no 5xx while PostgreSQL was away")
	require.Positive(t, createdDuring, "ingest kept answering 201 while PostgreSQL was away")
	require.Greater(t, sentAtRestore, sentAtCut, "the clients kept sending during the outage")
	require.LessOrEqual(t, storedAtRestore, sentAtCut, "nothing sent during the outage reached PostgreSQL before it returned")
	replicaA.stop(t)
	writer1.stop(t)
	phase("replica A and writer 1 stopped cleanly")
}

// jetStream connects to the cluster for the test's own look at the stream and consumer.
func jetStream(t *testing.T, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := natsgo.Connect(urls, natsgo.MaxReconnects(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// counterValue returns the sum of a counter's series on a Prometheus text endpoint.
func counterValue(t *testing.T, url, name string) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var sum float64
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, name) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		require.NoError(t, err, line)
		sum += v
	}
	return sum
}

func copyEnv(m map[string]string) map[string]string {
	return maps.Clone(m)
}
