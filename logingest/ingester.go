package logingest

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Status is the outcome of one event in an Ingest call, as the client is told it. It extends the Store's
// AppendStatus (what the store did) with StatusRejected (the event never reached the store). It is unrelated
// to Stats, the summary of stored events that Store.Stats returns.
type Status string

// Event outcomes.
const (
	// StatusAccepted means the event was new and is durably stored.
	StatusAccepted Status = "accepted"
	// StatusDuplicate means an event with the same source and event_id was already stored. It is a success:
	// the client must stop retrying.
	StatusDuplicate Status = "duplicate"
	// StatusRejected means the event failed validation; Errors says why. Retrying it unchanged will not help.
	StatusRejected Status = "rejected"
)

// Result is the outcome of one event of an Ingest call.
type Result struct {
	// Index is the event's position in the slice passed to Ingest.
	Index   int    `json:"index"`
	EventID string `json:"event_id"`
	// ID is the stored event's Event.ID: the new row's for StatusAccepted, the stored copy's for
	// StatusDuplicate (so a retry sees the id of its first delivery), 0 for StatusRejected.
	ID     int64        `json:"id,omitempty"`
	Status Status       `json:"status"`
	Errors []FieldError `json:"errors,omitempty"`
}

// BatchResult is the outcome of an Ingest call: one Result per event, in input order, and their counts.
type BatchResult struct {
	Results    []Result
	Accepted   int
	Duplicates int
	Rejected   int
}

// Ingester validates events, stamps them with their source and receive time, and writes them to a Store.
//
// Concurrent Ingest calls are coalesced (group commit): up to Config.Writers store writes run at once, and each
// write carries every request that queued while the writers were busy, up to Config.FlushSize events; writes
// made only of small requests (Config.SmallRequestEvents) run one at a time, each taking every small request
// that queued while the previous one was written, so live single events commit in few large writes. An Ingest
// call returns only after the write holding its events has committed, so an accepted event is durable.
//
// The queue is bounded by Config.QueueEvents and Config.QueueBytes and by the time a request would wait in it
// (Config.MaxQueueWait, estimated from the measured drain rate); past them Ingest fails at once with an
// *OverloadedError instead of waiting. Small requests queue in a lane of their own that the writers serve first
// (Config.SmallRequestEvents). An Ingester is safe for concurrent use. Call Close to drain it.
type Ingester struct {
	store   Store
	cfg     Config
	logger  *slog.Logger
	val     *eventValidator
	metrics *ingestMetrics

	// mu guards closed, queuedEvents, queuedBytes, the lanes' counts, drain, the waiting room, the retry
	// schedule and sends on lanes.
	mu            sync.Mutex
	closed        bool
	queuedEvents  int // queued and reserved
	queuedBytes   int64
	small, large  lane // the small-request lane is served first
	drain         drainMeter
	waiters       list.List // of *waiter: Reserve calls waiting for room, in arrival order
	waitingEvents int       // events of the waiters
	retryAt       time.Time // end of the retry schedule (see retryAfter)

	// smallWrites counts the store writes in flight that carry only small-lane requests; smallDone gets a
	// token (when it has room) each time one ends. See writer.
	smallWrites atomic.Int32
	smallDone   chan struct{}

	writers   sync.WaitGroup
	drained   chan struct{}
	closeOnce sync.Once
}

// request is one Ingest call's valid events on their way through the queue.
type request struct {
	events   []Event
	bytes    int64
	enqueued time.Time
	lane     *lane
	statuses []AppendResult // set by the writer before done is closed
	refused  []bool         // set by the writer before done is closed: events the store refused as invalid
	err      error          // set by the writer before done is closed
	done     chan struct{}
}

// New returns an Ingester that writes to store and starts its writers. A nil cfg uses the defaults. It returns
// an error naming the Config field when cfg is invalid.
func New(store Store, cfg *Config) (*Ingester, error) {
	if store == nil {
		return nil, fmt.Errorf("logingest: store must not be nil")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("logingest: invalid config: %w", err)
	}
	if ac, ok := store.(AppendConcurrency); ok {
		if n := ac.MaxConcurrentAppends(); n > 0 && n < c.Writers {
			c.Logger.Debug("store serialises writes; fewer ingest writers", slog.Int("writers", n), slog.Int("configured", c.Writers))
			c.Writers = n
		}
	}
	m, err := newIngestMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("logingest: %w", err)
	}
	ing := &Ingester{
		store:     store,
		cfg:       c,
		logger:    c.Logger,
		val:       newEventValidator(c.Limits),
		metrics:   m,
		drained:   make(chan struct{}),
		smallDone: make(chan struct{}, c.Writers),
	}
	// Every queued request holds at least one event and admission bounds queued events (one request more when
	// its lane is empty), so a send on a channel of this capacity made under mu never blocks.
	ing.small.ch = make(chan *request, c.QueueEvents+1)
	ing.large.ch = make(chan *request, c.QueueEvents+1)
	ing.writers.Add(c.Writers)
	for range c.Writers {
		go ing.writer()
	}
	go func() {
		ing.writers.Wait()
		close(ing.drained)
	}()
	return ing, nil
}

