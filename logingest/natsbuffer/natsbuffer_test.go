package natsbuffer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/natstest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// testBundle is one buffer on its own nats-server.
type testBundle struct {
	nc    *nats.Conn
	cfg   *Config
	store *flakyStore
	reg   *prometheus.Registry
}

func setupBuffer(t testing.TB, cfg *Config) (*Publisher, *testBundle) {
	t.Helper()
	return setupCluster(t, 1, cfg)
}

// setupCluster is setupBuffer on a cluster of n nodes.
func setupCluster(t testing.TB, n int, cfg *Config) (*Publisher, *testBundle) {
	t.Helper()
	cluster := natstest.Start(t, n)
	nc, err := nats.Connect(cluster.URLs())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	if cfg == nil {
		cfg = &Config{}
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	reg := prometheus.NewPedanticRegistry()
	cfg.Registerer = reg
	val, err := logingest.NewValidator(nil)
	require.NoError(t, err)
	pub, err := NewPublisher(t.Context(), nc, val, cfg)
	require.NoError(t, err)
	return pub, &testBundle{nc: nc, cfg: cfg, store: &flakyStore{Store: memstore.New()}, reg: reg}
}

// startWriter runs a Writer on b's store until the test ends.
func startWriter(t testing.TB, b *testBundle, nc *nats.Conn) (stop func()) {
	t.Helper()
	w, err := NewWriter(t.Context(), nc, b.store, b.cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// flakyStore refuses events named "poison" as invalid, fails every write holding an event named "stuck" while
// stuck is set (with an error that is not ErrInvalid, the database still answering pings), and fails every
// write and ping while down is set.
type flakyStore struct {
	*memstore.Store
	down    atomic.Bool
	stuck   atomic.Bool
	appends atomic.Int64
}

func (s *flakyStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	s.appends.Add(1)
	if s.down.Load() {
		return nil, errors.New("database is down")
	}
	for _, e := range events {
		if e.EventName == "poison" {
			return nil, fmt.Errorf("value out of range for the column: %w", logingest.ErrInvalid)
		}
		if e.EventName == "stuck" && s.stuck.Load() {
			return nil, errors.New("deadlock detected")
		}
	}
	return s.Store.Append(ctx, events)
}

func (s *flakyStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return errors.New("database is down")
	}
	return s.Store.Ping(ctx)
}

func events(prefix string, n int) []logingest.Event {
	out := make([]logingest.Event, n)
	for i := range out {
		out[i] = logingest.Event{
			EventID:    fmt.Sprintf("%s-%d", prefix, i),
			Timestamp:  time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond),
			EventType:  logingest.EventTypeBehavioral,
			EventName:  "screen_view",
			Properties: []byte(`{"screen":"home","n":1}`),
			UserID:     "u1",
		}
	}
	return out
}

// stored returns how many events of source the store holds.
func stored(t *testing.T, s logingest.Store, source string) int64 {
	t.Helper()
	p, err := s.Query(t.Context(), logingest.Filter{Source: source, Limit: 1})
	require.NoError(t, err)
	return p.Total
}

// eventually polls cond every 20 ms until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishThenWrite(t *testing.T) {
	t.Parallel()
	for _, perEvent := range []bool{false, true} {
		t.Run(fmt.Sprintf("PerEventMessages=%v", perEvent), func(t *testing.T) {
			t.Parallel()
			pub, b := setupBuffer(t, &Config{PerEventMessages: perEvent})
			evs := events("a", 50)
			evs = append(evs, evs[3]) // repeated inside the request
			bad := events("bad", 1)[0]
			bad.EventType = "nonsense"
			evs = append(evs, bad)

			res, err := pub.Ingest(t.Context(), "app-a", evs)
			require.NoError(t, err)
			require.Equal(t, 50, res.Accepted)
			require.Equal(t, 1, res.Duplicates)
			require.Equal(t, 1, res.Rejected)
			require.Equal(t, logingest.StatusDuplicate, res.Results[50].Status)
			require.Equal(t, logingest.StatusRejected, res.Results[51].Status)
			require.Equal(t, "event_type", res.Results[51].Errors[0].Field)
			require.Zero(t, res.Results[0].ID, "ids are assigned by the writer's commit, after the answer")

			// Accepted means in the stream, not yet in the store.
			require.Equal(t, int64(0), stored(t, b.store, "app-a"))
			startWriter(t, b, b.nc)
			eventually(t, "50 events are stored", func() bool { return stored(t, b.store, "app-a") == 50 })

			// A resend of the same request within the window is a duplicate, event by event.
			res, err = pub.Ingest(t.Context(), "app-a", evs)
			require.NoError(t, err)
			require.Equal(t, 51, res.Duplicates)
			require.Equal(t, 1, res.Rejected)
			// The same event ids in another source are new.
			res, err = pub.Ingest(t.Context(), "app-b", evs[:10])
			require.NoError(t, err)
			require.Equal(t, 10, res.Accepted)
			eventually(t, "app-b's events are stored", func() bool { return stored(t, b.store, "app-b") == 10 })

			// Events resent in a different batch: per-event messages recognise each; batch messages leave
			// them to the store, which keeps the first copy.
			res, err = pub.Ingest(t.Context(), "app-a", evs[:10])
			require.NoError(t, err)
			if perEvent {
				require.Equal(t, 10, res.Duplicates)
			} else {
				require.Equal(t, 10, res.Accepted)
				eventually(t, "the writer counted the 10 repeats as duplicates", func() bool {
					return testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_written_events_total", "duplicate")) == 10
				})
			}
			require.Equal(t, int64(50), stored(t, b.store, "app-a"))

			// The stored copy is the stamped event, round-tripped through the stream.
			p, err := b.store.Query(t.Context(), logingest.Filter{Source: "app-a", EventName: "screen_view", Limit: 1000})
			require.NoError(t, err)
			require.Len(t, p.Events, 50)
			got := p.Events[0]
			require.Equal(t, "app-a", got.Source)
			require.False(t, got.ReceivedAt.IsZero())
			require.JSONEq(t, `{"screen":"home","n":1}`, string(got.Properties))
			require.InDelta(t, 60.0, testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_written_events_total", "inserted")), 0)
		})
	}
}

// TestBatchMessagesStayUnderMaxPayload: a request larger than the server's max payload is split into several
// messages, every event is stored, and a resend of the request is still a duplicate throughout.
func TestBatchMessagesStayUnderMaxPayload(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, nil)
	evs := events("big", 300)
	blob := `{"blob":"` + strings.Repeat("x", 8000) + `"}`
	for i := range evs {
		evs[i].Properties = []byte(blob)
	}
	require.Greater(t, 300*8000, int(b.nc.MaxPayload()), "the request is larger than one message may be")
	res, err := pub.Ingest(t.Context(), "app", evs)
	require.NoError(t, err)
	require.Equal(t, 300, res.Accepted)
	require.Greater(t, streamMsgs(t, b), uint64(1))
	res, err = pub.Ingest(t.Context(), "app", evs)
	require.NoError(t, err)
	require.Equal(t, 300, res.Duplicates)
	startWriter(t, b, b.nc)
	eventually(t, "300 events are stored", func() bool { return stored(t, b.store, "app") == 300 })
}

