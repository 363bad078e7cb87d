package storetest

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// Run's method groups are not parallel on purpose: Run returns only when every check is done, so a caller may
// release what newStore uses with defer. The checks inside each group are parallel.

//nolint:tparallel // Run's group subtests are sequential by design (see above); their checks call t.Parallel
func TestRunMemstore(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T) logingest.Store {
		t.Helper()
		return memstore.New()
	}, nil)
}

// A store that keeps only microseconds passes when it says so.
//
//nolint:tparallel // Run's group subtests are sequential by design (see above); their checks call t.Parallel
func TestRunTimePrecision(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T) logingest.Store {
		t.Helper()
		return truncating(time.Microsecond)
	}, &Options{TimePrecision: time.Microsecond})
}

// A store without the optional interfaces has their checks skipped, not failed.
func TestOptionalInterfacesSkipped(t *testing.T) {
	t.Parallel()
	type plain struct{ logingest.Store }
	for _, c := range checks() {
		if !strings.HasPrefix(c.name, "UserEraser/") && !strings.HasPrefix(c.name, "KeyStore/") && !strings.HasPrefix(c.name, "Exporter/") {
			continue
		}
		err := c.run(t.Context(), plain{memstore.New()}, Options{})
		reason, ok := skipped(err)
		if !ok || !strings.HasPrefix(reason, "store does not implement logingest.") {
			t.Errorf("%s on a store without the interface returned %v, want a skip", c.name, err)
		}
	}
}

func TestChecksWellFormed(t *testing.T) {
	t.Parallel()
	groups := []string{"Append", "Query", "Stats", "Ping", "UserEraser", "KeyStore", "Aggregator", "Exporter"}
	source := regexp.MustCompile(`^[a-z]+\.go:\d+$`)
	seen := map[string]bool{}
	for _, c := range checks() {
		g, rest, _ := strings.Cut(c.name, "/")
		if !slices.Contains(groups, g) || rest == "" {
			t.Errorf("check %q: want a name of the form Method/Rule with Method in %v", c.name, groups)
		}
		if seen[c.name] {
			t.Errorf("check %q declared twice", c.name)
		}
		seen[c.name] = true
		if !strings.Contains(c.explanation, " must ") {
			t.Errorf("check %q: explanation %q does not state a rule with \"must\"", c.name, c.explanation)
		}
		if !source.MatchString(c.source) || strings.HasPrefix(c.source, "storetest.go:") {
			t.Errorf("check %q: source %q, want file.go:line of its declaration", c.name, c.source)
		}
	}
}

// TestChecksCatchBrokenStores proves the checks can fail: each broken store breaks one rule of the contract, and
// the checks of that rule must report it.
func TestChecksCatchBrokenStores(t *testing.T) {
	t.Parallel()
	byName := map[string]check{}
	for _, c := range checks() {
		byName[c.name] = c
	}
	for _, tc := range brokenStores() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if len(tc.fails) == 0 {
				t.Fatal("test case names no check")
			}
			for _, name := range tc.fails {
				c, ok := byName[name]
				if !ok {
					t.Fatalf("no check named %q", name)
				}
				err := c.run(t.Context(), tc.store(), Options{})
				if reason, ok := skipped(err); ok {
					t.Errorf("%s skipped (%s), want a failure", name, reason)
				} else if err == nil {
					t.Errorf("%s passed against a store that %s", name, tc.name)
				} else {
					t.Logf("%s: %v", name, err)
				}
			}
		})
	}
}

type brokenCase struct {
	name  string // what the store does wrong
	store func() logingest.Store
	fails []string // checks that must fail
}