// MaxBatchSize returns the most events one Ingest call accepts (Config.MaxBatchSize), so a transport can refuse
// an oversized batch before decoding it.
func (ing *Ingester) MaxBatchSize() int { return ing.cfg.MaxBatchSize }

// QueueDepth returns the events accepted and not yet committed, those reserved (Reserve) included, and the
// approximate size in bytes of the accepted ones.
func (ing *Ingester) QueueDepth() (events int, bytes int64) {
	ing.mu.Lock()
	defer ing.mu.Unlock()
	return ing.queuedEvents, ing.queuedBytes
}

// Store returns the Store the Ingester writes to, for readers: httpapi's read endpoints query it, so an
// application passes its store once, to New.
func (ing *Ingester) Store() Store { return ing.store }

// Ingest validates events, stamps each valid one with source (DefaultSource when empty) and the receive time,
// and writes them. It returns one Result per event in input order once the valid events are committed; invalid
// events are rejected individually and never block valid ones. The caller's slice is not modified.
//
// Whole-call errors, for which no event was written by this call:
//   - a *LimitError (matching ErrInvalid) when events is empty or longer than Config.MaxBatchSize;
//   - an *OverloadedError (matching ErrOverloaded) when the queue is full or the request would wait longer than
//     Config.MaxQueueWait (retry after its RetryAfter);
//   - ErrClosed after Close;
//   - an error matching ErrUnavailable when the store write failed or timed out (retry is safe: event ids make
//     it idempotent);
//   - ctx.Err() when ctx ends first (the events may still be committed; a retry is reported duplicate).
func (ing *Ingester) Ingest(ctx context.Context, source string, events []Event) (*BatchResult, error) {
	return ing.ingest(ctx, source, events, nil)
}

// ingest is Ingest, for the request rv reserved room for when rv is not nil.
func (ing *Ingester) ingest(ctx context.Context, source string, events []Event, rv *Reservation) (*BatchResult, error) {
	if err := checkBatchSize(len(events), ing.cfg.MaxBatchSize); err != nil {
		ing.metrics.ingestRequests.WithLabelValues("invalid").Inc()
		return nil, err
	}
	ing.metrics.requestEvents.Observe(float64(len(events)))
	p := prepare(ing.val, ing.cfg, source, events, ing.countRejected)
	res, valid, validIdx := p.Result, p.Valid, p.Index
	var size int64
	for j := range valid {
		size += eventSize(&valid[j])
	}
	if len(valid) == 0 {
		ing.metrics.ingestRequests.WithLabelValues("ok").Inc()
		return res, nil
	}

	req := &request{events: valid, bytes: size, done: make(chan struct{})}
	if err := ing.enqueue(req, rv); err != nil {
		return nil, err
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		ing.metrics.ingestRequests.WithLabelValues("canceled").Inc()
		return nil, ctx.Err()
	}
	if req.err != nil {
		ing.metrics.ingestRequests.WithLabelValues("unavailable").Inc()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, req.err)
	}
	for j, st := range req.statuses {
		r := &res.Results[validIdx[j]]
		if req.refused != nil && req.refused[j] {
			r.Status = StatusRejected
			r.Errors = []FieldError{{Field: "event", Reason: "was refused by the store as invalid"}}
			res.Rejected++
			ing.countRejected(valid[j].EventType, r.Errors)
			continue
		}
		r.ID = st.ID
		if st.Status == AppendDuplicate {
			r.Status = StatusDuplicate
			res.Duplicates++
			ing.metrics.events.WithLabelValues(string(valid[j].EventType), "duplicate").Inc()
		} else {
			r.Status = StatusAccepted
			res.Accepted++
			ing.metrics.events.WithLabelValues(string(valid[j].EventType), "accepted").Inc()
		}
	}
	ing.metrics.ingestRequests.WithLabelValues("ok").Inc()
	return res, nil
}

