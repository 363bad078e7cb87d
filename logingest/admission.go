package logingest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Admission: the Ingester refuses a request when the time it would wait in the queue, estimated from the
// queue's depth and the rate at which the writers drain it, exceeds Config.MaxQueueWait. A transport asks
// before it reads a body whether the request could be taken (Admit, which holds nothing), so a body that cannot
// be taken is never read, and reserves room once it has counted the events, before decoding them (Reserve), so
// admitted requests finish within the bound and a refused one costs no decoding; a request that finds no room
// may wait for it, for
// Config.MaxAdmissionWait at most, in a first-come first-served waiting room (it costs an idle connection,
// nothing more), so a burst of arrivals is taken as the queue drains instead of being refused.
//
// A refused caller is told when to retry by an *OverloadedError. Its RetryAfter comes from a schedule of
// retries: the Ingester keeps the time by which the requests it has refused would be written if they came back
// one after the other at the drain rate (after the queue), and gives each newly refused request the next slot.
// A crowd of refused clients thus comes back spread over the time the server needs for their events, at a
// little more than the drain rate (retryOverbook, so the queue never runs dry), instead of all together.
//
// Small requests (at most Config.SmallRequestEvents events: the app's live single events) queue in their own
// lane, which the writers serve first, so a backlog of large batches does not delay them; their admission looks
// at their own lane only, and when refused they are told to come back when their lane has drained.

// OverloadedError is the error Ingest and Reserve return when they refuse a request because the queue is full
// or would make the request wait longer than Config.MaxQueueWait. It matches ErrOverloaded.
type OverloadedError struct {
	// RetryAfter is when a retry is likely to be admitted, in whole seconds, at least one: for a large request
	// its slot in the schedule of refused requests (see Reserve), for a small one the time its lane takes to
	// drain, spread at random over 1 to 2 times that.
	RetryAfter time.Duration
}

