package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Why a run stopped.
const (
	stopEvents       = "events"       // every event was sent (-events)
	stopDuration     = "duration"     // -duration ran out
	stopCanceled     = "canceled"     // interrupted
	stopUnauthorized = "unauthorized" // the server refused the key; going on would only measure 401s
)

var errUnauthorized = errors.New("server refused the API key")

// maxResponseBytes bounds how much of an answer is read; an ingest answer with per-event results for a
// 1000-event batch is well below it.
const maxResponseBytes = 4 << 20

// genConfig is everything a generator needs; run fills it from the flags.
type genConfig struct {
	target       *url.URL
	key          string
	clients      int
	batch        int
	events       int64
	duration     time.Duration
	gzip         bool
	dupFraction  float64
	shape        shape         // timestamps and users
	timeout      time.Duration // per HTTP request
	retries      int           // extra attempts after 429 or 503
	retryMaxWait time.Duration // cap on an honoured Retry-After
	seed         uint64
	runID        string
	templates    []template
	client       *http.Client
}

// generator sends events to one server from cfg.clients goroutines and counts what comes back. A single
// builder goroutine makes every body ahead of the clients (queue of a few requests per client), so the clients
// only compress, send and read.
type generator struct {
	cfg      genConfig
	endpoint string
}

func newGenerator(cfg genConfig) *generator {
	path := "/api/v1/batch-ingest"
	if cfg.batch == 1 {
		path = "/api/v1/ingest"
	}
	return &generator{cfg: cfg, endpoint: cfg.target.JoinPath(path).String()}
}

// tally is one client's counts; they are summed when the run ends.
type tally struct {
	requests, retries                                   int64 // HTTP attempts; attempts repeated after 429/503
	s201, s4xx, s429, s503, s5xx, other                 int64 // answers by status
	transport, canceled                                 int64 // attempts without an answer
	failed                                              int64 // requests whose last attempt was not a 201
	eventsSent, dupsSent, eventsFailed                  int64
	accepted, duplicates, rejected, mismatched, badBody int64
	lat                                                 histogram
}

func (t *tally) add(o *tally) {
	t.requests += o.requests
	t.retries += o.retries
	t.s201 += o.s201
	t.s4xx += o.s4xx
	t.s429 += o.s429
	t.s503 += o.s503
	t.s5xx += o.s5xx
	t.other += o.other
	t.transport += o.transport
	t.canceled += o.canceled
	t.failed += o.failed
	t.eventsSent += o.eventsSent
	t.dupsSent += o.dupsSent
	t.eventsFailed += o.eventsFailed
	t.accepted += o.accepted
	t.duplicates += o.duplicates
	t.rejected += o.rejected
	t.mismatched += o.mismatched
	t.badBody += o.badBody
	t.lat.merge(&o.lat)
}

// run sends until every event is sent, cfg.duration has passed, the server refuses the key, or ctx is
// canceled. Requests in flight when the duration ends are allowed to finish (each is bounded by cfg.timeout);
// canceling ctx aborts them.
func (g *generator) run(ctx context.Context) *result {
	cfg := g.cfg
	b := newBuilder(cfg.runID, cfg.templates, cfg.events, cfg.batch, cfg.dupFraction, cfg.seed)
	b.shape = cfg.shape
	jobs := make(chan *job, 4*cfg.clients)

	// Fill the queue before starting the clock, then keep it topped up. CPU is measured from here: building
	// is part of the generator's cost even when it happens before the clock starts.
	cpu0 := processCPU()
	var buildTime time.Duration
	var built int64
	build := func() *job {
		start := time.Now()
		j := b.next(start)
		buildTime += time.Since(start)
		if j != nil {
			built += int64(j.events)
		}
		return j
	}
	for len(jobs) < cap(jobs) {
		j := build()
		if j == nil {
			break
		}
		jobs <- j
	}
	full := len(jobs) == cap(jobs) // otherwise every event is already queued

	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	abortCtx, abort := context.WithCancelCause(runCtx)
	defer abort(nil)

	var builderDone sync.WaitGroup
	builderDone.Go(func() {
		defer close(jobs)
		if !full {
			return
		}
		for {
			j := build()
			if j == nil {
				return
			}
			select {
			case jobs <- j:
			case <-abortCtx.Done():
				return
			}
		}
	})

	tallies := make([]tally, cfg.clients)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() { g.client(ctx, abortCtx, abort, jobs, &tallies[i]) })
	}
	wg.Wait()
	wall := time.Since(start)
	cpu := processCPU() - cpu0
	abort(nil) // the clients are gone: release a builder blocked on a full queue
	builderDone.Wait()

	var sum tally
	for i := range tallies {
		sum.add(&tallies[i])
	}
	stop := stopEvents
	switch {
	case sum.eventsSent == cfg.events:
	case errors.Is(context.Cause(abortCtx), errUnauthorized):
		stop = stopUnauthorized
	case ctx.Err() != nil:
		stop = stopCanceled
	case runCtx.Err() != nil:
		stop = stopDuration
	}
	return newResult(g, &sum, stop, wall, cpu, buildTime, built)
}

