package logingest_test

import (
	"context"
	"fmt"
	"log/slog"
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
			Writers: 1, FlushSize: 1, MaxQueueWait: time.Second, MaxAdmissionWait: -1, SmallRequestEvents: 1,
			Now: b.clock.Now,
		}) // no waiting room: Admit refuses what the queue cannot take now (WaitingRoom in TestReserve has one)
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

// TestReserve: Reserve holds room before a request's events are known, so concurrent requests cannot all be
// admitted into the same room; a request ingested through its reservation is not refused again; a refused
// crowd is given Retry-After slots spread over the time the queue needs for it; a request that finds no room
// waits for it when it can come in time, and is refused at once when it cannot.
func TestReserve(t *testing.T) {
	t.Parallel()
	type testBundle struct {
		gate  *gate
		clock *manualClock
		errs  chan error
	}
	setupReserve := func(t *testing.T, admissionWait time.Duration) (*logingest.Ingester, *testBundle) {
		t.Helper()
		b := &testBundle{gate: newGate(), clock: &manualClock{now: testNow}, errs: make(chan error, 100)}
		ing, _ := setup(t, b.gate, &logingest.Config{
			Writers: 1, FlushSize: 1, MaxQueueWait: time.Second, MaxAdmissionWait: admissionWait,
			SmallRequestEvents: 1, Now: b.clock.Now,
		})
		// Measure the drain rate: one write of 10 events that takes 1s on the clock, 10 events/s.
		go func() { _, err := ing.Ingest(context.Background(), "", events("measure", 10)); b.errs <- err }()
		<-b.gate.entered
		b.clock.advance(time.Second)
		b.gate.release <- struct{}{}
		require.NoError(t, <-b.errs)
		return ing, b
	}

	t.Run("HoldsRoom", func(t *testing.T) {
		t.Parallel()
		ing, b := setupReserve(t, -1)
		first, err := ing.Reserve(t.Context(), 5)
		require.NoError(t, err)
		second, err := ing.Reserve(t.Context(), 5)
		require.NoError(t, err, "10 events at 10/s: 1.0s")
		require.Equal(t, 10, queued(ing), "reserved events count in the queue")
		_, err = ing.Reserve(t.Context(), 3)
		var oe *logingest.OverloadedError
		require.ErrorAs(t, err, &oe, "the room is held: 13 events would wait 1.3s")
		require.GreaterOrEqual(t, oe.RetryAfter, time.Second)
		live, err := ing.Reserve(t.Context(), 1)
		require.NoError(t, err, "the small lane has its own room")
		live.Release()

		second.Release()
		second.Release() // idempotent
		require.Equal(t, 5, queued(ing))
		third, err := ing.Reserve(t.Context(), 3)
		require.NoError(t, err, "released room is taken again")
		third.Release()

		// The request turns out larger than estimated: admitted all the same.
		go func() { _, err := first.Ingest(context.Background(), "", events("reserved", 8)); b.errs <- err }()
		require.Equal(t, 8, <-b.gate.entered)
		require.Equal(t, 8, queued(ing), "the reservation was replaced by the request's own events")
		b.gate.release <- struct{}{}
		require.NoError(t, <-b.errs)
		first.Release() // after Ingest: nothing left to give back
		require.Eventually(t, func() bool { return queued(ing) == 0 }, 5*time.Second, time.Millisecond,
			"the writer accounts for the write once it has answered")
	})

	t.Run("LiveWritesDoNotSlowTheEstimate", func(t *testing.T) {
		t.Parallel()
		ing, b := setupReserve(t, -1) // 10 events/s measured
		// Twenty live events, each written alone in 1s on the clock: the estimate would fall to about 1 event/s
		// if writes of small requests counted (a commit costs about the same for 1 event as for 1000).
		for i := range 20 {
			go func() {
				_, err := ing.Ingest(context.Background(), "", events(fmt.Sprintf("live-%d", i), 1))
				b.errs <- err
			}()
			require.Equal(t, 1, <-b.gate.entered)
			b.clock.advance(time.Second)
			b.gate.release <- struct{}{}
			require.NoError(t, <-b.errs)
		}
		ahead, err := ing.Reserve(t.Context(), 2)
		require.NoError(t, err)
		defer ahead.Release()
		rv, err := ing.Reserve(t.Context(), 7)
		require.NoError(t, err, "2 + 7 events at 10/s: 0.9s")
		rv.Release()
	})

	t.Run("AFlushQueuedBehindTheWriter", func(t *testing.T) {
		t.Parallel()
		g, clock, errs := newGate(), &manualClock{now: testNow}, make(chan error, 2)
		ing, _ := setup(t, g, &logingest.Config{
			Writers: 1, FlushSize: 10, MaxQueueWait: time.Second, MaxAdmissionWait: -1, SmallRequestEvents: 1, Now: clock.Now,
		})
		go func() { _, err := ing.Ingest(context.Background(), "", events("measure", 20)); errs <- err }()
		<-g.entered
		clock.advance(2 * time.Second) // 10 events/s
		g.release <- struct{}{}
		require.NoError(t, <-errs)

		go func() { _, err := ing.Ingest(context.Background(), "", events("inflight", 8)); errs <- err }()
		require.Equal(t, 8, <-g.entered)
		// 8 + 10 events take 1.8s at 10/s, past MaxQueueWait, but a flush queued behind the writer's is always
		// admitted: the writer does not wait for the next request between writes.
		next, err := ing.Reserve(t.Context(), 10)
		require.NoError(t, err)
		defer next.Release()
		_, err = ing.Reserve(t.Context(), 5)
		require.ErrorIs(t, err, logingest.ErrOverloaded, "past two flushes, the time bound applies (2.3s)")
		g.release <- struct{}{}
		require.NoError(t, <-errs)
	})

	t.Run("RetrySchedule", func(t *testing.T) {
		t.Parallel()
		ing, _ := setupReserve(t, -1)
		held, err := ing.Reserve(t.Context(), 10)
		require.NoError(t, err)
		defer held.Release()
		// Ten refused batches of 10 events at 10 events/s, scheduled at 1.25 x the drain rate: the queue
		// (10 events, 1s) first, then one slot of 0.8s each.
		var prev time.Duration
		for k := 1; k <= 10; k++ {
			_, err := ing.Reserve(t.Context(), 10)
			var oe *logingest.OverloadedError
			require.ErrorAs(t, err, &oe)
			slot := time.Second + time.Duration(k)*800*time.Millisecond
			require.GreaterOrEqual(t, oe.RetryAfter, slot, "refusal %d", k)
			require.LessOrEqual(t, oe.RetryAfter, slot+slot/10+time.Second, "refusal %d", k)
			require.GreaterOrEqual(t, oe.RetryAfter, prev, "later refusals get later slots")
			prev = oe.RetryAfter
		}
		require.Equal(t, 10, queued(ing), "refusals reserve nothing")
		require.GreaterOrEqual(t, ing.RetryAfter(10), time.Second+11*800*time.Millisecond,
			"a refusal outside the Ingester takes the next slot")
	})

	t.Run("WaitingRoom", func(t *testing.T) {
		t.Parallel()
		ing, b := setupReserve(t, 10*time.Second)
		go func() { _, err := ing.Ingest(context.Background(), "", events("inflight", 8)); b.errs <- err }()
		require.Equal(t, 8, <-b.gate.entered)

		// 8 + 5 events would wait 1.3s: no room now, but it comes within the admission wait, so the check before
		// the body is read lets it through; 1000 events would take 100s: refused before the body is read.
		require.NoError(t, ing.Admit(5))
		var oe *logingest.OverloadedError
		require.ErrorAs(t, ing.Admit(1000), &oe)
		require.GreaterOrEqual(t, oe.RetryAfter, time.Second)
		got := make(chan error, 1)
		var rv *logingest.Reservation
		go func() {
			var err error
			rv, err = ing.Reserve(context.Background(), 5)
			got <- err
		}()
		// A request that could not get room within the wait is refused at once: 1000 events take 100s.
		_, err := ing.Reserve(t.Context(), 1000)
		require.ErrorIs(t, err, logingest.ErrOverloaded)

		b.gate.release <- struct{}{} // the 8 events are written: room for the waiter
		require.NoError(t, <-b.errs)
		require.NoError(t, <-got)
		require.Equal(t, 5, queued(ing))
		rv.Release()
		require.Zero(t, queued(ing))
	})

	t.Run("CloseWakesWaiters", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		ing, err := logingest.New(g, &logingest.Config{
			Writers: 1, MaxQueueWait: time.Second, MaxAdmissionWait: time.Hour, Logger: slog.New(slog.DiscardHandler),
		})
		require.NoError(t, err)
		errs := make(chan error, 2)
		go func() { _, err := ing.Ingest(context.Background(), "", events("inflight", 1000)); errs <- err }()
		require.Equal(t, 1000, <-g.entered)
		// Nothing is measured yet: a lane holds at most one flush per writer, so this one waits (for an hour,
		// unless Close wakes it; if Close comes first, Reserve finds the Ingester closed).
		got := make(chan error, 1)
		go func() { _, err := ing.Reserve(context.Background(), 50); got <- err }()
		closed := make(chan error, 1)
		go func() { closed <- ing.Close(context.Background()) }()
		require.ErrorIs(t, <-got, logingest.ErrClosed)
		g.release <- struct{}{}
		require.NoError(t, <-errs)
		require.NoError(t, <-closed)
	})
}
