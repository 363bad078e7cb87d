package pgstore_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/storetest"
)

// poisonStore hands Append a copy of the events in which the events named in poison are altered, so that the
// real store meets a value validation would have refused (a value that "somehow" got past it). When gate is
// set, the first Append waits for it, so that the requests queued meanwhile are written together.
type poisonStore struct {
	logingest.Store
	poison  map[string]func(*logingest.Event)
	gate    chan struct{}
	mu      sync.Mutex
	appends int
}

func (p *poisonStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	p.mu.Lock()
	p.appends++
	first := p.appends == 1
	p.mu.Unlock()
	if first && p.gate != nil {
		<-p.gate
	}
	out := slices.Clone(events)
	for i := range out {
		if f, ok := p.poison[out[i].EventID]; ok {
			f(&out[i])
		}
	}
	return p.Store.Append(ctx, out)
}

// ingestPoisonedGroupCommit writes, in one group commit of one Ingester over s, a request holding good events
// and the poisoned ones and a neighbour's request of good events only. It requires that exactly the poisoned
// events are rejected (field "event"), that the others are accepted, and that no request fails.
func ingestPoisonedGroupCommit(t *testing.T, s logingest.Store, source string, events []logingest.Event,
	poison map[string]func(*logingest.Event),
) {
	t.Helper()
	ps := &poisonStore{Store: s, poison: poison, gate: make(chan struct{})}
	ing, err := logingest.New(ps, &logingest.Config{Writers: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ing.Close(context.Background()) })

	// A first request occupies the only writer until the gate opens; the next two queue behind it.
	warm := events[:1]
	mine, neighbour := events[1:len(events)/2], events[len(events)/2:]
	type answer struct {
		res *logingest.BatchResult
		err error
	}
	answers := make([]chan answer, 3)
	for i, batch := range [][]logingest.Event{warm, mine, neighbour} {
		answers[i] = make(chan answer, 1)
		go func() {
			res, err := ing.Ingest(context.Background(), source, batch)
			answers[i] <- answer{res, err}
		}()
		if i == 0 {
			require.Eventually(t, func() bool { ps.mu.Lock(); defer ps.mu.Unlock(); return ps.appends == 1 }, 10*time.Second, time.Millisecond)
		}
	}
	want := len(mine) + len(neighbour)
	require.Eventually(t, func() bool { n, _ := ing.QueueDepth(); return n == len(warm)+want }, 10*time.Second, time.Millisecond)
	close(ps.gate)

	for i, batch := range [][]logingest.Event{warm, mine, neighbour} {
		a := <-answers[i]
		require.NoError(t, a.err, "request %d", i)
		for j, r := range a.res.Results {
			if _, bad := poison[batch[j].EventID]; bad {
				require.Equal(t, logingest.StatusRejected, r.Status, "request %d event %d", i, j)
				require.Equal(t, []logingest.FieldError{{Field: "event", Reason: "was refused by the store as invalid"}}, r.Errors)
			} else {
				require.Equal(t, logingest.StatusAccepted, r.Status, "request %d event %d: %v", i, j, r.Errors)
			}
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	require.Greater(t, ps.appends, 2, "the group commit of both requests was refused and split")
}

// TestIngest_StoreDataErrorsAreIsolated: whatever per-row data error PostgreSQL raises (SQLSTATE class 22,
// program_limit_exceeded) fails only the event that caused it, never the neighbours written in the same group
// commit; and Append alone reports it as ErrInvalid on both of its paths.
func TestIngest_StoreDataErrorsAreIsolated(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	events := loadEvents(t)[:20]
	for i := range events {
		events[i].Source, events[i].ReceivedAt = "", time.Time{} // the Ingester stamps them
	}
	// Random letters compress to about 4.7 bits each: 8000 of them cannot fit a b-tree entry (2704 bytes).
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 8000)
	for i := range noise {
		noise[i] = 'a' + byte(rng.IntN(26))
	}
	poison := map[string]func(*logingest.Event){
		events[3].EventID: func(e *logingest.Event) { e.Properties = []byte(`{"a":1e1000000}`) },                           // 22003
		events[5].EventID: func(e *logingest.Event) { e.DeviceInfo = []byte(`{"a":1e-20000}`) },                            // 22003
		events[7].EventID: func(e *logingest.Event) { e.Properties = []byte(`{"a":"\xff"}`) },                              // 22021
		events[8].EventID: func(e *logingest.Event) { e.Properties = []byte(`{"provider_name":"` + string(noise) + `"}`) }, // 54000
	}
	ingestPoisonedGroupCommit(t, s, testSource, events, poison)
	require.EqualValues(t, len(events)-len(poison), count(t, b.conn, "SELECT count(*) FROM analytics_logs"))

	for id, f := range poison {
		for _, size := range []int{1, 200} { // both Append paths
			batch := loadEvents(t)[:size]
			batch[0].EventID = id
			f(&batch[0])
			_, err := s.Append(t.Context(), batch)
			require.ErrorIs(t, err, logingest.ErrInvalid, "event %s in a batch of %d", id, size)
		}
	}
}

// FuzzStoreRoundTrip: whatever ingest validation accepts, PostgreSQL stores and reads back as valid JSON equal
// to what was sent (jsonb keeps numbers by value and the last of duplicate keys; times to the microsecond).
// go test runs the seed corpus, the edges of validation; make fuzz leaves it out (each input costs a round
// trip to the database).
func FuzzStoreRoundTrip(f *testing.F) {
	s, _ := setup(f, nil)
	storetest.FuzzRoundTrip(f, s, &storetest.Options{TimePrecision: time.Microsecond})
}
