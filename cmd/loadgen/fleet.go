package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The fleet simulation (loadgen fleet): many installs of the app come online at once, each with a buffer of
// offline events to sync in large batches, while their users keep producing live single events. Each install
// behaves like the app: it retries every answer that is not a 201 after its Retry-After (or a backoff when there
// is none), gives up on a request after the app's client timeout (5 s for a single event, 15 s for an offline
// sync batch), keeps the events and sends them again after a delay. At the end it asks the server how many
// events it stores and checks that every event was stored exactly once.

const fleetUsage = `Usage: loadgen fleet [flags]

Simulates -installs app installs coming online at once with -buffered offline events in total (sent by each
install one -batch at a time, as the app's offline sync does), while every install also sends live single
events (one per -live-interval on average) until the whole backlog is synced. Installs retry every non-201
answer after its Retry-After, time requests out as the app does (-single-timeout, -sync-timeout) and then
resend after -resend-delay. It reports whether every event was stored exactly once (the server's
/api/v1/metrics total against the events sent: use a fresh database), the live events' latency, timeouts and
delivery delay, every answer's latency, and the spread of the Retry-After values the server gave.

Flags:
`

// fleetOptions are the parsed flags of loadgen fleet.
type fleetOptions struct {
	url, key    string
	allowRemote bool
	fleetShape
	jsonOut bool
}

// fleetShape is the fleet a run simulates and how its installs behave: the flags that go unchanged into
// fleetConfig.
type fleetShape struct {
	installs      int
	buffered      int64
	batch         int
	liveInterval  time.Duration
	singleTimeout time.Duration
	syncTimeout   time.Duration
	resendDelay   time.Duration
	maxDuration   time.Duration
	verify        bool
	seed          uint64
}

func parseFleetFlags(args []string, getenv func(string) string, stderr io.Writer) (*fleetOptions, error) {
	o := &fleetOptions{}
	fs := flag.NewFlagSet("loadgen fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(fs.Output(), fleetUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base `URL` of the logserver; must be a loopback address unless -allow-remote")
	fs.StringVar(&o.key, "key", "", "API `key` sent as X-API-Key, with read scope for the check (default $LOADGEN_API_KEY)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback target (never used in this workplace)")
	fs.IntVar(&o.installs, "installs", 500, "installs coming online at once (1-10000)")
	fs.Int64Var(&o.buffered, "buffered", 500000, "offline events buffered across all installs (at least -installs)")
	fs.IntVar(&o.batch, "batch", 1000, "events per offline sync request (1-10000)")
	fs.DurationVar(&o.liveInterval, "live-interval", 30*time.Second, "mean time between one install's live single events (0: none)")
	fs.DurationVar(&o.singleTimeout, "single-timeout", 5*time.Second, "the app's timeout for a single event")
	fs.DurationVar(&o.syncTimeout, "sync-timeout", 15*time.Second, "the app's timeout for an offline sync batch")
	fs.DurationVar(&o.resendDelay, "resend-delay", 5*time.Second, "after a timeout, the app keeps the events and resends them this much later")
	fs.DurationVar(&o.maxDuration, "max-duration", 5*time.Minute, "stop (and report what was not delivered) after this long")
	fs.BoolVar(&o.verify, "verify", true, "ask the server (GET /api/v1/metrics) how many events it stores")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as one JSON object")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the events and timings (default: random)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if o.key == "" {
		o.key = getenv("LOADGEN_API_KEY")
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	case o.key == "":
		return nil, usageError{errors.New("missing API key: pass -key or set LOADGEN_API_KEY")}
	case o.installs < 1 || o.installs > 10000:
		return nil, usageError{fmt.Errorf("-installs must be between 1 and 10000, got %d", o.installs)}
	case o.buffered < int64(o.installs):
		return nil, usageError{fmt.Errorf("-buffered must be at least -installs (%d), got %d", o.installs, o.buffered)}
	case o.batch < 1 || o.batch > 10000:
		return nil, usageError{fmt.Errorf("-batch must be between 1 and 10000, got %d", o.batch)}
	case o.liveInterval < 0 || o.resendDelay < 0:
		return nil, usageError{errors.New("-live-interval and -resend-delay must not be negative")}
	case o.singleTimeout <= 0 || o.syncTimeout <= 0 || o.maxDuration <= 0:
		return nil, usageError{errors.New("-single-timeout, -sync-timeout and -max-duration must be positive")}
	}
	return o, nil
}