// normalize applies the server-side stamps and defaults to e, and corrects its timestamp for clock skew
// (CorrectSkew).
func normalize(e *Event, source string, now time.Time) {
	e.ID = 0
	e.ProcessedAt = time.Time{}
	e.Source = source
	e.ReceivedAt = now
	CorrectSkew(e, now)
	if e.Priority == "" {
		e.Priority = PriorityNormal
	}
	if isJSONNull(e.Properties) {
		e.Properties = emptyObject
	}
	if isJSONNull(e.DeviceInfo) {
		e.DeviceInfo = emptyObject
	}
	if !e.Timestamp.IsZero() {
		e.Timestamp = e.Timestamp.UTC()
	}
}

// CorrectSkew corrects e.Timestamp for the skew of the device's clock, measured by e.SentAt (the device's
// clock when it sent the event) against receivedAt (the server's clock when it received it): when e.SentAt and
// e.Timestamp are both set, e.OriginalTimestamp becomes the device's timestamp and e.Timestamp becomes
// receivedAt − (e.SentAt − e.Timestamp), in UTC. e.SentAt is cleared either way (it is input only), so calling
// CorrectSkew twice changes nothing more. Without SentAt, e is left as it is. The Ingester calls it for every
// event; a transport that reads sent_at from a batch envelope sets it on each event that has none.
func CorrectSkew(e *Event, receivedAt time.Time) {
	if e.SentAt.IsZero() {
		return
	}
	if !e.Timestamp.IsZero() {
		e.OriginalTimestamp = e.Timestamp.UTC()
		e.Timestamp = receivedAt.Add(-e.SentAt.Sub(e.Timestamp)).UTC()
	}
	e.SentAt = time.Time{}
}

var emptyObject = []byte("{}")

func isJSONNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// eventSize approximates the memory one queued event holds.
func eventSize(e *Event) int64 {
	return int64(200 + len(e.EventID) + len(e.EventName) + len(e.UserID) + len(e.SessionID) + len(e.AppVersion) +
		len(e.Source) + len(e.Properties) + len(e.DeviceInfo))
}

func (ing *Ingester) countRejected(t EventType, errs []FieldError) {
	label := "invalid"
	if t.Valid() {
		label = string(t)
	}
	ing.metrics.events.WithLabelValues(label, "rejected").Inc()
	for _, fe := range errs {
		ing.metrics.validationErrs.WithLabelValues(fe.Field).Inc()
	}
}

// enqueue queues req, admitted already when rv holds room for it (its room is then given back for req's own
// events: only the hard bounds apply), otherwise admitted now or refused.
func (ing *Ingester) enqueue(req *request, rv *Reservation) error {
	n := len(req.events)
	ing.mu.Lock()
	defer ing.mu.Unlock()
	if ing.closed {
		ing.metrics.ingestRequests.WithLabelValues("closed").Inc()
		return ErrClosed
	}
	admitted := rv != nil && rv.ing == ing && rv.held
	if admitted {
		rv.held = false
		rv.lane.events -= rv.events
		ing.queuedEvents -= rv.events
	}
	l := ing.laneFor(n)
	if admitted && l.events > 0 && ing.hardFull(n, req.bytes) || !admitted && ing.refuse(l, n, req.bytes) {
		err := ing.overloaded(l, n)
		ing.grantWaiters()
		return err
	}
	req.lane = l
	l.events += n
	ing.queuedEvents += n
	ing.queuedBytes += req.bytes
	ing.metrics.queueEvents.Add(float64(n))
	ing.metrics.queueBytes.Add(float64(req.bytes))
	req.enqueued = ing.cfg.Now()
	l.ch <- req
	if admitted {
		ing.grantWaiters() // the reservation may have held more than the request carried
	}
	return nil
}

// lanes is one writer's view of the two lanes; a lane's channel becomes nil once it is closed and empty.
type lanes struct{ small, large chan *request }

func (ls *lanes) open() bool { return ls.small != nil || ls.large != nil }

// take returns the next request, the small lane's first, waiting for one; ok is false once both lanes are
// closed and empty.
func (ls *lanes) take() (*request, bool) {
	for ls.open() {
		if r, ok := ls.poll(); ok {
			return r, true
		}
		if !ls.open() {
			break
		}
		select {
		case r, ok := <-ls.small:
			if ok {
				return r, true
			}
			ls.small = nil
		case r, ok := <-ls.large:
			if ok {
				return r, true
			}
			ls.large = nil
		}
	}
	return nil, false
}

// poll returns a request already queued, the small lane's first, without waiting.
func (ls *lanes) poll() (*request, bool) {
	for _, ch := range []*chan *request{&ls.small, &ls.large} {
		if *ch == nil {
			continue
		}
		select {
		case r, ok := <-*ch:
			if ok {
				return r, true
			}
			*ch = nil
		default:
		}
	}
	return nil, false
}

