// Package client sends events to a logingest server from a Go backend, with the retry contract the server
// expects: every event is resent until the server answers 201 for it.
//
// Send queues an event and returns at once. Queued events are batched (Config.MaxBatchEvents,
// Config.MaxBatchBytes, Config.FlushInterval), gzip-compressed and POSTed to /api/v1/batch-ingest. Answers 408,
// 429 and 5xx, timeouts and connection errors are retried with jittered exponential backoff, waiting at least
// what Retry-After asks; because the server de-duplicates on (source, event_id), a retry never stores an event
// twice. Every event ends in exactly one Result, delivered to Config.OnResult.
//
// The queue is bounded (Config.QueueEvents); Send blocks while it is full. With Config.SpoolDir set, every
// queued event is also written to disk, so events survive a restart: a new Client on the same directory sends
// what the previous one did not deliver.
//
// The package uses only the standard library and the logingest types.
package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/change66/logserver/logingest"
)

// StatusFailed is the Result status of an event the server refused for good as part of its whole request
// (a 4xx other than 408 and 429, for example 401 for a wrong key), or that was still undelivered when Close
// gave up. Result.Err says why.
const StatusFailed logingest.Status = "failed"

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("client: closed")

// Result is the final outcome of one event.
type Result struct {
	EventID string
	// Status is accepted, duplicate or rejected as the server reported it, or StatusFailed.
	Status logingest.Status
	// Errors are the server's field errors of a rejected event.
	Errors []logingest.FieldError
	// Err is why an event failed (StatusFailed only).
	Err error
}

// Config configures a Client. The zero value of Config is a reasonable default (without an API key).
type Config struct {
	// APIKey is sent as X-API-Key.
	APIKey string
	// HTTPClient sends the requests. Defaults to a client whose Timeout is RequestTimeout.
	HTTPClient *http.Client
	// RequestTimeout bounds one request when HTTPClient is nil. Defaults to 15s.
	RequestTimeout time.Duration
	// MaxBatchEvents is the most events per request; keep it at most the server's MAX_BATCH_SIZE. Defaults to 500.
	MaxBatchEvents int
	// MaxBatchBytes bounds the uncompressed JSON of one request (an event larger than that goes alone); keep
	// it under the server's MAX_REQUEST_SIZE_MB. Defaults to 1 MiB.
	MaxBatchBytes int
	// FlushInterval is how long an event may wait for its batch to fill. Defaults to 1s.
	FlushInterval time.Duration
	// DisableGzip sends request bodies uncompressed.
	DisableGzip bool
	// QueueEvents bounds the events queued and not yet answered; Send blocks while it is reached. Defaults to
	// 10000.
	QueueEvents int
	// Senders is how many requests may be in flight at once. Defaults to 2.
	Senders int
	// MinBackoff and MaxBackoff bound the delay between retries of one batch (exponential with full jitter;
	// never less than Retry-After, which is itself capped at 5 minutes). Default to 250ms and 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// SpoolDir, when set, keeps every queued event on disk until the server answered for it. A Client
	// reloads the directory on New, so events survive a restart or a crash of the process (a crash of the
	// machine may lose the events queued since the last batch was sealed). One Client per directory.
	SpoolDir string
	// OnResult receives each event's final Result, from the sending goroutines; it must not block for long.
	// Defaults to ignoring results.
	OnResult func(Result)
	// Logger receives retries and failures. Defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.RequestTimeout == 0 {
		out.RequestTimeout = 15 * time.Second
	}
	if out.HTTPClient == nil {
		out.HTTPClient = &http.Client{Timeout: out.RequestTimeout}
	}
	if out.MaxBatchEvents == 0 {
		out.MaxBatchEvents = 500
	}
	if out.MaxBatchBytes == 0 {
		out.MaxBatchBytes = 1 << 20
	}
	if out.FlushInterval == 0 {
		out.FlushInterval = time.Second
	}
	if out.QueueEvents == 0 {
		out.QueueEvents = 10000
	}
	if out.Senders == 0 {
		out.Senders = 2
	}
	if out.MinBackoff == 0 {
		out.MinBackoff = 250 * time.Millisecond
	}
	if out.MaxBackoff == 0 {
		out.MaxBackoff = 30 * time.Second
	}
	if out.OnResult == nil {
		out.OnResult = func(Result) {}
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

func (c Config) validate() error {
	var errs []error
	if c.MaxBatchEvents < 1 {
		errs = append(errs, errors.New("MaxBatchEvents must be positive"))
	}
	if c.MaxBatchBytes < 1024 {
		errs = append(errs, errors.New("MaxBatchBytes must be at least 1024"))
	}
	if c.QueueEvents < c.MaxBatchEvents {
		errs = append(errs, errors.New("QueueEvents must be at least MaxBatchEvents"))
	}
	if c.Senders < 1 {
		errs = append(errs, errors.New("Senders must be positive"))
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("MinBackoff must be positive and at most MaxBackoff"))
	}
	return errors.Join(errs...)
}