func brokenStores() []brokenCase {
	cases := []brokenCase{
		{
			name: "reports every event as inserted",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					st, err := m.Append(ctx, events)
					for i := range st {
						st[i].Status = logingest.AppendInserted
					}
					return st, err
				}}
			},
			fails: []string{"Append/DuplicateInOneCall", "Append/DuplicateAcrossCalls", "Append/DuplicateConcurrent"},
		},
		{
			name: "reports duplicates with ID 0",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					st, err := m.Append(ctx, events)
					for i := range st {
						if st[i].Status == logingest.AppendDuplicate {
							st[i].ID = 0
						}
					}
					return st, err
				}}
			},
			fails: []string{"Append/DuplicateInOneCall", "Append/DuplicateAcrossCalls", "Append/DuplicateConcurrent"},
		},
		{
			name: "reports IDs against slice order",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					st, err := m.Append(ctx, events)
					for i, j := 0, len(st)-1; i < j; i, j = i+1, j-1 {
						st[i].ID, st[j].ID = st[j].ID, st[i].ID
					}
					return st, err
				}}
			},
			fails: []string{"Append/Statuses", "Append/RoundTrip"},
		},
		{
			name: "reads an absent sequence number back as 0",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if err == nil {
						for i := range p.Events {
							if p.Events[i].SequenceNumber == nil {
								p.Events[i].SequenceNumber = new(int64(0))
							}
						}
					}
					return p, err
				}}
			},
			fails: []string{"Append/RoundTrip"},
		},
		{
			name:  "stores duplicates",
			store: storesDuplicates,
			fails: []string{"Append/DuplicateInOneCall", "Append/DuplicateAcrossCalls", "Append/DuplicateConcurrent"},
		},
		{
			name:  "deduplicates with check-then-insert",
			store: checkThenInsert,
			fails: []string{"Append/DuplicateConcurrent"},
		},
		{
			name: "keys events on EventID alone",
			store: func() logingest.Store {
				var mu sync.Mutex
				ids := map[string]bool{}
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					mu.Lock()
					defer mu.Unlock()
					st := make([]logingest.AppendResult, len(events))
					var keep []logingest.Event
					for i, e := range events {
						st[i].Status = logingest.AppendDuplicate
						if !ids[e.EventID] {
							ids[e.EventID] = true
							st[i].Status = logingest.AppendInserted
							keep = append(keep, e)
						}
					}
					_, err := m.Append(ctx, keep)
					return st, err
				}}
			},
			fails: []string{"Append/SameIDOtherSource", "Query/Filter/Source"},
		},
		{
			name: "changes the stored copy on a duplicate",
			store: func() logingest.Store {
				// Last write wins: a duplicate's copy replaces the stored one in every answer.
				var mu sync.Mutex
				latest := map[string]logingest.Event{}
				return &broken{
					append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
						st, err := m.Append(ctx, events)
						mu.Lock()
						defer mu.Unlock()
						for i := range st {
							if st[i].Status == logingest.AppendDuplicate {
								e := cloneEvents(events[i : i+1])[0]
								stored := mustStored(m, e)
								e.ID, e.ProcessedAt = stored.ID, stored.ProcessedAt
								latest[ref(e)] = e
							}
						}
						return st, err
					},
					query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
						p, err := m.Query(ctx, f)
						if err != nil {
							return nil, err
						}
						mu.Lock()
						defer mu.Unlock()
						for i, e := range p.Events {
							if l, ok := latest[ref(e)]; ok {
								p.Events[i] = l
							}
						}
						return p, nil
					},
				}
			},
			fails: []string{"Append/DuplicateInOneCall", "Append/DuplicateAcrossCalls"},
		},
		{
			name: "checks ctx before the length of the slice",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					return m.Append(ctx, events)
				}}
			},
			fails: []string{"Append/Empty"},
		},
		{
			name: "ignores a done context",
			store: func() logingest.Store {
				return &broken{
					append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
						return m.Append(context.WithoutCancel(ctx), events)
					},
					query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
						return m.Query(context.WithoutCancel(ctx), f)
					},
				}
			},
			fails: []string{"Append/CanceledContext", "Query/CanceledContext"},
		},
		{
			name: "stores part of a batch when ctx is done",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					if ctx.Err() != nil && len(events) > 1 {
						if _, err := m.Append(context.WithoutCancel(ctx), events[:1]); err != nil {
							return nil, err
						}
					}
					return m.Append(ctx, events)
				}}
			},
			fails: []string{"Append/CanceledContext"},
		},
		{
			name: "returns a bare error on a done context",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					if len(events) > 0 && ctx.Err() != nil {
						return nil, errors.New("append: transaction aborted")
					}
					return m.Append(ctx, events)
				}}
			},
			fails: []string{"Append/CanceledContext"},
		},
		{
			name: "modifies the caller's events",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					for i := range events {
						events[i].Properties = compact(events[i].Properties)
					}
					return m.Append(ctx, events)
				}}
			},
			fails: []string{"Append/DoesNotModifyInput"},
		},
		{
			name:  "retains the caller's JSON",
			store: retainsInput,
			fails: []string{"Append/DoesNotRetainInput"},
		},
		{
			name:  "shares JSON between pages",
			store: sharesOutput,
			fails: []string{"Query/CallerOwnsPage"},
		},
		{
			name: "returns local times",
			store: func() logingest.Store {
				return mapEvents(func(e *logingest.Event) { e.Timestamp = e.Timestamp.In(time.FixedZone("CEST", 7200)) })
			},
			fails: []string{"Append/RoundTrip"},
		},
		{
			name:  "keeps whole seconds",
			store: func() logingest.Store { return truncating(time.Second) },
			fails: []string{"Append/RoundTrip"},
		},
		{
			name: "loses a JSON member",
			store: func() logingest.Store {
				return mapEvents(func(e *logingest.Event) {
					var m map[string]any
					if json.Unmarshal(e.DeviceInfo, &m) == nil && len(m) > 0 {
						delete(m, "locale")
						e.DeviceInfo, _ = json.Marshal(m)
					}
				})
			},
			fails: []string{"Append/RoundTrip"},
		},
		{
			name: "truncates large numbers in JSON",
			store: func() logingest.Store {
				return mapEvents(func(e *logingest.Event) {
					var m any
					if err := json.Unmarshal(e.Properties, &m); err != nil { // float64 loses 2^53+1
						return
					}
					if b, err := json.Marshal(m); err == nil {
						e.Properties = b
					}
				})
			},
			fails: []string{"Append/RoundTrip"},
		},
		{
			name: "returns the opposite order",
			store: func() logingest.Store {
				return mapFilter(func(f *logingest.Filter) { f.SortOrder = opposite(f.SortOrder) })
			},
			fails: append(sortChecks(), "Query/Defaults"),
		},
		{
			name:  "breaks ties in the wrong direction",
			store: tiesReversed,
			fails: append(sortChecks(), "Query/TieBreak"),
		},
		{
			name: "does not return the Normalize error",
			store: func() logingest.Store {
				return mapFilter(func(f *logingest.Filter) {
					f.Limit = min(f.Limit, logingest.MaxQueryLimit)
					f.Offset = max(f.Offset, 0)
					if !f.SortBy.Valid() {
						f.SortBy = ""
					}
				})
			},
			fails: []string{"Query/Invalid"},
		},
		{
			name: "wraps the Normalize error as a string",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if err != nil {
						err = fmt.Errorf("query: %w: %s", logingest.ErrInvalid, err.Error())
					}
					return p, err
				}}
			},
			fails: []string{"Query/Invalid"},
		},
		{
			name: "treats a malformed cursor as the first page",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if errors.Is(err, logingest.ErrInvalid) && f.After != "" {
						f.After = ""
						return m.Query(ctx, f)
					}
					return p, err
				}}
			},
			fails: []string{"Query/Cursor/Malformed"},
		},
		{
			name: "skips the first row after a cursor",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if err == nil && f.After != "" && len(p.Events) > 0 {
						p.Events = p.Events[1:]
					}
					return p, err
				}}
			},
			fails: append(cursorChecks(), "Query/Defaults", "Query/Cursor/Filtered", "Query/TieBreak", "Query/MaxLimit"),
		},
		{
			name: "returns a NextCursor on every page",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if err == nil && p.NextCursor == "" && len(p.Events) > 0 {
						p.NextCursor = "more"
					}
					return p, err
				}}
			},
			fails: []string{"Query/Filter/UserID", "Append/RoundTrip"},
		},
		{
			name: "returns no NextCursor when more events match",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if err == nil {
						p.NextCursor = ""
					}
					return p, err
				}}
			},
			fails: append(cursorChecks(), "Query/Defaults", "Query/MaxLimit"),
		},
		{
			name:  "pages by offset behind its cursor",
			store: offsetCursor,
			fails: []string{"Query/Cursor/InsertDuringPaging"},
		},
		{
			name: "counts only the page in Total",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if err == nil {
						p.Total = int64(len(p.Events))
					}
					return p, err
				}}
			},
			fails: []string{"Query/Defaults", "Query/Offset", "Query/Cursor/timestamp"},
		},
		{
			name: "returns nil Events",
			store: func() logingest.Store {
				return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
					p, err := m.Query(ctx, f)
					if err == nil && len(p.Events) == 0 {
						p.Events = nil
					}
					return p, err
				}}
			},
			fails: []string{"Query/EmptyStore", "Query/Filter/NoMatch", "Query/Offset"},
		},
		{
			name: "leaves events received at Now out of the windows",
			store: func() logingest.Store {
				return mapStats(func(q *logingest.StatsQuery) { q.Now = q.Now.Add(-time.Nanosecond) })
			},
			fails: []string{"Stats/Windows"},
		},
		{
			name: "includes events received after Now",
			store: func() logingest.Store {
				return mapStats(func(q *logingest.StatsQuery) { q.Now = q.Now.Add(time.Hour) })
			},
			fails: []string{"Stats/Windows", "Stats/Active"},
		},
		{
			name:  "ignores StatsQuery.Source",
			store: func() logingest.Store { return mapStats(func(q *logingest.StatsQuery) { q.Source = "" }) },
			fails: []string{"Stats/Source"},
		},
		{
			name:  "ignores TopN",
			store: func() logingest.Store { return mapStats(func(q *logingest.StatsQuery) { q.TopN = 100 }) },
			fails: []string{"Stats/Top"},
		},
		{
			name: "orders ties in the top lists by value descending",
			store: func() logingest.Store {
				return &broken{stats: func(m *memstore.Store, ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
					st, err := m.Stats(ctx, q)
					if err == nil {
						reverseTies(st.TopEventTypes)
						reverseTies(st.TopEventNames)
					}
					return st, err
				}}
			},
			fails: []string{"Stats/Top"},
		},
		{
			name: "counts empty IDs as active",
			store: func() logingest.Store {
				return &broken{stats: func(m *memstore.Store, ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
					st, err := m.Stats(ctx, q)
					if err == nil && st.LastDay > 0 {
						st.ActiveUsers++
					}
					return st, err
				}}
			},
			fails: []string{"Stats/Active"},
		},
		{
			name: "reports no error rate",
			store: func() logingest.Store {
				return &broken{stats: func(m *memstore.Store, ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
					st, err := m.Stats(ctx, q)
					if err == nil {
						st.ErrorRatePercent = 0
					}
					return st, err
				}}
			},
			fails: []string{"Stats/LatencyAndErrors", "Stats/Source"},
		},
		{
			name: "returns nil top lists",
			store: func() logingest.Store {
				return &broken{stats: func(m *memstore.Store, ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
					st, err := m.Stats(ctx, q)
					if err == nil && len(st.TopEventTypes) == 0 {
						st.TopEventTypes, st.TopEventNames = nil, nil
					}
					return st, err
				}}
			},
			fails: []string{"Stats/Empty"},
		},
		{
			name: "fails Ping",
			store: func() logingest.Store {
				return &broken{ping: func(*memstore.Store, context.Context) error { return errors.New("connection refused") }}
			},
			fails: []string{"Ping/Healthy"},
		},
		{
			name: "erases the user in every source",
			store: func() logingest.Store {
				return &broken{deleteUser: func(m *memstore.Store, ctx context.Context, source, user string) (int64, error) {
					return m.DeleteUserEvents(ctx, "", user)
				}}
			},
			fails: []string{"UserEraser/DeleteUserEvents"},
		},
		{
			name: "erases users case-insensitively",
			store: func() logingest.Store {
				return &broken{deleteUser: func(m *memstore.Store, ctx context.Context, source, user string) (int64, error) {
					n, err := m.DeleteUserEvents(ctx, source, user)
					if err == nil && user != strings.ToLower(user) {
						var n2 int64
						n2, err = m.DeleteUserEvents(ctx, source, strings.ToLower(user))
						n += n2
					}
					return n, err
				}}
			},
			fails: []string{"UserEraser/DeleteUserEvents"},
		},
		{
			name: "answers (0, nil) to an empty user id",
			store: func() logingest.Store {
				return &broken{deleteUser: func(m *memstore.Store, ctx context.Context, source, user string) (int64, error) {
					if user == "" {
						return 0, nil
					}
					return m.DeleteUserEvents(ctx, source, user)
				}}
			},
			fails: []string{"UserEraser/EmptyUser"},
		},
		{
			name: "takes a re-sent erased event as new",
			store: func() logingest.Store {
				return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
					st, err := m.Append(ctx, events)
					if err != nil {
						return st, err
					}
					for i := range st {
						if st[i].Status != logingest.AppendDuplicate {
							continue
						}
						p, err := m.Query(ctx, logingest.Filter{Source: events[i].Source, Limit: logingest.MaxQueryLimit})
						if err != nil {
							return nil, err
						}
						if !slices.ContainsFunc(p.Events, func(e logingest.Event) bool { return e.EventID == events[i].EventID }) {
							st[i].Status = logingest.AppendInserted // erased: the old memstore stored it again
						}
					}
					return st, nil
				}}
			},
			fails: []string{"UserEraser/ResentStaysErased"},
		},
		{
			name: "reports a wrong erase count",
			store: func() logingest.Store {
				return &broken{deleteUser: func(m *memstore.Store, ctx context.Context, source, user string) (int64, error) {
					n, err := m.DeleteUserEvents(ctx, source, user)
					return n + 1, err
				}}
			},
			fails: []string{"UserEraser/DeleteUserEvents", "UserEraser/UnknownUser"},
		},
		{
			name: "accepts duplicate keys silently",
			store: func() logingest.Store {
				return &broken{createKey: func(m *memstore.Store, ctx context.Context, k logingest.APIKey) error {
					if err := m.CreateAPIKey(ctx, k); !errors.Is(err, logingest.ErrInvalid) {
						return err
					}
					return nil
				}}
			},
			fails: []string{"KeyStore/Duplicate"},
		},
		{
			name: "returns a zero key for an unknown hash",
			store: func() logingest.Store {
				return &broken{keyByHash: func(m *memstore.Store, ctx context.Context, hash string) (logingest.APIKey, error) {
					k, err := m.APIKeyByHash(ctx, hash)
					if errors.Is(err, logingest.ErrNotFound) {
						return logingest.APIKey{}, nil
					}
					return k, err
				}}
			},
			fails: []string{"KeyStore/NotFound"},
		},
		{
			name: "hides revoked keys",
			store: func() logingest.Store {
				return &broken{keyByHash: func(m *memstore.Store, ctx context.Context, hash string) (logingest.APIKey, error) {
					k, err := m.APIKeyByHash(ctx, hash)
					if err == nil && !k.RevokedAt.IsZero() {
						return logingest.APIKey{}, logingest.ErrNotFound
					}
					return k, err
				}}
			},
			fails: []string{"KeyStore/CreateAndLookup"},
		},
		{
			name: "lists keys by ID",
			store: func() logingest.Store {
				return &broken{listKeys: func(m *memstore.Store, ctx context.Context) ([]logingest.APIKey, error) {
					keys, err := m.ListAPIKeys(ctx)
					slices.SortFunc(keys, func(a, b logingest.APIKey) int { return strings.Compare(a.ID, b.ID) })
					return keys, err
				}}
			},
			fails: []string{"KeyStore/List"},
		},
		{
			name: "drops per-key limits",
			store: func() logingest.Store {
				return &broken{createKey: func(m *memstore.Store, ctx context.Context, k logingest.APIKey) error {
					k.Limits = logingest.KeyLimits{}
					return m.CreateAPIKey(ctx, k)
				}}
			},
			fails: []string{"KeyStore/CreateAndLookup"},
		},
		{
			name: "stores the usage CreateAPIKey was given",
			store: func() logingest.Store {
				return &broken{createKey: func(m *memstore.Store, ctx context.Context, k logingest.APIKey) error {
					if err := m.CreateAPIKey(ctx, k); err != nil {
						return err
					}
					return m.RecordKeyUsage(ctx, []logingest.KeyUsage{{ID: k.ID, Count: k.UseCount, LastUsedAt: k.LastUsedAt}})
				}}
			},
			fails: []string{"KeyStore/CreateAndLookup"},
		},
		{
			name: "returns a zero key for an unknown ID",
			store: func() logingest.Store {
				return &broken{keyByID: func(m *memstore.Store, ctx context.Context, id string) (logingest.APIKey, error) {
					k, err := m.APIKeyByID(ctx, id)
					if errors.Is(err, logingest.ErrNotFound) {
						return logingest.APIKey{}, nil
					}
					return k, err
				}}
			},
			fails: []string{"KeyStore/ByID"},
		},
		{
			name: "matches IDs case-insensitively",
			store: func() logingest.Store {
				return &broken{keyByID: func(m *memstore.Store, ctx context.Context, id string) (logingest.APIKey, error) {
					return m.APIKeyByID(ctx, strings.ToLower(id))
				}}
			},
			fails: []string{"KeyStore/ByID"},
		},
		{
			name: "overwrites an earlier revocation",
			store: func() logingest.Store {
				var mu sync.Mutex
				last := map[string]time.Time{} // the latest revocation time asked for, by key ID
				return &broken{
					revokeKey: func(m *memstore.Store, ctx context.Context, id string, at time.Time) error {
						if err := m.RevokeAPIKey(ctx, id, at); err != nil {
							return err
						}
						mu.Lock()
						defer mu.Unlock()
						last[id] = at
						return nil
					},
					keyByHash: func(m *memstore.Store, ctx context.Context, hash string) (logingest.APIKey, error) {
						k, err := m.APIKeyByHash(ctx, hash)
						mu.Lock()
						defer mu.Unlock()
						if at, ok := last[k.ID]; ok && err == nil {
							k.RevokedAt = at
						}
						return k, err
					},
				}
			},
			fails: []string{"KeyStore/Revoke"},
		},
		{
			name: "ignores revoking an unknown key",
			store: func() logingest.Store {
				return &broken{revokeKey: func(m *memstore.Store, ctx context.Context, id string, at time.Time) error {
					if err := m.RevokeAPIKey(ctx, id, at); !errors.Is(err, logingest.ErrNotFound) {
						return err
					}
					return nil
				}}
			},
			fails: []string{"KeyStore/Revoke"},
		},
		{
			name: "revokes nothing",
			store: func() logingest.Store {
				return &broken{revokeKey: func(m *memstore.Store, ctx context.Context, id string, at time.Time) error {
					_, err := m.APIKeyByID(ctx, id)
					return err
				}}
			},
			fails: []string{"KeyStore/Revoke"},
		},
		{
			name: "lengthens a key's life",
			store: func() logingest.Store {
				return &broken{expireKey: func(m *memstore.Store, ctx context.Context, id string, at time.Time) error {
					k, err := m.APIKeyByID(ctx, id)
					if err != nil {
						return err
					}
					if !k.ExpiresAt.IsZero() && at.After(k.ExpiresAt) {
						return m.RevokeAPIKey(ctx, id, k.CreatedAt) // visibly changes the key
					}
					return m.ExpireAPIKey(ctx, id, at)
				}}
			},
			fails: []string{"KeyStore/Expire"},
		},
		{
			name: "ignores expiring an unknown key",
			store: func() logingest.Store {
				return &broken{expireKey: func(m *memstore.Store, ctx context.Context, id string, at time.Time) error {
					if err := m.ExpireAPIKey(ctx, id, at); !errors.Is(err, logingest.ErrNotFound) {
						return err
					}
					return nil
				}}
			},
			fails: []string{"KeyStore/Expire"},
		},
		{
			name: "records only the first usage of a key per batch",
			store: func() logingest.Store {
				return &broken{recordUse: func(m *memstore.Store, ctx context.Context, usage []logingest.KeyUsage) error {
					seen := map[string]bool{}
					var kept []logingest.KeyUsage
					for _, u := range usage {
						if !seen[u.ID] {
							seen[u.ID] = true
							kept = append(kept, u)
						}
					}
					return m.RecordKeyUsage(ctx, kept)
				}}
			},
			fails: []string{"KeyStore/RecordKeyUsage"},
		},
		{
			name: "moves LastUsedAt backwards",
			store: func() logingest.Store {
				return &broken{recordUse: func(m *memstore.Store, ctx context.Context, usage []logingest.KeyUsage) error {
					for i := range usage {
						usage[i].LastUsedAt = usage[i].LastUsedAt.Add(-24 * time.Hour * time.Duration(i+1))
					}
					return m.RecordKeyUsage(ctx, usage)
				}}
			},
			fails: []string{"KeyStore/RecordKeyUsage"},
		},
		{
			name: "fails on an empty usage batch",
			store: func() logingest.Store {
				return &broken{recordUse: func(m *memstore.Store, ctx context.Context, usage []logingest.KeyUsage) error {
					if len(usage) == 0 {
						return errors.New("empty batch")
					}
					return m.RecordKeyUsage(ctx, usage)
				}}
			},
			fails: []string{"KeyStore/RecordKeyUsage"},
		},
	}
	// A store that ignores one filter field fails that field's check.
	for name, clearField := range map[string]func(*logingest.Filter){
		"EventType":    func(f *logingest.Filter) { f.EventType = "" },
		"EventName":    func(f *logingest.Filter) { f.EventName = "" },
		"UserID":       func(f *logingest.Filter) { f.UserID = "" },
		"SessionID":    func(f *logingest.Filter) { f.SessionID = "" },
		"AppVersion":   func(f *logingest.Filter) { f.AppVersion = "" },
		"Priority":     func(f *logingest.Filter) { f.Priority = "" },
		"ProviderName": func(f *logingest.Filter) { f.ProviderName = "" },
		"Source":       func(f *logingest.Filter) { f.Source = "" },
		"TimeRange":    func(f *logingest.Filter) { f.StartTime = time.Time{} },
	} {
		cases = append(cases, brokenCase{
			name:  "ignores the filter on " + name,
			store: func() logingest.Store { return mapFilter(clearField) },
			fails: []string{"Query/Filter/" + name},
		})
	}
	cases = append(cases,
		brokenCase{
			name: "treats EndTime as inclusive",
			store: func() logingest.Store {
				return mapFilter(func(f *logingest.Filter) { f.EndTime = addIfSet(f.EndTime, time.Nanosecond) })
			},
			fails: []string{"Query/Filter/TimeRange"},
		},
		brokenCase{
			name: "treats StartTime as exclusive",
			store: func() logingest.Store {
				return mapFilter(func(f *logingest.Filter) { f.StartTime = addIfSet(f.StartTime, time.Nanosecond) })
			},
			fails: []string{"Query/Filter/TimeRange"},
		},
		brokenCase{
			name:  "matches event names by prefix",
			store: prefixEventName,
			fails: []string{"Query/Filter/EventName"},
		},
	)
	return cases
}

