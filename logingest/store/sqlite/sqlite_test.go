package sqlite_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/sqlite"
	"github.com/change66/logserver/migrations"
)

const testdataDir = "../../../testdata"

type testBundle struct {
	path string
	cfg  *sqlite.Config
}

func setup(t testing.TB) (*sqlite.Store, *testBundle) {
	t.Helper()
	b := &testBundle{
		path: filepath.Join(t.TempDir(), "nested", "dir", "logs.db"),
		cfg:  &sqlite.Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true},
	}
	return open(t, b), b
}

func open(t testing.TB, b *testBundle) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), b.path, b.cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// loadEvents reads testdata/events.ndjson and stamps the server fields as the Ingester would.
func loadEvents(t testing.TB, source string) []logingest.Event {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir, "events.ndjson"))
	require.NoError(t, err)
	defer f.Close()
	received := time.Date(2025, 8, 27, 12, 0, 0, 123456789, time.UTC)
	var out []logingest.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e logingest.Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		e.Source = source
		e.ReceivedAt = received.Add(time.Duration(len(out)) * time.Millisecond)
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	require.Len(t, out, 300)
	return out
}

func loadBatch(t testing.TB) []logingest.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdataDir, "batch-50.json"))
	require.NoError(t, err)
	var body struct {
		Logs []logingest.Event `json:"logs"`
	}
	require.NoError(t, json.Unmarshal(data, &body))
	for i := range body.Logs {
		body.Logs[i].Source = "src"
		body.Logs[i].ReceivedAt = time.Now().UTC()
	}
	require.Len(t, body.Logs, 50)
	return body.Logs
}

func countStatus(results []logingest.AppendResult, want logingest.AppendStatus) int {
	n := 0
	for _, r := range results {
		if r.Status == want {
			n++
		}
	}
	return n
}