// client takes jobs until the queue is closed or stopCtx ends. Requests run under ctx, not stopCtx, so the
// end of -duration does not cut an answer off.
func (g *generator) client(ctx, stopCtx context.Context, abort context.CancelCauseFunc, jobs <-chan *job, t *tally) {
	var zw *gzip.Writer
	if g.cfg.gzip {
		zw, _ = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level never errors
	}
	var resp bytes.Buffer
	for {
		var j *job
		select {
		case <-stopCtx.Done():
			return
		case j = <-jobs:
		}
		if j == nil || stopCtx.Err() != nil {
			return
		}
		body := j.body
		if zw != nil {
			var buf bytes.Buffer
			buf.Grow(len(body) / 4)
			zw.Reset(&buf)
			_, _ = zw.Write(body) // writes to a bytes.Buffer do not fail
			_ = zw.Close()
			body = buf.Bytes()
		}
		t.eventsSent += int64(j.events)
		t.dupsSent += int64(j.dups)
		if !g.send(ctx, stopCtx, abort, body, j, t, &resp) {
			t.failed++
			t.eventsFailed += int64(j.events)
		}
	}
}

// send delivers one job, retrying 429 and 503 answers up to cfg.retries times, and reports whether it ended
// in a 201.
func (g *generator) send(
	ctx, stopCtx context.Context, abort context.CancelCauseFunc, body []byte, j *job, t *tally, resp *bytes.Buffer,
) bool {
	for attempt := 0; ; attempt++ {
		status, retryAfter, err := g.do(ctx, body, t, resp)
		switch {
		case err != nil && ctx.Err() != nil:
			t.canceled++
			return false
		case err != nil:
			t.transport++
			return false
		case status == http.StatusCreated:
			t.s201++
			g.count(resp.Bytes(), j, t)
			return true
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			t.s4xx++
			abort(fmt.Errorf("%w (%d)", errUnauthorized, status))
			return false
		case status == http.StatusTooManyRequests:
			t.s429++
		case status == http.StatusServiceUnavailable:
			t.s503++
		case status >= 400 && status < 500:
			t.s4xx++
			return false
		case status >= 500:
			t.s5xx++
			return false
		default:
			t.other++
			return false
		}
		// 429 or 503: the request was not processed; wait as told (capped) and send it again.
		if attempt >= g.cfg.retries {
			return false
		}
		wait := min(max(retryAfter, 0), g.cfg.retryMaxWait)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-stopCtx.Done():
			timer.Stop()
			return false
		}
		t.retries++
	}
}

// do makes one HTTP attempt and leaves the answer's body in resp.
func (g *generator) do(ctx context.Context, body []byte, t *tally, resp *bytes.Buffer) (status int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", g.cfg.key)
	req.Header.Set("User-Agent", "logserver-loadgen/1")
	if g.cfg.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	t.requests++
	start := time.Now()
	res, err := g.cfg.client.Do(req)
	if err != nil {
		t.lat.record(time.Since(start))
		return 0, 0, err
	}
	resp.Reset()
	_, err = resp.ReadFrom(io.LimitReader(res.Body, maxResponseBytes))
	_ = res.Body.Close()
	t.lat.record(time.Since(start))
	if err != nil {
		return 0, 0, err
	}
	return res.StatusCode, parseRetryAfter(res.Header.Get("Retry-After")), nil
}

// parseRetryAfter reads a Retry-After in seconds or as an HTTP date; it returns 0 when absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0)
	}
	return 0
}

// ingestAnswer is the part of a 201 answer loadgen reads. The batch endpoint reports counts; the single one
// the status of its event.
type ingestAnswer struct {
	Data struct {
		Accepted   *int64 `json:"accepted"`
		Duplicates *int64 `json:"duplicates"`
		Rejected   *int64 `json:"rejected"`
		Status     string `json:"status"`
	} `json:"data"`
}

// count adds a 201 answer's event outcomes to t. An answer whose counts do not add up to the events sent is
// counted as mismatched; one that cannot be read as badBody (its events count as accepted, since 201 was
// returned).
func (g *generator) count(body []byte, j *job, t *tally) {
	var a ingestAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.badBody++
		t.accepted += int64(j.events)
		return
	}
	d := a.Data
	switch {
	case d.Accepted != nil || d.Duplicates != nil || d.Rejected != nil:
		acc, dup, rej := deref(d.Accepted), deref(d.Duplicates), deref(d.Rejected)
		t.accepted += acc
		t.duplicates += dup
		t.rejected += rej
		if acc+dup+rej != int64(j.events) {
			t.mismatched++
		}
	case d.Status == "duplicate" && j.events == 1:
		t.duplicates++
	case d.Status == "accepted" && j.events == 1:
		t.accepted++
	default:
		t.badBody++
		t.accepted += int64(j.events)
	}
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
