package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/change66/logserver/logingest"
)

func queryChecks() []check {
	cs := []check{
		newCheck("Query/EmptyStore",
			"Query on an empty store must return a page with non-nil empty Events, Total 0 and no NextCursor",
			func(ctx context.Context, s logingest.Store, o Options) error {
				p, err := query(ctx, s, logingest.Filter{})
				if err != nil {
					return err
				}
				if len(p.Events) != 0 || p.Total != 0 || p.NextCursor != "" {
					return fmt.Errorf("Query on an empty store = %d events, Total %d, NextCursor %q; want 0, 0, \"\"",
						len(p.Events), p.Total, p.NextCursor)
				}
				return nil
			}),

		newCheck("Query/Defaults",
			"Query with the zero Filter must return every source's events newest received first (created_at DESC), DefaultQueryLimit per page, with a NextCursor while more remain",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, logingest.DefaultQueryLimit+10)
				for i := range events {
					if i%4 == 0 {
						events[i].Source = sourceStaging
					}
					// Timestamps run against receive order, so only the right default order passes.
					events[i].Timestamp = o.at(1000 - i)
				}
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				want := expect(events, nil, logingest.SortReceivedAt, logingest.SortDesc)
				p, err := query(ctx, s, logingest.Filter{})
				if err != nil {
					return err
				}
				if err := wantTotal(logingest.Filter{}, p, len(events)); err != nil {
					return err
				}
				if err := wantRefs("first page of the zero Filter", p.Events, want[:logingest.DefaultQueryLimit]); err != nil {
					return err
				}
				if p.NextCursor == "" {
					return fmt.Errorf("first page of %d events returned an empty NextCursor, want one while %d more events match",
						len(p.Events), len(events)-len(p.Events))
				}
				p, err = query(ctx, s, logingest.Filter{After: p.NextCursor})
				if err != nil {
					return err
				}
				return wantRefs("second page of the zero Filter", p.Events, want[logingest.DefaultQueryLimit:])
			}),

		newCheck("Query/Filter/NoMatch",
			"Query must return non-nil empty Events and Total 0 when no event matches",
			func(ctx context.Context, s logingest.Store, o Options) error {
				if err := appendInserted(ctx, s, newEvents(o, 0, 10)); err != nil {
					return err
				}
				p, err := query(ctx, s, logingest.Filter{UserID: "nobody"})
				if err != nil {
					return err
				}
				if len(p.Events) != 0 || p.NextCursor != "" {
					return fmt.Errorf("Query(UserID: nobody) = %d events, NextCursor %q; want none", len(p.Events), p.NextCursor)
				}
				return wantTotal(logingest.Filter{}, p, 0)
			}),
	}
	cs = append(cs, filterChecks()...)
	for _, field := range logingest.SortFields() {
		cs = append(cs,
			newCheck("Query/Sort/"+string(field),
				fmt.Sprintf("Query must order events by %s, ascending for ASC and descending for DESC, "+
					"ties broken by insertion order in the same direction (strings compare in byte order)", field),
				func(ctx context.Context, s logingest.Store, o Options) error {
					events, err := appendSortData(ctx, s, o, field)
					if err != nil {
						return err
					}
					for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
						f := logingest.Filter{SortBy: field, SortOrder: order}
						got, err := queryAll(ctx, s, f)
						if err != nil {
							return err
						}
						if err := wantRefs(fmt.Sprintf("Query(%s)", describe(f)), got, expect(events, nil, field, order)); err != nil {
							return err
						}
					}
					return nil
				}),
			newCheck("Query/Cursor/"+string(field),
				fmt.Sprintf("Following NextCursor must visit every event exactly once in %s order, "+
					"in both directions and across ties, the same pages as Offset paging", field),
				func(ctx context.Context, s logingest.Store, o Options) error {
					events, err := appendSortData(ctx, s, o, field)
					if err != nil {
						return err
					}
					for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
						want := expect(events, nil, field, order)
						for _, limit := range []int{1, 3, 5, len(events)} {
							f := logingest.Filter{SortBy: field, SortOrder: order, Limit: limit}
							got, err := walk(ctx, s, f, len(want))
							if err != nil {
								return err
							}
							if err := wantRefs(fmt.Sprintf("cursor walk with %s", describe(f)), got, want); err != nil {
								return err
							}
							got, err = walkOffset(ctx, s, f, len(want))
							if err != nil {
								return err
							}
							if err := wantRefs(fmt.Sprintf("offset walk with %s", describe(f)), got, want); err != nil {
								return err
							}
						}
					}
					return nil
				}),
		)
	}
	cs = append(cs,
		newCheck("Query/TieBreak",
			"Query must return events with equal sort keys in insertion order (across Append calls) for ASC and in reverse insertion order for DESC, also when paging",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 10)
				for i := range events {
					events[i].Timestamp = o.at(7)
					events[i].ReceivedAt = o.at(7)
				}
				for _, part := range [][]logingest.Event{events[:4], events[4:5], events[5:]} {
					if err := appendInserted(ctx, s, part); err != nil {
						return err
					}
				}
				for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
					want := slices.Clone(events)
					if order == logingest.SortDesc {
						slices.Reverse(want)
					}
					for _, limit := range []int{3, logingest.MaxQueryLimit} {
						f := logingest.Filter{SortOrder: order, Limit: limit}
						got, err := walk(ctx, s, f, len(want))
						if err != nil {
							return err
						}
						if err := wantRefs(fmt.Sprintf("cursor walk with %s", describe(f)), got, want); err != nil {
							return err
						}
					}
				}
				return nil
			}),

		newCheck("Query/Offset",
			"Query must skip Offset matching events and return at most Limit, with Total counting every match regardless of paging",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 23)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				want := expect(events, nil, logingest.SortTimestamp, logingest.SortDesc)
				for _, limit := range []int{1, 5, 23, 100} {
					got, err := walkOffset(ctx, s, logingest.Filter{Limit: limit}, len(want))
					if err != nil {
						return err
					}
					if err := wantRefs(fmt.Sprintf("offset walk with Limit %d", limit), got, want); err != nil {
						return err
					}
				}
				for _, off := range []int{23, 24, 1000} {
					f := logingest.Filter{Offset: off, Limit: 5}
					p, err := query(ctx, s, f)
					if err != nil {
						return err
					}
					if len(p.Events) != 0 || p.NextCursor != "" {
						return fmt.Errorf("Query(%s) past the end = %d events, NextCursor %q; want none", describe(f), len(p.Events), p.NextCursor)
					}
					if err := wantTotal(f, p, len(want)); err != nil {
						return err
					}
				}
				return nil
			}),

		newCheck("Query/MaxLimit",
			"Query must accept Limit MaxQueryLimit and return that many events when more match",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, logingest.MaxQueryLimit+1)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				f := logingest.Filter{SortBy: logingest.SortID, SortOrder: logingest.SortAsc, Limit: logingest.MaxQueryLimit}
				got, err := walk(ctx, s, f, len(events))
				if err != nil {
					return err
				}
				return wantRefs(fmt.Sprintf("cursor walk with %s", describe(f)), got, events)
			}),

		newCheck("Query/SkipTotal",
			"Query with SkipTotal must return the same events, with Total either -1 or the exact count",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 12)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				f := logingest.Filter{SkipTotal: true, Limit: 2, EventType: logingest.EventTypeBehavioral}
				want := expect(events, func(e logingest.Event) bool { return e.EventType == f.EventType }, logingest.SortTimestamp, logingest.SortDesc)
				got, err := walk(ctx, s, f, len(want))
				if err != nil {
					return err
				}
				return wantRefs("cursor walk with SkipTotal", got, want)
			}),

		newCheck("Query/Cursor/Filtered",
			"Following NextCursor must return only events that match the filter, each exactly once",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 60)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				f := logingest.Filter{
					AppVersion: "2.0.1+7", StartTime: o.at(5), EndTime: o.at(50),
					SortBy: logingest.SortEventName, SortOrder: logingest.SortAsc, Limit: 4,
				}
				want := expect(events, func(e logingest.Event) bool {
					return e.AppVersion == f.AppVersion && !e.Timestamp.Before(f.StartTime) && e.Timestamp.Before(f.EndTime)
				}, f.SortBy, f.SortOrder)
				got, err := walk(ctx, s, f, len(want))
				if err != nil {
					return err
				}
				return wantRefs(fmt.Sprintf("cursor walk with %s", describe(f)), got, want)
			}),

		newCheck("Query/Cursor/InsertDuringPaging",
			"Following NextCursor while events are appended must return each old event after the cursor exactly once, nothing before the cursor, and the new events after it (keyset pagination)",
			func(ctx context.Context, s logingest.Store, o Options) error {
				for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
					if err := insertDuringPaging(ctx, s, o, order); err != nil {
						return fmt.Errorf("%s: %w", order, err)
					}
				}
				return nil
			}),

		newCheck("Query/Cursor/Malformed",
			"Query with a malformed After cursor must return an error matching logingest.ErrInvalid",
			func(ctx context.Context, s logingest.Store, o Options) error {
				if err := appendInserted(ctx, s, newEvents(o, 0, 5)); err != nil {
					return err
				}
				var errs []error
				for _, c := range []string{"not a cursor!", "%%%", "\x00\xff\xfe", "🙂", "' OR 1=1 --"} {
					_, err := s.Query(ctx, logingest.Filter{After: c})
					errs = append(errs, wantInvalid(fmt.Sprintf("Query(After: %q)", c), err))
				}
				return errors.Join(errs...)
			}),

		newCheck("Query/Invalid",
			"Query must return the error of Filter.Normalize, a *logingest.ValidationError matching logingest.ErrInvalid, for every invalid filter",
			func(ctx context.Context, s logingest.Store, o Options) error {
				if err := appendInserted(ctx, s, newEvents(o, 0, 5)); err != nil {
					return err
				}
				var errs []error
				for _, f := range []logingest.Filter{
					{SortBy: "bogus"},
					{SortBy: "timestamp; DROP TABLE analytics_logs"},
					{SortBy: "properties"},
					{SortOrder: "sideways"},
					{SortOrder: "asc"},
					{Limit: logingest.MaxQueryLimit + 1},
					{Limit: -1},
					{Offset: -1},
					{Offset: 5, After: "cursor"},
					{EventType: "click"},
					{Priority: "urgent"},
					{StartTime: o.at(5), EndTime: o.at(5)},
					{StartTime: o.at(6), EndTime: o.at(5)},
				} {
					_, err := s.Query(ctx, f)
					const want = "want a *logingest.ValidationError matching logingest.ErrInvalid"
					switch _, ok := errors.AsType[*logingest.ValidationError](err); {
					case err == nil:
						errs = append(errs, fmt.Errorf("Query(%s) returned a nil error, %s", describe(f), want))
					case !ok || !errors.Is(err, logingest.ErrInvalid):
						errs = append(errs, fmt.Errorf("Query(%s) returned error %w, %s", describe(f), err, want))
					}
				}
				return errors.Join(errs...)
			}),

		newCheck("Query/CanceledContext",
			"Query with a done context must return an error wrapping ctx.Err()",
			func(ctx context.Context, s logingest.Store, o Options) error {
				if err := appendInserted(ctx, s, newEvents(o, 0, 5)); err != nil {
					return err
				}
				c := canceled(ctx)
				_, err := s.Query(c, logingest.Filter{})
				if err := wantCtxErr(c, "Query", err); err != nil {
					return err
				}
				d, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
				defer cancel()
				_, err = s.Query(d, logingest.Filter{})
				return wantCtxErr(d, "Query", err)
			}),

		newCheck("Query/CallerOwnsPage",
			"The caller owns the returned Page: changing its events or their JSON bytes must not change what the store returns later",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 4)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				for i := range got {
					got[i].EventName = "tampered"
					for j := range got[i].Properties {
						got[i].Properties[j] = ' '
					}
					for j := range got[i].DeviceInfo {
						got[i].DeviceInfo[j] = ' '
					}
				}
				got, err = queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				return wantEvents(o, "Query after the caller changed an earlier Page", got, events)
			}),
	)
	return cs
}