// sortChecks names the Query/Sort checks of the fields whose sort data has ties (event IDs are unique).
func sortChecks() []string {
	var out []string
	for _, f := range logingest.SortFields() {
		if f == logingest.SortEventID {
			continue
		}
		out = append(out, "Query/Sort/"+string(f))
	}
	return out
}

func cursorChecks() []string {
	var out []string
	for _, f := range logingest.SortFields() {
		out = append(out, "Query/Cursor/"+string(f))
	}
	return out
}

// broken is a memstore whose methods can be replaced one by one. It keeps memstore's optional interfaces.
type broken struct {
	m          *memstore.Store
	once       sync.Once
	append     func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error)
	query      func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error)
	stats      func(m *memstore.Store, ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error)
	ping       func(m *memstore.Store, ctx context.Context) error
	deleteUser func(m *memstore.Store, ctx context.Context, source, user string) (int64, error)
	createKey  func(m *memstore.Store, ctx context.Context, k logingest.APIKey) error
	keyByHash  func(m *memstore.Store, ctx context.Context, hash string) (logingest.APIKey, error)
	listKeys   func(m *memstore.Store, ctx context.Context) ([]logingest.APIKey, error)
	keyByID    func(m *memstore.Store, ctx context.Context, id string) (logingest.APIKey, error)
	revokeKey  func(m *memstore.Store, ctx context.Context, id string, at time.Time) error
	expireKey  func(m *memstore.Store, ctx context.Context, id string, at time.Time) error
	recordUse  func(m *memstore.Store, ctx context.Context, usage []logingest.KeyUsage) error
}

