package httpapi

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/change66/logserver/logingest"
)

// Reading ingest bodies under the in-flight memory budget. The budget follows the bytes that really arrive: a
// request that declares 10 MiB and sends one byte holds one small buffer, not 10 MiB. A body must keep arriving
// at Config.MinBodyBytesPerSecond (after Config.BodyGracePeriod, and within Config.BodyReadTimeout), so a
// stalled upload cannot hold its share for long, and one client (IP address, IPv6 /64) may hold at most
// Config.MaxInflightBodyBytesPerClient, so a few clients cannot take the whole budget from everyone else.

// Content encodings accepted on ingest bodies.
const (
	encGzip = "gzip"
	encZstd = "zstd"
)

// Buffers of readAtMost: the first is at most firstChunk (or the declared length, when smaller), and each
// further chunk at most maxGrowth, so what a body holds is never much more than what it sent.
const (
	firstChunk = 64 << 10
	maxGrowth  = 1 << 20
)

// errBodyBudget refuses a body that does not fit the MaxInflightBodyBytes budget: 503, retry later.
var errBodyBudget = fmt.Errorf("ingest bodies in flight use the whole memory budget: %w", logingest.ErrOverloaded)

// errClientBudget refuses a body when its client's bodies in flight already use MaxInflightBodyBytesPerClient:
// 503, retry later. The client caused it: it does not get its rate-limit tokens back.
var errClientBudget = &clientCausedError{fmt.Errorf(
	"this client's ingest bodies in flight use its whole share of the memory budget: %w", logingest.ErrOverloaded)}

// unitBytes is the Unit of byte limits in *logingest.LimitError.
const unitBytes = "bytes"

// clientCausedError marks a failure the client caused even though its status is a 5xx (it is a 503 so that the
// client retries later); such failures do not give rate-limit tokens back.
type clientCausedError struct{ err error }

func (e *clientCausedError) Error() string { return e.err.Error() }
func (e *clientCausedError) Unwrap() error { return e.err }

// slowBodyError reports a body that did not arrive at the minimum rate or within the read timeout (HTTP 408).
type slowBodyError struct {
	minRate int64
	timeout time.Duration
}

func (e *slowBodyError) Error() string {
	return fmt.Sprintf("request body arrived too slowly: it must arrive at %d bytes/s at least and within %s", e.minRate, e.timeout)
}

// reservation is the part of the in-flight memory budget one request holds: its body's buffer as it grows, then
// its decoded events. It draws from the Handler's global budget and from its client's share. One request owns
// it; it is not safe for concurrent use. release is idempotent.
type reservation struct {
	h      *Handler
	client string
	n      int64
}

func (h *Handler) newReservation(r *http.Request) *reservation {
	return &reservation{h: h, client: h.clientBucket(r)}
}

// grow reserves n more bytes, or returns errClientBudget or errBodyBudget and reserves nothing.
func (rv *reservation) grow(n int64) error {
	if n <= 0 {
		return nil
	}
	if !rv.h.clients.tryAcquire(rv.client, n) {
		return errClientBudget
	}
	if rv.h.inflight != nil && !rv.h.inflight.TryAcquire(n) {
		rv.h.clients.release(rv.client, n)
		return errBodyBudget
	}
	rv.n += n
	rv.h.metrics.inflightBytes.Add(float64(n))
	return nil
}

// shrink gives back up to n reserved bytes.
func (rv *reservation) shrink(n int64) {
	n = min(n, rv.n)
	if n <= 0 {
		return
	}
	rv.h.clients.release(rv.client, n)
	if rv.h.inflight != nil {
		rv.h.inflight.Release(n)
	}
	rv.n -= n
	rv.h.metrics.inflightBytes.Sub(float64(n))
}

// release gives back everything reserved.
func (rv *reservation) release() { rv.shrink(rv.n) }

// clientBudgets caps the bytes each client holds in flight. A nil *clientBudgets (no cap) grants everything.
// Entries exist only while a client holds bytes, so the map is bounded by the requests in flight.
type clientBudgets struct {
	limit int64
	mu    sync.Mutex
	used  map[string]int64
}

func newClientBudgets(limit int64) *clientBudgets {
	if limit <= 0 {
		return nil
	}
	return &clientBudgets{limit: limit, used: make(map[string]int64)}
}

