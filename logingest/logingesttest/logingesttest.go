// Package logingesttest helps test code that uses logingest: a logger that writes to the test log, a buffer
// that captures log lines, a fake clock, Authenticator stubs, and assertions such as RequireIngested.
//
// It depends on the standard library and logingest only, so importing it adds nothing to a test build. Use it
// from _test.go files.
package logingesttest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
)

// testingT is the part of testing.TB the helpers use, so that their own tests can observe failures.
type testingT interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

var _ testingT = testing.TB(nil)

// failuref reports a failure with the package's fixed header and stops the test.
func failuref(t testingT, format string, args ...any) {
	t.Helper()
	t.Errorf("logingesttest: "+format, args...)
	t.FailNow()
}

// NewLogger returns a logger that writes each record, at every level, to tb.Log, so it shows next to the test
// that logged it and only when the test fails or runs with -v. Records logged after the test ended (by a
// goroutine that outlived it) are dropped instead of panicking.
func NewLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	w := &tbWriter{tb: tb}
	tb.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct {
	tb   testing.TB
	done atomic.Bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// LogBuffer collects log output so a test can assert on it. It is safe for concurrent use; the zero value is
// an empty buffer.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a logger that writes JSON lines at every level to b.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Clock is a fake clock for Config.Now fields: it stands still until Advance or Set moves it. It is safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time; pass c.Now as a Config's Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Authenticator is a logingest.Authenticator stub: AuthenticateFunc decides every request. A nil
// AuthenticateFunc refuses every request with logingest.ErrUnauthorized.
type Authenticator struct {
	AuthenticateFunc func(r *http.Request) (logingest.Principal, error)
}

var _ logingest.Authenticator = (*Authenticator)(nil)

// Authenticate implements logingest.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (logingest.Principal, error) {
	if a.AuthenticateFunc == nil {
		return logingest.Principal{}, logingest.ErrUnauthorized
	}
	return a.AuthenticateFunc(r)
}

// Keys returns an Authenticator that accepts the API keys of keys (as sent in "Authorization: Bearer" or
// "X-API-Key") and answers each with its Principal; other requests get logingest.ErrUnauthorized. A Principal
// without a KeyID is given one derived from its key's position, so each key has its own rate limits.
func Keys(keys map[string]logingest.Principal) *Authenticator {
	ks := make(map[string]logingest.Principal, len(keys))
	for i, k := range slices.Sorted(maps.Keys(keys)) {
		p := keys[k]
		if p.KeyID == "" {
			p.KeyID = fmt.Sprintf("test_key_%d", i)
		}
		ks[k] = p
	}
	return &Authenticator{AuthenticateFunc: func(r *http.Request) (logingest.Principal, error) {
		p, ok := ks[logingest.APIKeyFromRequest(r)]
		if !ok {
			return logingest.Principal{}, logingest.ErrUnauthorized
		}
		return p, nil
	}}
}

// Allow returns an Authenticator that accepts every request as p.
func Allow(p logingest.Principal) *Authenticator {
	return &Authenticator{AuthenticateFunc: func(*http.Request) (logingest.Principal, error) { return p, nil }}
}

// Fail returns an Authenticator whose every call fails with err, for testing how a broken authenticator is
// answered (any error other than logingest.ErrUnauthorized is the authenticator's own failure).
func Fail(err error) *Authenticator {
	return &Authenticator{AuthenticateFunc: func(*http.Request) (logingest.Principal, error) {
		return logingest.Principal{}, err
	}}
}

// RequireIngested fails tb unless s holds an event of source with each of eventIDs, and returns those events
// in the order of eventIDs. An empty source means DefaultSource, as the Ingester stamps it.
func RequireIngested(tb testing.TB, s logingest.Store, source string, eventIDs ...string) []logingest.Event {
	tb.Helper()
	return requireIngested(tb, tb.Context(), s, source, eventIDs)
}

func requireIngested(t testingT, ctx context.Context, s logingest.Store, source string, eventIDs []string) []logingest.Event {
	t.Helper()
	if source == "" {
		source = logingest.DefaultSource
	}
	stored, err := allEvents(ctx, s, source)
	if err != nil {
		failuref(t, "query source %q: %v", source, err)
		return nil
	}
	byID := make(map[string]logingest.Event, len(stored))
	for _, e := range stored {
		byID[e.EventID] = e
	}
	out := make([]logingest.Event, 0, len(eventIDs))
	var missing []string
	for _, id := range eventIDs {
		e, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, e)
	}
	if len(missing) > 0 {
		failuref(t, "source %q lacks %d of %d events: %q (it holds %d events)", source, len(missing), len(eventIDs), missing, len(stored))
		return nil
	}
	return out
}

// RequireNotIngested fails tb if s holds an event of source with any of eventIDs.
func RequireNotIngested(tb testing.TB, s logingest.Store, source string, eventIDs ...string) {
	tb.Helper()
	requireNotIngested(tb, tb.Context(), s, source, eventIDs)
}

func requireNotIngested(t testingT, ctx context.Context, s logingest.Store, source string, eventIDs []string) {
	t.Helper()
	if source == "" {
		source = logingest.DefaultSource
	}
	stored, err := allEvents(ctx, s, source)
	if err != nil {
		failuref(t, "query source %q: %v", source, err)
		return
	}
	var found []string
	for _, e := range stored {
		if slices.Contains(eventIDs, e.EventID) {
			found = append(found, e.EventID)
		}
	}
	if len(found) > 0 {
		failuref(t, "source %q holds events it should not: %q", source, found)
	}
}

// allEvents pages through every event of source.
func allEvents(ctx context.Context, s logingest.Store, source string) ([]logingest.Event, error) {
	var out []logingest.Event
	f := logingest.Filter{Source: source, Limit: logingest.MaxQueryLimit, SkipTotal: true, SortOrder: logingest.SortAsc}
	for {
		p, err := s.Query(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Events...)
		if p.NextCursor == "" || len(p.Events) == 0 {
			return out, nil
		}
		f.After = p.NextCursor
	}
}