// filterCase is one filter and the events it must select.
type filterCase struct {
	f    logingest.Filter
	keep func(logingest.Event) bool
}

// wantFiltered appends events and requires each case's Query, ordered by timestamp ascending, to return exactly
// the events keep selects, equal to what was appended.
func wantFiltered(ctx context.Context, s logingest.Store, o Options, events []logingest.Event, cases ...filterCase) error {
	if err := appendInserted(ctx, s, events); err != nil {
		return err
	}
	var errs []error
	for _, c := range cases {
		want := expect(events, c.keep, logingest.SortTimestamp, logingest.SortAsc)
		if len(want) == 0 || len(want) == len(events) {
			panic(fmt.Sprintf("storetest: filter %s selects %d of %d events; the case proves nothing", describe(c.f), len(want), len(events)))
		}
		f := c.f
		f.SortBy, f.SortOrder = logingest.SortTimestamp, logingest.SortAsc
		got, err := queryAll(ctx, s, f)
		if err == nil {
			err = wantEvents(o, fmt.Sprintf("Query(%s)", describe(c.f)), got, want)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tweak returns newEvent(o, i) changed by f.
func tweak(o Options, i int, f func(e *logingest.Event)) logingest.Event {
	e := newEvent(o, i)
	f(&e)
	return e
}

func filterChecks() []check {
	const user = "WrFJAp1hSvEwhM7r6QMgvJEQj7dg"
	return []check{
		newCheck("Query/Filter/EventType",
			"Query must return only events whose EventType equals Filter.EventType",
			func(ctx context.Context, s logingest.Store, o Options) error {
				return wantFiltered(ctx, s, o, newEvents(o, 0, 30),
					filterCase{logingest.Filter{EventType: logingest.EventTypeError}, func(e logingest.Event) bool {
						return e.EventType == logingest.EventTypeError
					}},
					filterCase{logingest.Filter{EventType: logingest.EventTypeBehavioral}, func(e logingest.Event) bool {
						return e.EventType == logingest.EventTypeBehavioral
					}})
			}),

		newCheck("Query/Filter/EventName",
			"Query must return only events whose EventName equals Filter.EventName exactly: case-sensitive, no prefix or pattern matching",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 30)
				for i, name := range []string{"habitXcompleted", "Habit_Completed", "habit_completed ", "habit_completed_v2", "habit%"} {
					events = append(events, tweak(o, 30+i, func(e *logingest.Event) { e.EventName = name }))
				}
				return wantFiltered(ctx, s, o, events,
					filterCase{logingest.Filter{EventName: "habit_completed"}, func(e logingest.Event) bool { return e.EventName == "habit_completed" }},
					filterCase{logingest.Filter{EventName: "habit%"}, func(e logingest.Event) bool { return e.EventName == "habit%" }})
			}),

		newCheck("Query/Filter/UserID",
			"Query must return only events whose UserID equals Filter.UserID exactly: case-sensitive, no prefix matching",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 30)
				for i, u := range []string{"wrfjap1hsvewhm7r6qmgvjeqj7dg", user[:len(user)-1], user + "2"} {
					events = append(events, tweak(o, 30+i, func(e *logingest.Event) { e.UserID = u }))
				}
				return wantFiltered(ctx, s, o, events,
					filterCase{logingest.Filter{UserID: user}, func(e logingest.Event) bool { return e.UserID == user }})
			}),

		newCheck("Query/Filter/SessionID",
			"Query must return only events whose SessionID equals Filter.SessionID exactly",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 40)
				session := events[0].SessionID
				events = append(events, tweak(o, 40, func(e *logingest.Event) { e.SessionID = session + "_2" }))
				return wantFiltered(ctx, s, o, events,
					filterCase{logingest.Filter{SessionID: session}, func(e logingest.Event) bool { return e.SessionID == session }})
			}),

		newCheck("Query/Filter/AppVersion",
			"Query must return only events whose AppVersion equals Filter.AppVersion exactly",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 30)
				for i, v := range []string{"2.0.1", "2.0.1+70", "12.0.1+7"} {
					events = append(events, tweak(o, 30+i, func(e *logingest.Event) { e.AppVersion = v }))
				}
				return wantFiltered(ctx, s, o, events,
					filterCase{logingest.Filter{AppVersion: "2.0.1+7"}, func(e logingest.Event) bool { return e.AppVersion == "2.0.1+7" }})
			}),

		newCheck("Query/Filter/Priority",
			"Query must return only events whose Priority equals Filter.Priority",
			func(ctx context.Context, s logingest.Store, o Options) error {
				return wantFiltered(ctx, s, o, newEvents(o, 0, 30),
					filterCase{logingest.Filter{Priority: logingest.PriorityHigh}, func(e logingest.Event) bool {
						return e.Priority == logingest.PriorityHigh
					}},
					filterCase{logingest.Filter{Priority: logingest.PriorityNormal}, func(e logingest.Event) bool {
						return e.Priority == logingest.PriorityNormal
					}})
			}),

		newCheck("Query/Filter/ProviderName",
			"Query must return only events whose properties.provider_name is a string equal to Filter.ProviderName; nested keys, other JSON types and DeviceInfo do not count",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 30)
				for i, p := range []string{
					`{"provider_name": "habit_provider_v2"}`,
					`{"provider_name": "Habit_Provider"}`,
					`{"meta": {"provider_name": "habit_provider"}}`,
					`{"provider_name": ["habit_provider"]}`,
					`{"provider_name": 7}`,
					`{"provider": "habit_provider", "new_state": "ready"}`,
					`{"old_state":"idle","provider_name":"habit_provider"}`, // compact, other key order
				} {
					events = append(events, tweak(o, 30+i, func(e *logingest.Event) { e.Properties = json.RawMessage(p) }))
				}
				events = append(events,
					tweak(o, 40, func(e *logingest.Event) { e.DeviceInfo = json.RawMessage(`{"provider_name": "habit_provider"}`) }),
					tweak(o, 41, func(e *logingest.Event) { e.Properties = json.RawMessage(`{"provider_name": 7}`) }))
				provider := func(e logingest.Event) string {
					var p struct {
						ProviderName any `json:"provider_name"`
					}
					_ = json.Unmarshal(e.Properties, &p)
					s, _ := p.ProviderName.(string)
					return s
				}
				return wantFiltered(ctx, s, o, events,
					filterCase{logingest.Filter{ProviderName: "habit_provider"}, func(e logingest.Event) bool { return provider(e) == "habit_provider" }},
					filterCase{logingest.Filter{ProviderName: "nfc_notifier"}, func(e logingest.Event) bool { return provider(e) == "nfc_notifier" }})
			}),

		newCheck("Query/Filter/Source",
			"Query must return only events whose Source equals Filter.Source, and events of every source when it is empty",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 20)
				for i := range events {
					if i%3 == 0 {
						events[i].Source = sourceStaging
					}
				}
				// The same event ID in both sources.
				events = append(events, tweak(o, 20, func(e *logingest.Event) { e.EventID, e.Source = events[1].EventID, sourceStaging }))
				return wantFiltered(ctx, s, o, events,
					filterCase{logingest.Filter{Source: sourceStaging}, func(e logingest.Event) bool { return e.Source == sourceStaging }},
					filterCase{logingest.Filter{Source: sourceProd}, func(e logingest.Event) bool { return e.Source == sourceProd }})
			}),

		newCheck("Query/Filter/TimeRange",
			"Query must return only events with StartTime <= Timestamp < EndTime, whatever the time zone of the events and bounds",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 30)
				tokyo := time.FixedZone("JST", 9*60*60)
				events[10].Timestamp = events[10].Timestamp.In(tokyo) // exactly StartTime, in another zone
				events[19].Timestamp = events[19].Timestamp.In(tokyo)
				start, end := o.at(10).In(time.FixedZone("EST", -5*60*60)), o.at(20)
				in := func(e logingest.Event) bool { return !e.Timestamp.Before(start) && e.Timestamp.Before(end) }
				return wantFiltered(ctx, s, o, events,
					filterCase{logingest.Filter{StartTime: start, EndTime: end}, in},
					filterCase{logingest.Filter{StartTime: start}, func(e logingest.Event) bool { return !e.Timestamp.Before(start) }},
					filterCase{logingest.Filter{EndTime: end}, func(e logingest.Event) bool { return e.Timestamp.Before(end) }},
					filterCase{logingest.Filter{StartTime: o.at(20), EndTime: o.at(21)}, func(e logingest.Event) bool {
						return e.Timestamp.Equal(o.at(20))
					}})
			}),

		newCheck("Query/Filter/Combined",
			"Query must return only events that match every non-zero field of the filter",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 200)
				f := logingest.Filter{
					Source: sourceProd, EventType: logingest.EventTypeBehavioral, UserID: user, AppVersion: "2.0.1+7",
					Priority: logingest.PriorityNormal, StartTime: o.at(20), EndTime: o.at(180),
				}
				for i := range events {
					if i%11 == 0 {
						events[i].Source = sourceStaging
					}
				}
				keep := func(e logingest.Event) bool {
					return e.Source == f.Source && e.EventType == f.EventType && e.UserID == f.UserID && e.AppVersion == f.AppVersion &&
						e.Priority == f.Priority && !e.Timestamp.Before(f.StartTime) && e.Timestamp.Before(f.EndTime)
				}
				sess := logingest.Filter{UserID: user, SessionID: events[0].SessionID, EventName: "habit_completed"}
				return wantFiltered(ctx, s, o, events,
					filterCase{f, keep},
					filterCase{sess, func(e logingest.Event) bool {
						return e.UserID == sess.UserID && e.SessionID == sess.SessionID && e.EventName == sess.EventName
					}})
			}),
	}
}