// writer takes the oldest queued request, gathers whatever else is queued (waiting up to FlushDelay) up to
// FlushSize events, writes them in one Store.Append and answers every request.
func (ing *Ingester) writer() {
	defer ing.writers.Done()
	var timer *time.Timer
	ls := lanes{small: ing.small.ch, large: ing.large.ch}
	for {
		first, ok := ls.take()
		if !ok {
			return
		}
		batch := []*request{first}
		n := len(first.events)
		var timeout <-chan time.Time // nil (never ready) when FlushDelay is zero
		if ing.cfg.FlushDelay > 0 {
			if timer == nil {
				timer = time.NewTimer(ing.cfg.FlushDelay)
			} else {
				timer.Reset(ing.cfg.FlushDelay)
			}
			timeout = timer.C
		}
	gather:
		for n < ing.cfg.FlushSize {
			r, ok := ls.poll() // whatever is queued already joins without waiting
			if !ok {
				if timeout == nil || !ls.open() {
					break gather
				}
				select {
				case r, ok = <-ls.small:
				case r, ok = <-ls.large:
				case <-timeout:
				}
				if !ok {
					break gather // a lane closed (Close drains both on the next take) or the delay ran out
				}
			}
			batch = append(batch, r)
			n += len(r.events)
		}
		if timer != nil {
			timer.Stop()
		}
		if !ing.onlySmall(batch) {
			ing.flush(batch, n)
			continue
		}
		batch, n = ing.awaitSmallWrite(&ls, batch, n)
		ing.smallWrites.Add(1)
		ing.flush(batch, n)
		ing.smallWrites.Add(-1)
		select {
		case ing.smallDone <- struct{}{}:
		default: // tokens are pending already: every waiter re-checks smallWrites
		}
	}
}

// onlySmall reports whether every request of batch queued in the small lane.
func (ing *Ingester) onlySmall(batch []*request) bool {
	for _, r := range batch {
		if r.lane != &ing.small {
			return false
		}
	}
	return true
}

// awaitSmallWrite holds a batch of small requests while another writer's batch of small requests is being
// written, gathering every request that queues meanwhile (up to FlushSize events), and returns it once that
// write has ended. Live single events then commit in a few large writes, one at a time, instead of in many
// small concurrent ones: the concurrent writes would wait for each other anyway (they update the same rollup
// rows), and the database's cost per event falls steeply with the batch size (a batch of 1 costs PostgreSQL
// about 4 times as much per event as a batch of 64). Writes of large requests never wait here, and a large
// request that joins the batch ends the wait.
//
// Overlapping two small writes (the second starting once the first had run half the typical small write's
// duration, so that it inserts while the first waits for its WAL flush) was measured and is slower on
// PostgreSQL at 64 clients: the batches shrink from ~30 to ~21 events, PostgreSQL's CPU per event rises by
// ~10%, and the second write waits on the first's rollup row locks (pg_stat_activity: Lock/transactionid)
// until the first commits.
func (ing *Ingester) awaitSmallWrite(ls *lanes, batch []*request, n int) ([]*request, int) {
	for n < ing.cfg.FlushSize && ing.smallWrites.Load() > 0 {
		var (
			r  *request
			ok bool
		)
		select {
		case r, ok = <-ls.small:
			if !ok {
				ls.small = nil
				continue
			}
		case r, ok = <-ls.large:
			if !ok {
				ls.large = nil
				continue
			}
		case <-ing.smallDone:
			continue // re-check: the token may be stale, or another small write may still be in flight
		}
		batch = append(batch, r)
		n += len(r.events)
		if r.lane != &ing.small {
			return batch, n
		}
	}
	// The wait ended: what queued while the token was being taken joins too (select picks at random among
	// ready cases, so the token can win over requests already waiting in the lane).
	for n < ing.cfg.FlushSize {
		r, ok := ls.poll()
		if !ok {
			break
		}
		batch = append(batch, r)
		n += len(r.events)
		if r.lane != &ing.small {
			break
		}
	}
	return batch, n
}