func (c *clientBudgets) tryAcquire(client string, n int64) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used[client]+n > c.limit {
		return false
	}
	c.used[client] += n
	return true
}

func (c *clientBudgets) release(client string, n int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if left := c.used[client] - n; left > 0 {
		c.used[client] = left
	} else {
		delete(c.used, client)
	}
}

// readBody checks the Content-Type and Content-Encoding of r and reads its body, decompressing gzip or zstd. Both
// the wire body and the decompressed body are bounded by MaxBodyBytes; a compression bomb never allocates more
// than that. The body's buffer is reserved from rv as it grows, and the body must arrive at the minimum rate.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, rv *reservation) (body []byte, err error) {
	if !isJSONMediaType(r.Header.Get("Content-Type")) {
		return nil, &mediaTypeError{msg: "Content-Type must be application/json"}
	}
	encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch encoding {
	case "", "identity":
		encoding = ""
	case encGzip, "x-gzip":
		encoding = encGzip
	case encZstd:
	default:
		return nil, &mediaTypeError{msg: "Content-Encoding must be gzip, zstd or identity"}
	}
	limit := h.cfg.MaxBodyBytes
	tooLarge := &logingest.LimitError{Field: fieldBody, Limit: limit, Unit: unitBytes, TooLarge: true}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	paced := h.pace(w, r.Body)
	defer paced.done()
	// The wire body is capped by MaxBytesReader, the decompressed body by LimitReader (and readAtMost), so a
	// compression bomb costs at most limit+1 bytes.
	var src io.Reader = http.MaxBytesReader(w, paced, limit)
	switch encoding {
	case encGzip:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, h.bodyReadError(err, tooLarge, encoding)
		}
		defer func() { _ = zr.Close() }() // Close only reports errors Read already returned
		src = io.LimitReader(zr, limit+1)
	case encZstd:
		// One synchronous decoder (no goroutines) whose window, hence its memory, is bounded by the body limit.
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(max(limit, zstd.MinWindowSize))))
		if err != nil {
			return nil, h.bodyReadError(err, tooLarge, encoding)
		}
		defer zr.Close()
		src = io.LimitReader(zr, limit+1)
	}
	sizeHint := int64(0)
	if encoding == "" && r.ContentLength > 0 {
		sizeHint = r.ContentLength
	}
	body, err = readAtMost(src, limit, sizeHint, rv)
	if errors.Is(err, errOverLimit) {
		return nil, tooLarge
	}
	if err != nil {
		return nil, h.bodyReadError(err, tooLarge, encoding)
	}
	return body, nil
}

// isJSONMediaType reports whether the Content-Type ct names application/json (any case, with any valid
// parameters). The usual exact "application/json" is recognised without mime.ParseMediaType, which allocates a
// map for the parameters.
func isJSONMediaType(ct string) bool {
	if ct == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// budget is what readAtMost reserves its buffers from; *reservation implements it.
type budget interface {
	grow(n int64) error
	shrink(n int64)
}

// errOverLimit is readAtMost's answer to a body longer than its limit.
var errOverLimit = errors.New("body over the limit")

// readAtMost reads r to EOF but never holds more than limit+1 bytes of it: past limit it stops with
// errOverLimit.
// A body that fits its first buffer — sizeHint+1 bytes (so a body of exactly its declared length reaches EOF),
// at most firstChunk — is read into it and returned. A longer one is read into chunks that double up to
// maxGrowth each, so what it holds follows what it sent (never the declared length) and nothing is copied
// while it arrives; at EOF the chunks are copied once into a buffer of the exact size and given back. Every
// buffer is reserved from b before it is allocated; b's error is returned as is. Once the body is read, b holds
// exactly cap of the returned slice.
func readAtMost(r io.Reader, limit, sizeHint int64, b budget) ([]byte, error) {
	ceiling := limit + 1
	size := min(max(sizeHint+1, 512), firstChunk, ceiling)
	if err := b.grow(size); err != nil {
		return nil, err
	}
	first := make([]byte, 0, size)
	first, full, err := fill(r, first)
	if !full || err != nil {
		return first, err
	}
	if int64(len(first)) >= ceiling {
		return nil, errOverLimit
	}
	chunks := [][]byte{first}
	total := int64(len(first))
	for {
		if total >= ceiling {
			return nil, errOverLimit
		}
		next := min(int64(cap(chunks[len(chunks)-1]))*2, maxGrowth, ceiling-total)
		if err := b.grow(next); err != nil {
			return nil, err
		}
		chunk, full, err := fill(r, make([]byte, 0, next))
		chunks = append(chunks, chunk)
		total += int64(len(chunk))
		if err != nil {
			return nil, err
		}
		if !full {
			break
		}
	}
	if err := b.grow(total); err != nil {
		return nil, err
	}
	body := make([]byte, 0, total)
	for _, c := range chunks {
		body = append(body, c...)
		b.shrink(int64(cap(c)))
	}
	return body, nil
}

// fill reads r into buf until buf is full (full is true) or r ends (io.EOF is not an error).
func fill(r io.Reader, buf []byte) (_ []byte, full bool, _ error) {
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, false, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, true, nil
}

func (h *Handler) bodyReadError(err error, tooLarge *logingest.LimitError, encoding string) error {
	if errors.Is(err, logingest.ErrOverloaded) {
		return err
	}
	if _, ok := errors.AsType[*slowBodyError](err); ok {
		return err
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge
	}
	// A zstd frame that needs a window larger than the body limit would decompress to more than the limit.
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return tooLarge
	}
	reason := "could not be read"
	if encoding != "" {
		reason = "is not valid " + encoding
	}
	return fmt.Errorf("read body: %w: %w", &logingest.ValidationError{Errors: []logingest.FieldError{{Field: fieldBody, Reason: reason}}}, err)
}

