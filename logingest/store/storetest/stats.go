package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/change66/logserver/logingest"
)

// statsNow is StatsQuery.Now in the Stats checks. Offsets from it are whole seconds, which every store keeps.
var statsNow = baseTime.Add(72 * time.Hour)

// receivedAgo returns newEvent(o, i) received d before statsNow, with a timestamp two days older than that:
// offline clients send old timestamps, and the windows are measured on ReceivedAt.
func receivedAgo(o Options, i int, d time.Duration) logingest.Event {
	e := newEvent(o, i)
	e.ReceivedAt = statsNow.Add(-d)
	e.Timestamp = e.ReceivedAt.Add(-48 * time.Hour)
	return e
}

func stats(ctx context.Context, s logingest.Store, q logingest.StatsQuery) (*logingest.Stats, error) {
	st, err := s.Stats(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("Stats(%+v): %w", q, err)
	}
	if st == nil {
		return nil, fmt.Errorf("Stats(%+v) returned nil Stats and a nil error", q)
	}
	if st.TopEventTypes == nil || st.TopEventNames == nil {
		return nil, fmt.Errorf("Stats(%+v) returned nil TopEventTypes or TopEventNames, want non-nil slices", q)
	}
	return st, nil
}

func wantStats(q logingest.StatsQuery, got, want *logingest.Stats) error {
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("Stats(Source %q, TopN %d):\n got  %+v\n want %+v", q.Source, q.TopN, *got, *want)
	}
	return nil
}

