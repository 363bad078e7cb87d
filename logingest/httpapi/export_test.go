package httpapi

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
	"github.com/change66/logserver/logingest/store/pgstore"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// pagesOnly hides every optional interface of a Store (logingest.Exporter among them): export pages
// through Query, as it did before Exporter.
type pagesOnly struct{ logingest.Store }

// awkwardEvents returns n events of source "app" whose values need escaping, quoting or formula guards, with
// numbers, unicode and nested properties, received a millisecond apart before now.
func awkwardEvents(n int, now time.Time) []logingest.Event {
	odd := []string{
		"plain", `say "hi", then go`, "line\nbreak\r\nend", "=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\ttab",
		"é ünïcødé \u6f22\u5b57 🙂", "<b>&amp;</b>", "\u2028sep\u2029", " lead", `back\slash`, `\.`, "a,b,c",
	}
	out := make([]logingest.Event, n)
	for i := range out {
		s := odd[i%len(odd)]
		props, err := json.Marshal(map[string]any{
			"text": s, "n": i, "f": float64(i) / 7, "big": 1e300, "neg": -0.5, "ok": i%2 == 0, "nil": nil,
			"nested": map[string]any{"list": []any{1, "two", map[string]any{"three": s}}, "empty": map[string]any{}},
		})
		if err != nil {
			panic(err)
		}
		e := logingest.Event{
			EventID: fmt.Sprintf("%s-%d", s, i), Timestamp: now.Add(-time.Duration(i%97) * time.Minute),
			EventType: logingest.EventTypes()[i%5], EventName: s, Properties: props, Source: "app",
			AppVersion: "2.0.1+7", Priority: logingest.Priorities()[i%2], ReceivedAt: now.Add(-time.Duration(n-i) * time.Millisecond),
		}
		if i%3 != 0 {
			e.UserID, e.SessionID = "u"+s, fmt.Sprintf("s%d", i%11)
			e.DeviceInfo = json.RawMessage(`{ "platform" : "ios", "model": "` + fmt.Sprint(i%4) + `" }`)
		}
		if i%4 != 0 {
			e.SequenceNumber = new(int64(i%9 - 4))
		}
		out[i] = e
	}
	return out
}

// otherSource moves events to source "other", another tenant than keyRead's.
func otherSource(events []logingest.Event) []logingest.Event {
	for i := range events {
		events[i].Source = "other"
	}
	return events
}