// runFleet is loadgen fleet.
func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFleetFlags(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	target, err := parseTarget(o.url, o.allowRemote)
	if err != nil {
		return usageError{err}
	}
	tpls, err := parseTemplates(bytes.NewReader(defaultTemplates))
	if err != nil {
		return err
	}
	seed := o.seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	shape := o.fleetShape
	shape.seed = seed
	cfg := fleetConfig{
		target: target, key: o.key, fleetShape: shape,
		runID: fmt.Sprintf("fl%012x", seed&(1<<48-1)), templates: tpls,
		client: newHTTPClient(2*o.installs, o.allowRemote), timeScale: 1,
	}
	res := newFleet(cfg).run(ctx)
	if o.jsonOut {
		err = json.NewEncoder(stdout).Encode(res)
	} else {
		err = res.writeText(stdout)
	}
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if res.Unauthorized {
		return fmt.Errorf("%w: check -key", errUnauthorized)
	}
	if !res.ExactlyOnce {
		return errors.New("not every event was stored exactly once")
	}
	return nil
}

// fleetConfig is everything a fleet run needs.
type fleetConfig struct {
	target *url.URL
	key    string
	fleetShape
	runID     string
	templates []template
	client    *http.Client
	// timeScale multiplies every wait an install makes (Retry-After, backoff, resend delay, the gaps between
	// live events): 1 in the command; tests shrink it to run in a moment.
	timeScale float64
	// liveLimit, when positive, bounds each install's live events (tests); 0 in the command.
	liveLimit int
}

// fleet runs one simulation.
type fleet struct {
	cfg              fleetConfig
	single, batchURL string
	start            time.Time

	mu           sync.Mutex
	sync, live   fleetTally
	retryAfter   []int // seconds, every Retry-After received
	delays       histogram
	liveTimedOut int64 // live events that hit the client timeout at least once
	liveCreated  int64
	liveDone     int64 // live events delivered (201)
	bufferedDone int64 // buffered events delivered (201)
	accepted     int64
	duplicates   int64
	rejected     int64
	unauthorized atomic.Bool
}

// fleetTally counts one kind of request's attempts.
type fleetTally struct {
	requests, s201, s429, s503, other, timeouts, transport int64
	lat                                                    histogram
}

func newFleet(cfg fleetConfig) *fleet {
	return &fleet{
		cfg:      cfg,
		single:   cfg.target.JoinPath("/api/v1/ingest").String(),
		batchURL: cfg.target.JoinPath("/api/v1/batch-ingest").String(),
	}
}

