package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
)

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, zw.Close()) }()
	return zw.EncodeAll(b, nil)
}

// zstdStream compresses b as a stream with a small window, the shape a streaming bomb has: every window fits the
// decoder's limit, only the total output does not.
func zstdStream(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(32<<10))
	require.NoError(t, err)
	_, err = zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestIngestSingle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	body := readFile(t, "single.json")

	w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	got := decodeData[ingestData](t, w)
	stored, err := e.store.Query(t.Context(), logingest.Filter{Source: "app", Limit: 1})
	require.NoError(t, err)
	require.Len(t, stored.Events, 1)
	require.Positive(t, stored.Events[0].ID)
	want := ingestData{EventID: "6d499ffd-8dc6-36eb-00ed-9039f9ba492d", ID: stored.Events[0].ID, Status: logingest.StatusAccepted}
	require.Equal(t, want, got)
	require.EqualValues(t, 1, countStored(t, e.store, "app"))

	// A retry is a success too, and stores nothing new.
	w = do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.Equal(t, logingest.StatusDuplicate, decodeData[ingestData](t, w).Status)
	require.EqualValues(t, 1, countStored(t, e.store, "app"))
}

func TestIngestSingleRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"missing event_type", `{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","event_name":"x"}`, "event_type"},
		{"bad event_type", `{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","event_type":"nope","event_name":"x"}`, "event_type"},
		{"bad timestamp", `{"event_id":"a","timestamp":"yesterday","event_type":"error","event_name":"x"}`, "timestamp"},
		{"timestamp not a string", `{"event_id":"a","timestamp":12,"event_type":"error","event_name":"x"}`, "timestamp"},
		{
			"wrong type",
			`{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","event_type":"error","event_name":"x","sequence_number":"one"}`,
			"sequence_number",
		},
		{
			"properties not an object",
			`{"event_id":"a","timestamp":"2025-08-27T09:00:00Z","event_type":"error","event_name":"x","properties":[1]}`,
			"properties",
		},
		{"not an object", `[{"event_id":"a"}]`, "event"},
		{"malformed JSON", `{"event_id":`, "body"},
		{"empty body", ``, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte(tt.body))
			requireError(t, w, http.StatusBadRequest, "validation_failed", tt.field)
			require.EqualValues(t, 0, countStored(t, e.store, "app"))
		})
	}
}

func TestIngestSingleMalformedSaysWhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	w := do(t, e.h, http.MethodPost, "/api/v1/ingest", keyIngest, []byte("{\n  \"event_id\": \"a\",\n  oops\n}"))
	resp := requireError(t, w, http.StatusBadRequest, "validation_failed", "body")
	require.Contains(t, resp.Errors[0].Reason, "line 3, column 3")
}

func TestBatchIngest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	body := readFile(t, "batch-50.json")

	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	got := decodeData[batchData](t, w)
	require.Equal(t, 50, got.Accepted)
	require.Zero(t, got.Duplicates)
	require.Zero(t, got.Rejected)
	require.Len(t, got.Results, 50)
	for i, r := range got.Results {
		require.Equal(t, i, r.Index)
		require.Equal(t, logingest.StatusAccepted, r.Status)
		require.NotEmpty(t, r.EventID)
	}
	require.EqualValues(t, 50, countStored(t, e.store, "app"))

	w = do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	got = decodeData[batchData](t, w)
	require.Equal(t, 50, got.Duplicates)
	require.Zero(t, got.Accepted)
	require.EqualValues(t, 50, countStored(t, e.store, "app"))
}