// pacedBody enforces the slow-body rule on a body read from a network connection: before each read it moves
// the connection's read deadline to start + grace + received/minRate (never past start + timeout), so the
// body must keep arriving at minRate on average. A read that hits the deadline fails with *slowBodyError.
// When the ResponseWriter cannot set deadlines (an httptest.ResponseRecorder, some middleware), reads are not
// paced.
type pacedBody struct {
	r       io.ReadCloser
	rc      http.ResponseController // a value, not NewResponseController's pointer: one allocation less
	start   time.Time
	minRate int64
	grace   time.Duration
	timeout time.Duration
	n       int64
	off     bool // deadlines unsupported or disabled
	set     bool // a deadline was set
	eof     bool // the body was read to its end
}

func (h *Handler) pace(w http.ResponseWriter, body io.ReadCloser) *pacedBody {
	return &pacedBody{
		r:       body,
		rc:      *http.NewResponseController(w),
		start:   time.Now(), // a connection deadline is wall-clock time, whatever Config.Now says
		minRate: h.cfg.MinBodyBytesPerSecond,
		grace:   h.cfg.BodyGracePeriod,
		timeout: h.cfg.BodyReadTimeout,
		off:     h.cfg.MinBodyBytesPerSecond < 0 && h.cfg.BodyReadTimeout < 0,
	}
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if !p.off {
		if err := p.rc.SetReadDeadline(p.deadline()); err != nil {
			p.off = true // not a connection; nothing to pace
		} else {
			p.set = true
		}
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if errors.Is(err, io.EOF) {
		p.eof = true
	}
	if err != nil && p.set && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, &slowBodyError{minRate: p.minRate, timeout: p.timeout}
	}
	return n, err
}

// Close closes the body.
func (p *pacedBody) Close() error { return p.r.Close() }

// deadline is when the next byte must have arrived.
func (p *pacedBody) deadline() time.Time {
	var dl time.Time
	if p.timeout > 0 {
		dl = p.start.Add(p.timeout)
	}
	if p.minRate > 0 {
		byRate := p.start.Add(p.grace + time.Duration(float64(p.n)/float64(p.minRate)*float64(time.Second)))
		if dl.IsZero() || byRate.Before(dl) {
			dl = byRate
		}
	}
	return dl
}

// done clears the read deadline once the body is read to its end: the server's background read, which waits for
// the next request while this one is answered, would otherwise hit it and cancel the request's context. A body
// left unread (refused, too slow) keeps its deadline, so the server's attempt to drain it before answering
// cannot wait longer than the pace allows.
func (p *pacedBody) done() {
	if p.set && p.eof {
		_ = p.rc.SetReadDeadline(time.Time{})
	}
}