var (
	_ logingest.UserEraser = (*broken)(nil)
	_ logingest.KeyStore   = (*broken)(nil)
)

func (b *broken) inner() *memstore.Store {
	b.once.Do(func() { b.m = memstore.New() })
	return b.m
}

func (b *broken) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	if b.append != nil {
		return b.append(b.inner(), ctx, events)
	}
	return b.inner().Append(ctx, events)
}

func (b *broken) Query(ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
	if b.query != nil {
		return b.query(b.inner(), ctx, f)
	}
	return b.inner().Query(ctx, f)
}

func (b *broken) Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	if b.stats != nil {
		return b.stats(b.inner(), ctx, q)
	}
	return b.inner().Stats(ctx, q)
}

func (b *broken) Ping(ctx context.Context) error {
	if b.ping != nil {
		return b.ping(b.inner(), ctx)
	}
	return b.inner().Ping(ctx)
}

func (b *broken) DeleteUserEvents(ctx context.Context, source, user string) (int64, error) {
	if b.deleteUser != nil {
		return b.deleteUser(b.inner(), ctx, source, user)
	}
	return b.inner().DeleteUserEvents(ctx, source, user)
}

func (b *broken) CreateAPIKey(ctx context.Context, k logingest.APIKey) error {
	if b.createKey != nil {
		return b.createKey(b.inner(), ctx, k)
	}
	return b.inner().CreateAPIKey(ctx, k)
}