func TestBatchIngestPartial(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	body := `{"logs":[
		{"event_id":"ok-1","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"habit_completed"},
		{"event_id":"bad-type","timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral","event_name":"x","sequence_number":"seven"},
		{"event_id":"bad-time","timestamp":"27/08/2025","event_type":"behavioral","event_name":"x"},
		"not an object",
		{"event_id":"invalid","timestamp":"2025-08-27T09:00:00Z","event_type":"unknown","event_name":"x"},
		{"event_id":"ok-2","timestamp":"2025-08-27T09:00:01Z","event_type":"error","event_name":"crash",
		 "properties":{"provider_name":"nfc_notifier"}}
	]}`
	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, []byte(body))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	got := decodeData[batchData](t, w)
	require.Equal(t, 2, got.Accepted)
	require.Equal(t, 4, got.Rejected)
	require.Len(t, got.Results, 6)

	want := []struct {
		id     string
		status logingest.Status
		field  string
	}{
		{"ok-1", logingest.StatusAccepted, ""},
		{"bad-type", logingest.StatusRejected, "sequence_number"},
		{"bad-time", logingest.StatusRejected, "timestamp"},
		{"", logingest.StatusRejected, "event"},
		{"invalid", logingest.StatusRejected, "event_type"},
		{"ok-2", logingest.StatusAccepted, ""},
	}
	for i, wt := range want {
		r := got.Results[i]
		require.Equal(t, i, r.Index)
		require.Equal(t, wt.id, r.EventID, "result %d", i)
		require.Equal(t, wt.status, r.Status, "result %d", i)
		if wt.field != "" {
			require.Contains(t, fields(r.Errors), wt.field, "result %d: %+v", i, r.Errors)
		} else {
			require.Empty(t, r.Errors)
		}
	}

	page, err := e.store.Query(t.Context(), logingest.Filter{Source: "app", SortBy: logingest.SortTimestamp, SortOrder: logingest.SortAsc})
	require.NoError(t, err)
	require.Len(t, page.Events, 2)
	require.Equal(t, "ok-1", page.Events[0].EventID)
	require.Equal(t, "ok-2", page.Events[1].EventID)
}

func TestBatchIngestAllRejectedIs201(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	w := do(t, e.h, http.MethodPost, "/api/v1/batch-ingest", keyIngest, []byte(`{"logs":[1,{"event_id":"x"}]}`))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	got := decodeData[batchData](t, w)
	require.Equal(t, 2, got.Rejected)
	require.EqualValues(t, 0, countStored(t, e.store, "app"))
}