// fleetResult is the outcome of a fleet run; with -json it is printed as one JSON object.
type fleetResult struct {
	RunID          string  `json:"run_id"`
	Installs       int     `json:"installs"`
	Batch          int     `json:"batch"`
	WallSec        float64 `json:"wall_sec"`
	SyncSec        float64 `json:"sync_sec"`        // until every buffered event was acknowledged
	GoodputPerSec  float64 `json:"goodput_per_sec"` // buffered events acknowledged per second of SyncSec
	BufferedEvents int64   `json:"buffered_events"` // offline events to sync
	BufferedAcked  int64   `json:"buffered_acked"`  // of which acknowledged (201)
	LiveEvents     int64   `json:"live_events"`     // live single events created
	LiveAcked      int64   `json:"live_acked"`      // of which acknowledged (201)
	EventsSent     int64   `json:"events_sent"`     // distinct events (buffered + live)
	Accepted       int64   `json:"accepted"`        // as the server reported: stored by this request
	Duplicates     int64   `json:"duplicates"`      // as the server reported: stored by an earlier attempt
	Rejected       int64   `json:"rejected"`        // as the server reported (should be 0)
	Stored         int64   `json:"stored"`          // the server's total_logs (-1: not asked)
	ExactlyOnce    bool    `json:"exactly_once"`    // every event acknowledged, accepted once, stored once
	Unauthorized   bool    `json:"unauthorized"`    // the server refused the key
	AllP99Ms       float64 `json:"all_p99_ms"`      // every answer (batch and single, any status)
	SyncRequests   int64   `json:"sync_requests"`   // batch attempts
	Sync201        int64   `json:"sync_201"`        //
	Sync429        int64   `json:"sync_429"`        //
	Sync503        int64   `json:"sync_503"`        //
	SyncOther      int64   `json:"sync_other"`      // other statuses
	SyncTimeouts   int64   `json:"sync_timeouts"`   // attempts that hit -sync-timeout
	SyncTransport  int64   `json:"sync_transport"`  // attempts without an answer (not timeouts)
	SyncP50Ms      float64 `json:"sync_p50_ms"`     //
	SyncP99Ms      float64 `json:"sync_p99_ms"`     //
	SyncMaxMs      float64 `json:"sync_max_ms"`     //
	LiveRequests   int64   `json:"live_requests"`   // single-event attempts
	Live201        int64   `json:"live_201"`        //
	Live503        int64   `json:"live_503"`        //
	LiveOther      int64   `json:"live_other"`      // other statuses, 429 included
	LiveTimeouts   int64   `json:"live_timeouts"`   // attempts that hit -single-timeout
	LiveTimedOut   int64   `json:"live_timed_out"`  // live events that hit it at least once
	LiveP50Ms      float64 `json:"live_p50_ms"`     // single-event answers
	LiveP99Ms      float64 `json:"live_p99_ms"`     //
	LiveMaxMs      float64 `json:"live_max_ms"`     //
	DelayP50Ms     float64 `json:"delay_p50_ms"`    // live event created -> acknowledged, retries included
	DelayP99Ms     float64 `json:"delay_p99_ms"`    //
	DelayMaxMs     float64 `json:"delay_max_ms"`    //
	RetryAfters    int     `json:"retry_afters"`    // Retry-After headers received
	RetryDistinct  int     `json:"retry_distinct"`  // distinct values among them
	RetryMinSec    int     `json:"retry_min_sec"`   //
	RetryP10Sec    int     `json:"retry_p10_sec"`   //
	RetryP50Sec    int     `json:"retry_p50_sec"`   //
	RetryP90Sec    int     `json:"retry_p90_sec"`   //
	RetryMaxSec    int     `json:"retry_max_sec"`   //
	RetryTopShare  float64 `json:"retry_top_share"` // share of the most frequent value: 1 means lockstep
	Undelivered    int64   `json:"undelivered"`     // events never acknowledged (the run hit -max-duration)
	StopReason     string  `json:"stop_reason"`     // done, max-duration, canceled or unauthorized
}

// run simulates the fleet until every event is acknowledged, -max-duration passes or ctx ends.
func (f *fleet) run(ctx context.Context) *fleetResult {
	runCtx, cancel := context.WithTimeout(ctx, f.cfg.maxDuration)
	defer cancel()
	abortCtx, abort := context.WithCancel(runCtx)
	defer abort()
	f.start = time.Now()
	synced := make(chan struct{}) // closed when every install has synced its backlog
	var syncWG, liveWG sync.WaitGroup
	per, extra := f.cfg.buffered/int64(f.cfg.installs), f.cfg.buffered%int64(f.cfg.installs)
	for i := range f.cfg.installs {
		n := per
		if int64(i) < extra {
			n++
		}
		syncWG.Go(func() { f.syncInstall(abortCtx, abort, i, n) })
		if f.cfg.liveInterval > 0 {
			liveWG.Go(func() { f.liveInstall(abortCtx, abort, &liveWG, synced, i) })
		}
	}
	syncWG.Wait()
	syncSec := time.Since(f.start).Seconds()
	close(synced)
	liveWG.Wait()
	wall := time.Since(f.start)

	res := f.result(wall, syncSec)
	switch {
	case f.unauthorized.Load():
		res.StopReason = "unauthorized"
	case ctx.Err() != nil:
		res.StopReason = "canceled"
	case runCtx.Err() != nil:
		res.StopReason = "max-duration"
	default:
		res.StopReason = "done"
	}
	res.Stored = -1
	if f.cfg.verify && !res.Unauthorized {
		vctx, vcancel := context.WithTimeout(ctx, 30*time.Second)
		if n, err := f.stored(vctx); err == nil {
			res.Stored = n
		}
		vcancel()
	}
	// An event whose answer was lost (a timeout after the commit) is reported duplicate when resent, so
	// accepted may fall short of the events sent; the stored count is the proof.
	res.ExactlyOnce = res.Undelivered == 0 && res.Rejected == 0 && res.Accepted <= res.EventsSent &&
		res.Accepted+res.Duplicates >= res.EventsSent && (res.Stored == -1 || res.Stored == res.EventsSent)
	return res
}