func (b *broken) APIKeyByHash(ctx context.Context, hash string) (logingest.APIKey, error) {
	if b.keyByHash != nil {
		return b.keyByHash(b.inner(), ctx, hash)
	}
	return b.inner().APIKeyByHash(ctx, hash)
}

func (b *broken) ListAPIKeys(ctx context.Context) ([]logingest.APIKey, error) {
	if b.listKeys != nil {
		return b.listKeys(b.inner(), ctx)
	}
	return b.inner().ListAPIKeys(ctx)
}

func (b *broken) APIKeyByID(ctx context.Context, id string) (logingest.APIKey, error) {
	if b.keyByID != nil {
		return b.keyByID(b.inner(), ctx, id)
	}
	return b.inner().APIKeyByID(ctx, id)
}

func (b *broken) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if b.revokeKey != nil {
		return b.revokeKey(b.inner(), ctx, id, at)
	}
	return b.inner().RevokeAPIKey(ctx, id, at)
}

func (b *broken) ExpireAPIKey(ctx context.Context, id string, at time.Time) error {
	if b.expireKey != nil {
		return b.expireKey(b.inner(), ctx, id, at)
	}
	return b.inner().ExpireAPIKey(ctx, id, at)
}

func (b *broken) RecordKeyUsage(ctx context.Context, usage []logingest.KeyUsage) error {
	if b.recordUse != nil {
		return b.recordUse(b.inner(), ctx, usage)
	}
	return b.inner().RecordKeyUsage(ctx, usage)
}