func manyEvents(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"logs":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event_id":"e-%d","timestamp":"2025-08-27T09:00:00Z","event_type":"telemetry","event_name":"tick"}`, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// TestBatchIngestWholeRequestErrors covers every problem that refuses the whole request: nothing is stored.
func TestBatchIngestWholeRequestErrors(t *testing.T) {
	t.Parallel()
	valid := readFile(t, "batch-50.json")
	bomb := gzipBytes(t, bytes.Repeat([]byte(" "), 8<<20)) // 8 MiB of spaces, a few KiB compressed
	gz := map[string]string{"Content-Encoding": "gzip"}
	zst := map[string]string{"Content-Encoding": "zstd"}
	zstdBomb := zstdBytes(t, bytes.Repeat([]byte(" "), 8<<20)) // one frame declaring an 8 MiB window
	zstdStreamBomb := zstdStream(t, bytes.Repeat([]byte(" "), 8<<20))
	tests := []struct {
		name    string
		body    []byte
		header  map[string]string
		noCL    bool // stream the body without Content-Length
		unread  bool // the body must be refused on Content-Length alone, without reading it
		status  int
		code    string
		field   string
		wantLim int64
		maxBody int64 // Config.MaxBodyBytes; 0 means 1 KiB for 413 cases, the default otherwise
	}{
		{name: "malformed envelope", body: []byte(`{"logs":[{"event_id":"a"},]}`), status: 400, code: "validation_failed", field: "body"},
		{name: "envelope not an object", body: []byte(`[1,2]`), status: 400, code: "validation_failed", field: "body"},
		{name: "logs not an array", body: []byte(`{"logs":{"event_id":"a"}}`), status: 400, code: "validation_failed", field: "logs"},
		{name: "missing logs", body: []byte(`{"events":[]}`), status: 400, code: "validation_failed", field: "logs"},
		{name: "empty logs", body: []byte(`{"logs":[]}`), status: 400, code: "validation_failed", field: "logs"},
		{name: "null logs", body: []byte(`{"logs":null}`), status: 400, code: "validation_failed", field: "logs"},
		{name: "too many events", body: manyEvents(101), status: 400, code: "limit_exceeded", field: "logs", wantLim: 100},
		{name: "too large by Content-Length", body: valid, unread: true, status: 413, code: "too_large", field: "body", wantLim: 1024},
		{name: "too large streamed", body: valid, noCL: true, status: 413, code: "too_large", field: "body", wantLim: 1024},
		{name: "gzip bomb", body: bomb, header: gz, status: 413, code: "too_large", field: "body", wantLim: 64 << 10, maxBody: 64 << 10},
		{name: "bad gzip", body: []byte("definitely not gzip"), header: gz, status: 400, code: "validation_failed", field: "body"},
		{name: "truncated gzip", body: gzipBytes(t, valid)[:40], header: gz, status: 400, code: "validation_failed", field: "body"},
		{name: "zstd bomb", body: zstdBomb, header: zst, status: 413, code: "too_large", field: "body", wantLim: 64 << 10, maxBody: 64 << 10},
		{
			name: "zstd stream bomb", body: zstdStreamBomb, header: zst, noCL: true,
			status: 413, code: "too_large", field: "body", wantLim: 64 << 10, maxBody: 64 << 10,
		},
		{name: "bad zstd", body: []byte("definitely not zstd"), header: zst, status: 400, code: "validation_failed", field: "body"},
		{name: "truncated zstd", body: zstdBytes(t, valid)[:40], header: zst, status: 400, code: "validation_failed", field: "body"},
		{name: "unknown encoding", body: valid, header: map[string]string{"Content-Encoding": "br"}, status: 415, code: "unsupported_media_type"},
		{
			name: "wrong content type", body: valid, header: map[string]string{"Content-Type": "text/plain"},
			status: 415, code: "unsupported_media_type",
		},
		{name: "missing content type", body: valid, header: map[string]string{"Content-Type": ""}, status: 415, code: "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cfg *Config
			if tt.maxBody != 0 {
				require.Less(t, int64(len(tt.body)), tt.maxBody, "the wire body must fit so the decompressed limit is what trips")
				cfg = &Config{MaxBodyBytes: tt.maxBody}
			} else if tt.status == http.StatusRequestEntityTooLarge {
				cfg = &Config{MaxBodyBytes: 1024}
			}
			e := newEnv(t, cfg)
			r := request(t, http.MethodPost, "/api/v1/batch-ingest", keyIngest, tt.body)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.noCL {
				r.ContentLength = -1
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(tt.body)))
			}
			cr := &countingReader{r: r.Body}
			r.Body = cr
			w := serve(e.h, r)
			resp := requireError(t, w, tt.status, tt.code, tt.field)
			if tt.unread {
				require.Zero(t, cr.n)
			}
			if tt.wantLim != 0 {
				require.Equal(t, tt.wantLim, resp.Limit)
			}
			require.EqualValues(t, 0, countStored(t, e.store, "app"))
		})
	}
}

func TestIngestCompressed(t *testing.T) {
	t.Parallel()
	for _, enc := range []struct {
		name     string
		compress func(*testing.T, []byte) []byte
	}{{"gzip", gzipBytes}, {"zstd", zstdBytes}} {
		t.Run(enc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			for _, path := range []string{"/api/v1/batch-ingest", "/api/v1/ingest"} {
				name := map[string]string{"/api/v1/batch-ingest": "batch-50.json", "/api/v1/ingest": "single.json"}[path]
				r := request(t, http.MethodPost, path, keyIngest, enc.compress(t, readFile(t, name)))
				r.Header.Set("Content-Encoding", enc.name)
				r.Header.Set("Content-Type", "application/json; charset=utf-8")
				w := serve(e.h, r)
				require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			}
			// single.json is the first event of batch-50.json.
			require.EqualValues(t, 50, countStored(t, e.store, "app"))
		})
	}
}