// Sort keys with ties. Strings order the same bytewise and under the usual linguistic collations (lowercase,
// punctuation at the same positions), so any sane database ordering agrees with the suite's.
var sortPools = map[logingest.SortField][]string{
	logingest.SortEventType: {"behavioral", "error", "performance", "telemetry"},
	logingest.SortEventName: {"app_opened", "habit_completed", "habit_skipped", "sync_finished"},
	logingest.SortUserID:    {"", "15tnojhjy8qqhod18z8eovnozctl", "8qgdvpkhfud4llybnrqeggsn0ffr", "wrfjap1hsvewhm7r6qmgvjeqj7dg"},
	logingest.SortSessionID: {
		"1756288356532_ot2fph0y3xjq", "1756288359532_8qgdvpkhfud4", "1756288362532_15tnojhjy8qq", "1756288366532_wrfjap1hsvew",
	},
	logingest.SortAppVersion: {"1.9.4+5", "2.0.0+6", "2.0.1+7", "2.1.0+8"},
	logingest.SortPriority:   {"high", "normal"},
}

// sortKeys assigns each of the twelve sort events one of four keys, three events per key, in an order unrelated
// to insertion.
var sortKeys = []int{2, 0, 3, 1, 0, 2, 3, 1, 2, 0, 1, 3}