// Error says the queue is full and when to retry.
func (e *OverloadedError) Error() string {
	return fmt.Sprintf("ingest queue full, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is reports whether target is ErrOverloaded.
func (e *OverloadedError) Is(target error) bool { return target == ErrOverloaded }

// drainMeter estimates the rate at which the writers commit events, in events per second of one writer's
// write time, as an exponentially decaying ratio of events written to time spent writing. It keeps two such
// ratios: one over the writes of more than Config.SmallRequestEvents events, which is the rate a backlog drains
// at (a backlog is written in full flushes, and the small lane's requests join one flush), and one over every
// write, used only until a larger write is measured. A write of one live event costs a commit, as a write of
// a thousand does: counting the small ones would make a writer that serves live events between batches look
// a hundred times slower, shrink the queue and push refused clients' Retry-After out to minutes while the
// writers sit idle. Guarded by Ingester.mu.
type drainMeter struct {
	large, any drainRatio
}

// drainRatio is one decaying ratio of events written to seconds spent writing.
type drainRatio struct {
	events, seconds float64
}

// drainDecay is the weight the history keeps at each write: about the last 20 writes count.
const drainDecay = 0.95

// minDrainRate is the floor of the estimate (a stalled store still drains, if slowly).
const minDrainRate = 1.0

// Retry schedule constants.
const (
	// retryOverbook is how much faster than the drain rate refused requests are scheduled to come back: the
	// surplus finds the queue full and is scheduled again, but the queue never runs dry for want of arrivals.
	retryOverbook = 1.25
	// coldRetryRate is the drain rate (events/s) the schedule assumes before the first write is measured. It
	// errs high: clients told too early are refused again and rescheduled, while clients told too late would
	// leave the writers idle.
	coldRetryRate = 10000
	// maxRetryAfter bounds a Retry-After and the schedule's horizon. Clients that come back before their slot
	// (or ignore Retry-After) are refused again and take a new slot, which pushes the schedule out; the
	// horizon keeps that from growing without bound.
	maxRetryAfter = time.Minute
)

func (r *drainRatio) observe(events int, d time.Duration) {
	r.events = r.events*drainDecay + float64(events)
	r.seconds = r.seconds*drainDecay + max(d.Seconds(), 1e-6)
}

// observeDrain records a successful write of n events that took d. Caller holds ing.mu.
func (ing *Ingester) observeDrain(n int, d time.Duration) {
	ing.drain.any.observe(n, d)
	if n > ing.cfg.SmallRequestEvents {
		ing.drain.large.observe(n, d)
	}
}

// rate returns the events per second writers working in parallel commit, 0 before the first write.
func (m *drainMeter) rate(writers int) float64 {
	r := m.large
	if r.seconds <= 0 {
		r = m.any
	}
	if r.seconds <= 0 {
		return 0
	}
	return max(minDrainRate, r.events/r.seconds*float64(writers))
}

// lane is one admission lane's queue.
type lane struct {
	ch     chan *request
	events int // queued and reserved events in this lane
}

// waitFor estimates how long queued events (ahead of a request) make it wait; 0 before the first write is
// measured (nothing to estimate from: the queue bounds alone apply). Caller holds ing.mu.
func (ing *Ingester) waitFor(queued int) time.Duration {
	r := ing.drain.rate(ing.cfg.Writers)
	if r == 0 {
		return 0
	}
	return time.Duration(float64(queued) / r * float64(time.Second))
}

// overloaded returns the error for a request of n events refused from lane l, with its Retry-After. Caller
// holds ing.mu.
func (ing *Ingester) overloaded(l *lane, n int) *OverloadedError {
	ing.metrics.overloaded.Inc()
	ing.metrics.ingestRequests.WithLabelValues("overloaded").Inc()
	return &OverloadedError{RetryAfter: ing.retryAfter(l, n)}
}

// retryAfter returns when a request of n events refused from lane l should come back, in whole seconds, at
// least one. A small request is told when its lane will have drained, spread over 1 to 2 times that. A large
// one takes the next slot of the retry schedule: the later of the schedule's end and the time the queue will
// have drained, plus its own events at retryOverbook times the drain rate; the slot is spread by up to a tenth
// at random. Caller holds ing.mu.
func (ing *Ingester) retryAfter(l *lane, n int) time.Duration {
	if l == &ing.small {
		base := max(1, int(math.Ceil(ing.waitFor(l.events).Seconds())))
		return time.Duration(min(base+rand.IntN(base+1), 60)) * time.Second // jitter, not a secret
	}
	now := ing.cfg.Now()
	rate := ing.drain.rate(ing.cfg.Writers)
	if rate == 0 {
		rate = coldRetryRate
	}
	drained := now.Add(time.Duration(float64(ing.queuedEvents+ing.waitingEvents) / rate * float64(time.Second)))
	if ing.retryAt.Before(drained) {
		ing.retryAt = drained
	}
	ing.retryAt = ing.retryAt.Add(time.Duration(float64(n) / (rate * retryOverbook) * float64(time.Second)))
	wait := ing.retryAt.Sub(now)
	if wait > maxRetryAfter {
		// Past the horizon the schedule stops growing: those clients come back within its last quarter and
		// are scheduled again then.
		ing.retryAt = now.Add(maxRetryAfter)
		wait = maxRetryAfter - rand.N(maxRetryAfter/4)
	}
	wait += rand.N(wait/10 + 1) // jitter
	return time.Duration(max(1, math.Ceil(wait.Seconds()))) * time.Second
}

// RetryAfter returns when a request of about that many events (0: unknown, judged as the largest) that was
// refused for lack of room elsewhere (a transport's memory budget) should come back, from the same schedule
// as the Ingester's own refusals (see OverloadedError.RetryAfter), so that every refused client is spread out.
// It takes a slot in the schedule: call it once per refused request.
func (ing *Ingester) RetryAfter(events int) time.Duration {
	n := ing.reserveSize(events)
	ing.mu.Lock()
	defer ing.mu.Unlock()
	return ing.retryAfter(ing.laneFor(n), n)
}

// reserveSize is the events reserved for a request of about that many: 0 (unknown) and sizes past
// MaxBatchSize count as MaxBatchSize.
func (ing *Ingester) reserveSize(events int) int {
	if events <= 0 || events > ing.cfg.MaxBatchSize {
		return ing.cfg.MaxBatchSize
	}
	return events
}

// Admit reports, before a request is read, whether a request carrying about that many events would be taken
// now: nil when Reserve would hold room for it at once or let it wait for room, an *OverloadedError (matching
// ErrOverloaded, with the request's Retry-After) when Reserve would refuse it at once, ErrClosed after Close.
// events 0 means unknown size, judged as the smallest request of the large lane; sizes past MaxBatchSize count as
// MaxBatchSize. It holds nothing (a request whose body never arrives holds no room); Reserve decides again.
func (ing *Ingester) Admit(events int) error {
	ing.mu.Lock()
	defer ing.mu.Unlock()
	if ing.closed {
		return ErrClosed
	}
	n := min(events, ing.cfg.MaxBatchSize)
	if n <= 0 {
		n = min(ing.cfg.SmallRequestEvents+1, ing.cfg.MaxBatchSize)
	}
	l := ing.laneFor(n)
	if !ing.hasWaiters(l) && !ing.refuse(l, n, 0) || ing.mayWait(l, n) {
		return nil
	}
	return ing.overloaded(l, n)
}

// Reservation is room in the Ingester's queue held for one request whose events are not read yet. Reserve
// returns it; Ingest through it writes the request without deciding admission again (only the hard bounds,
// Config.QueueEvents and QueueBytes, still apply), and Release gives the room back. A Reservation is used by
// one request: Ingest at most once, then Release (always; it is idempotent and a no-op after Ingest).
type Reservation struct {
	ing    *Ingester
	lane   *lane
	events int
	held   bool // guarded by ing.mu
}

// waiter is a Reserve call waiting for room.
type waiter struct {
	lane    *lane
	events  int
	granted bool          // guarded by ing.mu
	ready   chan struct{} // closed when granted
}

// Reserve holds room in the queue for a request of about that many events (0: unknown, reserved as
// MaxBatchSize; the request's real size replaces the estimate when it is ingested), before the transport
// reads its body. When its lane has no room it waits for it, first come first served, for at most
// Config.MaxAdmissionWait or until ctx ends; it fails at once with an *OverloadedError (matching
// ErrOverloaded, with the request's Retry-After) when the room could not come in that time, with the
// OverloadedError when the wait runs out, with ErrClosed after Close, and with ctx's error when ctx ends.
func (ing *Ingester) Reserve(ctx context.Context, events int) (*Reservation, error) {
	n := ing.reserveSize(events)
	ing.mu.Lock()
	if ing.closed {
		ing.mu.Unlock()
		return nil, ErrClosed
	}
	l := ing.laneFor(n)
	if !ing.hasWaiters(l) && !ing.refuse(l, n, 0) {
		r := ing.hold(l, n)
		ing.mu.Unlock()
		return r, nil
	}
	if !ing.mayWait(l, n) {
		err := ing.overloaded(l, n)
		ing.mu.Unlock()
		return nil, err
	}
	w := &waiter{lane: l, events: n, ready: make(chan struct{})}
	elem := ing.waiters.PushBack(w)
	ing.waitingEvents += n
	ing.grantWaiters() // a waiter of the other lane may be blocking only its own lane
	ing.mu.Unlock()

	timer := time.NewTimer(ing.cfg.MaxAdmissionWait)
	defer timer.Stop()
	var cause error
	select {
	case <-w.ready:
	case <-timer.C:
	case <-ctx.Done():
		cause = ctx.Err()
	}
	ing.mu.Lock()
	defer ing.mu.Unlock()
	if w.granted {
		return &Reservation{ing: ing, lane: l, events: n, held: true}, nil
	}
	ing.waiters.Remove(elem)
	ing.waitingEvents -= n
	ing.grantWaiters()
	if ing.closed {
		return nil, ErrClosed
	}
	if cause != nil {
		return nil, cause
	}
	return nil, ing.overloaded(l, n)
}

// mayWait reports whether a request of n events that finds no room in lane l may wait for it: the events
// ahead of it (its lane's queue and the waiters) must drain within MaxQueueWait+MaxAdmissionWait. Caller holds
// ing.mu.
func (ing *Ingester) mayWait(l *lane, n int) bool {
	if ing.cfg.MaxAdmissionWait <= 0 || ing.cfg.MaxQueueWait <= 0 {
		return false
	}
	ahead := l.events + n
	for e := ing.waiters.Front(); e != nil; e = e.Next() {
		if w := e.Value.(*waiter); w.lane == l { //nolint:forcetypeassert // waiters holds only *waiter
			ahead += w.events
		}
	}
	if l == &ing.large {
		ahead += ing.small.events
	}
	if ing.queuedEvents+ing.waitingEvents+n > ing.cfg.QueueEvents {
		return false
	}
	if ing.drain.rate(ing.cfg.Writers) == 0 {
		return ahead <= 2*ing.cfg.FlushSize*ing.cfg.Writers
	}
	return ing.waitFor(ahead) <= ing.cfg.MaxQueueWait+ing.cfg.MaxAdmissionWait
}

// hasWaiters reports whether requests of lane l wait for room. Caller holds ing.mu.
func (ing *Ingester) hasWaiters(l *lane) bool {
	for e := ing.waiters.Front(); e != nil; e = e.Next() {
		if e.Value.(*waiter).lane == l { //nolint:forcetypeassert // waiters holds only *waiter
			return true
		}
	}
	return false
}

// hold reserves n events in lane l. Caller holds ing.mu.
func (ing *Ingester) hold(l *lane, n int) *Reservation {
	l.events += n
	ing.queuedEvents += n
	return &Reservation{ing: ing, lane: l, events: n, held: true}
}

// grantWaiters gives room to the waiters that fit now, in arrival order within each lane. After Close it
// grants nothing (Close wakes the waiters). Caller holds ing.mu.
func (ing *Ingester) grantWaiters() {
	if ing.closed {
		return
	}
	blocked := map[*lane]bool{}
	for e := ing.waiters.Front(); e != nil; {
		next := e.Next()
		w := e.Value.(*waiter) //nolint:forcetypeassert // waiters holds only *waiter
		if !blocked[w.lane] {
			if ing.refuse(w.lane, w.events, 0) {
				blocked[w.lane] = true
			} else {
				ing.waiters.Remove(e)
				ing.waitingEvents -= w.events
				ing.hold(w.lane, w.events)
				w.granted = true
				close(w.ready)
			}
		}
		e = next
	}
}

// Ingest is (*Ingester).Ingest for the request the room was reserved for: admitted already, it is refused only
// when the queue's hard bounds (Config.QueueEvents, QueueBytes) are reached. Without a reservation (nil, or one
// used or released already) it is a plain Ingest.
func (r *Reservation) Ingest(ctx context.Context, source string, events []Event) (*BatchResult, error) {
	if r == nil {
		return nil, fmt.Errorf("logingest: Ingest through a nil Reservation: %w", ErrInvalid)
	}
	defer r.Release()
	return r.ing.ingest(ctx, source, events, r)
}

// Release gives the reserved room back. It is safe to call more than once and after Ingest.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	r.ing.mu.Lock()
	defer r.ing.mu.Unlock()
	r.unhold()
}

// unhold gives the room back if still held. Caller holds ing.mu.
func (r *Reservation) unhold() {
	if !r.held {
		return
	}
	r.held = false
	r.lane.events -= r.events
	r.ing.queuedEvents -= r.events
	r.ing.grantWaiters()
}

func (ing *Ingester) laneFor(events int) *lane {
	if events <= ing.cfg.SmallRequestEvents {
		return &ing.small
	}
	return &ing.large
}

// refuse reports whether a request of n events and size bytes must be refused. An empty lane admits any
// request, so a batch larger than the bounds is not refused forever. Before the first write is measured a
// lane admits at most one flush per writer ahead of a request; after, it always admits two flushes per writer
// (one written, one queued), then what MaxQueueWait allows. Caller holds ing.mu.
func (ing *Ingester) refuse(l *lane, n int, size int64) bool {
	if l.events == 0 {
		return false
	}
	if ing.hardFull(n, size) {
		return true
	}
	if ing.cfg.MaxQueueWait <= 0 {
		return false
	}
	ahead := l.events
	if l == &ing.large {
		ahead += ing.small.events // the writers serve the small lane first
	}
	if ing.drain.rate(ing.cfg.Writers) == 0 {
		return ahead+n > ing.cfg.FlushSize*ing.cfg.Writers
	}
	if ahead+n <= 2*ing.cfg.FlushSize*ing.cfg.Writers {
		// A flush queued behind each writer's, whatever the estimate: with less, a writer waits between writes
		// for the next request to be granted and decoded (10-40 ms against a 150 ms write of 1000 events on
		// SQLite, measured in make bench's step f), which costs throughput and saves latency only when one flush
		// takes more than half of MaxQueueWait, when the bound cannot be kept anyway.
		return false
	}
	return ing.waitFor(ahead+n) > ing.cfg.MaxQueueWait
}

// hardFull reports whether n more events of size bytes would pass Config.QueueEvents or QueueBytes. Caller
// holds ing.mu.
func (ing *Ingester) hardFull(n int, size int64) bool {
	return ing.queuedEvents+n > ing.cfg.QueueEvents || ing.queuedBytes+size > ing.cfg.QueueBytes
}
