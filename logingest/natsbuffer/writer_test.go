package natsbuffer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// gatedStore passes the first pass Appends through to the shared store; every later one blocks until release
// is closed and then fails, as a write does whose process dies mid-batch.
type gatedStore struct {
	*flakyStore
	pass    int64
	calls   atomic.Int64
	blocked atomic.Int64
	release chan struct{}
}

func (s *gatedStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	if s.calls.Add(1) <= s.pass {
		return s.flakyStore.Append(ctx, events)
	}
	s.blocked.Add(1)
	<-s.release
	return nil, errors.New("conn closed")
}

// countingStore counts, per event id, the Appends that reported the event inserted.
type countingStore struct {
	*flakyStore
	mu       sync.Mutex
	inserted map[string]int
}

func (s *countingStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	res, err := s.flakyStore.Append(ctx, events)
	if err == nil {
		s.mu.Lock()
		for i, r := range res {
			if r.Status == logingest.AppendInserted {
				s.inserted[events[i].EventID]++
			}
		}
		s.mu.Unlock()
	}
	return res, err
}

// runWriter runs a Writer of cfg on nc and store until the returned stop is called (or the test ends).
func runWriter(t *testing.T, nc *nats.Conn, store logingest.Store, cfg *Config) (stop func()) {
	t.Helper()
	w, err := NewWriter(t.Context(), nc, store, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

// streamEventIDs returns the ids of the events in the messages still in b's stream (not acknowledged).
func streamEventIDs(t *testing.T, b *testBundle) map[string]bool {
	t.Helper()
	js, err := jetstream.New(b.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), b.cfg.withDefaults().Stream)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	ids := map[string]bool{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // acknowledged, hence deleted (work-queue stream)
		}
		require.NoError(t, err)
		require.Equal(t, FormatEventsV1, m.Header.Get(HeaderFormat))
		evs, err := decodeEvents(m.Data)
		require.NoError(t, err)
		for _, e := range evs {
			ids[e.EventID] = true
		}
	}
	return ids
}

// storedEventIDs returns the ids of the events of source in s.
func storedEventIDs(t *testing.T, s logingest.Store, source string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	f := logingest.Filter{Source: source, Limit: logingest.MaxQueryLimit, SkipTotal: true}
	for {
		p, err := s.Query(t.Context(), f)
		require.NoError(t, err)
		for _, e := range p.Events {
			require.False(t, ids[e.EventID], "event %s stored twice", e.EventID)
			ids[e.EventID] = true
		}
		if p.NextCursor == "" {
			return ids
		}
		f.After = p.NextCursor
	}
}

// TestConcurrentAppendersCrashExactlyOnce: a Writer with three appenders has three Appends running at once
// (and a fourth batch fetched) when its process dies mid-batch: connection closed, context cancelled, the
// writes failing. At that moment every event is either stored or still in the stream (no message was
// acknowledged before its batch committed), and a second Writer then stores every event exactly once.
func TestConcurrentAppendersCrashExactlyOnce(t *testing.T) {
	t.Parallel()
	const requests, perRequest, appenders = 40, 25, 3
	pub, b := setupBuffer(t, &Config{
		BatchSize: 50, Appenders: appenders, AckWait: time.Second,
		WriteTimeout: 500 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond,
	})
	want := map[string]bool{}
	for i := range requests {
		evs := events(fmt.Sprintf("x%d", i), perRequest)
		res, err := pub.Ingest(t.Context(), "app", evs)
		require.NoError(t, err)
		require.Equal(t, perRequest, res.Accepted)
		for _, e := range evs {
			want[e.EventID] = true
		}
	}

	// Writer A commits two batches, then its next Appends hang: wait until every appender holds one.
	a := &gatedStore{flakyStore: b.store, pass: 2, release: make(chan struct{})}
	ncA, err := nats.Connect(b.nc.ConnectedUrl())
	require.NoError(t, err)
	stopA := runWriter(t, ncA, a, b.cfg)
	eventually(t, "every appender of writer A is writing", func() bool { return a.blocked.Load() == appenders })
	before := stored(t, b.store, "app")
	require.Positive(t, before, "two batches committed before the crash")

	// The process dies: connection gone, context cancelled, the writes in flight fail.
	ncA.Close()
	stopDone := make(chan struct{})
	go func() { stopA(); close(stopDone) }()
	close(a.release)
	<-stopDone
	require.Equal(t, before, stored(t, b.store, "app"), "nothing committed after the crash")

	// Acknowledged implies committed: what is not stored is still in the stream.
	inStream := streamEventIDs(t, b)
	for id := range storedEventIDs(t, b.store, "app") {
		inStream[id] = true
	}
	require.Equal(t, want, inStream, "every event is stored or still in the stream")

	// Writer B gets the unacknowledged messages after AckWait and stores each event once.
	counting := &countingStore{flakyStore: b.store, inserted: map[string]int{}}
	runWriter(t, b.nc, counting, b.cfg)
	eventually(t, "writer B stored everything", func() bool { return stored(t, b.store, "app") == requests*perRequest })
	require.Equal(t, want, storedEventIDs(t, b.store, "app"))
	counting.mu.Lock()
	defer counting.mu.Unlock()
	for id, n := range counting.inserted {
		require.Equal(t, 1, n, "event %s inserted %d times", id, n)
	}
	require.Positive(t, testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_redeliveries_total", "")))
	eventually(t, "lag is zero", func() bool { return gauge(t, b.reg, "logingest_buffer_lag_events") == 0 })
}

// TestConcurrentAppendersStoreEveryEventOnce: with several appenders per fetch loop and two Writers, every
// published event is stored once and every message acknowledged.
func TestConcurrentAppendersStoreEveryEventOnce(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, &Config{BatchSize: 100, Appenders: 4})
	counting := &countingStore{flakyStore: b.store, inserted: map[string]int{}}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				_, err := pub.Ingest(t.Context(), "app", events(fmt.Sprintf("g%d-%d", g, i), 20))
				require.NoError(t, err)
			}
		})
	}
	runWriter(t, b.nc, counting, b.cfg)
	runWriter(t, b.nc, counting, b.cfg)
	wg.Wait()
	eventually(t, "everything stored", func() bool { return stored(t, b.store, "app") == 4*25*20 })
	eventually(t, "lag is zero", func() bool { return gauge(t, b.reg, "logingest_buffer_lag_events") == 0 })
	counting.mu.Lock()
	defer counting.mu.Unlock()
	require.Len(t, counting.inserted, 4*25*20)
	for id, n := range counting.inserted {
		require.Equal(t, 1, n, "event %s inserted %d times", id, n)
	}
}
