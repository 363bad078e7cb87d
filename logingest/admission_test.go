package logingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// manualClock is a Config.Now the test advances.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func events(prefix string, n int) []logingest.Event {
	out := make([]logingest.Event, n)
	for i := range out {
		out[i] = validEvent(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// TestAdmission: requests that would wait longer than MaxQueueWait at the measured drain rate are refused at
// once with an OverloadedError whose Retry-After is spread out; small requests queue in their own lane, which
// the writers serve before a backlog of batches.
func TestAdmission(t *testing.T) {
	t.Parallel()
	type testBundle struct {
		gate  *gate
		clock *manualClock
		errs  chan error
	}
	setupAdmission := func(t *testing.T) (*logingest.Ingester, *testBundle) {
		t.Helper()
		b := &testBundle{gate: newGate(), clock: &manualClock{now: testNow}, errs: make(chan error, 100)}
		ing, _ := setup(t, b.gate, &logingest.Config{
			Writers: 1, FlushSize: 1, MaxQueueWait: time.Second, SmallRequestEvents: 1, Now: b.clock.Now,
		})
		// Measure the drain rate: one write of 10 events that takes 1s on the clock, 10 events/s.
		go func() { _, err := ing.Ingest(context.Background(), "", events("measure", 10)); b.errs <- err }()
		<-b.gate.entered
		b.clock.advance(time.Second)
		b.gate.release <- struct{}{}
		require.NoError(t, <-b.errs)
		return ing, b
	}
	ingestAsync := func(ing *logingest.Ingester, b *testBundle, evs []logingest.Event) {
		go func() { _, err := ing.Ingest(context.Background(), "", evs); b.errs <- err }()
	}

	t.Run("QueueWaitBound", func(t *testing.T) {
		t.Parallel()
		ing, b := setupAdmission(t)
		ingestAsync(ing, b, events("inflight", 2)) // held in the store: 2 events ahead
		<-b.gate.entered
		ingestAsync(ing, b, events("fits", 5)) // 7 events at 10/s: 0.7s <= 1s
		require.Eventually(t, func() bool { return queued(ing) == 7 }, 5*time.Second, time.Millisecond)

		// 12 events at 10/s would wait 1.2s: refused, though the queue (50,000 events) has room.
		require.NoError(t, ing.Admit(3), "3 more events fit (1.0s)")
		_, err := ing.Ingest(t.Context(), "", events("refused", 5))
		var oe *logingest.OverloadedError
		require.ErrorAs(t, err, &oe)
		require.ErrorIs(t, err, logingest.ErrOverloaded)
		require.GreaterOrEqual(t, oe.RetryAfter, time.Second)
		require.LessOrEqual(t, oe.RetryAfter, 2*time.Second)
		require.ErrorIs(t, ing.Admit(5), logingest.ErrOverloaded, "Admit refuses before the body is read")
		require.NoError(t, ing.Admit(0), "an unknown size is judged as the smallest batch: 2 more events fit (0.9s)")

		// Retry-After is spread, not one value for every refused client.
		seen := map[time.Duration]bool{}
		for range 200 {
			err := ing.Admit(50)
			require.ErrorAs(t, err, &oe)
			seen[oe.RetryAfter] = true
		}
		require.Greater(t, len(seen), 1, "Retry-After values %v", seen)

		b.gate.release <- struct{}{}
		require.Equal(t, 5, <-b.gate.entered)
		b.gate.release <- struct{}{}
		require.NoError(t, <-b.errs)
		require.NoError(t, <-b.errs)
		require.NoError(t, ing.Admit(5), "a drained queue admits again")
	})

	t.Run("SmallRequestsGoFirst", func(t *testing.T) {
		t.Parallel()
		ing, b := setupAdmission(t)
		ingestAsync(ing, b, events("inflight", 2))
		<-b.gate.entered
		ingestAsync(ing, b, events("batch", 5))
		require.Eventually(t, func() bool { return queued(ing) == 7 }, 5*time.Second, time.Millisecond)
		ingestAsync(ing, b, events("batch2", 3)) // 10 events ahead: 1.0s, still admitted
		require.Eventually(t, func() bool { return queued(ing) == 10 }, 5*time.Second, time.Millisecond)

		// The batch lane is full (1s), but a single event has a lane of its own, empty: admitted.
		require.ErrorIs(t, ing.Admit(5), logingest.ErrOverloaded)
		require.NoError(t, ing.Admit(1))
		ingestAsync(ing, b, events("live", 1))
		require.Eventually(t, func() bool { return queued(ing) == 11 }, 5*time.Second, time.Millisecond)

		// The writer serves the live event before the batches queued ahead of it.
		b.gate.release <- struct{}{}
		require.Equal(t, 1, <-b.gate.entered, "the live event is written next")
		b.gate.release <- struct{}{}
		require.Equal(t, 5, <-b.gate.entered)
		b.gate.release <- struct{}{}
		require.Equal(t, 3, <-b.gate.entered)
		b.gate.release <- struct{}{}
		for range 4 {
			require.NoError(t, <-b.errs)
		}
	})

	t.Run("DisabledBound", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, _ := setup(t, g, &logingest.Config{Writers: 1, MaxQueueWait: -1, QueueEvents: 3})
		errs := make(chan error, 2)
		go func() { _, err := ing.Ingest(context.Background(), "", events("a", 2)); errs <- err }()
		<-g.entered
		require.NoError(t, ing.Admit(1))
		_, err := ing.Ingest(t.Context(), "", events("b", 2))
		require.ErrorIs(t, err, logingest.ErrOverloaded, "the event bound still applies")
		g.release <- struct{}{}
		require.NoError(t, <-errs)
	})
}