func (ing *Ingester) flush(batch []*request, n int) {
	start := ing.cfg.Now()
	events := batch[0].events
	if len(batch) > 1 {
		events = make([]Event, 0, n)
		for _, r := range batch {
			events = append(events, r.events...)
		}
	}
	for _, r := range batch {
		ing.metrics.queueWait.Observe(start.Sub(r.enqueued).Seconds())
	}
	ing.metrics.flushEvents.Observe(float64(n))

	ctx, cancel := context.WithTimeout(context.Background(), ing.cfg.WriteTimeout)
	statuses, refused, err := ing.appendIsolating(ctx, events)
	cancel()
	took := ing.cfg.Now().Sub(start)
	ing.metrics.writeDuration.Observe(took.Seconds())
	if err != nil {
		ing.metrics.writeErrors.Inc()
		ing.logger.Error("store write failed", slog.Int("events", n), slog.Int("requests", len(batch)), slog.Any("error", err))
	}

	var bytes int64
	var small int
	off := 0
	for _, r := range batch {
		if r.lane == &ing.small {
			small += len(r.events)
		}
		if err != nil {
			r.err = err
		} else {
			r.statuses = statuses[off : off+len(r.events) : off+len(r.events)]
			if refused != nil {
				r.refused = refused[off : off+len(r.events) : off+len(r.events)]
			}
		}
		off += len(r.events)
		bytes += r.bytes
	}
	// The queue's accounting and the drain rate are updated before any request is answered, so a caller whose
	// Ingest returned sees its events off the queue (admission decided right after it sees the drained queue).
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	ing.mu.Lock()
	ing.queuedEvents -= n
	ing.queuedBytes -= bytes
	ing.small.events -= small
	ing.large.events -= n - small
	if err == nil {
		ing.observeDrain(n, took)
	}
	ing.grantWaiters()
	ing.mu.Unlock()
	ing.metrics.queueEvents.Sub(float64(n))
	ing.metrics.queueBytes.Sub(float64(bytes))
}

// appendIsolating appends events. When the store refuses the batch as invalid (an error matching ErrInvalid:
// a value validation let through that the store cannot hold), it appends each half separately, recursively,
// so that only the events the store refuses on their own are lost to it, never the rest of the batch (which
// may hold other clients' requests). refused is nil when the store refused nothing; otherwise refused[i]
// reports event i, whose status is then zero. Any other error is returned as is; events stored before it are
// recognised as duplicates when the client retries.
func (ing *Ingester) appendIsolating(ctx context.Context, events []Event) (statuses []AppendResult, refused []bool, err error) {
	statuses, err = ing.appendChecked(ctx, events)
	if !errors.Is(err, ErrInvalid) {
		return statuses, nil, err
	}
	statuses, refused = make([]AppendResult, len(events)), make([]bool, len(events))
	if err := ing.isolate(ctx, events, statuses, refused, err); err != nil {
		return nil, nil, err
	}
	return statuses, refused, nil
}

// isolate fills statuses and refused for events, a batch the store refused with cause (matching ErrInvalid),
// by appending its halves separately, down to single events.
func (ing *Ingester) isolate(ctx context.Context, events []Event, statuses []AppendResult, refused []bool, cause error) error {
	if len(events) == 1 {
		ing.logger.Warn("store refused an event as invalid", slog.String("event_id", events[0].EventID),
			slog.String("source", events[0].Source), slog.Any("error", cause))
		refused[0] = true
		return nil
	}
	mid := len(events) / 2
	for _, half := range [][2]int{{0, mid}, {mid, len(events)}} {
		lo, hi := half[0], half[1]
		st, err := ing.appendChecked(ctx, events[lo:hi])
		switch {
		case err == nil:
			copy(statuses[lo:hi], st)
		case errors.Is(err, ErrInvalid):
			if err := ing.isolate(ctx, events[lo:hi], statuses[lo:hi], refused[lo:hi], err); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// appendChecked is store.Append, with an error when the store breaks its contract of one status per event.
func (ing *Ingester) appendChecked(ctx context.Context, events []Event) ([]AppendResult, error) {
	statuses, err := ing.store.Append(ctx, events)
	if err == nil && len(statuses) != len(events) {
		return nil, fmt.Errorf("store returned %d results for %d events", len(statuses), len(events))
	}
	return statuses, err
}

// Close stops accepting events (Ingest returns ErrClosed), writes every event already queued, answers their
// callers, and waits for the writers to finish or ctx to end, whichever is first. It does not close the Store.
// Close is safe to call more than once; later calls wait the same way.
func (ing *Ingester) Close(ctx context.Context) error {
	ing.closeOnce.Do(func() {
		ing.mu.Lock()
		ing.closed = true
		close(ing.small.ch)
		close(ing.large.ch)
		for e := ing.waiters.Front(); e != nil; e = e.Next() {
			close(e.Value.(*waiter).ready) //nolint:forcetypeassert // waiters holds only *waiter; not granted: Reserve returns ErrClosed
		}
		ing.mu.Unlock()
	})
	select {
	case <-ing.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close ingester: %w", ctx.Err())
	}
}