// TestIngestErrorTable drives the Ingester's documented errors through a fake.
func TestIngestErrorTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		retry  bool
	}{
		{"overloaded", logingest.ErrOverloaded, 503, "overloaded", true},
		{"unavailable", fmt.Errorf("%w: connection refused to 10.0.0.7:5432", logingest.ErrUnavailable), 503, "unavailable", true},
		{"closed", logingest.ErrClosed, 503, "unavailable", true},
		{"deadline", context.DeadlineExceeded, 503, "unavailable", true},
		{"limit", &logingest.LimitError{Field: "logs", Limit: 7, Unit: "events"}, 400, "limit_exceeded", false},
		{"unknown", errors.New("secret detail: password=hunter2"), 500, "internal", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &logingesttest.LogBuffer{}
			ing := &fakeIngester{ingest: func(context.Context, string, []logingest.Event) (*logingest.BatchResult, error) {
				return nil, tt.err
			}}
			h, err := New(ing, &Config{Authenticator: testAuth(), Logger: testLogger(logs)})
			require.NoError(t, err)
			for _, c := range []struct{ path, file string }{{"/api/v1/ingest", "single.json"}, {"/api/v1/batch-ingest", "batch-50.json"}} {
				w := do(t, h, http.MethodPost, c.path, keyIngest, readFile(t, c.file))
				resp := requireError(t, w, tt.status, tt.code, "")
				if tt.retry {
					secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
					require.NoError(t, err)
					require.InDelta(t, retryAfterSeconds, secs, retryAfterSpread, "Retry-After spread around its mean")
				} else {
					require.Empty(t, w.Header().Get("Retry-After"))
				}
				if tt.status == 500 {
					require.Equal(t, "internal error", resp.Message)
					require.NotContains(t, w.Body.String(), "hunter2")
					require.Contains(t, logs.String(), "hunter2", "the detail is logged")
					require.Contains(t, logs.String(), resp.RequestID, "with the request ID")
				}
			}
		})
	}
}