// appendSortData appends, in two calls, twelve events whose field takes four values with three ties each. Every
// other field, the timestamp in particular, runs against insertion order, so only a correct sort and tie-break
// produce the expected order. It returns the events in insertion order.
func appendSortData(ctx context.Context, s logingest.Store, o Options, field logingest.SortField) ([]logingest.Event, error) {
	n := len(sortKeys)
	events := make([]logingest.Event, n)
	for i, k := range sortKeys {
		e := newEvent(o, n-1-i)
		switch field {
		case logingest.SortID, logingest.SortEventID:
			// IDs follow insertion, and event IDs are unique and unrelated to insertion order (no ties).
		case logingest.SortTimestamp:
			e.Timestamp = o.at(100 + k)
		case logingest.SortReceivedAt, logingest.SortCreatedAt:
			e.ReceivedAt = o.at(100 + k)
		case logingest.SortSequenceNumber:
			// Absent sorts first; numeric order differs from text order; 0 is not absent.
			e.SequenceNumber = []*int64{nil, new(int64(0)), new(int64(9)), new(int64(10))}[k]
		case logingest.SortEventType:
			e.EventType = logingest.EventType(sortPools[field][k])
		case logingest.SortEventName:
			e.EventName = sortPools[field][k]
		case logingest.SortUserID:
			e.UserID = sortPools[field][k]
		case logingest.SortSessionID:
			e.SessionID = sortPools[field][k]
		case logingest.SortAppVersion:
			e.AppVersion = sortPools[field][k]
		case logingest.SortPriority:
			e.Priority = logingest.Priority(sortPools[field][k%2])
		default:
			panic("storetest: no sort data for " + string(field))
		}
		events[i] = e
	}
	if err := appendInserted(ctx, s, events[:n/2]); err != nil {
		return nil, err
	}
	if err := appendInserted(ctx, s, events[n/2:]); err != nil {
		return nil, err
	}
	return events, nil
}