// requireSameEvent compares two events, JSON semantically and times exactly.
func requireSameEvent(t *testing.T, want, got logingest.Event) {
	t.Helper()
	require.JSONEq(t, orEmpty(want.Properties), orEmpty(got.Properties), "properties of %s", want.EventID)
	require.JSONEq(t, orEmpty(want.DeviceInfo), orEmpty(got.DeviceInfo), "device_info of %s", want.EventID)
	require.True(t, want.Timestamp.Equal(got.Timestamp), "timestamp of %s: %v != %v", want.EventID, want.Timestamp, got.Timestamp)
	require.True(t, want.ReceivedAt.Equal(got.ReceivedAt), "received_at of %s", want.EventID)
	require.Equal(t, time.UTC, got.Timestamp.Location())
	require.Positive(t, got.ID, "id of %s", want.EventID)
	require.False(t, got.ProcessedAt.IsZero(), "processed_at of %s", want.EventID)
	want.ID, want.ProcessedAt = got.ID, got.ProcessedAt
	want.Properties, got.Properties, want.DeviceInfo, got.DeviceInfo = nil, nil, nil, nil
	want.Timestamp, got.Timestamp, want.ReceivedAt, got.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

func orEmpty(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	return string(raw)
}

func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	events := loadEvents(t, "habit-tracker-prod")

	statuses, err := s.Append(ctx, events)
	require.NoError(t, err)
	require.Equal(t, 300, countStatus(statuses, logingest.AppendInserted))

	page, err := s.Query(ctx, logingest.Filter{SortBy: logingest.SortReceivedAt, SortOrder: logingest.SortAsc, Limit: 1000})
	require.NoError(t, err)
	require.EqualValues(t, 300, page.Total)
	require.Len(t, page.Events, 300)
	require.Empty(t, page.NextCursor)
	for i := range events {
		requireSameEvent(t, events[i], page.Events[i])
	}

	// Paging by cursor visits every event once, in timestamp order, newest first.
	seen := map[string]bool{}
	var last time.Time
	f := logingest.Filter{Limit: 7, SkipTotal: true}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100)
		p, err := s.Query(ctx, f)
		require.NoError(t, err)
		require.EqualValues(t, -1, p.Total)
		for _, e := range p.Events {
			require.False(t, seen[e.EventID], "event %s returned twice", e.EventID)
			seen[e.EventID] = true
			if !last.IsZero() {
				require.False(t, e.Timestamp.After(last), "descending timestamps")
			}
			last = e.Timestamp
		}
		if p.NextCursor == "" {
			break
		}
		f.After = p.NextCursor
	}
	require.Len(t, seen, 300)

	// Retrying the whole batch stores nothing new.
	statuses, err = s.Append(ctx, events)
	require.NoError(t, err)
	require.Equal(t, 300, countStatus(statuses, logingest.AppendDuplicate))

	// Filters, including provider_name through the JSON expression index.
	var withProvider, oneUser int
	user := "15TnojHJy8qqhoD18Z8eoVNozctl"
	for _, e := range events {
		var p struct {
			ProviderName string `json:"provider_name"`
		}
		_ = json.Unmarshal(e.Properties, &p)
		if p.ProviderName == "google" {
			withProvider++
		}
		if e.UserID == user {
			oneUser++
		}
	}
	require.Positive(t, oneUser)
	p, err := s.Query(ctx, logingest.Filter{UserID: user, Limit: 1000})
	require.NoError(t, err)
	require.EqualValues(t, oneUser, p.Total)
	p, err = s.Query(ctx, logingest.Filter{ProviderName: "google", Limit: 1000})
	require.NoError(t, err)
	require.EqualValues(t, withProvider, p.Total)
	require.Len(t, p.Events, withProvider)
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := t.Context()
	batch := loadBatch(t)
	_, err := s.Append(ctx, batch)
	require.NoError(t, err)
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	_, err = s.Append(ctx, batch)
	require.ErrorIs(t, err, logingest.ErrClosed)
	_, err = s.Query(ctx, logingest.Filter{})
	require.ErrorIs(t, err, logingest.ErrClosed)
	require.ErrorIs(t, s.Ping(ctx), logingest.ErrClosed)

	s2 := open(t, b)
	page, err := s2.Query(ctx, logingest.Filter{Source: "src"})
	require.NoError(t, err)
	require.EqualValues(t, 50, page.Total)
	statuses, err := s2.Append(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, 50, countStatus(statuses, logingest.AppendDuplicate))
}

