package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// Test keys: the secret is what the client sends, the principal what the authenticator returns.
const (
	keyFull   = "full-secret"   // ingest + read on source "app"
	keyIngest = "ingest-secret" // ingest only on source "app"
	keyRead   = "read-secret"   // read only on source "app"
	keyOther  = "other-secret"  // ingest + read on source "other"
)

func testAuth() logingest.Authenticator {
	return logingesttest.Keys(map[string]logingest.Principal{
		keyFull:   {KeyID: "k_full", Source: "app", Scopes: logingest.ScopeIngest | logingest.ScopeRead},
		keyIngest: {KeyID: "k_ingest", Source: "app", Scopes: logingest.ScopeIngest},
		keyRead:   {KeyID: "k_read", Source: "app", Scopes: logingest.ScopeRead},
		keyOther:  {KeyID: "k_other", Source: "other", Scopes: logingest.ScopeIngest | logingest.ScopeRead},
	})
}

// newClock returns a fake clock for Config.Now.
func newClock() *logingesttest.Clock {
	return logingesttest.NewClock(time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC))
}

// testLogger writes log lines to buf when it is not nil, else discards them.
func testLogger(buf *logingesttest.LogBuffer) *slog.Logger {
	if buf == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is a Handler over a real Ingester and memstore.
type env struct {
	h     *Handler
	store logingest.Store
	ing   *logingest.Ingester
	clock *logingesttest.Clock
}

// newEnv builds a Handler with testAuth, a fake clock and a silent logger unless cfg sets them.
func newEnv(t *testing.T, cfg *Config) *env {
	t.Helper()
	return newEnvStore(t, memstore.New(), cfg)
}

// newEnvStore is newEnv over st.
func newEnvStore(t *testing.T, st logingest.Store, cfg *Config) *env {
	t.Helper()
	clk := newClock()
	ing, err := logingest.New(st, &logingest.Config{Logger: slog.New(slog.DiscardHandler), Now: clk.Now, MaxBatchSize: 100})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ing.Close(context.Background())) })
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.Authenticator == nil {
		c.Authenticator = testAuth()
	}
	if c.Now == nil {
		c.Now = clk.Now
	}
	if c.Logger == nil {
		c.Logger = testLogger(nil)
	}
	h, err := New(ing, &c)
	require.NoError(t, err)
	return &env{h: h, store: st, ing: ing, clock: clk}
}

// fakeIngester (a Backend) and fakeReader (its Store) have func fields so tests can script error paths.
type fakeIngester struct {
	ingest  func(ctx context.Context, source string, events []logingest.Event) (*logingest.BatchResult, error)
	reader  *fakeReader // nil: a fakeReader whose Ping succeeds
	noStore bool        // Store returns nil
}

func (f *fakeIngester) Store() logingest.Store {
	switch {
	case f.noStore:
		return nil
	case f.reader == nil:
		return &fakeReader{}
	}
	return f.reader
}

func (f *fakeIngester) Ingest(ctx context.Context, source string, events []logingest.Event) (*logingest.BatchResult, error) {
	return f.ingest(ctx, source, events)
}

type fakeReader struct {
	query func(ctx context.Context, f logingest.Filter) (*logingest.Page, error)
	stats func(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error)
	ping  func(ctx context.Context) error
}

func (f *fakeReader) Append(context.Context, []logingest.Event) ([]logingest.AppendResult, error) {
	return nil, errors.New("fakeReader: Append is not used by the handler")
}

func (f *fakeReader) Query(ctx context.Context, fl logingest.Filter) (*logingest.Page, error) {
	if f.query == nil {
		return &logingest.Page{Events: []logingest.Event{}, Total: -1}, nil
	}
	return f.query(ctx, fl)
}

func (f *fakeReader) Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	return f.stats(ctx, q)
}

func (f *fakeReader) Ping(ctx context.Context) error {
	if f.ping == nil {
		return nil
	}
	return f.ping(ctx)
}

// request builds a request carrying key (when not empty) and, for bodies, Content-Type: application/json.
func request(t *testing.T, method, target, key string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r := httptest.NewRequestWithContext(t.Context(), method, target, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func do(t *testing.T, h http.Handler, method, target, key string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	return serve(h, request(t, method, target, key, body))
}

// response is the union of the success and error bodies.
type response struct {
	Success   bool                   `json:"success"`
	Message   string                 `json:"message"`
	Error     string                 `json:"error"`
	Details   []errorDetail          `json:"details"`
	Retryable bool                   `json:"retryable"`
	Code      string                 `json:"code"`
	Errors    []logingest.FieldError `json:"errors"`
	Limit     int64                  `json:"limit"`
	RequestID string                 `json:"request_id"`
	Data      json.RawMessage        `json:"data"`
}

func decode(t *testing.T, w *httptest.ResponseRecorder) response {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"), "body: %s", w.Body)
	var resp response
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp), "body: %s", w.Body)
	return resp
}

func decodeData[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	resp := decode(t, w)
	require.True(t, resp.Success, "body: %s", w.Body)
	var out T
	require.NoError(t, json.Unmarshal(resp.Data, &out), "body: %s", w.Body)
	return out
}

// requireError checks an error answer's status, code and, when field is not empty, that errors names field.
func requireError(t *testing.T, w *httptest.ResponseRecorder, status int, code, field string) response {
	t.Helper()
	require.Equal(t, status, w.Code, "body: %s", w.Body)
	resp := decode(t, w)
	require.False(t, resp.Success)
	require.Equal(t, code, resp.Code, "body: %s", w.Body)
	require.NotEmpty(t, resp.RequestID)
	if field != "" {
		require.Contains(t, fields(resp.Errors), field, "body: %s", w.Body)
	}
	return resp
}

func fields(errs []logingest.FieldError) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/" + name)
	require.NoError(t, err)
	return b
}

// countStored returns how many events source holds in st.
func countStored(t *testing.T, st logingest.Store, source string) int64 {
	t.Helper()
	p, err := st.Query(t.Context(), logingest.Filter{Source: source, Limit: 1})
	require.NoError(t, err)
	return p.Total
}

// serveBoth serves the API and Ops on one mux, as cmd/logserver does.
func serveBoth(api *Handler, ops *Ops) http.Handler {
	mux := http.NewServeMux()
	for _, p := range OpsPaths() {
		mux.Handle(p, ops)
	}
	mux.Handle("/", api)
	return mux
}