// walk follows NextCursor from the first page of f and returns every event seen. Unless total is -1, each page
// must report Total as total (or -1 under SkipTotal). Every page with a NextCursor must be full.
func walk(ctx context.Context, s logingest.Store, f logingest.Filter, total int) ([]logingest.Event, error) {
	var out []logingest.Event
	maxPages := 1000
	if total >= 0 {
		maxPages = total + 2 // one page per event, plus a possible empty last page
	}
	for range maxPages {
		p, err := query(ctx, s, f)
		if err != nil {
			return nil, err
		}
		if total >= 0 {
			if err := wantTotal(f, p, total); err != nil {
				return nil, fmt.Errorf("page %d: %w", len(out)/max(f.Limit, 1)+1, err)
			}
		}
		out = append(out, p.Events...)
		if p.NextCursor == "" {
			return out, nil
		}
		if len(p.Events) < cmp.Or(f.Limit, logingest.DefaultQueryLimit) {
			return nil, fmt.Errorf("Query(%s) returned a page of %d events with NextCursor %q, want a full page of %d or an empty NextCursor",
				describe(f), len(p.Events), p.NextCursor, cmp.Or(f.Limit, logingest.DefaultQueryLimit))
		}
		f.After = p.NextCursor
	}
	return nil, fmt.Errorf("cursor walk with %s did not end after %d pages (saw %d events)", describe(f), maxPages, len(out))
}

