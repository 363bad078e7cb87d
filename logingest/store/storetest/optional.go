package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

func pingChecks() []check {
	return []check{
		newCheck("Ping/Healthy",
			"Ping on a healthy store must return nil",
			func(ctx context.Context, s logingest.Store, o Options) error {
				if err := s.Ping(ctx); err != nil {
					return fmt.Errorf("Ping: %w", err)
				}
				return nil
			}),
	}
}

// eraser returns s as a UserEraser, or a skip error.
func eraser(s logingest.Store) (logingest.UserEraser, error) {
	if e, ok := s.(logingest.UserEraser); ok {
		return e, nil
	}
	return nil, skip("store does not implement logingest.UserEraser")
}

func userEraserChecks() []check {
	const u1, u2 = "WrFJAp1hSvEwhM7r6QMgvJEQj7dg", "8QGdVPkhfUD4llYNbRQeGGSN0FfR"
	return []check{
		newCheck("UserEraser/DeleteUserEvents",
			"DeleteUserEvents must delete exactly the events of that user in that source (every source when source is empty) and return how many it deleted",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ue, err := eraser(s)
				if err != nil {
					return err
				}
				events := newEvents(o, 0, 40)
				for i := range events {
					if i%3 == 0 {
						events[i].Source = sourceStaging
					}
				}
				// A user ID that differs only in case, and one that extends u1.
				events = append(events,
					tweak(o, 40, func(e *logingest.Event) { e.UserID = "wrfjap1hsvewhm7r6qmgvjeqj7dg" }),
					tweak(o, 41, func(e *logingest.Event) { e.UserID = u1 + "x" }))
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				remaining := events
				for _, c := range []struct{ source, user string }{{sourceProd, u1}, {"", u1}, {sourceStaging, u2}, {"", u2}} {
					gone := func(e logingest.Event) bool { return e.UserID == c.user && (c.source == "" || e.Source == c.source) }
					want := int64(len(expect(remaining, gone, logingest.SortTimestamp, logingest.SortAsc)))
					if want == 0 && c.source != "" {
						panic("storetest: eraser case deletes nothing")
					}
					n, err := ue.DeleteUserEvents(ctx, c.source, c.user)
					if err != nil {
						return fmt.Errorf("DeleteUserEvents(%q, %q): %w", c.source, c.user, err)
					}
					if n != want {
						return fmt.Errorf("DeleteUserEvents(%q, %q) = %d, want %d", c.source, c.user, n, want)
					}
					remaining = expect(remaining, func(e logingest.Event) bool { return !gone(e) }, logingest.SortTimestamp, logingest.SortAsc)
					got, err := queryAll(ctx, s, allAsc)
					if err != nil {
						return err
					}
					if err := wantEvents(o, fmt.Sprintf("Query after DeleteUserEvents(%q, %q)", c.source, c.user), got, remaining); err != nil {
						return err
					}
				}
				return nil
			}),

		newCheck("UserEraser/IDsNotReused",
			"After DeleteUserEvents erased the newest events, Append must still give new events IDs above every ID it ever reported",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ue, err := eraser(s)
				if err != nil {
					return err
				}
				events := newEvents(o, 0, 3)
				events[2].UserID = "erased-user"
				ids, err := appendIDs(ctx, s, events)
				if err != nil {
					return err
				}
				if _, err := ue.DeleteUserEvents(ctx, "", "erased-user"); err != nil {
					return fmt.Errorf("DeleteUserEvents: %w", err)
				}
				res, err := s.Append(ctx, []logingest.Event{newEvent(o, 3)})
				if err != nil {
					return fmt.Errorf("Append after DeleteUserEvents: %w", err)
				}
				if len(res) != 1 || res[0].ID <= ids[2] {
					return fmt.Errorf("Append after erasing the event with ID %d reported %v, want an ID above %d (IDs are never reused)",
						ids[2], res, ids[2])
				}
				return nil
			}),

		newCheck("UserEraser/UnknownUser",
			"DeleteUserEvents of a user with no events must return (0, nil) and delete nothing",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ue, err := eraser(s)
				if err != nil {
					return err
				}
				if n, err := ue.DeleteUserEvents(ctx, "", "nobody"); err != nil {
					return fmt.Errorf("DeleteUserEvents on an empty store: %w; want (0, nil)", err)
				} else if n != 0 {
					return fmt.Errorf("DeleteUserEvents on an empty store = %d, want (0, nil)", n)
				}
				events := newEvents(o, 0, 10)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				for _, c := range []struct{ source, user string }{{"", "nobody"}, {sourceStaging, u1}, {"", u1[:10]}} {
					if n, err := ue.DeleteUserEvents(ctx, c.source, c.user); err != nil {
						return fmt.Errorf("DeleteUserEvents(%q, %q): %w; want (0, nil)", c.source, c.user, err)
					} else if n != 0 {
						return fmt.Errorf("DeleteUserEvents(%q, %q) = %d, want (0, nil)", c.source, c.user, n)
					}
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				return wantEvents(o, "Query after deleting unknown users", got, events)
			}),

		newCheck("UserEraser/EmptyUser",
			"DeleteUserEvents with an empty user id must return an error matching logingest.ErrInvalid and delete nothing, not the events without a user",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ue, err := eraser(s)
				if err != nil {
					return err
				}
				events := newEvents(o, 0, 10) // some of them carry no user
				if !slices.ContainsFunc(events, func(e logingest.Event) bool { return e.UserID == "" }) {
					panic("storetest: no event without a user")
				}
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				for _, source := range []string{"", sourceProd} {
					n, err := ue.DeleteUserEvents(ctx, source, "")
					if !errors.Is(err, logingest.ErrInvalid) {
						return fmt.Errorf("DeleteUserEvents(%q, \"\") = (%d, %w), want an error matching ErrInvalid", source, n, err)
					}
				}
				// Erasing every named user leaves exactly the events without a user.
				for _, u := range sampleUsers {
					if u == "" {
						continue
					}
					if _, err := ue.DeleteUserEvents(ctx, "", u); err != nil {
						return fmt.Errorf("DeleteUserEvents(\"\", %q): %w", u, err)
					}
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				anonymous := expect(events, func(e logingest.Event) bool { return e.UserID == "" }, logingest.SortTimestamp, logingest.SortAsc)
				return wantEvents(o, "Query after erasing every user", got, anonymous)
			}),

		newCheck("UserEraser/ResentStaysErased",
			"an erased event appended again must be reported AppendDuplicate and stay erased, while the same event_id in another source is stored as usual",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ue, err := eraser(s)
				if err != nil {
					return err
				}
				events := newEvents(o, 0, 10)
				if err := appendInserted(ctx, s, events); err != nil {
					return err
				}
				if _, err := ue.DeleteUserEvents(ctx, sourceProd, u1); err != nil {
					return fmt.Errorf("DeleteUserEvents(%q, %q): %w", sourceProd, u1, err)
				}
				erased := expect(events, func(e logingest.Event) bool { return e.UserID == u1 }, logingest.SortTimestamp, logingest.SortAsc)
				kept := expect(events, func(e logingest.Event) bool { return e.UserID != u1 }, logingest.SortTimestamp, logingest.SortAsc)
				if len(erased) == 0 {
					panic("storetest: no event of u1")
				}
				// The app re-sends the erased events, and the same events reach another source.
				elsewhere := cloneEvents(erased)
				for i := range elsewhere {
					elsewhere[i].Source = sourceStaging
				}
				st, err := s.Append(ctx, append(cloneEvents(erased), elsewhere...))
				if err != nil {
					return fmt.Errorf("Append(erased events again): %w", err)
				}
				want := append(repeat(logingest.AppendDuplicate, len(erased)), repeat(logingest.AppendInserted, len(elsewhere))...)
				if err := wantStatuses(st, want); err != nil {
					return fmt.Errorf("re-sent erased events: %w", err)
				}
				got, err := queryAll(ctx, s, allAsc)
				if err != nil {
					return err
				}
				all := expect(append(kept, elsewhere...), func(logingest.Event) bool { return true }, logingest.SortTimestamp, logingest.SortAsc)
				return wantEvents(o, "Query after re-sending erased events", got, all)
			}),
	}
}

