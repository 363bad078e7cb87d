package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/change66/logserver/logingest"
)

func searchChecks() []check {
	return []check{
		newCheck("Query/Search",
			"Filter.Search must match events whose search document (event_name, user_id, session_id, properties) contains every term as a case-insensitive substring, LIKE wildcards taken literally, within the other filters",
			func(ctx context.Context, s logingest.Store, o Options) error {
				var events []logingest.Event
				add := func(name, user, props, device string) {
					e := newEvent(o, len(events))
					e.EventName, e.UserID, e.SessionID, e.AppVersion = name, user, "", "1.0.0"
					e.Properties, e.DeviceInfo = json.RawMessage(props), json.RawMessage(device)
					events = append(events, e)
				}
				ios := `{"platform": "ios"}`
				add("sync_failed", "", `{"message": "Timeout after 30s"}`, ios)                   // 0
				add("habit_completed", "WrFJAp1hSvEwhM7r6QMgvJEQj7dg", `{"habit_id": "h1"}`, ios) // 1
				add("note_saved", "", `{"note": "100% done"}`, ios)                               // 2
				add("note_saved", "", `{"note": "100 percent"}`, ios)                             // 3
				add("file_opened", "", `{"path": "a_b"}`, ios)                                    // 4
				add("file_opened", "", `{"path": "axb"}`, ios)                                    // 5
				add("screen_view", "", `{"screen": "home_android"}`, `{"platform": "android"}`)   // 6
				staging := newEvent(o, len(events))
				staging.Source, staging.EventName = sourceStaging, "sync_failed"
				events = append(events, staging)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				for _, c := range []struct {
					search string
					want   []int
				}{
					{"SYNC_FAIL", []int{0}},
					{"timeout 30s", []int{0}},
					{"  30S   tImEoUt ", []int{0}},
					{"wrfjap1h", []int{1}},
					{"100%", []int{2}},
					{"a_b", []int{4}},
					{"ANDROID", []int{6}},
					{"IOS", nil}, // device_info is not searched
					{"sync habit", nil},
					{"xyzzy", nil},
				} {
					f := logingest.Filter{Source: sourceProd, Search: c.search, SortBy: logingest.SortTimestamp, SortOrder: logingest.SortAsc}
					p, err := query(ctx, s, f)
					if err != nil {
						return err
					}
					var got []string
					for _, e := range p.Events {
						got = append(got, e.EventID)
					}
					var want []string
					for _, i := range c.want {
						want = append(want, events[i].EventID)
					}
					if !reflect.DeepEqual(got, want) || p.Total != int64(len(want)) {
						return fmt.Errorf("Query(Search %q): events %v, Total %d; want %v", c.search, got, p.Total, want)
					}
				}
				for _, bad := range []string{"ab", "sync ab"} {
					_, err := s.Query(ctx, logingest.Filter{Search: bad})
					if !errors.Is(err, logingest.ErrInvalid) {
						return fmt.Errorf("Query(Search %q): error %w, want one matching ErrInvalid", bad, err)
					}
				}
				return nil
			}),
	}
}

// aggregator returns s as an Aggregator, or a skip error.
func aggregator(s logingest.Store) (logingest.Aggregator, error) {
	if a, ok := s.(logingest.Aggregator); ok {
		return a, nil
	}
	return nil, skip("store does not implement logingest.Aggregator")
}