// walkOffset pages through f with Offset and returns every event seen.
func walkOffset(ctx context.Context, s logingest.Store, f logingest.Filter, total int) ([]logingest.Event, error) {
	var out []logingest.Event
	for f.Offset = 0; f.Offset <= total; f.Offset += cmp.Or(f.Limit, logingest.DefaultQueryLimit) {
		p, err := query(ctx, s, f)
		if err != nil {
			return nil, err
		}
		if err := wantTotal(f, p, total); err != nil {
			return nil, err
		}
		out = append(out, p.Events...)
	}
	return out, nil
}

// insertDuringPaging reads two pages, appends events before, at and after the cursor position, then reads on.
func insertDuringPaging(ctx context.Context, s logingest.Store, o Options, order logingest.SortOrder) error {
	// A fresh source per order keeps the two runs apart in one store.
	src := "paging-" + string(order)
	old := newEvents(o, 0, 20)
	for i := range old {
		old[i].Source = src
		old[i].Timestamp = o.at(10 + 2*i) // room in between
	}
	if err := appendInserted(ctx, s, old); err != nil {
		return err
	}
	f := logingest.Filter{Source: src, SortBy: logingest.SortTimestamp, SortOrder: order, Limit: 4}
	wantOld := expect(old, nil, logingest.SortTimestamp, order)
	var seen []logingest.Event
	for range 2 {
		p, err := query(ctx, s, f)
		if err != nil {
			return err
		}
		seen = append(seen, p.Events...)
		if p.NextCursor == "" {
			return fmt.Errorf("Query(%s) returned no NextCursor with %d of %d events read", describe(f), len(seen), len(old))
		}
		f.After = p.NextCursor
	}
	if err := wantRefs("first two pages", seen, wantOld[:len(seen)]); err != nil {
		return err
	}
	last := seen[len(seen)-1]
	var added []logingest.Event
	for i, ts := range []time.Time{o.at(0), o.at(9), last.Timestamp, last.Timestamp.Add(o.step()), o.at(200)} {
		e := newEvent(o, 100+i)
		e.Source, e.Timestamp = src, ts
		added = append(added, e)
	}
	if err := appendInserted(ctx, s, added); err != nil {
		return err
	}
	// Keyset semantics: the rest is everything, old or new, that sorts after the cursor's event.
	everything := expect(append(slices.Clone(old), added...), nil, logingest.SortTimestamp, order)
	pos := slices.IndexFunc(everything, func(e logingest.Event) bool { return ref(e) == ref(last) })
	rest, err := walk(ctx, s, f, -1)
	if err != nil {
		return err
	}
	return wantRefs("pages after appending during paging", rest, everything[pos+1:])
}