// TestWriterReadsPerEventMessages: a stream filled by per-event publishers (older releases) drains through
// writers of the batch format, mixed with batch messages.
func TestWriterReadsPerEventMessages(t *testing.T) {
	t.Parallel()
	old, b := setupBuffer(t, &Config{PerEventMessages: true})
	_, err := old.Ingest(t.Context(), "app", events("old", 30))
	require.NoError(t, err)
	val, err := logingest.NewValidator(nil)
	require.NoError(t, err)
	cur, err := NewPublisher(t.Context(), b.nc, val, &Config{Logger: b.cfg.Logger})
	require.NoError(t, err)
	_, err = cur.Ingest(t.Context(), "app", events("new", 30))
	require.NoError(t, err)
	require.Equal(t, uint64(31), streamMsgs(t, b), "30 event messages and 1 batch message")
	startWriter(t, b, b.nc)
	eventually(t, "60 events are stored", func() bool { return stored(t, b.store, "app") == 60 })
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, &Config{BatchSize: 100})
	evs := events("d", 20)
	evs[4].EventName = "poison"
	evs[17].EventName = "poison"
	res, err := pub.Ingest(t.Context(), "app", evs)
	require.NoError(t, err)
	require.Equal(t, 20, res.Accepted)
	// A message no writer can decode, published by someone else on the subject.
	_, err = b.nc.Request(b.cfg.withDefaults().Subject, []byte("not json"), 5*time.Second)
	require.NoError(t, err)

	startWriter(t, b, b.nc)
	eventually(t, "18 events are stored", func() bool { return stored(t, b.store, "app") == 18 })
	var total uint64
	var page []DeadLetter
	eventually(t, "3 dead letters", func() bool {
		total, page, err = DeadLetters(t.Context(), b.nc, b.cfg, 0, 10)
		require.NoError(t, err)
		return total == 3
	})
	require.Len(t, page, 3)
	ids := map[string]string{}
	for _, dl := range page {
		ids[dl.EventID] = dl.Reason
	}
	require.Contains(t, ids["d-4"], "value out of range")
	require.Contains(t, ids["d-17"], "value out of range")
	require.Contains(t, ids[""], "undecodable")
	// Paging: after the first, two remain.
	_, rest, err := DeadLetters(t.Context(), b.nc, b.cfg, page[0].Seq, 10)
	require.NoError(t, err)
	require.Len(t, rest, 2)
	require.InDelta(t, 2.0, testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_dead_letters_total", "invalid")), 0)
	// Nothing is left behind: the poison never blocked the stream.
	eventually(t, "the stream is empty", func() bool { return gauge(t, b.reg, "logingest_buffer_stream_events") == 0 })
}