func statsChecks() []check {
	return []check{
		newCheck("Stats/Empty",
			"Stats on an empty store must return zero counts and non-nil empty top lists",
			func(ctx context.Context, s logingest.Store, o Options) error {
				q := logingest.StatsQuery{Now: statsNow}
				st, err := stats(ctx, s, q)
				if err != nil {
					return err
				}
				return wantStats(q, st, &logingest.Stats{TopEventTypes: []logingest.ValueCount{}, TopEventNames: []logingest.ValueCount{}})
			}),

		newCheck("Stats/Windows",
			"Stats must count every event in TotalEvents, and in LastHour and LastDay those whose ReceivedAt is in (Now-1h, Now] and (Now-24h, Now]",
			func(ctx context.Context, s logingest.Store, o Options) error {
				var events []logingest.Event
				for i, d := range []time.Duration{
					-time.Minute,                    // received after Now: in neither window
					0,                               // Now: both
					0,                               // twice, so that losing Now changes the counts
					time.Minute,                     // both
					59*time.Minute + 59*time.Second, // both
					time.Hour,                       // day only: the hour window is open at Now-1h
					5 * time.Hour,                   // day
					23*time.Hour + 59*time.Minute + 59*time.Second, // day
					24 * time.Hour,      // neither: the day window is open at Now-24h
					25 * time.Hour,      // neither
					30 * 24 * time.Hour, // neither
				} {
					events = append(events, receivedAgo(o, i, d))
				}
				// An event received long ago but with a timestamp of Now: windows use ReceivedAt.
				old := receivedAgo(o, 20, 48*time.Hour)
				old.Timestamp = statsNow.Add(-time.Minute)
				events = append(events, old)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				st, err := stats(ctx, s, logingest.StatsQuery{Now: statsNow})
				if err != nil {
					return err
				}
				if st.TotalEvents != 12 || st.LastHour != 4 || st.LastDay != 7 {
					return fmt.Errorf("Stats: TotalEvents %d, LastHour %d, LastDay %d; want 12, 4, 7", st.TotalEvents, st.LastHour, st.LastDay)
				}
				return nil
			}),

		newCheck("Stats/Active",
			"Stats must count in ActiveSessions the distinct non-empty session IDs among events received in the last 30 minutes, and in ActiveUsers the distinct non-empty user IDs among events received in the last day",
			func(ctx context.Context, s logingest.Store, o Options) error {
				var events []logingest.Event
				add := func(user, session string, ago time.Duration) {
					e := receivedAgo(o, len(events), ago)
					e.UserID, e.SessionID = user, session
					events = append(events, e)
				}
				const u1, u2, u3 = "WrFJAp1hSvEwhM7r6QMgvJEQj7dg", "8QGdVPkhfUD4llYNbRQeGGSN0FfR", "15TnojHJy8qqhoD18Z8eoVNozctl"
				add(u1, "1756288366532_"+u1, time.Minute)
				add(u1, "1756288366532_"+u1, 2*time.Minute) // same session twice
				add(u1, "1756288399532_"+u1, 3*time.Hour)   // a user of the day, a session outside 30 minutes
				add(u2, "1756288359532_"+u2, 20*time.Hour)
				add("", "1756288361532_anonymous", 29*time.Minute+59*time.Second)
				add("", "1756288368532_anonymous", 30*time.Minute) // the 30-minute window is open at Now-30m
				add("", "", 10*time.Minute)
				add(u3, "1756288362532_"+u3, 25*time.Hour)    // outside the day
				add(u3, "1756288362532_"+u3, -10*time.Minute) // received after Now
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				st, err := stats(ctx, s, logingest.StatsQuery{Now: statsNow})
				if err != nil {
					return err
				}
				if st.ActiveSessions != 2 || st.ActiveUsers != 2 {
					return fmt.Errorf("Stats: ActiveSessions %d, ActiveUsers %d; want 2, 2", st.ActiveSessions, st.ActiveUsers)
				}
				return nil
			}),

		newCheck("Stats/LatencyAndErrors",
			"Stats must report in AverageLatencyMs the mean of the numeric properties.duration_ms (0 to MaxDurationMs) of events received in the last hour, and in ErrorRatePercent the share of error events among the events received in the last hour",
			func(ctx context.Context, s logingest.Store, o Options) error {
				var events []logingest.Event
				add := func(typ logingest.EventType, props string, ago time.Duration) {
					e := receivedAgo(o, len(events), ago)
					e.EventType, e.Properties = typ, json.RawMessage(props)
					events = append(events, e)
				}
				b, e := logingest.EventTypeBehavioral, logingest.EventTypeError
				add(b, `{"duration_ms": 100}`, time.Minute)
				add(b, `{"duration_ms": 250.5, "other": 1}`, 10*time.Minute)
				add(e, `{"duration_ms": 49.5}`, 59*time.Minute)
				add(b, `{"duration_ms": "900"}`, 2*time.Minute)         // a string: ignored
				add(b, `{"duration_ms": true}`, 2*time.Minute)          // ignored
				add(b, `{"duration_ms": null}`, 2*time.Minute)          // ignored
				add(b, `{"duration_ms": {"value": 7}}`, 2*time.Minute)  // ignored
				add(e, `{"duration_ms": 1e13}`, 3*time.Minute)          // above MaxDurationMs: ignored
				add(b, `{"timing": {"duration_ms": 5}}`, 3*time.Minute) // not top-level: ignored
				add(b, `{}`, 3*time.Minute)
				add(b, `{"duration_ms": -5}`, 3*time.Minute)  // negative: ignored
				add(b, `{"duration_ms": 7000}`, time.Hour)    // outside the hour
				add(e, `{"duration_ms": 7000}`, 2*time.Hour)  // outside the hour
				add(e, `{"duration_ms": 7000}`, -time.Minute) // after Now
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				st, err := stats(ctx, s, logingest.StatsQuery{Now: statsNow})
				if err != nil {
					return err
				}
				wantLatency, wantRate := (100+250.5+49.5)/3, 100*2/11.0
				if math.Abs(st.AverageLatencyMs-wantLatency) > 1e-9 || math.Abs(st.ErrorRatePercent-wantRate) > 1e-9 {
					return fmt.Errorf("Stats: AverageLatencyMs %v, ErrorRatePercent %v; want %v, %v",
						st.AverageLatencyMs, st.ErrorRatePercent, wantLatency, wantRate)
				}
				return nil
			}),

		newCheck("Stats/Top",
			"Stats must list the event types and names received in the last day by count descending, then value ascending, at most TopN each (5 when TopN is 0)",
			func(ctx context.Context, s logingest.Store, o Options) error {
				var events []logingest.Event
				add := func(typ logingest.EventType, name string, n int, ago time.Duration) {
					for range n {
						e := receivedAgo(o, len(events), ago)
						e.EventType, e.EventName = typ, name
						events = append(events, e)
					}
				}
				b, t, e, p, ob := logingest.EventTypeBehavioral, logingest.EventTypeTelemetry, logingest.EventTypeError,
					logingest.EventTypePerformance, logingest.EventTypeObservability
				add(b, "habit_completed", 3, time.Hour)
				add(b, "habit_skipped", 1, 2*time.Hour)
				add(t, "sync_finished", 2, 3*time.Hour)
				add(e, "sync_failed", 2, 4*time.Hour)
				add(p, "frame_time", 1, 5*time.Hour)
				add(p, "cold_start", 1, 6*time.Hour)
				add(b, "button_tap", 1, 7*time.Hour)
				// Outside the day: would top both lists if counted.
				add(ob, "nfc_notifier_update", 9, 30*time.Hour)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				vc := func(v string, n int64) logingest.ValueCount { return logingest.ValueCount{Value: v, Count: n} }
				types := []logingest.ValueCount{vc("behavioral", 5), vc("error", 2), vc("performance", 2), vc("telemetry", 2)}
				names := []logingest.ValueCount{
					vc("habit_completed", 3), vc("sync_failed", 2), vc("sync_finished", 2),
					vc("button_tap", 1), vc("cold_start", 1), vc("frame_time", 1), vc("habit_skipped", 1),
				}
				for _, c := range []struct {
					topN           int
					nTypes, nNames int
				}{{0, 4, 5}, {2, 2, 2}, {1, 1, 1}, {10, 4, 7}} {
					q := logingest.StatsQuery{Now: statsNow, TopN: c.topN}
					st, err := stats(ctx, s, q)
					if err != nil {
						return err
					}
					if !reflect.DeepEqual(st.TopEventTypes, types[:c.nTypes]) || !reflect.DeepEqual(st.TopEventNames, names[:c.nNames]) {
						return fmt.Errorf("Stats(TopN %d):\n TopEventTypes %v, want %v\n TopEventNames %v, want %v",
							c.topN, st.TopEventTypes, types[:c.nTypes], st.TopEventNames, names[:c.nNames])
					}
				}
				return nil
			}),

		newCheck("Stats/Source",
			"Stats must summarise only the events of StatsQuery.Source, and of every source when it is empty",
			func(ctx context.Context, s logingest.Store, o Options) error {
				var events []logingest.Event
				for i := range 6 {
					e := receivedAgo(o, i, time.Duration(i)*time.Minute)
					e.EventType, e.EventName = logingest.EventTypeBehavioral, "habit_completed"
					e.UserID, e.SessionID = fmt.Sprintf("user%d", i%3), fmt.Sprintf("session%d", i)
					e.Properties = json.RawMessage(fmt.Sprintf(`{"duration_ms": %d}`, 10*i))
					if i >= 4 {
						e.Source = sourceStaging
						e.EventID = events[i-4].EventID // same IDs, other source
						e.EventType, e.EventName = logingest.EventTypeError, "sync_failed"
					}
					events = append(events, e)
				}
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				vc := func(v string, n int64) []logingest.ValueCount { return []logingest.ValueCount{{Value: v, Count: n}} }
				for _, c := range []struct {
					q    logingest.StatsQuery
					want logingest.Stats
				}{
					{logingest.StatsQuery{Now: statsNow, Source: sourceProd}, logingest.Stats{
						TotalEvents: 4, LastHour: 4, LastDay: 4, AverageLatencyMs: 15,
						ActiveSessions: 4, ActiveUsers: 3, TopEventTypes: vc("behavioral", 4), TopEventNames: vc("habit_completed", 4),
					}},
					{logingest.StatsQuery{Now: statsNow, Source: sourceStaging}, logingest.Stats{
						TotalEvents: 2, LastHour: 2, LastDay: 2, AverageLatencyMs: 45, ErrorRatePercent: 100,
						ActiveSessions: 2, ActiveUsers: 2, TopEventTypes: vc("error", 2), TopEventNames: vc("sync_failed", 2),
					}},
					{logingest.StatsQuery{Now: statsNow, Source: "habit-tracker-dev"}, logingest.Stats{
						TopEventTypes: []logingest.ValueCount{}, TopEventNames: []logingest.ValueCount{},
					}},
					{logingest.StatsQuery{Now: statsNow, TopN: 1}, logingest.Stats{
						TotalEvents: 6, LastHour: 6, LastDay: 6, AverageLatencyMs: 25, ErrorRatePercent: 100 * 2 / 6.0,
						ActiveSessions: 6, ActiveUsers: 3, TopEventTypes: vc("behavioral", 4), TopEventNames: vc("habit_completed", 4),
					}},
				} {
					st, err := stats(ctx, s, c.q)
					if err != nil {
						return err
					}
					if err := wantStats(c.q, st, &c.want); err != nil {
						return err
					}
				}
				return nil
			}),
	}
}