// mapEvents returns a store that applies f to every event Query returns.
func mapEvents(f func(*logingest.Event)) *broken {
	return &broken{query: func(m *memstore.Store, ctx context.Context, flt logingest.Filter) (*logingest.Page, error) {
		p, err := m.Query(ctx, flt)
		if err == nil {
			for i := range p.Events {
				f(&p.Events[i])
			}
		}
		return p, err
	}}
}

// truncating returns a store that keeps times only to precision d.
func truncating(d time.Duration) *broken {
	return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
		events = cloneEvents(events)
		for i := range events {
			events[i].Timestamp = events[i].Timestamp.Truncate(d)
			events[i].ReceivedAt = events[i].ReceivedAt.Truncate(d)
		}
		return m.Append(ctx, events)
	}}
}

// mapFilter returns a store that applies f to every Filter before querying.
func mapFilter(f func(*logingest.Filter)) *broken {
	return &broken{query: func(m *memstore.Store, ctx context.Context, flt logingest.Filter) (*logingest.Page, error) {
		f(&flt)
		return m.Query(ctx, flt)
	}}
}

// mapStats returns a store that applies f to every StatsQuery.
func mapStats(f func(*logingest.StatsQuery)) *broken {
	return &broken{stats: func(m *memstore.Store, ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
		f(&q)
		return m.Stats(ctx, q)
	}}
}