func TestStoreOutageIsAbsorbed(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, &Config{MaxRetryDelay: 200 * time.Millisecond})
	b.store.down.Store(true)
	startWriter(t, b, b.nc)
	for i := range 5 {
		res, err := pub.Ingest(t.Context(), "app", events(fmt.Sprintf("o%d", i), 100))
		require.NoError(t, err, "ingest must not see the store outage")
		require.Equal(t, 100, res.Accepted)
	}
	eventually(t, "the writer has failed a few times", func() bool { return b.store.appends.Load() >= 3 })
	require.Equal(t, int64(0), stored(t, b.store, "app"))
	require.Greater(t, gauge(t, b.reg, "logingest_buffer_lag_events"), 0.0)
	b.store.down.Store(false)
	eventually(t, "the writer caught up", func() bool { return stored(t, b.store, "app") == 500 })
	eventually(t, "lag is zero", func() bool { return gauge(t, b.reg, "logingest_buffer_lag_events") == 0 })
	require.Positive(t, testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_write_errors_total", "")))
}

func TestStreamFullAnswersOverloaded(t *testing.T) {
	t.Parallel()
	pub, _ := setupBuffer(t, &Config{MaxBytes: 1 << 20})
	big := events("big", 1)[0]
	big.Properties = []byte(`{"blob":"` + strings.Repeat("x", 30000) + `"}`)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		e := big
		e.EventID = fmt.Sprintf("big-%d", i)
		_, err = pub.Ingest(t.Context(), "app", []logingest.Event{e})
	}
	require.ErrorIs(t, err, logingest.ErrOverloaded)
	require.NotErrorIs(t, err, logingest.ErrUnavailable)
}

func TestCrashedWriterIsRedelivered(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, &Config{AckWait: time.Second, WriteTimeout: 500 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond})
	res, err := pub.Ingest(t.Context(), "app", events("c", 40))
	require.NoError(t, err)
	require.Equal(t, 40, res.Accepted)

	// Writer A takes the batch but cannot write it, then its process dies (connection gone, no ack).
	b.store.down.Store(true)
	ncA, err := nats.Connect(b.nc.ConnectedUrl())
	require.NoError(t, err)
	stopA := startWriter(t, b, ncA)
	eventually(t, "writer A holds the batch", func() bool { return b.store.appends.Load() >= 1 })
	ncA.Close()
	stopA()
	b.store.down.Store(false)

	startWriter(t, b, b.nc)
	eventually(t, "writer B stored everything", func() bool { return stored(t, b.store, "app") == 40 })
	require.Positive(t, testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_redeliveries_total", "")))
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, nil)
	startWriter(t, b, b.nc)
	_, err := pub.Ingest(t.Context(), "app", events("m", 1))
	require.NoError(t, err)
	problems, err := testutil.GatherAndLint(b.reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestMsgIDIsPerSourceAndEvent(t *testing.T) {
	t.Parallel()
	// sha256(uvarint(len(source)) + source + event_id), first 128 bits; stable across releases, so resends after
	// an upgrade still match.
	require.Equal(t, "39fa52aada797b86", msgID("a", "1")[:16])
	require.NotEqual(t, msgID("a", "1"), msgID("b", "1"))
	require.NotEqual(t, msgID("a\x001", ""), msgID("a", "1\x00"))
	require.Len(t, msgID(strings.Repeat("s", 500), "\n\r: x"), 32)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, (*Config)(nil).withDefaults().validate())
	c := (&Config{AckWait: time.Second, WriteTimeout: 2 * time.Second}).withDefaults()
	require.ErrorContains(t, c.validate(), "WriteTimeout must be shorter than AckWait")
	c = (&Config{Subject: "x", DeadLetterSubject: "x"}).withDefaults()
	require.ErrorContains(t, c.validate(), "DeadLetterSubject")
}