// syncInstall sends install i's n buffered events, one batch at a time, each until it is acknowledged.
func (f *fleet) syncInstall(ctx context.Context, abort context.CancelFunc, i int, n int64) {
	offlineSince := f.start.Add(-6 * time.Hour)
	for k := int64(0); k*int64(f.cfg.batch) < n; k++ {
		count := int(min(int64(f.cfg.batch), n-k*int64(f.cfg.batch)))
		b := newBuilder(fmt.Sprintf("%s-i%d.%d", f.cfg.runID, i, k), f.cfg.templates, int64(count), max(count, 2), 0,
			f.cfg.seed^uint64(i)<<20^uint64(k)) //nolint:gosec // i, k are small and positive
		b.shape = shape{offlineFraction: 1, offlineMinAge: time.Minute, offlineMaxAge: 6 * time.Hour, users: 1, sessionsPerUser: 3}
		body := b.next(offlineSince).body
		if !f.deliver(ctx, abort, f.batchURL, body, count, f.cfg.syncTimeout, &f.sync, nil) {
			return
		}
		f.mu.Lock()
		f.bufferedDone += int64(count)
		f.mu.Unlock()
	}
}

// liveInstall sends install i's live single events, one every liveInterval on average (exponential gaps),
// until synced is closed; each is delivered in its own goroutine, as the app sends an event when it happens.
func (f *fleet) liveInstall(ctx context.Context, abort context.CancelFunc, wg *sync.WaitGroup, synced <-chan struct{}, i int) {
	rng := rand.New(rand.NewPCG(f.cfg.seed, uint64(i))) //nolint:gosec // timings of test traffic
	for k := 0; f.cfg.liveLimit <= 0 || k < f.cfg.liveLimit; k++ {
		gap := time.Duration(rng.ExpFloat64() * float64(f.cfg.liveInterval) * f.cfg.timeScale)
		t := time.NewTimer(gap)
		select {
		case <-t.C:
		case <-synced:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
		seed := f.cfg.seed ^ uint64(i)<<20 ^ uint64(k) //nolint:gosec // i, k are small and positive
		b := newBuilder(fmt.Sprintf("%s-l%d.%d", f.cfg.runID, i, k), f.cfg.templates, 1, 1, 0, seed)
		b.shape = shape{users: 1, sessionsPerUser: 3}
		created := time.Now()
		body := b.next(created).body
		f.mu.Lock()
		f.liveCreated++
		f.mu.Unlock()
		wg.Go(func() {
			timedOut := false
			if f.deliver(ctx, abort, f.single, body, 1, f.cfg.singleTimeout, &f.live, &timedOut) {
				f.mu.Lock()
				f.liveDone++
				f.delays.record(time.Since(created))
				f.mu.Unlock()
			}
			if timedOut {
				f.mu.Lock()
				f.liveTimedOut++
				f.mu.Unlock()
			}
		})
	}
}

// deliver sends body (events events) to url until a 201, as the app does: after a 429 or 503 it waits the
// Retry-After (a backoff when there is none), after a timeout the resend delay, after any other failure a
// backoff. It reports whether the events were acknowledged; it gives up only when ctx ends, the key is refused
// or the server answers a 4xx that a retry cannot fix. timedOut, when not nil, is set if an attempt timed out.
func (f *fleet) deliver(ctx context.Context, abort context.CancelFunc, url string, body []byte, events int,
	timeout time.Duration, t *fleetTally, timedOut *bool,
) bool {
	for attempt := 0; ; attempt++ {
		status, retryAfter, answer, err := f.post(ctx, url, body, timeout)
		var wait time.Duration
		f.mu.Lock()
		t.requests++
		switch {
		case err != nil && ctx.Err() != nil:
			f.mu.Unlock()
			return false
		case errors.Is(err, context.DeadlineExceeded):
			t.timeouts++
			if timedOut != nil {
				*timedOut = true
			}
			wait = f.cfg.resendDelay
		case err != nil:
			t.transport++
			wait = backoff(attempt)
		case status == http.StatusCreated:
			t.s201++
			f.countAnswer(answer, events)
			f.mu.Unlock()
			return true
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			t.other++
			f.mu.Unlock()
			f.unauthorized.Store(true)
			abort()
			return false
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			if status == http.StatusTooManyRequests {
				t.s429++
			} else {
				t.s503++
			}
			wait = backoff(attempt)
			if retryAfter >= 0 {
				f.retryAfter = append(f.retryAfter, int(retryAfter/time.Second))
				wait = retryAfter
			}
		case status >= 400 && status < 500 && status != http.StatusRequestTimeout:
			t.other++
			f.mu.Unlock()
			return false // a retry would get the same answer
		default:
			t.other++
			wait = backoff(attempt)
		}
		f.mu.Unlock()
		timer := time.NewTimer(time.Duration(float64(wait) * f.cfg.timeScale))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return false
		}
	}
}