func opposite(o logingest.SortOrder) logingest.SortOrder {
	if o == logingest.SortAsc {
		return logingest.SortDesc
	}
	return logingest.SortAsc
}

func addIfSet(t time.Time, d time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(d)
}

func compact(b json.RawMessage) json.RawMessage {
	var m any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

// mustStored returns the stored copy of e's key.
func mustStored(m *memstore.Store, e logingest.Event) logingest.Event {
	p, err := m.Query(context.Background(), logingest.Filter{Source: e.Source, Limit: logingest.MaxQueryLimit})
	if err != nil {
		panic(err)
	}
	for _, s := range p.Events {
		if s.EventID == e.EventID {
			return s
		}
	}
	panic("not stored: " + ref(e))
}

// storesDuplicates returns a store without deduplication: it stores every copy under a hidden suffix and
// reports each one inserted.
func storesDuplicates() logingest.Store {
	var n atomic.Int64
	return &broken{
		append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
			events = slices.Clone(events)
			for i := range events {
				events[i].EventID += "#" + strconv.FormatInt(n.Add(1), 10)
			}
			return m.Append(ctx, events)
		},
		query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
			p, err := m.Query(ctx, f)
			if err == nil {
				for i := range p.Events {
					p.Events[i].EventID, _, _ = strings.Cut(p.Events[i].EventID, "#")
				}
			}
			return p, err
		},
	}
}

