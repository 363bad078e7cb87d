package httpapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// stalledUpload opens a connection to srv that sends the headers of a batch declaring declared bytes, then sent
// bytes of it, then nothing. The connection is closed at the end of the test.
func stalledUpload(t *testing.T, srvURL string, declared, sent int, header string) net.Conn {
	t.Helper()
	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", strings.TrimPrefix(srvURL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /api/v1/batch-ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s", keyIngest, declared, header, strings.Repeat("{", sent))
	require.NoError(t, err)
	return conn
}

// postBatch sends batch-50 from client (an X-Real-IP) and returns the status.
func postBatch(t *testing.T, srvURL, client string, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srvURL+"/api/v1/batch-ingest", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+keyIngest)
	req.Header.Set("X-Real-IP", client)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestBudgetFollowsArrivingBytes is case 3 of issue 14: sixteen connections that each declare a maximal body
// and send one byte used to reserve the whole in-flight budget from Content-Length, so every tenant got 503.
// Now they hold what they sent (one small first buffer each) and honest requests pass.
func TestBudgetFollowsArrivingBytes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, &Config{
		Registerer: reg, RequestsPerMinute: -1, EventsPerMinute: -1, TrustedProxyHeader: "X-Real-IP",
		MaxBodyBytes: 1 << 20, MaxInflightBodyBytes: 16 << 20, BodyGracePeriod: time.Minute,
	})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)

	for i := range 16 {
		stalledUpload(t, srv.URL, 1<<20, 1, fmt.Sprintf("X-Real-IP: 10.0.0.%d\r\n", i))
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(e.h.metrics.inflightBytes) >= 16*512
	}, 5*time.Second, 5*time.Millisecond, "every stalled upload holds its first buffer")
	held := testutil.ToFloat64(e.h.metrics.inflightBytes)
	require.LessOrEqual(t, held, float64(16*firstChunk), "each stalled upload holds at most one first buffer, not its Content-Length")

	body := readFile(t, "batch-50.json")
	require.Equal(t, http.StatusCreated, postBatch(t, srv.URL, "192.0.2.1", body), "an honest neighbour is not locked out")
	t.Logf("16 uploads declaring 1 MiB and sending 1 byte hold %.0f bytes of the 16 MiB budget", held)
}

// TestSlowBodyIsCutOff: a body that stops arriving is answered 408 naming the rate once it falls behind
// MinBodyBytesPerSecond, and gives its share of the budget back.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, &Config{Registerer: reg, MinBodyBytesPerSecond: 1000, BodyGracePeriod: 200 * time.Millisecond})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)

	start := time.Now()
	conn := stalledUpload(t, srv.URL, 100_000, 10, "")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	elapsed := time.Since(start)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	var got response
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, "body_too_slow", got.Code)
	require.Equal(t, []string{fieldBody}, fields(got.Errors))
	require.EqualValues(t, 1000, got.Limit)
	require.Less(t, elapsed, 5*time.Second, "cut off after the grace period plus 10 bytes' worth of time, not the read timeout")
	require.Eventually(t, func() bool { return testutil.ToFloat64(e.h.metrics.inflightBytes) == 0 },
		5*time.Second, 5*time.Millisecond, "the budget is given back")

	// A body that keeps arriving at the rate passes, even when it takes longer than the grace period.
	pr, pw := io.Pipe()
	body := readFile(t, "batch-50.json")
	go func() {
		for chunk := range slicesChunk(body, 100) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond) // ~10 KB/s, ten times the minimum
		}
		_ = pw.Close()
	}()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/v1/batch-ingest", pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+keyIngest)
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	require.Equal(t, http.StatusCreated, resp2.StatusCode)
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// TestClientShareOfTheBudget: one client cannot hold more than MaxInflightBodyBytesPerClient; past it its
// requests get 503 while other clients still pass.
func TestClientShareOfTheBudget(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, &Config{
		Registerer: reg, RequestsPerMinute: -1, EventsPerMinute: -1, TrustedProxyHeader: "X-Real-IP",
		MaxBodyBytes: 256 << 10, MaxInflightBodyBytes: 4 << 20, MaxInflightBodyBytesPerClient: 540 << 10,
		BodyGracePeriod: time.Minute,
	})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)

	// The hog sends 200 KiB of each of two 256 KiB bodies and stalls: each holds a buffer grown to its
	// declared length, 512 KiB in all, so a 30 KB batch no longer fits its 540 KiB share.
	for range 2 {
		stalledUpload(t, srv.URL, 256<<10, 200<<10, "X-Real-IP: 203.0.113.7\r\n")
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(e.h.metrics.inflightBytes) >= 2*(256<<10)
	}, 5*time.Second, 5*time.Millisecond)

	body := readFile(t, "batch-50.json")
	require.Equal(t, http.StatusServiceUnavailable, postBatch(t, srv.URL, "203.0.113.7", body), "the hog is over its share")
	require.Equal(t, http.StatusCreated, postBatch(t, srv.URL, "198.51.100.1", body), "another client is not")
}

// FuzzReadBody: whatever the compressed bytes, readBody returns at most MaxBodyBytes, reserves no more than it
// holds, and returns exactly what a reference decoder gives when that fits the limit.
func FuzzReadBody(f *testing.F) {
	const limit = 4 << 10
	plain := []byte(`{"logs":[{"event_id":"a"}]}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat(plain, 400)) // inflates past the limit
	_ = zw.Close()
	enc, err := zstd.NewWriter(nil)
	require.NoError(f, err)
	f.Add(uint8(0), plain)
	f.Add(uint8(1), gz.Bytes())
	f.Add(uint8(2), enc.EncodeAll(plain, nil))
	f.Add(uint8(2), enc.EncodeAll(bytes.Repeat(plain, 400), nil))
	require.NoError(f, enc.Close())
	h, err := New(&fakeIngester{}, &Config{Logger: testLogger(nil), MaxBodyBytes: limit, MaxInflightBodyBytes: 4 * limit})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, encoding uint8, data []byte) {
		name := []string{"", encGzip, encZstd}[int(encoding)%3]
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v1/batch-ingest", bytes.NewReader(data))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Content-Encoding", name)
		rv := h.newReservation(r)
		defer rv.release()
		body, err := h.readBody(httptest.NewRecorder(), r, rv)
		if len(body) > limit {
			t.Fatalf("readBody returned %d bytes over the %d limit", len(body), limit)
		}
		if rv.n > limit+1 {
			t.Fatalf("reserved %d bytes for a body bounded by %d", rv.n, limit)
		}
		if len(data) > limit {
			require.Equal(t, http.StatusRequestEntityTooLarge, classify(err).status, "the wire body is over the limit")
			return
		}
		want, refErr := referenceDecode(name, data, limit)
		if refErr != nil {
			require.Error(t, err, "readBody accepts what the reference decoder refuses")
			return
		}
		if len(want) > limit {
			require.Error(t, err, "a body inflating past the limit is refused")
			require.Equal(t, http.StatusRequestEntityTooLarge, classify(err).status)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, body)
	})
}

// referenceDecode decompresses data with the standard (or klauspost) decoder, reading at most limit+1 bytes.
func referenceDecode(encoding string, data []byte, limit int64) ([]byte, error) {
	var r io.Reader = bytes.NewReader(data)
	switch encoding {
	case encGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	case encZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(uint64(max(limit, zstd.MinWindowSize))))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	return io.ReadAll(io.LimitReader(r, limit+1))
}