// backoff is the app's wait after a failure without Retry-After: 1 s doubling to 30 s, spread over ±50%.
func backoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 5)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d)
}

// post makes one attempt and returns the status, the Retry-After (-1 when absent) and the answer's body.
func (f *fleet) post(ctx context.Context, url string, body []byte, timeout time.Duration) (int, time.Duration, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", f.cfg.key)
	req.Header.Set("User-Agent", "logserver-loadgen-fleet/1")
	start := time.Now()
	res, err := f.cfg.client.Do(req)
	if err == nil {
		var answer []byte
		answer, err = io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
		_ = res.Body.Close()
		f.recordLatency(url, time.Since(start))
		if err == nil {
			ra := time.Duration(-1)
			if v := res.Header.Get("Retry-After"); v != "" {
				ra = parseRetryAfter(v)
			}
			return res.StatusCode, ra, answer, nil
		}
	}
	f.recordLatency(url, time.Since(start))
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return 0, 0, nil, err
}

func (f *fleet) recordLatency(url string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if url == f.single {
		f.live.lat.record(d)
	} else {
		f.sync.lat.record(d)
	}
}

// countAnswer adds a 201's outcomes. Caller holds f.mu.
func (f *fleet) countAnswer(body []byte, events int) {
	var a ingestAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return
	}
	d := a.Data
	switch {
	case d.Accepted != nil || d.Duplicates != nil || d.Rejected != nil:
		f.accepted += deref(d.Accepted)
		f.duplicates += deref(d.Duplicates)
		f.rejected += deref(d.Rejected)
	case d.Status == "duplicate" && events == 1:
		f.duplicates++
	case d.Status == "accepted" && events == 1:
		f.accepted++
	}
}