// checkThenInsert returns a store that looks up each key before inserting it, outside any lock, and trusts the
// answer: concurrent callers with the same key all see it absent. The first two callers wait for each other
// between the lookup and the insert so the race always happens.
func checkThenInsert() logingest.Store {
	var looked atomic.Int32
	both := make(chan struct{})
	return &broken{append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
		st := make([]logingest.AppendResult, len(events))
		for i, e := range events {
			p, err := m.Query(ctx, logingest.Filter{Source: e.Source, Limit: logingest.MaxQueryLimit})
			if err != nil {
				return nil, err
			}
			st[i].Status = logingest.AppendInserted
			if slices.ContainsFunc(p.Events, func(s logingest.Event) bool { return s.EventID == e.EventID }) {
				st[i].Status = logingest.AppendDuplicate
			}
		}
		if looked.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
		case <-time.After(time.Second):
		}
		_, err := m.Append(ctx, events)
		return st, err
	}}
}

// retainsInput returns a store that keeps the caller's Properties slices and serves them back.
func retainsInput() logingest.Store {
	var mu sync.Mutex
	kept := map[string]json.RawMessage{}
	return &broken{
		append: func(m *memstore.Store, ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
			mu.Lock()
			for _, e := range events {
				kept[ref(e)] = e.Properties
			}
			mu.Unlock()
			return m.Append(ctx, events)
		},
		query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
			p, err := m.Query(ctx, f)
			if err == nil {
				mu.Lock()
				for i := range p.Events {
					p.Events[i].Properties = kept[ref(p.Events[i])]
				}
				mu.Unlock()
			}
			return p, err
		},
	}
}

// sharesOutput returns a store that hands every caller the same DeviceInfo slice per event.
func sharesOutput() logingest.Store {
	var mu sync.Mutex
	cache := map[string]json.RawMessage{}
	return mapEvents(func(e *logingest.Event) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := cache[ref(*e)]; ok {
			e.DeviceInfo = c
		} else {
			cache[ref(*e)] = e.DeviceInfo
		}
	})
}

// tiesReversed returns a store that breaks ties against insertion order within each page.
func tiesReversed() logingest.Store {
	return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
		p, err := m.Query(ctx, f)
		if err != nil {
			return p, err
		}
		nf, _ := f.Normalize()
		ev := p.Events
		for i := 0; i < len(ev); {
			j := i + 1
			for j < len(ev) && compareBy(nf.SortBy, ev[i], ev[j]) == 0 {
				j++
			}
			slices.Reverse(ev[i:j])
			i = j
		}
		return p, nil
	}}
}

func reverseTies(vc []logingest.ValueCount) {
	for i := 0; i < len(vc); {
		j := i + 1
		for j < len(vc) && vc[j].Count == vc[i].Count {
			j++
		}
		slices.Reverse(vc[i:j])
		i = j
	}
}

// offsetCursor returns a store whose cursor is an offset in disguise: rows inserted before it shift the pages.
func offsetCursor() logingest.Store {
	return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
		off := 0
		if f.After != "" {
			b, err := base64.RawURLEncoding.DecodeString(f.After)
			n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
			if err != nil || err2 != nil || !strings.HasPrefix(string(b), "offset:") {
				return nil, &logingest.ValidationError{Errors: []logingest.FieldError{{Field: "cursor", Reason: "malformed"}}}
			}
			off, f.After = n, ""
		}
		f.Offset = off
		p, err := m.Query(ctx, f)
		if err == nil && p.NextCursor != "" {
			p.NextCursor = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(off+len(p.Events))))
		}
		return p, err
	}}
}

// prefixEventName returns a store that matches EventName as a prefix, like a careless LIKE 'name%'.
func prefixEventName() logingest.Store {
	return &broken{query: func(m *memstore.Store, ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
		name := f.EventName
		if name == "" {
			return m.Query(ctx, f)
		}
		f.EventName = ""
		limit := f.Limit
		f.Limit = logingest.MaxQueryLimit
		p, err := m.Query(ctx, f)
		if err != nil {
			return p, err
		}
		p.Events = slices.DeleteFunc(p.Events, func(e logingest.Event) bool { return !strings.HasPrefix(e.EventName, name) })
		p.Events = p.Events[:min(len(p.Events), cmp.Or(limit, logingest.DefaultQueryLimit))]
		p.Total, p.NextCursor = int64(len(p.Events)), ""
		return p, nil
	}}
}
