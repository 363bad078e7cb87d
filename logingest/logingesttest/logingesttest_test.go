package logingesttest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// recordingT records failures instead of failing the test.
type recordingT struct {
	msgs   []string
	failed bool
}

func (r *recordingT) Helper() {}
func (r *recordingT) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recordingT) FailNow() { r.failed = true }

func TestRequireIngested(t *testing.T) {
	t.Parallel()
	s := memstore.New()
	now := time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)
	var events []logingest.Event
	for i := range 1500 { // more than one page
		events = append(events, logingest.Event{
			EventID: fmt.Sprintf("e%04d", i), Timestamp: now, EventType: logingest.EventTypeBehavioral,
			EventName: "habit_completed", Source: logingest.DefaultSource, ReceivedAt: now,
		})
	}
	if _, err := s.Append(t.Context(), events); err != nil {
		t.Fatal(err)
	}

	got := RequireIngested(t, s, "", "e1499", "e0000")
	if len(got) != 2 || got[0].EventID != "e1499" || got[1].EventID != "e0000" {
		t.Errorf("RequireIngested returned %v, want e1499 then e0000", got)
	}
	RequireNotIngested(t, s, "", "nope")

	rt := &recordingT{}
	requireIngested(rt, t.Context(), s, "", []string{"e0001", "missing"})
	if !rt.failed || len(rt.msgs) != 1 || !strings.Contains(rt.msgs[0], `"missing"`) || !strings.HasPrefix(rt.msgs[0], "logingesttest: ") {
		t.Errorf("missing event: failed=%v msgs=%q", rt.failed, rt.msgs)
	}
	rt = &recordingT{}
	requireIngested(rt, t.Context(), s, "other-source", []string{"e0001"})
	if !rt.failed {
		t.Error("an event of another source counted as ingested")
	}
	rt = &recordingT{}
	requireNotIngested(rt, t.Context(), s, "", []string{"e0007"})
	if !rt.failed || !strings.Contains(rt.msgs[0], "e0007") {
		t.Errorf("stored event not reported: failed=%v msgs=%q", rt.failed, rt.msgs)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %v, want %v", got, t0)
	}
	c.Advance(time.Minute)
	if got, want := c.Now(), t0.Add(time.Minute); !got.Equal(want) {
		t.Errorf("after Advance: Now = %v, want %v", got, want)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("after Set: Now = %v, want %v", got, t0)
	}
}

func TestAuthenticators(t *testing.T) {
	t.Parallel()
	req := func(key string) *http.Request {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
		if key != "" {
			r.Header.Set("X-API-Key", key)
		}
		return r
	}
	keys := Keys(map[string]logingest.Principal{
		"a": {Source: "app", Scopes: logingest.ScopeIngest},
		"b": {Source: "app", Scopes: logingest.ScopeRead, KeyID: "mine"},
		"c": {Source: "other", Scopes: logingest.ScopeRead},
	})
	pa, err := keys.Authenticate(req("a"))
	if err != nil || pa.Source != "app" || pa.KeyID == "" {
		t.Errorf("key a = %+v, %v; want source app and a KeyID", pa, err)
	}
	pb, _ := keys.Authenticate(req("b"))
	pc, _ := keys.Authenticate(req("c"))
	if pb.KeyID != "mine" || pc.KeyID == pa.KeyID || pc.KeyID == "" {
		t.Errorf("KeyIDs a=%q b=%q c=%q; want b kept and a, c distinct", pa.KeyID, pb.KeyID, pc.KeyID)
	}
	if _, err := keys.Authenticate(req("zzz")); !errors.Is(err, logingest.ErrUnauthorized) {
		t.Errorf("unknown key: %v, want ErrUnauthorized", err)
	}
	if _, err := (&Authenticator{}).Authenticate(req("a")); !errors.Is(err, logingest.ErrUnauthorized) {
		t.Errorf("zero Authenticator: %v, want ErrUnauthorized", err)
	}
	if p, err := Allow(logingest.Principal{Source: "s"}).Authenticate(req("")); err != nil || p.Source != "s" {
		t.Errorf("Allow = %+v, %v", p, err)
	}
	boom := errors.New("boom")
	if _, err := Fail(boom).Authenticate(req("a")); !errors.Is(err, boom) {
		t.Errorf("Fail = %v, want boom", err)
	}
}

func TestLogBuffer(t *testing.T) {
	t.Parallel()
	var b LogBuffer
	logger := b.Logger()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { logger.Debug("line", "i", i) })
	}
	wg.Wait()
	if n := strings.Count(b.String(), `"msg":"line"`); n != 8 {
		t.Errorf("LogBuffer holds %d lines, want 8:\n%s", n, b.String())
	}
}

// logTB captures what NewLogger sends to Log and runs Cleanup functions on demand.
type logTB struct {
	testing.TB
	lines    []string
	cleanups []func()
}

func (l *logTB) Log(args ...any)  { l.lines = append(l.lines, fmt.Sprint(args...)) }
func (l *logTB) Cleanup(f func()) { l.cleanups = append(l.cleanups, f) }

func TestNewLogger(t *testing.T) {
	t.Parallel()
	tb := &logTB{TB: t}
	logger := NewLogger(tb)
	logger.Debug("written to the test log", "k", "v")
	if len(tb.lines) != 1 || !strings.Contains(tb.lines[0], "written to the test log") || !strings.Contains(tb.lines[0], "k=v") {
		t.Fatalf("test log = %q", tb.lines)
	}
	for _, f := range tb.cleanups {
		f()
	}
	logger.Info("after the test")
	if len(tb.lines) != 1 {
		t.Errorf("a record logged after the test reached the test log: %q", tb.lines)
	}
}
