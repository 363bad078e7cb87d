package storetest

import (
	"context"
	"errors"
	"fmt"

	"github.com/change66/logserver/logingest"
)

// exporter returns s as an Exporter, or a skip error.
func exporter(s logingest.Store) (logingest.Exporter, error) {
	if x, ok := s.(logingest.Exporter); ok {
		return x, nil
	}
	return nil, skip("store does not implement logingest.Exporter")
}

// exportAll returns deep copies of the events Export delivers for f.
func exportAll(ctx context.Context, x logingest.Exporter, f logingest.Filter) ([]logingest.Event, error) {
	var out []logingest.Event
	err := x.Export(ctx, f, func(e *logingest.Event) error {
		out = append(out, cloneEvents([]logingest.Event{*e})...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("Export(%s): %w", describe(f), err)
	}
	return out, nil
}

// exportEvents is how many events the Exporter checks append: more than a few chunks of a store that reads
// 2,000 at a time, and more than two pages of MaxQueryLimit.
const exportEvents = 4500

func exportChecks() []check {
	errStop := errors.New("stop")
	return []check{
		newCheck("Exporter/MatchesQuery",
			"Export must deliver exactly the events that paging through Query with the same filter returns, in the same order (every sort field and order, filters, search, starting after a cursor), ignoring Limit, Offset and SkipTotal",
			func(ctx context.Context, s logingest.Store, o Options) error {
				x, err := exporter(s)
				if err != nil {
					return err
				}
				events := newEvents(o, 0, exportEvents)
				for i := range events {
					if i%10 == 9 {
						events[i].Source = sourceStaging
					}
				}
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				first, err := query(ctx, s, logingest.Filter{
					Source: sourceProd, SortBy: logingest.SortEventName,
					SortOrder: logingest.SortAsc, Limit: 700, SkipTotal: true,
				})
				if err != nil {
					return err
				}
				filters := []logingest.Filter{
					{},
					{Source: sourceProd},
					{SortBy: logingest.SortID, SortOrder: logingest.SortAsc},
					{Source: sourceProd, SortBy: logingest.SortEventName, SortOrder: logingest.SortAsc, After: first.NextCursor},
					{Source: sourceProd, EventType: logingest.EventTypeTelemetry, SortBy: logingest.SortTimestamp},
					{UserID: sampleUsers[0], SortBy: logingest.SortSequenceNumber, SortOrder: logingest.SortAsc},
					{Source: sourceStaging, SortBy: logingest.SortUserID},
					{Source: sourceProd, Search: "habit", SortBy: logingest.SortReceivedAt, SortOrder: logingest.SortAsc},
					{Source: sourceProd, Limit: 5, Offset: 3, SkipTotal: true},
				}
				for _, f := range filters {
					got, err := exportAll(ctx, x, f)
					if err != nil {
						return err
					}
					pf := f
					pf.Limit, pf.Offset, pf.SkipTotal = logingest.MaxQueryLimit, 0, true
					want, err := walk(ctx, s, pf, -1)
					if err != nil {
						return err
					}
					if len(want) == 0 {
						panic("storetest: export case matches nothing: " + describe(f))
					}
					if err := wantEvents(o, "Export("+describe(f)+")", got, want); err != nil {
						return err
					}
				}
				return nil
			}),
		newCheck("Exporter/StopsOnError",
			"When fn returns an error, Export must stop at once and return an error matching it",
			func(ctx context.Context, s logingest.Store, o Options) error {
				x, err := exporter(s)
				if err != nil {
					return err
				}
				if err := appendInserted(ctx, s, newEvents(o, 0, exportEvents)); err != nil {
					return err
				}
				for _, stopAt := range []int{1, 3, exportEvents - 1} {
					calls := 0
					err := x.Export(ctx, logingest.Filter{}, func(*logingest.Event) error {
						if calls++; calls == stopAt {
							return errStop
						}
						return nil
					})
					if !errors.Is(err, errStop) {
						return fmt.Errorf("Export whose fn fails at event %d returned %w, want an error matching fn's", stopAt, err)
					}
					if calls != stopAt {
						return fmt.Errorf("Export called fn %d times after it failed at event %d, want no call after the failure", calls, stopAt)
					}
				}
				return nil
			}),
		newCheck("Exporter/Invalid",
			"Export must return Normalize's error for an invalid filter, and one matching ErrInvalid for a malformed cursor, without calling fn",
			func(ctx context.Context, s logingest.Store, o Options) error {
				x, err := exporter(s)
				if err != nil {
					return err
				}
				if err := appendInserted(ctx, s, newEvents(o, 0, 3)); err != nil {
					return err
				}
				for _, f := range []logingest.Filter{
					{SortBy: "nope"},
					{EventType: "nope"},
					{After: "not a cursor"},
					{SortBy: logingest.SortEventName, After: mustCursor(ctx, s)},
				} {
					called := false
					err := x.Export(ctx, f, func(*logingest.Event) error { called = true; return nil })
					if err := wantInvalid("Export("+describe(f)+")", err); err != nil {
						return err
					}
					if called {
						return fmt.Errorf("Export(%s) called fn, want no call for an invalid filter", describe(f))
					}
				}
				return nil
			}),
		newCheck("Exporter/ContextDone",
			"Export with a done context must return an error wrapping ctx.Err()",
			func(ctx context.Context, s logingest.Store, o Options) error {
				x, err := exporter(s)
				if err != nil {
					return err
				}
				if err := appendInserted(ctx, s, newEvents(o, 0, 3)); err != nil {
					return err
				}
				done := canceled(ctx)
				err = x.Export(done, logingest.Filter{}, func(*logingest.Event) error { return nil })
				return wantCtxErr(done, "Export", err)
			}),
	}
}

// mustCursor returns the NextCursor of the first page of one event in the default order (received_at), or ""
// when there is none.
func mustCursor(ctx context.Context, s logingest.Store) string {
	p, err := s.Query(ctx, logingest.Filter{Limit: 1, SkipTotal: true})
	if err != nil {
		return ""
	}
	return p.NextCursor
}