// stored asks the server how many events it stores for the key's source.
func (f *fleet) stored(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.cfg.target.JoinPath("/api/v1/metrics").String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-API-Key", f.cfg.key)
	res, err := f.cfg.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /api/v1/metrics: %s", res.Status)
	}
	var m struct {
		Data struct {
			TotalLogs int64 `json:"total_logs"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxResponseBytes)).Decode(&m); err != nil {
		return 0, fmt.Errorf("GET /api/v1/metrics: %w", err)
	}
	return m.Data.TotalLogs, nil
}

func (f *fleet) result(wall time.Duration, syncSec float64) *fleetResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var all histogram
	all.merge(&f.sync.lat)
	all.merge(&f.live.lat)
	r := &fleetResult{
		RunID: f.cfg.runID, Installs: f.cfg.installs, Batch: f.cfg.batch,
		WallSec: wall.Seconds(), SyncSec: syncSec,
		BufferedEvents: f.cfg.buffered, BufferedAcked: f.bufferedDone,
		LiveEvents: f.liveCreated, LiveAcked: f.liveDone,
		EventsSent: f.cfg.buffered + f.liveCreated,
		Accepted:   f.accepted, Duplicates: f.duplicates, Rejected: f.rejected,
		Unauthorized: f.unauthorized.Load(),
		AllP99Ms:     ms(all.quantile(0.99)),
		SyncRequests: f.sync.requests, Sync201: f.sync.s201, Sync429: f.sync.s429, Sync503: f.sync.s503,
		SyncOther: f.sync.other, SyncTimeouts: f.sync.timeouts, SyncTransport: f.sync.transport,
		SyncP50Ms: ms(f.sync.lat.quantile(0.5)), SyncP99Ms: ms(f.sync.lat.quantile(0.99)), SyncMaxMs: ms(f.sync.lat.max),
		LiveRequests: f.live.requests, Live201: f.live.s201, Live503: f.live.s503,
		LiveOther: f.live.other + f.live.s429 + f.live.transport, LiveTimeouts: f.live.timeouts, LiveTimedOut: f.liveTimedOut,
		LiveP50Ms: ms(f.live.lat.quantile(0.5)), LiveP99Ms: ms(f.live.lat.quantile(0.99)), LiveMaxMs: ms(f.live.lat.max),
		DelayP50Ms: ms(f.delays.quantile(0.5)), DelayP99Ms: ms(f.delays.quantile(0.99)), DelayMaxMs: ms(f.delays.max),
	}
	r.Undelivered = r.EventsSent - r.BufferedAcked - r.LiveAcked
	if syncSec > 0 {
		r.GoodputPerSec = float64(f.bufferedDone) / syncSec
	}
	if n := len(f.retryAfter); n > 0 {
		ra := slices.Clone(f.retryAfter)
		slices.Sort(ra)
		q := func(p float64) int { return ra[min(n-1, int(math.Floor(p*float64(n))))] }
		counts := map[int]int{}
		top := 0
		for _, v := range ra {
			counts[v]++
			top = max(top, counts[v])
		}
		r.RetryAfters, r.RetryDistinct = n, len(counts)
		r.RetryMinSec, r.RetryP10Sec, r.RetryP50Sec, r.RetryP90Sec, r.RetryMaxSec = ra[0], q(0.1), q(0.5), q(0.9), ra[n-1]
		r.RetryTopShare = float64(top) / float64(n)
	}
	return r
}

// writeText prints r for people.
func (r *fleetResult) writeText(w io.Writer) error {
	stored := "not asked"
	if r.Stored >= 0 {
		stored = strconv.FormatInt(r.Stored, 10)
	}
	_, err := fmt.Fprintf(w, `fleet %s: %d installs, %d buffered events in batches of %d, %d live single events (%s after %.1fs)
exactly once: %t (sent %d, accepted %d, duplicates %d, rejected %d, stored %s, undelivered %d)
sync:     %.1fs, %.0f buffered events/s; %d requests: 201 %d, 429 %d, 503 %d, other %d, timeouts %d, transport %d;
          p50 %.0fms p99 %.0fms max %.0fms
live:     %d requests: 201 %d, 503 %d, other %d, timeouts %d (%d events); p50 %.0fms p99 %.0fms max %.0fms
delivery: live events created -> acknowledged p50 %.0fms p99 %.0fms max %.0fms
answers:  every answer p99 %.0fms
retry:    %d Retry-After values, %d distinct: min %ds p10 %ds p50 %ds p90 %ds max %ds; most frequent value %.0f%%
`,
		r.RunID, r.Installs, r.BufferedEvents, r.Batch, r.LiveEvents, r.StopReason, r.WallSec,
		r.ExactlyOnce, r.EventsSent, r.Accepted, r.Duplicates, r.Rejected, stored, r.Undelivered,
		r.SyncSec, r.GoodputPerSec, r.SyncRequests, r.Sync201, r.Sync429, r.Sync503, r.SyncOther, r.SyncTimeouts, r.SyncTransport,
		r.SyncP50Ms, r.SyncP99Ms, r.SyncMaxMs,
		r.LiveRequests, r.Live201, r.Live503, r.LiveOther, r.LiveTimeouts, r.LiveTimedOut, r.LiveP50Ms, r.LiveP99Ms, r.LiveMaxMs,
		r.DelayP50Ms, r.DelayP99Ms, r.DelayMaxMs,
		r.AllP99Ms,
		r.RetryAfters, r.RetryDistinct, r.RetryMinSec, r.RetryP10Sec, r.RetryP50Sec, r.RetryP90Sec, r.RetryMaxSec, 100*r.RetryTopShare)
	return err
}