// TestExportStreamMatchesPages: on the SQL stores, the export through logingest.Exporter writes exactly the
// bytes (and headers) of the export by pages through Query, for NDJSON and CSV, every sort and filters, over
// more events than a few chunks, awkward values and rows stored past validation that are served sanitised;
// another source's events never appear.
func TestExportStreamMatchesPages(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	stores := map[string]func(t *testing.T) logingest.Store{
		"sqlite": func(t *testing.T) logingest.Store {
			t.Helper()
			path := filepath.Join(t.TempDir(), "logingest.db")
			s, err := sqlite.Open(t.Context(), path, &sqlite.Config{AutoMigrate: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			_, err = s.Append(t.Context(), awkwardEvents(4500, now))
			require.NoError(t, err)
			_, err = s.Append(t.Context(), otherSource(awkwardEvents(50, now)))
			require.NoError(t, err)
			// A busy timeout: the store's background indexer may be writing after the Appends.
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			require.NoError(t, err)
			defer db.Close()
			const at = "2025-08-27T11:00:00.000000000Z"
			for i, r := range []struct{ id, ts, props, device, user string }{
				{"bad-year-10000", "10000-01-01T00:00:00.000000000Z", `{"a":1}`, `{}`, "u"},
				{"bad-not-a-time", "yesterday", `{"a":1}`, `{}`, "u"},
				{"bad-utf8", at, "{\"a\":\"\xff\xfe\"}", "{\"\xe2\x82\":1}", "u\xff"},
				{"bad-props-array", at, `[1,2]`, `"x"`, "u"},
				{"bad-props-number", at, `3`, `null`, "u"},
				{"=bad-formula", at, ` {"spaced" : [1, 2]} `, `{}`, "u"},
			} {
				_, err := db.ExecContext(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
					event_name, properties, device_info, user_id, priority, received_at, created_at)
					VALUES ('app', ?, ?, 'error', 'poison', ?, ?, ?, 'normal', ?, ?)`,
					r.id, r.ts, r.props, r.device, r.user, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), at)
				require.NoError(t, err, r.id)
			}
			return s
		},
		"postgres": func(t *testing.T) logingest.Store {
			t.Helper()
			s, err := pgstore.Open(context.Background(), pgtest.Schema(t),
				&pgstore.Config{AutoMigrate: true, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			_, err = s.Append(t.Context(), awkwardEvents(4500, now))
			require.NoError(t, err)
			_, err = s.Append(t.Context(), otherSource(awkwardEvents(50, now)))
			require.NoError(t, err)
			for id, vals := range map[string]string{ // event_id: timestamp, received_at, properties, device_info
				"bad-infinity":     `'infinity', now(), '{"a":1}', NULL`,
				"bad-neg-infinity": `'-infinity', '-infinity', '[1,2]', '"x"'`,
				"bad-year-10000":   `'10000-01-01 00:00:00+00', now(), '3', '{}'`,
				"=bad-formula":     `now(), now() - interval '1 hour', '{"a" : [1, 2, {"b": "<>"}]}', '{}'`,
			} {
				_, err := s.Pool().Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, received_at,
					properties, device_info, event_type, event_name) VALUES ('app', $1, `+vals+`, 'error', 'poison')`, id)
				require.NoError(t, err, id)
			}
			return s
		},
	}
	queries := []string{
		"", "format=csv", "sort_by=timestamp&sort_order=asc", "format=csv&sort_by=event_name&sort_order=asc",
		"sort_by=sequence_number", "format=csv&sort_by=user_id&sort_order=asc", "event_type=error&sort_by=id",
		"format=csv&priority=high&sort_by=received_at&sort_order=asc", "search=HYPERLINK", "format=csv&user_id=u%2B1",
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			_, ok := st.(logingest.Exporter)
			require.True(t, ok, "%s implements logingest.Exporter", name)
			stream, pages := newEnvStore(t, st, nil), newEnvStore(t, pagesOnly{st}, nil)
			for _, q := range queries {
				target := "/api/v1/logs/export?" + q
				want := do(t, pages.h, http.MethodGet, target, keyRead, nil)
				require.Equal(t, http.StatusOK, want.Code, "%s: %s", q, want.Body)
				got := do(t, stream.h, http.MethodGet, target, keyRead, nil)
				require.Equal(t, want.Code, got.Code, q)
				want.Header().Del("X-Request-Id")
				got.Header().Del("X-Request-Id")
				require.Equal(t, want.Header(), got.Header(), q)
				require.Greater(t, bytes.Count(want.Body.Bytes(), []byte("\n")), 1, "%s exports some events", q)
				require.NotContains(t, got.Body.String(), `"source":"other"`, "%s: another tenant's events", q)
				require.NotContains(t, got.Body.String(), ",other,", "%s: another tenant's events", q)
				if !bytes.Equal(want.Body.Bytes(), got.Body.Bytes()) {
					w, g := want.Body.String(), got.Body.String()
					i := 0
					for i < min(len(w), len(g)) && w[i] == g[i] {
						i++
					}
					t.Fatalf("%s: bodies differ at byte %d of %d/%d:\npages:  %q\nstream: %q", q, i, len(w), len(g),
						w[max(i-200, 0):min(i+200, len(w))], g[max(i-200, 0):min(i+200, len(g))])
				}
			}
		})
	}
}

// failingExporter is a memstore whose Export delivers the first after events of the filter, then fails.
type failingExporter struct {
	*memstore.Store
	after int
}

var errExportBroke = errors.New("store broke mid-export")

func (f failingExporter) Export(ctx context.Context, fl logingest.Filter, fn func(e *logingest.Event) error) error {
	fl.Limit = logingest.MaxQueryLimit
	p, err := f.Query(ctx, fl)
	if err != nil {
		return err
	}
	for i := range min(f.after, len(p.Events)) {
		if err := fn(&p.Events[i]); err != nil {
			return err
		}
	}
	return fmt.Errorf("export: %w: %w", errExportBroke, logingest.ErrUnavailable)
}

// TestExportStreamError: an Exporter failing before its first event is answered with the store error's
// status and JSON body; one failing after events were sent breaks the transfer (the client sees an error,
// never a short file that looks whole), in both formats.
func TestExportStreamError(t *testing.T) {
	t.Parallel()
	for _, after := range []int{0, 1, 2500} {
		for _, format := range []string{"ndjson", "csv"} {
			t.Run(fmt.Sprintf("after=%d/%s", after, format), func(t *testing.T) {
				t.Parallel()
				ms := memstore.New()
				_, err := ms.Append(t.Context(), awkwardEvents(3000, time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)))
				require.NoError(t, err)
				e := newEnvStore(t, failingExporter{ms, after}, nil)
				srv := httptest.NewServer(e.h)
				defer srv.Close()
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/logs/export?format="+format, nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+keyRead)
				resp, err := srv.Client().Do(req)
				if after > 0 && err != nil {
					return // broken before the headers left the server's buffer: the client sees no file at all
				}
				require.NoError(t, err)
				defer resp.Body.Close()
				body, readErr := io.ReadAll(resp.Body)
				if after == 0 {
					require.NoError(t, readErr)
					require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
					require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
					return
				}
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.Error(t, readErr, "a broken export must not read as a whole file (%d bytes)", len(body))
			})
		}
	}
}