// batch is a sealed group of events sent as one request.
type batch struct {
	seq    uint64
	events []json.RawMessage
	ids    []string
	spool  string // file holding the batch, "" without a spool
}

// Client batches and sends events. It is safe for concurrent use. Call Close to flush and stop it.
type Client struct {
	endpoint string
	cfg      Config
	logger   *slog.Logger
	spool    *spool

	mu        sync.Mutex
	cur       *batch // events not yet sealed; nil when empty
	curBytes  int
	curTimer  *time.Timer
	queued    int                 // events in cur and in unfinished batches
	unsent    map[uint64]struct{} // sealed batches not finished
	nextSeq   uint64
	closed    bool
	changed   chan struct{} // closed and replaced whenever queued or unsent shrink
	abandoned int           // events failed because Close gave up on them
	batches   chan *batch
	sendCtx   context.Context //nolint:containedctx // the senders' lifetime: Close cancels it to abort retries and requests
	stopSends context.CancelFunc
	senders   sync.WaitGroup
}

// New returns a Client that sends to the logingest server at baseURL (for example "https://logs.example.com";
// a path prefix under which the API is mounted is kept) and starts its senders. A nil cfg uses the defaults.
// With Config.SpoolDir set it first reloads the events a previous Client left there.
func New(baseURL string, cfg *Config) (*Client, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("client: invalid config: %w", err)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL must be an http:// or https:// URL, got %q", baseURL)
	}
	cl := &Client{
		endpoint: strings.TrimSuffix(u.String(), "/") + "/api/v1/batch-ingest",
		cfg:      c,
		logger:   c.Logger,
		unsent:   map[uint64]struct{}{},
		changed:  make(chan struct{}),
	}
	var reloaded []*batch
	if c.SpoolDir != "" {
		sp, batches, err := openSpool(c.SpoolDir, c.MaxBatchEvents)
		if err != nil {
			return nil, err
		}
		cl.spool = sp
		reloaded = batches
	}
	cl.batches = make(chan *batch, c.QueueEvents+len(reloaded))
	for _, b := range reloaded {
		b.seq = cl.nextSeq
		cl.nextSeq++
		cl.unsent[b.seq] = struct{}{}
		cl.queued += len(b.events)
		cl.batches <- b
	}
	if len(reloaded) > 0 {
		cl.logger.Info("client: resending spooled events", slog.Int("batches", len(reloaded)), slog.Int("events", cl.queued))
	}
	cl.sendCtx, cl.stopSends = context.WithCancel(context.Background())
	cl.senders.Add(c.Senders)
	for range c.Senders {
		go cl.sender()
	}
	return cl, nil
}

// Send queues e for sending and returns once it is queued (and, with a spool, written to it). It blocks while
// the queue is full, until ctx ends (returning ctx.Err()). It returns ErrClosed after Close. The event's
// final Result reaches Config.OnResult later.
func (c *Client) Send(ctx context.Context, e logingest.Event) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("client: encode event %q: %w", e.EventID, err)
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if c.queued < c.cfg.QueueEvents {
			break // holding mu
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer c.mu.Unlock()
	if c.cur != nil && c.curBytes+len(raw)+1 > c.cfg.MaxBatchBytes {
		if err := c.sealLocked(); err != nil {
			return err
		}
	}
	if c.spool != nil {
		if err := c.spool.append(raw); err != nil {
			return err
		}
	}
	if c.cur == nil {
		c.cur = &batch{}
		c.curBytes = len(`{"logs":[]}`)
		c.curTimer = time.AfterFunc(c.cfg.FlushInterval, c.flushTimer(c.cur))
	}
	c.cur.events = append(c.cur.events, raw)
	c.cur.ids = append(c.cur.ids, e.EventID)
	c.curBytes += len(raw) + 1
	c.queued++
	if len(c.cur.events) >= c.cfg.MaxBatchEvents {
		return c.sealLocked()
	}
	return nil
}