// streamMsgs returns how many messages b's stream holds.
func streamMsgs(t *testing.T, b *testBundle) uint64 {
	t.Helper()
	js, err := jetstream.New(b.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), b.cfg.withDefaults().Stream)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

// TestStuckMessageDoesNotHoldTheWriter: a write that keeps failing with an error that is not ErrInvalid while
// the store answers pings is split by message; the other messages are stored, the failing one is handed back
// for a delayed retry (counted, alerting), never dropped, and stored once the store accepts it.
func TestStuckMessageDoesNotHoldTheWriter(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, &Config{MaxRetryDelay: 50 * time.Millisecond, BatchSize: 1000})
	b.store.stuck.Store(true)
	stuck := events("stuck", 1)
	stuck[0].EventName = "stuck"
	_, err := pub.Ingest(t.Context(), "app", stuck)
	require.NoError(t, err)
	for i := range 4 {
		_, err := pub.Ingest(t.Context(), "app", events(fmt.Sprintf("ok%d", i), 25))
		require.NoError(t, err)
	}
	startWriter(t, b, b.nc)
	eventually(t, "the 100 other events are stored", func() bool { return stored(t, b.store, "app") == 100 })
	eventually(t, "the stuck message was retried later twice", func() bool {
		return testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_retry_later_messages_total", "")) >= 2
	})
	require.Positive(t, testutil.ToFloat64(counterWith(t, b.reg, "logingest_buffer_write_errors_total", "")))
	require.Positive(t, gauge(t, b.reg, "logingest_buffer_lag_events"), "the stuck message is still in the buffer")
	b.store.stuck.Store(false)
	eventually(t, "the stuck event is stored", func() bool { return stored(t, b.store, "app") == 101 })
	eventually(t, "lag is zero", func() bool { return gauge(t, b.reg, "logingest_buffer_lag_events") == 0 })
	require.Zero(t, gauge(t, b.reg, "logingest_buffer_write_failing_batches"))
}

var collectMu sync.Mutex

// counterWith returns the collector of metric name with label value (any label when empty) from reg.
func counterWith(t testing.TB, reg *prometheus.Registry, name, label string) prometheus.Collector {
	t.Helper()
	return gaugeFunc(func() float64 {
		collectMu.Lock()
		defer collectMu.Unlock()
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			sum := 0.0
			for _, m := range mf.GetMetric() {
				if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
					continue
				}
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return sum
		}
		return 0
	})
}

func gauge(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return testutil.ToFloat64(counterWith(t, reg, name, ""))
}

func gaugeFunc(f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "probe", Help: "probe"}, f)
}

