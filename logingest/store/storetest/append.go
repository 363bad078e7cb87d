package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/change66/logserver/logingest"
)

// allAsc is the filter that returns every event in insertion order, as long as timestamps grow with insertion.
var allAsc = logingest.Filter{SortBy: logingest.SortTimestamp, SortOrder: logingest.SortAsc}

func appendChecks() []check {
	return []check{
		newCheck("Append/RoundTrip",
			"Query must return every appended field unchanged: strings and numbers exactly, timestamps in UTC within TimePrecision, Properties and DeviceInfo as semantically equal JSON objects",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 10)
				// Sub-microsecond instants, a non-UTC zone and awkward JSON.
				paris := time.FixedZone("CEST", 2*60*60)
				events[0].Timestamp = time.Date(2025, 8, 27, 11, 0, 24, 829123456, paris)
				events[0].ReceivedAt = time.Date(2025, 8, 27, 9, 5, 0, 987654321, time.UTC)
				events[1].Properties = json.RawMessage(`{
					"habit_name": "Méditation \u00e0 l'aube 🧘", "quote": "say \"hi\"\n\tand\\go",
					"nested": {"days": [1, 2.5, -3, 1e2, 9007199254740993], "done": true, "note": null},
					"empty_obj": {}, "empty_arr": [], "streak": 0}`)
				events[2].Properties = json.RawMessage(`{}`)
				events[2].DeviceInfo = json.RawMessage(`{}`)
				events[3].SequenceNumber = new(int64(1<<53 + 1))
				events[4].SequenceNumber = new(int64(0)) // stored apart from nil (events[5] has none)
				events[5].SequenceNumber = nil
				events[7].OriginalTimestamp = time.Date(2025, 8, 26, 23, 59, 58, 123456000, paris) // corrected by sent_at
				events[8].ID = 987654                                                              // ignored by Append
				events[8].ProcessedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)                // ignored by Append
				events[4].UserID, events[4].SessionID = "", ""
				events[5].AppVersion = ""
				events[6].EventName = "écran_affiché" // non-ASCII
				ids, err := appendIDs(ctx, s, events)
				if err != nil {
					return err
				}
				events[8].ProcessedAt = time.Time{}
				for i := range events {
					events[i].ID = ids[i]
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				if got[8].ProcessedAt.Year() == 2001 {
					return errors.New("Query returned the ProcessedAt given to Append, want the store's own (or zero)")
				}
				return wantEvents(o, "Query after Append", got, expect(events, nil, logingest.SortTimestamp, logingest.SortAsc))
			}),

		newCheck("Append/Statuses",
			"Append must return one AppendStatus per event, in the order of the events, AppendInserted for each new (Source, EventID)",
			func(ctx context.Context, s logingest.Store, o Options) error {
				return appendInserted(ctx, s, newEvents(o, 0, 7))
			}),

		newCheck("Append/IDs",
			"Append must give every inserted event a positive ID, increasing in slice order and from call to call, and Query must return each event with the ID Append reported, unchanged by later Appends",
			func(ctx context.Context, s logingest.Store, o Options) error {
				var all []logingest.Event
				var last int64
				for call, n := range []int{3, 1, 4} {
					events := newEvents(o, len(all), n)
					ids, err := appendIDs(ctx, s, events)
					if err != nil {
						return fmt.Errorf("call %d: %w", call+1, err)
					}
					if ids[0] <= last {
						return fmt.Errorf("call %d: first ID %d, want more than %d, the last ID of the previous call", call+1, ids[0], last)
					}
					last = ids[len(ids)-1]
					for i := range events {
						events[i].ID = ids[i]
					}
					all = append(all, events...)
					got, err := queryAll(ctx, s, logingest.Filter{SortBy: logingest.SortID, SortOrder: logingest.SortAsc})
					if err != nil {
						return err
					}
					if err := wantEvents(o, fmt.Sprintf("Query by id after call %d", call+1), got, all); err != nil {
						return err
					}
				}
				return nil
			}),

		newCheck("Append/DuplicateInOneCall",
			"Append must report an event whose (Source, EventID) appeared earlier in the same call as AppendDuplicate, and keep the first copy",
			func(ctx context.Context, s logingest.Store, o Options) error {
				a, b, c := newEvent(o, 0), newEvent(o, 1), newEvent(o, 2)
				a2 := changed(o, a)
				b2 := changed(o, b)
				st, err := s.Append(ctx, []logingest.Event{a, b, a2, c, b2, a2})
				if err != nil {
					return fmt.Errorf("Append: %w", err)
				}
				I, D := logingest.AppendInserted, logingest.AppendDuplicate
				if err := wantStatuses(st, []logingest.AppendStatus{I, I, D, I, D, D}); err != nil {
					return err
				}
				if err := wantSameIDs(st, [][]int{{0, 2, 5}, {1, 4}}); err != nil {
					return err
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				return wantEvents(o, "Query after Append with duplicates", got, []logingest.Event{a, b, c})
			}),

		newCheck("Append/DuplicateAcrossCalls",
			"Append must report an event whose (Source, EventID) is already stored as AppendDuplicate and leave the stored copy unchanged",
			func(ctx context.Context, s logingest.Store, o Options) error {
				a, b, c := newEvent(o, 0), newEvent(o, 1), newEvent(o, 2)
				ids, err := appendIDs(ctx, s, []logingest.Event{a, b})
				if err != nil {
					return err
				}
				st, err := s.Append(ctx, []logingest.Event{changed(o, b), c, a})
				if err != nil {
					return fmt.Errorf("second Append: %w", err)
				}
				I, D := logingest.AppendInserted, logingest.AppendDuplicate
				if err := wantStatuses(st, []logingest.AppendStatus{D, I, D}); err != nil {
					return err
				}
				if st[0].ID != ids[1] || st[2].ID != ids[0] {
					return fmt.Errorf("duplicates of stored events were reported IDs %d and %d, want the stored copies' %d and %d",
						st[0].ID, st[2].ID, ids[1], ids[0])
				}
				if st[1].ID <= ids[1] {
					return fmt.Errorf("an event inserted by a later Append got ID %d, want more than the earlier %d", st[1].ID, ids[1])
				}
				cID := st[1].ID
				st, err = s.Append(ctx, []logingest.Event{changed(o, c)})
				if err != nil {
					return fmt.Errorf("third Append: %w", err)
				}
				if err := wantStatuses(st, []logingest.AppendStatus{D}); err != nil {
					return err
				}
				if st[0].ID != cID {
					return fmt.Errorf("a retry was reported ID %d, want the ID %d of its first delivery", st[0].ID, cID)
				}
				a.ID, b.ID, c.ID = ids[0], ids[1], cID
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				return wantEvents(o, "Query after appending duplicates", got, []logingest.Event{a, b, c})
			}),

		newCheck("Append/DuplicateConcurrent",
			"Append called concurrently with the same (Source, EventID) must report AppendInserted exactly once in total and store one event",
			func(ctx context.Context, s logingest.Store, o Options) error {
				const writers = 16
				shared := newEvent(o, 0)
				statuses := make([][]logingest.AppendResult, writers)
				errs := make([]error, writers)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for w := range writers {
					wg.Go(func() {
						<-start
						// Each writer sends its own event too, so the batches differ.
						statuses[w], errs[w] = s.Append(ctx, []logingest.Event{newEvent(o, 1+w), shared})
					})
				}
				close(start)
				wg.Wait()
				inserted := 0
				for w := range writers {
					if errs[w] != nil {
						return fmt.Errorf("writer %d: Append: %w", w, errs[w])
					}
					if len(statuses[w]) != 2 || statuses[w][0].Status != logingest.AppendInserted {
						return fmt.Errorf("writer %d: results = %v, want [inserted, inserted|duplicate]", w, statuses[w])
					}
					if statuses[w][1].Status == logingest.AppendInserted {
						inserted++
					}
				}
				for w := range writers {
					if statuses[w][1].ID != statuses[0][1].ID {
						return fmt.Errorf("writers 0 and %d were reported IDs %d and %d for the shared event, want the same ID",
							w, statuses[0][1].ID, statuses[w][1].ID)
					}
				}
				if inserted != 1 {
					return fmt.Errorf("the shared event was reported AppendInserted %d times across %d concurrent calls, want exactly 1",
						inserted, writers)
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				if n := countRef(got, ref(shared)); n != 1 || len(got) != writers+1 {
					return fmt.Errorf("the shared event is stored %d times among %d events, want once among %d", n, len(got), writers+1)
				}
				for _, e := range got {
					if ref(e) == ref(shared) && e.ID != statuses[0][1].ID {
						return fmt.Errorf("the shared event is stored under ID %d, but Append reported %d", e.ID, statuses[0][1].ID)
					}
				}
				return nil
			}),

		newCheck("Append/SameIDOtherSource",
			"Append must key events on (Source, EventID): the same EventID in two sources is two events",
			func(ctx context.Context, s logingest.Store, o Options) error {
				prod := newEvent(o, 0)
				staging := newEvent(o, 1)
				staging.EventID, staging.Source = prod.EventID, sourceStaging
				if err := appendInserted(ctx, s, []logingest.Event{prod, staging}); err != nil {
					return err
				}
				prod2 := changed(o, prod)
				prod2.Source = "habit-tracker-dev"
				if err := appendInserted(ctx, s, []logingest.Event{prod2}); err != nil {
					return fmt.Errorf("in a separate call: %w", err)
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				return wantEvents(o, "Query", got, []logingest.Event{prod, staging, prod2})
			}),

		newCheck("Append/Empty",
			"Append of an empty or nil slice must return no statuses and a nil error without touching the backend, even when ctx is done, and store nothing",
			func(ctx context.Context, s logingest.Store, o Options) error {
				for _, in := range [][]logingest.Event{nil, {}} {
					for _, done := range []bool{false, true} {
						c := ctx
						if done {
							c = canceled(ctx)
						}
						st, err := s.Append(c, in)
						if err != nil {
							return fmt.Errorf("Append(%#v) with a done context: %t, returned error %w; want nil", in, done, err)
						}
						if len(st) != 0 {
							return fmt.Errorf("Append(%#v) with a done context: %t, returned statuses %v; want nil or empty", in, done, st)
						}
					}
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				return wantRefs("Query after empty Appends", got, nil)
			}),

		newCheck("Append/CanceledContext",
			"Append with a done context must return an error wrapping ctx.Err() and store none of the events",
			func(ctx context.Context, s logingest.Store, o Options) error {
				c := canceled(ctx)
				_, err := s.Append(c, newEvents(o, 0, 5))
				if err := wantCtxErr(c, "Append", err); err != nil {
					return err
				}
				d, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
				defer cancel()
				_, err = s.Append(d, newEvents(o, 5, 5))
				if err := wantCtxErr(d, "Append", err); err != nil {
					return err
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				if err := wantRefs("Query after canceled Appends", got, nil); err != nil {
					return err
				}
				// The failed calls must not have reserved the keys either.
				return appendInserted(ctx, s, newEvents(o, 0, 10))
			}),

		newCheck("Append/DoesNotModifyInput",
			"Append must not modify the caller's slice or the JSON it points to",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 6)
				events = append(events, events[1]) // a duplicate too
				before := cloneEvents(events)
				if _, err := s.Append(ctx, events); err != nil {
					return fmt.Errorf("Append: %w", err)
				}
				for i := range events {
					if !reflect.DeepEqual(events[i], before[i]) {
						return fmt.Errorf("Append modified events[%d]:\n got  %+v\n want %+v", i, events[i], before[i])
					}
				}
				return nil
			}),

		newCheck("Append/DoesNotRetainInput",
			"Append must not retain the caller's slice: changing the events or their JSON bytes afterwards must not change what is stored",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 4)
				want := cloneEvents(events)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				for i := range events {
					events[i].EventName = "tampered"
					events[i].UserID = "tampered"
					for j := range events[i].Properties {
						if events[i].Properties[j] == 'e' {
							events[i].Properties[j] = 'E' // still valid JSON, different content
						}
					}
					copy(events[i].DeviceInfo, `{"x":1}    `)
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				return wantEvents(o, "Query after the caller changed its slice", got, want)
			}),

		newCheck("Append/LargeBatch",
			"Append must store a batch of 1000 events in one call",
			func(ctx context.Context, s logingest.Store, o Options) error {
				events := newEvents(o, 0, 1000)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				got, err := queryAll(ctx, s, logingest.Filter{SortBy: logingest.SortTimestamp, SortOrder: logingest.SortAsc, SkipTotal: true})
				if err != nil {
					return err
				}
				return wantEvents(o, "Query", got, events)
			}),

		newCheck("Append/ConcurrentWithQuery",
			"Append, Query and Stats must be safe to call from many goroutines at once and lose no event",
			func(ctx context.Context, s logingest.Store, o Options) error {
				const writers, batches, batchSize, readers = 8, 10, 5, 4
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				errc := make(chan error, writers+readers)
				var writersWG, readersWG sync.WaitGroup
				for w := range writers {
					writersWG.Go(func() {
						for b := range batches {
							n := (w*batches + b) * batchSize
							if err := appendInserted(ctx, s, newEvents(o, n, batchSize)); err != nil {
								errc <- fmt.Errorf("writer %d: %w", w, err)
								return
							}
						}
					})
				}
				done := make(chan struct{})
				for r := range readers {
					readersWG.Go(func() {
						for {
							select {
							case <-done:
								return
							default:
							}
							user := sampleUsers[r%2] // never ""
							p, err := query(ctx, s, logingest.Filter{UserID: user, Limit: 20})
							if err == nil {
								for _, e := range p.Events {
									if e.UserID != user {
										err = fmt.Errorf("Query by UserID %q returned an event of user %q", user, e.UserID)
									}
								}
							}
							if err == nil {
								_, err = s.Stats(ctx, logingest.StatsQuery{Now: baseTime.Add(3 * time.Hour)})
							}
							if err != nil {
								errc <- fmt.Errorf("reader %d: %w", r, err)
								return
							}
						}
					})
				}
				writersWG.Wait()
				close(done)
				readersWG.Wait()
				close(errc)
				var errs []error
				for err := range errc {
					errs = append(errs, err)
				}
				if err := errors.Join(errs...); err != nil {
					return err
				}
				p, err := query(ctx, s, logingest.Filter{Limit: 1})
				if err != nil {
					return err
				}
				return wantTotal(logingest.Filter{}, p, writers*batches*batchSize)
			}),
	}
}

// changed returns e with the same Source and EventID but every other field different.
func changed(o Options, e logingest.Event) logingest.Event {
	e2 := newEvent(o, 500)
	e2.EventID, e2.Source = e.EventID, e.Source
	e2.EventName += "_changed"
	e2.UserID = "changed-user"
	return e2
}

func countRef(events []logingest.Event, r string) int {
	n := 0
	for _, e := range events {
		if ref(e) == r {
			n++
		}
	}
	return n
}