// keyStore returns s as a KeyStore, or a skip error.
func keyStore(s logingest.Store) (logingest.KeyStore, error) {
	if k, ok := s.(logingest.KeyStore); ok {
		return k, nil
	}
	return nil, skip("store does not implement logingest.KeyStore")
}

// newKey returns a realistic key record; n varies it.
func newKey(n int, created time.Time) logingest.APIKey {
	return logingest.APIKey{
		ID:        fmt.Sprintf("key_%02d", n),
		Name:      fmt.Sprintf("habit tracker iOS build %d", n),
		Hash:      logingest.HashKey(fmt.Sprintf("lk_live_%032d", n)),
		Source:    sourceProd,
		Scopes:    logingest.ScopeIngest,
		CreatedAt: created,
	}
}

func sameKey(o Options, got, want logingest.APIKey) error {
	var errs []error
	if got.ID != want.ID || got.Name != want.Name || got.Hash != want.Hash || got.Source != want.Source ||
		got.Scopes != want.Scopes || got.Limits != want.Limits || got.UseCount != want.UseCount {
		errs = append(errs, fmt.Errorf("got %+v, want %+v", got, want))
	}
	errs = append(errs, sameTime(o, "CreatedAt", got.CreatedAt, want.CreatedAt))
	for _, t := range []struct {
		name      string
		got, want time.Time
	}{
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
		{"RevokedAt", got.RevokedAt, want.RevokedAt},
		{"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
	} {
		switch {
		case t.want.IsZero() && !t.got.IsZero():
			errs = append(errs, fmt.Errorf("%s = %s, want the zero time", t.name, t.got))
		case !t.want.IsZero():
			errs = append(errs, sameTime(o, t.name, t.got, t.want))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("key %s: %w", want.ID, err)
	}
	return nil
}

func keyStoreChecks() []check {
	created := time.Date(2025, 8, 1, 12, 0, 0, 0, time.UTC)
	return []check{
		newCheck("KeyStore/CreateAndLookup",
			"APIKeyByHash must return the key created with that Hash, revoked or not, every field (Limits included) equal, zero times still zero, and no usage whatever CreateAPIKey was given",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				plain := newKey(1, created)
				full := newKey(2, created.Add(time.Hour))
				full.Scopes = logingest.ScopeIngest | logingest.ScopeRead | logingest.ScopeAdmin
				full.Source = sourceStaging
				full.ExpiresAt = created.Add(90 * 24 * time.Hour)
				full.RevokedAt = created.Add(48 * time.Hour)
				full.Limits = logingest.KeyLimits{RequestsPerMinute: 1.5, RequestBurst: 7, EventsPerMinute: -1, EventsBurst: 250000}
				for _, k := range []logingest.APIKey{plain, full} {
					// Usage statistics belong to RecordKeyUsage: CreateAPIKey must ignore them.
					withUsage := k
					withUsage.UseCount, withUsage.LastUsedAt = 42, created.Add(time.Minute)
					if err := ks.CreateAPIKey(ctx, withUsage); err != nil {
						return fmt.Errorf("CreateAPIKey(%s): %w", k.ID, err)
					}
				}
				for _, k := range []logingest.APIKey{plain, full} {
					got, err := ks.APIKeyByHash(ctx, k.Hash)
					if err != nil {
						return fmt.Errorf("APIKeyByHash(%s): %w", k.ID, err)
					}
					if err := sameKey(o, got, k); err != nil {
						return err
					}
				}
				return nil
			}),

		newCheck("KeyStore/NotFound",
			"APIKeyByHash of an unknown hash must return an error matching logingest.ErrNotFound",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				if err := ks.CreateAPIKey(ctx, newKey(1, created)); err != nil {
					return fmt.Errorf("CreateAPIKey: %w", err)
				}
				for _, h := range []string{logingest.HashKey("unknown"), "", newKey(1, created).Hash[:10]} {
					if _, err := ks.APIKeyByHash(ctx, h); !errors.Is(err, logingest.ErrNotFound) {
						return wantNotFound(fmt.Sprintf("APIKeyByHash(%q)", h), err)
					}
				}
				return nil
			}),

		newCheck("KeyStore/Duplicate",
			"CreateAPIKey must return an error matching logingest.ErrInvalid when a key with the same ID or Hash exists, and keep the existing key",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				orig := newKey(1, created)
				if err := ks.CreateAPIKey(ctx, orig); err != nil {
					return fmt.Errorf("CreateAPIKey: %w", err)
				}
				sameID := newKey(2, created.Add(time.Hour))
				sameID.ID = orig.ID
				sameHash := newKey(3, created.Add(time.Hour))
				sameHash.Hash = orig.Hash
				for _, k := range []logingest.APIKey{sameID, sameHash} {
					if err := ks.CreateAPIKey(ctx, k); !errors.Is(err, logingest.ErrInvalid) {
						return wantInvalid(fmt.Sprintf("CreateAPIKey(ID %s, Hash %s) over an existing key", k.ID, k.Hash), err)
					}
				}
				list, err := ks.ListAPIKeys(ctx)
				if err != nil {
					return fmt.Errorf("ListAPIKeys: %w", err)
				}
				if len(list) != 1 {
					return fmt.Errorf("ListAPIKeys returned %d keys after rejected duplicates, want 1", len(list))
				}
				got, err := ks.APIKeyByHash(ctx, orig.Hash)
				if err != nil {
					return fmt.Errorf("APIKeyByHash: %w", err)
				}
				return sameKey(o, got, orig)
			}),

		newCheck("KeyStore/List",
			"ListAPIKeys must return every key ordered by CreatedAt, then ID",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				list, err := ks.ListAPIKeys(ctx)
				if err != nil {
					return fmt.Errorf("ListAPIKeys on an empty store: %w; want no keys and a nil error", err)
				}
				if len(list) != 0 {
					return fmt.Errorf("ListAPIKeys on an empty store = %v, want no keys", list)
				}
				var keys []logingest.APIKey
				for i, h := range []int{5, 0, 3, 3, 1, 3} { // creation hours, with ties
					keys = append(keys, newKey(len(keys)*7%10, created.Add(time.Duration(h)*time.Hour)))
					if i == 4 {
						keys[i].RevokedAt = created.Add(24 * time.Hour)
					}
				}
				for _, k := range keys {
					if err := ks.CreateAPIKey(ctx, k); err != nil {
						return fmt.Errorf("CreateAPIKey(%s): %w", k.ID, err)
					}
				}
				slices.SortFunc(keys, func(a, b logingest.APIKey) int {
					if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
						return c
					}
					return strings.Compare(a.ID, b.ID)
				})
				list, err = ks.ListAPIKeys(ctx)
				if err != nil {
					return fmt.Errorf("ListAPIKeys: %w", err)
				}
				if len(list) != len(keys) {
					return fmt.Errorf("ListAPIKeys returned %d keys, want %d", len(list), len(keys))
				}
				for i := range keys {
					if err := sameKey(o, list[i], keys[i]); err != nil {
						return fmt.Errorf("ListAPIKeys()[%d]: %w", i, err)
					}
				}
				return nil
			}),

		newCheck("KeyStore/ByID",
			"APIKeyByID must return the key with that ID, revoked or not, and an error matching logingest.ErrNotFound for an unknown ID",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				keys := []logingest.APIKey{newKey(1, created), newKey(2, created)}
				keys[1].RevokedAt = created.Add(time.Hour)
				for _, k := range keys {
					if err := ks.CreateAPIKey(ctx, k); err != nil {
						return fmt.Errorf("CreateAPIKey(%s): %w", k.ID, err)
					}
				}
				for _, k := range keys {
					got, err := ks.APIKeyByID(ctx, k.ID)
					if err != nil {
						return fmt.Errorf("APIKeyByID(%s): %w", k.ID, err)
					}
					if err := sameKey(o, got, k); err != nil {
						return err
					}
				}
				for _, id := range []string{"key_99", "", "KEY_01", "key_0"} {
					if _, err := ks.APIKeyByID(ctx, id); !errors.Is(err, logingest.ErrNotFound) {
						return wantNotFound(fmt.Sprintf("APIKeyByID(%q)", id), err)
					}
				}
				return nil
			}),

		newCheck("KeyStore/Revoke",
			"RevokeAPIKey must set RevokedAt of that key only, keep the earlier RevokedAt when called again, and return an error matching logingest.ErrNotFound for an unknown ID",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				a, b := newKey(1, created), newKey(2, created)
				for _, k := range []logingest.APIKey{a, b} {
					if err := ks.CreateAPIKey(ctx, k); err != nil {
						return fmt.Errorf("CreateAPIKey(%s): %w", k.ID, err)
					}
				}
				first := created.Add(3 * time.Hour)
				for _, at := range []time.Time{first, first.Add(time.Hour), first.Add(-time.Hour)} {
					if err := ks.RevokeAPIKey(ctx, a.ID, at); err != nil {
						return fmt.Errorf("RevokeAPIKey(%s, %s): %w", a.ID, at, err)
					}
				}
				a.RevokedAt = first
				for _, k := range []logingest.APIKey{a, b} {
					got, err := ks.APIKeyByHash(ctx, k.Hash)
					if err != nil {
						return fmt.Errorf("APIKeyByHash(%s): %w", k.ID, err)
					}
					if err := sameKey(o, got, k); err != nil {
						return fmt.Errorf("after revoking %s: %w", a.ID, err)
					}
				}
				if err := wantNotFound("RevokeAPIKey of an unknown ID", ks.RevokeAPIKey(ctx, "key_99", first)); err != nil {
					return err
				}
				return nil
			}),

		newCheck("KeyStore/Expire",
			"ExpireAPIKey must set ExpiresAt of a key that has none, only ever move an ExpiresAt earlier, and return an error matching logingest.ErrNotFound for an unknown ID",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				a, b := newKey(1, created), newKey(2, created)
				b.ExpiresAt = created.Add(24 * time.Hour)
				for _, k := range []logingest.APIKey{a, b} {
					if err := ks.CreateAPIKey(ctx, k); err != nil {
						return fmt.Errorf("CreateAPIKey(%s): %w", k.ID, err)
					}
				}
				steps := []struct {
					id   string
					at   time.Time
					want logingest.APIKey
				}{
					{a.ID, created.Add(48 * time.Hour), withExpiry(a, created.Add(48*time.Hour))},
					{a.ID, created.Add(12 * time.Hour), withExpiry(a, created.Add(12*time.Hour))},
					{a.ID, created.Add(72 * time.Hour), withExpiry(a, created.Add(12*time.Hour))},
					{b.ID, created.Add(48 * time.Hour), b},
					{b.ID, created.Add(time.Hour), withExpiry(b, created.Add(time.Hour))},
				}
				for _, st := range steps {
					if err := ks.ExpireAPIKey(ctx, st.id, st.at); err != nil {
						return fmt.Errorf("ExpireAPIKey(%s, %s): %w", st.id, st.at, err)
					}
					got, err := ks.APIKeyByID(ctx, st.id)
					if err != nil {
						return fmt.Errorf("APIKeyByID(%s): %w", st.id, err)
					}
					if err := sameKey(o, got, st.want); err != nil {
						return fmt.Errorf("after ExpireAPIKey(%s, %s): %w", st.id, st.at, err)
					}
				}
				if err := wantNotFound("ExpireAPIKey of an unknown ID", ks.ExpireAPIKey(ctx, "key_99", created)); err != nil {
					return err
				}
				return nil
			}),

		newCheck("KeyStore/RecordKeyUsage",
			"RecordKeyUsage must add every usage's Count to its key's UseCount, keep the latest LastUsedAt, ignore unknown IDs and accept an empty batch",
			func(ctx context.Context, s logingest.Store, o Options) error {
				ks, err := keyStore(s)
				if err != nil {
					return err
				}
				a, b, c := newKey(1, created), newKey(2, created), newKey(3, created)
				for _, k := range []logingest.APIKey{a, b, c} {
					if err := ks.CreateAPIKey(ctx, k); err != nil {
						return fmt.Errorf("CreateAPIKey(%s): %w", k.ID, err)
					}
				}
				t0 := created.Add(time.Hour)
				batches := [][]logingest.KeyUsage{
					{{ID: a.ID, Count: 5, LastUsedAt: t0}, {ID: "key_99", Count: 1, LastUsedAt: t0}},
					{},
					{
						{ID: a.ID, Count: 2, LastUsedAt: t0.Add(-time.Minute)},
						{ID: b.ID, Count: 1000000, LastUsedAt: t0.Add(time.Second)},
						{ID: b.ID, Count: 3, LastUsedAt: t0.Add(time.Minute)},
					},
				}
				for i, batch := range batches {
					if err := ks.RecordKeyUsage(ctx, batch); err != nil {
						return fmt.Errorf("RecordKeyUsage(batch %d): %w", i, err)
					}
				}
				a.UseCount, a.LastUsedAt = 7, t0
				b.UseCount, b.LastUsedAt = 1000003, t0.Add(time.Minute)
				list, err := ks.ListAPIKeys(ctx)
				if err != nil {
					return fmt.Errorf("ListAPIKeys: %w", err)
				}
				want := []logingest.APIKey{a, b, c}
				if len(list) != len(want) {
					return fmt.Errorf("ListAPIKeys returned %d keys, want %d (unknown IDs must not create keys)", len(list), len(want))
				}
				for i := range want {
					if err := sameKey(o, list[i], want[i]); err != nil {
						return err
					}
				}
				return nil
			}),
	}
}

func withExpiry(k logingest.APIKey, at time.Time) logingest.APIKey {
	k.ExpiresAt = at
	return k
}