// TestPartitions: with 4 partitions every partition has its own consumer and receives messages, two writers
// bound to two partitions each store everything, and each user's events are stored in publication order.
func TestPartitions(t *testing.T) {
	t.Parallel()
	pub, b := setupBuffer(t, &Config{Partitions: 4})
	const requests, users = 20, 12
	for r := range requests {
		evs := events(fmt.Sprintf("r%02d", r), users)
		for u := range evs {
			evs[u].UserID = fmt.Sprintf("user-%d", u)
		}
		res, err := pub.Ingest(t.Context(), "app", evs)
		require.NoError(t, err)
		require.Equal(t, users, res.Accepted)
	}
	even, odd := *b.cfg, *b.cfg
	even.WriterPartitions, odd.WriterPartitions = []int{0, 2}, []int{1, 3}
	wEven, err := NewWriter(t.Context(), b.nc, b.store, &even)
	require.NoError(t, err)
	wOdd, err := NewWriter(t.Context(), b.nc, b.store, &odd)
	require.NoError(t, err)

	js, err := jetstream.New(b.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), "LOGINGEST")
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"logingest.events", "logingest.events.*"}, info.Config.Subjects)
	var pending uint64
	for p := range 4 {
		c, err := s.Consumer(t.Context(), fmt.Sprintf("logingest-writers-%d", p))
		require.NoError(t, err, "partition %d has its consumer", p)
		ci, err := c.Info(t.Context())
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("logingest.events.%d", p), ci.Config.FilterSubject)
		require.Positive(t, ci.NumPending, "partition %d receives messages", p)
		pending += ci.NumPending
	}
	require.Equal(t, info.State.Msgs, pending, "every message is in exactly one partition")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range []*Writer{wEven, wOdd} {
		wg.Go(func() { _ = w.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	eventually(t, "every event is stored", func() bool { return stored(t, b.store, "app") == requests*users })
	for u := range users {
		p, err := b.store.Query(t.Context(), logingest.Filter{Source: "app", UserID: fmt.Sprintf("user-%d", u), Limit: 1000})
		require.NoError(t, err)
		require.Len(t, p.Events, requests)
		evs := p.Events
		slices.SortFunc(evs, func(a, b logingest.Event) int { return cmp.Compare(a.ID, b.ID) })
		for r, e := range evs {
			require.Equal(t, fmt.Sprintf("r%02d-%d", r, u), e.EventID, "user %d's events in publication order", u)
		}
	}
}

// TestChangingPartitions: raising partitions keeps the backlog of the single consumer, which then drains the
// base subject (also what a publisher not yet reconfigured sends); lowering them refuses to start while a
// partition holds events, and deletes the partition consumers once they are empty.
func TestChangingPartitions(t *testing.T) {
	t.Parallel()
	one, b := setupBuffer(t, nil)
	_, err := NewWriter(t.Context(), b.nc, b.store, b.cfg) // creates the single consumer
	require.NoError(t, err)
	_, err = one.Ingest(t.Context(), "app", events("before", 10))
	require.NoError(t, err)

	four := *b.cfg
	four.Partitions = 4
	val, err := logingest.NewValidator(nil)
	require.NoError(t, err)
	pub4, err := NewPublisher(t.Context(), b.nc, val, &four)
	require.NoError(t, err)
	_, err = pub4.Ingest(t.Context(), "app", events("four", 10))
	require.NoError(t, err)
	_, err = one.Ingest(t.Context(), "app", events("stale-replica", 10)) // a replica not yet restarted
	require.NoError(t, err)
	run4 := func() (stop func()) {
		w4, err := NewWriter(t.Context(), b.nc, b.store, &four)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = w4.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}
	stop := run4()
	eventually(t, "the backlog and both publishers' events are stored", func() bool { return stored(t, b.store, "app") == 30 })
	stop()

	// Lowering with events left in a partition is refused, and publishing keeps working meanwhile.
	_, err = pub4.Ingest(t.Context(), "app", events("left", 10))
	require.NoError(t, err)
	_, err = NewWriter(t.Context(), b.nc, b.store, b.cfg)
	require.ErrorContains(t, err, "before lowering them to 1")
	_, err = pub4.Ingest(t.Context(), "app", events("still", 10))
	require.NoError(t, err)
	stop = run4()
	eventually(t, "the partitions are drained", func() bool { return stored(t, b.store, "app") == 50 })
	stop()

	// Back to one partition: the partition consumers are empty, so they are deleted.
	startWriter(t, b, b.nc)
	_, err = one.Ingest(t.Context(), "app", events("after", 10))
	require.NoError(t, err)
	eventually(t, "the single consumer works again", func() bool { return stored(t, b.store, "app") == 60 })
	js, err := jetstream.New(b.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), "LOGINGEST")
	require.NoError(t, err)
	names := s.ConsumerNames(t.Context())
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	require.NoError(t, names.Err())
	require.Equal(t, []string{"logingest-writers"}, got)
}