// flushTimer seals b when FlushInterval has passed since its first event, unless it was sealed already.
func (c *Client) flushTimer(b *batch) func() {
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cur == b {
			if err := c.sealLocked(); err != nil {
				c.logger.Error("client: seal batch", slog.Any("error", err))
			}
		}
	}
}

// sealLocked hands the current batch to the senders. c.mu is held.
func (c *Client) sealLocked() error {
	b := c.cur
	if b == nil {
		return nil
	}
	c.cur = nil
	c.curTimer.Stop()
	if c.spool != nil {
		path, err := c.spool.seal()
		if err != nil {
			// The events stay in the journal, so a restart still sends them; this process sends them too.
			c.logger.Error("client: seal spool batch", slog.Any("error", err))
		}
		b.spool = path
	}
	b.seq = c.nextSeq
	c.nextSeq++
	c.unsent[b.seq] = struct{}{}
	c.batches <- b // never blocks: capacity ≥ QueueEvents ≥ queued batches
	return nil
}

// Flush sends every event queued before the call and waits until the server answered for each of them (or
// they failed), or ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	if err := c.sealLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	upTo := c.nextSeq
	c.mu.Unlock()
	for {
		c.mu.Lock()
		pending := false
		for seq := range c.unsent {
			if seq < upTo {
				pending = true
				break
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if !pending {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("client: flush: %w", ctx.Err())
		}
	}
}

// Close stops accepting events, sends every queued event and waits until each is answered or ctx ends. Events
// still undelivered then are reported StatusFailed (they stay in the spool, when there is one, for the next
// Client) and Close returns an error counting them. Close is safe to call more than once.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	err := c.sealLocked()
	c.mu.Unlock()
	if err == nil {
		err = c.Flush(ctx)
	}
	c.stopSends() // senders give up their retries; their events are reported failed
	c.senders.Wait()
	// Batches no sender picked up are failed too.
	for {
		select {
		case b := <-c.batches:
			c.finish(b, nil, fmt.Errorf("client closed before the server answered: %w", ErrClosed), true)
			continue
		default:
		}
		break
	}
	c.mu.Lock()
	left := c.abandoned + c.queued
	c.mu.Unlock()
	if c.spool != nil {
		if cerr := c.spool.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	if left > 0 || err != nil {
		return errors.Join(fmt.Errorf("client: close: %d events undelivered", left), err)
	}
	return nil
}

func (c *Client) sender() {
	defer c.senders.Done()
	for {
		select {
		case <-c.sendCtx.Done():
			return
		case b := <-c.batches:
			c.deliver(b)
		}
	}
}

// deliver sends b until the server answers it for good or the client is closed.
func (c *Client) deliver(b *batch) {
	results, err := c.send(b.events, b.ids)
	keep := err != nil && c.sendCtx.Err() != nil // undelivered because of Close: keep the spool file
	c.finish(b, results, err, keep)
}

// finish reports b's results (or err for every event), removes its spool file unless keep, and frees its
// queue space.
func (c *Client) finish(b *batch, results []Result, err error, keep bool) {
	if err != nil {
		results = make([]Result, len(b.ids))
		for i, id := range b.ids {
			results[i] = Result{EventID: id, Status: StatusFailed, Err: err}
		}
	}
	for _, r := range results {
		c.cfg.OnResult(r)
	}
	if c.spool != nil && b.spool != "" && !keep {
		c.spool.remove(b.spool)
	}
	c.mu.Lock()
	if errors.Is(err, ErrClosed) {
		c.abandoned += len(b.ids)
	}
	c.queued -= len(b.ids)
	delete(c.unsent, b.seq)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// send posts events until the server answers 201 or refuses them for good; a 413 splits them in halves.
func (c *Client) send(events []json.RawMessage, ids []string) ([]Result, error) {
	body, err := c.encode(events)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		status, wait, results, err := c.post(body, ids)
		switch {
		case err == nil && status == http.StatusCreated:
			return results, nil
		case err == nil && status == http.StatusRequestEntityTooLarge && len(events) > 1:
			mid := len(events) / 2
			first, err := c.send(events[:mid], ids[:mid])
			if err != nil {
				return nil, err
			}
			second, err := c.send(events[mid:], ids[mid:])
			if err != nil {
				return nil, err
			}
			return append(first, second...), nil
		case err == nil && !retryable(status):
			return nil, fmt.Errorf("server refused the request: %d: %w", status, results[0].Err)
		}
		d := max(c.backoff(attempt), wait)
		c.logger.Warn("client: retrying batch", slog.Int("events", len(events)), slog.Int("attempt", attempt),
			slog.Int("status", status), slog.Any("error", err), slog.Duration("retry_in", d))
		t := time.NewTimer(d)
		select {
		case <-c.sendCtx.Done():
			t.Stop()
			return nil, fmt.Errorf("client closed before the server answered: %w", ErrClosed)
		case <-t.C:
		}
	}
}

// retryable reports whether a non-201 status may succeed when resent unchanged.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

func (c *Client) encode(events []json.RawMessage) ([]byte, error) {
	var raw bytes.Buffer
	raw.WriteString(`{"logs":[`)
	for i, e := range events {
		if i > 0 {
			raw.WriteByte(',')
		}
		raw.Write(e)
	}
	raw.WriteString(`]}`)
	if c.cfg.DisableGzip {
		return raw.Bytes(), nil
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}

// batchAnswer is the part of a batch-ingest answer the client reads.
type batchAnswer struct {
	Data struct {
		Results []struct {
			Index   int                    `json:"index"`
			EventID string                 `json:"event_id"`
			Status  logingest.Status       `json:"status"`
			Errors  []logingest.FieldError `json:"errors"`
		} `json:"results"`
	} `json:"data"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// post sends one request. It returns the status and Retry-After of an answer; the per-event results of a
// 201; for another status a single Result whose Err describes the answer; and err for a transport failure.
func (c *Client) post(body []byte, ids []string) (status int, retryAfter time.Duration, results []Result, err error) {
	req, err := http.NewRequestWithContext(c.sendCtx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if !c.cfg.DisableGzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.cfg.APIKey != "" {
		req.Header.Set("X-API-Key", c.cfg.APIKey)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("read answer: %w", err)
	}
	retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	var ans batchAnswer
	decodeErr := json.Unmarshal(raw, &ans)
	if resp.StatusCode != http.StatusCreated {
		// The server answers {"error": <machine code>, "message": <text>}.
		msg := ans.Error
		if ans.Message != "" {
			msg = strings.TrimPrefix(msg+": "+ans.Message, ": ")
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return resp.StatusCode, retryAfter, []Result{{Err: errors.New(msg)}}, nil
	}
	if decodeErr != nil {
		return 0, 0, nil, fmt.Errorf("decode 201 answer: %w", decodeErr)
	}
	if len(ans.Data.Results) != len(ids) {
		return 0, 0, nil, fmt.Errorf("201 answer has %d results for %d events", len(ans.Data.Results), len(ids))
	}
	results = make([]Result, len(ids))
	for i, r := range ans.Data.Results {
		idx := r.Index
		if idx < 0 || idx >= len(ids) {
			idx = i
		}
		results[idx] = Result{EventID: ids[idx], Status: r.Status, Errors: r.Errors}
	}
	return resp.StatusCode, 0, results, nil
}

// parseRetryAfter reads a Retry-After value (seconds or an HTTP date), capped at 5 minutes; 0 when absent.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	const ceiling = 5 * time.Minute
	if s, err := strconv.Atoi(v); err == nil {
		return min(max(time.Duration(s)*time.Second, 0), ceiling)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), ceiling)
	}
	return 0
}

// backoff is the delay before retry number attempt (from 1): full jitter over an exponential ceiling.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := min(c.cfg.MinBackoff<<min(attempt-1, 20), c.cfg.MaxBackoff)
	return c.cfg.MinBackoff/2 + rand.N(ceiling)
}