func aggregatorChecks() []check {
	return []check{
		newCheck("Aggregator/Dashboard",
			"Dashboard must report totals, a timeline with every bucket and distributions over the range that count exactly the matching events, for rollup dimensions (event_type) and other filters (user_id) alike",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ag, err := aggregator(s)
				if err != nil {
					return err
				}
				var events []logingest.Event
				add := func(ago time.Duration, typ logingest.EventType, name string, prio logingest.Priority,
					version, platform, user, session, props string,
				) {
					e := receivedAgo(o, len(events), ago)
					e.EventType, e.EventName, e.Priority, e.AppVersion = typ, name, prio, version
					e.UserID, e.SessionID = user, session
					e.DeviceInfo = json.RawMessage(`{"platform": "` + platform + `"}`)
					e.Properties = json.RawMessage(props)
					events = append(events, e)
				}
				b, er := logingest.EventTypeBehavioral, logingest.EventTypeError
				n, h := logingest.PriorityNormal, logingest.PriorityHigh
				add(20*time.Minute, b, "habit_completed", n, "2.0.1+7", "ios", "u1", "s1", `{"duration_ms": 100}`)
				add(90*time.Minute, er, "sync_failed", h, "2.0.0+6", "android", "u2", "s2", `{"duration_ms": 300}`)
				add(5*time.Hour, er, "sync_failed", h, "2.0.1+7", "android", "u1", "s3", `{}`)
				add(25*time.Hour, b, "habit_completed", n, "2.0.1+7", "ios", "u3", "s4", `{}`)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				vc := func(pairs ...any) []logingest.ValueCount {
					out := []logingest.ValueCount{}
					for i := 0; i < len(pairs); i += 2 {
						out = append(out, logingest.ValueCount{Value: pairs[i].(string), Count: int64(pairs[i+1].(int))})
					}
					return out
				}
				from := statsNow.Add(-24 * time.Hour)
				timeline := func(bucket time.Duration, from time.Time, n int, counts map[int][2]int64) []logingest.TimelinePoint {
					out := make([]logingest.TimelinePoint, n)
					for i := range out {
						out[i] = logingest.TimelinePoint{Start: from.Add(time.Duration(i) * bucket), Count: counts[i][0], Errors: counts[i][1]}
					}
					return out
				}
				for _, c := range []struct {
					name string
					q    logingest.DashboardQuery
					want logingest.Dashboard
				}{
					{
						"no filter",
						logingest.DashboardQuery{Filter: logingest.Filter{Source: sourceProd}, From: from, To: statsNow, Now: statsNow},
						logingest.Dashboard{
							From: from, To: statsNow, Bucket: time.Hour,
							Totals: logingest.DashboardTotals{
								TotalLogs: 4, LogsLastHour: 1, LogsLastDay: 3, LogsToday: 3,
								AverageLatencyMs: 100, ActiveSessions: 1, ActiveUsers: 2,
							},
							Timeline:   timeline(time.Hour, from, 24, map[int][2]int64{23: {1, 0}, 22: {1, 1}, 19: {1, 1}}),
							EventTypes: vc("error", 2, "behavioral", 1), Priorities: vc("high", 2, "normal", 1),
							TopEventNames: vc("sync_failed", 2, "habit_completed", 1), AppVersions: vc("2.0.1+7", 2, "2.0.0+6", 1),
							Platforms: vc("android", 2, "ios", 1), Exact: true, Estimated: []string{},
						},
					},
					{
						"event_type",
						logingest.DashboardQuery{Filter: logingest.Filter{Source: sourceProd, EventType: er}, Now: statsNow},
						logingest.Dashboard{
							From: from, To: statsNow, Bucket: time.Hour,
							Totals:     logingest.DashboardTotals{TotalLogs: 2, LogsLastDay: 2, LogsToday: 2, ActiveUsers: 2},
							Timeline:   timeline(time.Hour, from, 24, map[int][2]int64{22: {1, 1}, 19: {1, 1}}),
							EventTypes: vc("error", 2), Priorities: vc("high", 2), TopEventNames: vc("sync_failed", 2),
							AppVersions: vc("2.0.0+6", 1, "2.0.1+7", 1), Platforms: vc("android", 2), Exact: true, Estimated: []string{},
						},
					},
					{
						"user_id",
						logingest.DashboardQuery{Filter: logingest.Filter{Source: sourceProd, UserID: "u1"}, Now: statsNow, TopN: 1},
						logingest.Dashboard{
							From: from, To: statsNow, Bucket: time.Hour,
							Totals: logingest.DashboardTotals{
								TotalLogs: 2, LogsLastHour: 1, LogsLastDay: 2, LogsToday: 2,
								AverageLatencyMs: 100, ActiveSessions: 1, ActiveUsers: 1,
							},
							Timeline:   timeline(time.Hour, from, 24, map[int][2]int64{23: {1, 0}, 19: {1, 1}}),
							EventTypes: vc("behavioral", 1), Priorities: vc("high", 1), TopEventNames: vc("habit_completed", 1),
							AppVersions: vc("2.0.1+7", 2), Platforms: vc("android", 1), Exact: true, Estimated: []string{},
						},
					},
					{
						"last hour",
						logingest.DashboardQuery{Filter: logingest.Filter{Source: sourceProd}, From: statsNow.Add(-time.Hour), Now: statsNow},
						logingest.Dashboard{
							From: statsNow.Add(-time.Hour), To: statsNow, Bucket: 2 * time.Minute,
							Totals: logingest.DashboardTotals{
								TotalLogs: 4, LogsLastHour: 1, LogsLastDay: 3, LogsToday: 3,
								AverageLatencyMs: 100, ActiveSessions: 1, ActiveUsers: 2,
							},
							Timeline:   timeline(2*time.Minute, statsNow.Add(-time.Hour), 30, map[int][2]int64{20: {1, 0}}),
							EventTypes: vc("behavioral", 1), Priorities: vc("normal", 1), TopEventNames: vc("habit_completed", 1),
							AppVersions: vc("2.0.1+7", 1), Platforms: vc("ios", 1), Exact: true, Estimated: []string{},
						},
					},
				} {
					got, err := ag.Dashboard(ctx, c.q)
					if err != nil {
						return fmt.Errorf("Dashboard(%s): %w", c.name, err)
					}
					got.From, got.To = got.From.UTC(), got.To.UTC()
					if math.Abs(got.Totals.AverageLatencyMs-c.want.Totals.AverageLatencyMs) < 1e-9 {
						got.Totals.AverageLatencyMs = c.want.Totals.AverageLatencyMs
					}
					if !reflect.DeepEqual(*got, c.want) {
						return fmt.Errorf("Dashboard(%s):\n got  %+v\n want %+v", c.name, *got, c.want)
					}
				}
				bad := logingest.DashboardQuery{From: statsNow, To: statsNow.Add(-time.Hour), Now: statsNow}
				if _, err := ag.Dashboard(ctx, bad); !errors.Is(err, logingest.ErrInvalid) {
					return fmt.Errorf("Dashboard(To before From): error %w, want one matching ErrInvalid", err)
				}
				return nil
			}),
	}
}