func TestWALMode(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	_, err := s.Append(t.Context(), loadBatch(t))
	require.NoError(t, err)

	// journal_mode=WAL is persistent: a plain connection to the file sees it.
	db, err := sqlite.OpenDB(b.path, nil)
	require.NoError(t, err)
	defer db.Close()
	var mode string
	require.NoError(t, db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode)
	_, err = os.Stat(b.path + "-wal")
	require.NoError(t, err, "the WAL file exists while the store is open")
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	events := loadEvents(t, "src")

	// Every writer appends an overlapping window of events in batches, while readers query.
	const writers = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted int
	)
	errs := make(chan error, 2*writers)
	for w := range writers {
		wg.Go(func() {
			start := w * 25
			for i := start; i < min(start+100, len(events)); i += 10 {
				st, err := s.Append(ctx, events[i:min(i+10, len(events))])
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				inserted += countStatus(st, logingest.AppendInserted)
				mu.Unlock()
			}
		})
		wg.Go(func() {
			for range 10 {
				if _, err := s.Query(ctx, logingest.Filter{Source: "src", Limit: 20}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Stats(ctx, logingest.StatsQuery{Now: time.Now()}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Windows cover events [0, 275); each must be inserted exactly once.
	require.Equal(t, 275, inserted)
	page, err := s.Query(ctx, logingest.Filter{SkipTotal: false, Limit: 1})
	require.NoError(t, err)
	require.EqualValues(t, 275, page.Total)
}

func TestAppendCanceled(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Append(ctx, loadBatch(t))
	require.ErrorIs(t, err, context.Canceled)

	page, err := s.Query(t.Context(), logingest.Filter{})
	require.NoError(t, err)
	require.Zero(t, page.Total)
}

func TestAppendInCallDuplicate(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	batch := loadBatch(t)[:3]
	dup := batch[0]
	dup.EventName = "changed"
	st, err := s.Append(t.Context(), append(batch, dup))
	require.NoError(t, err)
	require.Equal(t, []logingest.AppendStatus{
		logingest.AppendInserted, logingest.AppendInserted,
		logingest.AppendInserted, logingest.AppendDuplicate,
	}, []logingest.AppendStatus{st[0].Status, st[1].Status, st[2].Status, st[3].Status})
	require.Equal(t, st[0].ID, st[3].ID, "an in-call duplicate reports its first occurrence's id")
	page, err := s.Query(t.Context(), logingest.Filter{EventName: "changed"})
	require.NoError(t, err)
	require.Zero(t, page.Total, "the first copy is kept unchanged")

	// The same event id in another source is a different event.
	other := batch[0]
	other.Source = "other"
	st, err = s.Append(t.Context(), []logingest.Event{other})
	require.NoError(t, err)
	require.Len(t, st, 1)
	require.Equal(t, logingest.AppendInserted, st[0].Status)
}

func TestQueryBadCursor(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	_, err := s.Append(t.Context(), loadBatch(t))
	require.NoError(t, err)
	page, err := s.Query(t.Context(), logingest.Filter{Limit: 5})
	require.NoError(t, err)
	require.NotEmpty(t, page.NextCursor)

	for _, c := range []string{"not base64!", "e30", "eyJmIjoidGltZXN0YW1wIiwicyI6ImJhZCIsImkiOjF9"} {
		_, err = s.Query(t.Context(), logingest.Filter{After: c})
		require.ErrorIs(t, err, logingest.ErrInvalid, "cursor %q", c)
	}
	// A cursor from another sort field is rejected too.
	_, err = s.Query(t.Context(), logingest.Filter{After: page.NextCursor, SortBy: logingest.SortEventName})
	require.ErrorIs(t, err, logingest.ErrInvalid)
	// Filter validation errors come back from Normalize.
	_, err = s.Query(t.Context(), logingest.Filter{SortBy: "id; DROP TABLE analytics_logs"})
	require.ErrorIs(t, err, logingest.ErrInvalid)
}

func TestStatsAndErase(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	now := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	mk := func(id, user, name string, age time.Duration) logingest.Event {
		return logingest.Event{
			EventID: id, Source: "src", UserID: user, SessionID: "sess-" + user,
			EventType: logingest.EventTypeBehavioral, EventName: name, Timestamp: now.Add(-age),
			ReceivedAt: now.Add(-age), Priority: logingest.PriorityNormal,
		}
	}
	_, err := s.Append(ctx, []logingest.Event{
		mk("1", "u1", "a", 10*time.Minute),
		mk("2", "u1", "b", 2*time.Hour),
		mk("3", "u2", "b", 3*time.Hour),
		mk("4", "", "c", 48*time.Hour),
		mk("5", "u3", "a", -time.Minute), // in the future: outside (Now-24h, Now]
	})
	require.NoError(t, err)
	st, err := s.Stats(ctx, logingest.StatsQuery{Source: "src", Now: now, TopN: 1})
	require.NoError(t, err)
	require.Equal(t, &logingest.Stats{
		TotalEvents: 5, LastHour: 1, LastDay: 3, ActiveSessions: 1, ActiveUsers: 2,
		TopEventTypes: []logingest.ValueCount{{Value: "behavioral", Count: 3}},
		TopEventNames: []logingest.ValueCount{{Value: "b", Count: 2}},
	}, st)

	st, err = s.Stats(ctx, logingest.StatsQuery{Source: "nobody", Now: now})
	require.NoError(t, err)
	require.Zero(t, st.TotalEvents)
	require.NotNil(t, st.TopEventNames)

	n, err := s.DeleteUserEvents(ctx, "src", "u1")
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	n, err = s.DeleteUserEvents(ctx, "", "u1")
	require.NoError(t, err)
	require.Zero(t, n)
	page, err := s.Query(ctx, logingest.Filter{})
	require.NoError(t, err)
	require.EqualValues(t, 3, page.Total)
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	created := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	k1 := logingest.APIKey{
		ID: "k1", Name: "app", Hash: logingest.HashKey("s1"), Source: "src",
		Scopes: logingest.ScopeIngest | logingest.ScopeRead, CreatedAt: created.Add(time.Hour), ExpiresAt: created.Add(48 * time.Hour),
	}
	k2 := logingest.APIKey{
		ID: "k2", Hash: logingest.HashKey("s2"), Source: "src", Scopes: logingest.ScopeAdmin,
		CreatedAt: created, RevokedAt: created.Add(time.Minute),
	}
	require.NoError(t, s.CreateAPIKey(ctx, k1))
	require.NoError(t, s.CreateAPIKey(ctx, k2))
	require.ErrorIs(t, s.CreateAPIKey(ctx, logingest.APIKey{ID: "k1", Hash: "other", CreatedAt: created}), logingest.ErrInvalid)
	require.ErrorIs(t, s.CreateAPIKey(ctx, logingest.APIKey{ID: "k3", Hash: k1.Hash, CreatedAt: created}), logingest.ErrInvalid)

	got, err := s.APIKeyByHash(ctx, k1.Hash)
	require.NoError(t, err)
	require.Equal(t, k1, got)
	_, err = s.APIKeyByHash(ctx, "missing")
	require.ErrorIs(t, err, logingest.ErrNotFound)

	list, err := s.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, []logingest.APIKey{k2, k1}, list)
}

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, path := range []string{"", ":memory:", filepath.Join(dir, "a?b.db"), "file:" + filepath.Join(dir, "x.db")} {
		_, err := sqlite.Open(t.Context(), path, nil)
		require.ErrorIs(t, err, logingest.ErrInvalid, "path %q", path)
	}
	_, err := sqlite.Open(t.Context(), filepath.Join(dir, "s.db"), &sqlite.Config{Synchronous: "sometimes"})
	require.ErrorContains(t, err, "Synchronous")

	// Without AutoMigrate a database that was never migrated is refused; NewMigrator migrates it, and then it
	// opens (FULL is accepted).
	raw := filepath.Join(dir, "raw.db")
	_, err = sqlite.Open(t.Context(), raw, &sqlite.Config{Synchronous: "full"})
	require.ErrorContains(t, err, "not migrated")
	m, release, err := sqlite.NewMigrator(raw, nil)
	require.NoError(t, err)
	_, err = m.Migrate(t.Context(), migrations.DirectionUp, nil)
	require.NoError(t, err)
	require.NoError(t, release())
	s, err := sqlite.Open(t.Context(), raw, &sqlite.Config{Synchronous: "full"})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, appendErr(s.Append(t.Context(), loadBatch(t))))
	sm, release, err := s.Migrator(nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, release()) }()
	versions, err := sm.ExistingVersions(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, versions, "the Store's Migrator sees the applied migrations")
}

func appendErr(_ []logingest.AppendResult, err error) error { return err }

func TestDefaultConfigOpens(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "d.db"), &sqlite.Config{AutoMigrate: true})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Ping(t.Context()))
}

// BenchmarkAppend appends batches of realistic events that arrive in time order, as the app sends them: event
// ids are random-looking (UUIDs in the app), timestamps and received_at increase.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := setup(b)
			ctx := context.Background()
			tmpl := loadEvents(b, "bench")
			base := time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)
			batch := make([]logingest.Event, size)
			n := 0
			for b.Loop() {
				for i := range batch {
					e := tmpl[n%len(tmpl)]
					e.EventID = fmt.Sprintf("%08x-bench-%d", uint32(n)*2654435761, n)
					e.Timestamp = base.Add(time.Duration(n) * time.Millisecond)
					e.ReceivedAt = e.Timestamp.Add(time.Second)
					batch[i] = e
					n++
				}
				if _, err := s.Append(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