func TestIngestClientGone(t *testing.T) {
	t.Parallel()
	ing := &fakeIngester{ingest: func(ctx context.Context, _ string, _ []logingest.Event) (*logingest.BatchResult, error) {
		return nil, context.Canceled
	}}
	h, err := New(ing, &Config{Authenticator: testAuth(), Logger: testLogger(nil)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	r := request(t, http.MethodPost, "/api/v1/ingest", keyIngest, readFile(t, "single.json")).WithContext(ctx)
	cancel()
	w := serve(h, r)
	require.Equal(t, statusClientClosed, w.Code)
}

func TestIngestSourceIsPrincipals(t *testing.T) {
	t.Parallel()
	var gotSource string
	ing := &fakeIngester{ingest: func(_ context.Context, source string, events []logingest.Event) (*logingest.BatchResult, error) {
		gotSource = source
		res := &logingest.BatchResult{}
		for i, ev := range events {
			res.Results = append(res.Results, logingest.Result{Index: i, EventID: ev.EventID, Status: logingest.StatusAccepted})
		}
		return res, nil
	}}
	h, err := New(ing, &Config{Authenticator: testAuth(), Logger: testLogger(nil)})
	require.NoError(t, err)
	body := []byte(`{"event_id":"x","timestamp":"2025-08-27T09:00:00Z","event_type":"error","event_name":"n",` +
		`"source":"someone-else","received_at":"garbage"}`)
	w := do(t, h, http.MethodPost, "/api/v1/ingest", keyOther, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.Equal(t, "other", gotSource)
}

type countingReader struct {
	r io.ReadCloser
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

func TestReadAtMostBoundsMemory(t *testing.T) {
	t.Parallel()
	const limit = 10_000
	tests := []struct {
		name string
		size int
		hint int64
	}{
		{"small", 100, 0},
		{"exact", limit, 0},
		{"over", 5 * limit, 0},
		{"endless", -1, 0},
		{"lying hint", 5 * limit, 1 << 40},
		{"several chunks", 3000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var src io.Reader = zeros{}
			if tt.size >= 0 {
				src = io.LimitReader(zeros{}, int64(tt.size))
			}
			var b countingBudget
			got, err := readAtMost(src, limit, tt.hint, &b)
			require.LessOrEqual(t, b.peak, 2*int64(limit+1)+firstChunk, "at most the chunks and the assembled copy at once")
			if tt.size >= 0 && tt.size <= limit {
				require.NoError(t, err)
				require.Len(t, got, tt.size)
				require.EqualValues(t, cap(got), b.n, "what stays reserved is the returned buffer")
				return
			}
			require.ErrorIs(t, err, errOverLimit)
			require.LessOrEqual(t, b.peak, int64(limit+1), "an over-limit body is refused before it is assembled")
		})
	}
}

// countingBudget is a budget without a limit that records what is reserved.
type countingBudget struct{ n, peak int64 }

func (b *countingBudget) grow(n int64) error {
	b.n += n
	b.peak = max(b.peak, b.n)
	return nil
}

func (b *countingBudget) shrink(n int64) { b.n -= n }

// zeros is an endless reader, like a gzip bomb's output.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestInflightBodyBudget: while events being ingested hold the MaxInflightBodyBytes budget, another request that
// needs more (its body, then what decoding it takes) is answered 503 with Retry-After at once instead of adding
// to memory; once they finish it passes.
func TestInflightBodyBudget(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	fake := &fakeIngester{ingest: func(_ context.Context, _ string, events []logingest.Event) (*logingest.BatchResult, error) {
		if events[0].EventID == "holder" {
			close(entered)
			<-release
		}
		return &logingest.BatchResult{
			Results:  []logingest.Result{{EventID: events[0].EventID, Status: logingest.StatusAccepted}},
			Accepted: 1,
		}, nil
	}}
	h, err := New(fake, &Config{
		Authenticator: testAuth(), Logger: testLogger(nil), MaxBodyBytes: 8 << 10, MaxInflightBodyBytes: 12 << 10,
	})
	require.NoError(t, err)
	event := func(id string, pad int) []byte {
		return fmt.Appendf(nil, `{"event_id":%q,"timestamp":"2025-08-27T09:00:00Z","event_type":"behavioral",`+
			`"event_name":"habit_completed","properties":{"pad":%q}}`, id, strings.Repeat("x", pad))
	}

	holder := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		holder <- serve(h, request(t, http.MethodPost, "/api/v1/ingest", keyIngest, event("holder", 4<<10)))
	}()
	select {
	case <-entered: // the holder's ~4 KiB of decoded event is reserved until its Ingest returns
	case w := <-holder:
		t.Fatalf("the holding request ended early: %d %s", w.Code, w.Body)
	}

	w := serve(h, request(t, http.MethodPost, "/api/v1/ingest", keyIngest, event("second", 4<<10)))
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.Equal(t, "overloaded", decode(t, w).Code)

	small := serve(h, request(t, http.MethodPost, "/api/v1/ingest", keyIngest, event("small", 10)))
	require.Equal(t, http.StatusCreated, small.Code, "a body that fits the rest of the budget still passes")

	close(release)
	require.Equal(t, http.StatusCreated, (<-holder).Code)
	w = serve(h, request(t, http.MethodPost, "/api/v1/ingest", keyIngest, event("second", 4<<10)))
	require.Equal(t, http.StatusCreated, w.Code, "the budget is given back when a request ends")
}
