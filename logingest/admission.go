package logingest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Admission: the Ingester refuses a request when the time it would wait in the queue, estimated from the
// queue's depth and the rate at which the writers drain it, exceeds Config.MaxQueueWait. A refused caller is
// told when to retry by an *OverloadedError whose RetryAfter comes from the same drain rate, with jitter, so
// that refused clients do not come back in lockstep.
//
// Small requests (at most Config.SmallRequestEvents events: the app's live single events) queue in their own
// lane, which the writers serve first, so a backlog of large batches does not delay them; their admission looks
// at their own lane only.

// OverloadedError is the error Ingest returns when it refuses a request because the queue is full or would make
// the request wait longer than Config.MaxQueueWait. It matches ErrOverloaded.
type OverloadedError struct {
	// RetryAfter is when a retry is likely to be admitted: the estimated time to drain the queue in whole
	// seconds (at least one), spread at random over 1 to 2 times that (at most a minute) so that refused clients
	// do not come back together.
	RetryAfter time.Duration
}

// Error says the queue is full and when to retry.
func (e *OverloadedError) Error() string {
	return fmt.Sprintf("ingest queue full, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is reports whether target is ErrOverloaded.
func (e *OverloadedError) Is(target error) bool { return target == ErrOverloaded }

// drainMeter estimates the rate at which the writers commit events, in events per second of one writer's
// write time, as an exponentially decaying ratio of events written to time spent writing. Guarded by
// Ingester.mu.
type drainMeter struct {
	events, seconds float64
}

// drainDecay is the weight the history keeps at each write: about the last 20 writes count.
const drainDecay = 0.95

// minDrainRate is the floor of the estimate (a stalled store still drains, if slowly).
const minDrainRate = 1.0

func (m *drainMeter) observe(events int, d time.Duration) {
	m.events = m.events*drainDecay + float64(events)
	m.seconds = m.seconds*drainDecay + max(d.Seconds(), 1e-6)
}

// rate returns the events per second writers working in parallel commit, 0 before the first write.
func (m *drainMeter) rate(writers int) float64 {
	if m.seconds <= 0 {
		return 0
	}
	return max(minDrainRate, m.events/m.seconds*float64(writers))
}

// lane is one admission lane's queue.
type lane struct {
	ch     chan *request
	events int // queued events in this lane
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

// overloaded returns the error for a refused request: RetryAfter is the time the whole queue takes to drain
// at the measured rate in whole seconds (at least 1), plus a random 0 to 100% of it, at most a minute. Caller
// holds ing.mu.
func (ing *Ingester) overloaded() *OverloadedError {
	base := max(1, int(math.Ceil(ing.waitFor(ing.queuedEvents).Seconds())))
	secs := min(base+rand.IntN(base+1), 60) // jitter, not a secret
	return &OverloadedError{RetryAfter: time.Duration(secs) * time.Second}
}

// Admit reports, before a request is read, whether a request carrying about that many events would be
// admitted now: nil, or
// an *OverloadedError (matching ErrOverloaded) when its lane already makes a request wait longer than
// Config.MaxQueueWait or the queue bounds are reached. events 0 means unknown size, judged as the smallest
// request of the large lane.
// A transport calls it to refuse early, before it reads and decodes a body that cannot be taken; Ingest checks
// again, so Admit is only an optimisation.
func (ing *Ingester) Admit(events int) error {
	ing.mu.Lock()
	defer ing.mu.Unlock()
	if ing.closed {
		return ErrClosed
	}
	l := &ing.large
	if events > 0 {
		l = ing.laneFor(events)
	}
	n := events
	if n <= 0 {
		n = min(ing.cfg.SmallRequestEvents+1, ing.cfg.MaxBatchSize)
	}
	if ing.refuse(l, n, 0) {
		ing.metrics.overloaded.Inc()
		ing.metrics.ingestRequests.WithLabelValues("overloaded").Inc()
		return ing.overloaded()
	}
	return nil
}

func (ing *Ingester) laneFor(events int) *lane {
	if events <= ing.cfg.SmallRequestEvents {
		return &ing.small
	}
	return &ing.large
}

// refuse reports whether a request of n events and size bytes must be refused. An empty lane admits any
// request, so a batch larger than the bounds is not refused forever. Caller holds ing.mu.
func (ing *Ingester) refuse(l *lane, n int, size int64) bool {
	if l.events == 0 {
		return false
	}
	if ing.queuedEvents+n > ing.cfg.QueueEvents || ing.queuedBytes+size > ing.cfg.QueueBytes {
		return true
	}
	ahead := l.events
	if l == &ing.large {
		ahead += ing.small.events // the writers serve the small lane first
	}
	return ing.cfg.MaxQueueWait > 0 && ing.waitFor(ahead+n) > ing.cfg.MaxQueueWait
}
