// Package memstore is an in-memory logingest.Store for tests and examples.
//
// It is the reference implementation of the Store contract: it passes the storetest conformance suite and aims
// to be obviously correct rather than fast (Query is a linear scan plus a sort). It also implements
// logingest.UserEraser and logingest.KeyStore. Nothing survives the process.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

var (
	_ logingest.Store      = (*Store)(nil)
	_ logingest.UserEraser = (*Store)(nil)
	_ logingest.KeyStore   = (*Store)(nil)
	_ logingest.Aggregator = (*Store)(nil)
)

// Store keeps events and API keys in memory. It is safe for concurrent use. The zero value is not usable;
// call New.
type Store struct {
	mu     sync.RWMutex
	closed bool
	seq    int64         // insertion sequence of the last stored event
	rows   []row         // in insertion order
	ids    map[key]int64 // (Source, EventID) of every stored or erased event → its ID
	now    func() time.Time
	keys   []logingest.APIKey
}

type key struct{ source, eventID string }

// row is one stored event with its insertion sequence (its ID) and the provider name extracted from its
// properties.
type row struct {
	seq      int64
	provider string
	ev       logingest.Event
}

// New returns an empty Store.
func New() *Store {
	return &Store{ids: make(map[key]int64), now: time.Now}
}

// Close marks the store closed; every later call returns an error matching logingest.ErrClosed. Close is
// idempotent and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// begin checks ctx and the closed flag, in that order. The caller holds s.mu.
func (s *Store) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s.closed {
		return fmt.Errorf("%s: %w", op, logingest.ErrClosed)
	}
	return nil
}

// Append implements logingest.Store. It copies each event, including its JSON, and stores timestamps in UTC.
// IDs are 1, 2, 3… in insertion order; ProcessedAt is the time of the call.
func (s *Store) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "append"); err != nil {
		return nil, err
	}
	processed := s.now().UTC()
	results := make([]logingest.AppendResult, len(events))
	for i := range events {
		e := copyEvent(events[i])
		e.Timestamp = e.Timestamp.UTC()
		e.ReceivedAt = e.ReceivedAt.UTC()
		if !e.OriginalTimestamp.IsZero() {
			e.OriginalTimestamp = e.OriginalTimestamp.UTC()
		}
		e.SentAt = time.Time{}
		k := key{e.Source, e.EventID}
		if id, dup := s.ids[k]; dup {
			results[i] = logingest.AppendResult{Status: logingest.AppendDuplicate, ID: id}
			continue
		}
		s.seq++
		e.ID, e.ProcessedAt = s.seq, processed
		s.ids[k] = s.seq
		s.rows = append(s.rows, row{seq: s.seq, provider: providerName(e.Properties), ev: e})
		results[i] = logingest.AppendResult{Status: logingest.AppendInserted, ID: s.seq}
	}
	return results, nil
}

// providerName returns the string value of properties.provider_name, or "" when it is absent or not a string.
func providerName(props json.RawMessage) string {
	var p struct {
		ProviderName json.RawMessage `json:"provider_name"`
	}
	if json.Unmarshal(props, &p) != nil {
		return ""
	}
	var name string
	if json.Unmarshal(p.ProviderName, &name) != nil {
		return ""
	}
	return name
}

// Query implements logingest.Store.
func (s *Store) Query(ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
	f, err := f.Normalize()
	if err != nil {
		return nil, err
	}
	after, err := storequery.After(f)
	if err != nil {
		return nil, err
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx, "query"); err != nil {
		return nil, err
	}

	var matches []*row
	for i := range s.rows {
		if matchFilter(&s.rows[i], &f) {
			matches = append(matches, &s.rows[i])
		}
	}
	desc := f.SortOrder == logingest.SortDesc
	slices.SortFunc(matches, func(a, b *row) int {
		c := cursorOf(a, f.SortBy).Compare(cursorOf(b, f.SortBy))
		if desc {
			return -c
		}
		return c
	})

	page := &logingest.Page{Events: []logingest.Event{}, Total: int64(len(matches))}
	rest := matches
	if after != nil {
		rest = rest[:0:0]
		for _, r := range matches {
			c := cursorOf(r, f.SortBy).Compare(*after)
			if desc {
				c = -c
			}
			if c > 0 {
				rest = append(rest, r)
			}
		}
	}
	rest = rest[min(f.Offset, len(rest)):]
	n := min(f.Limit, len(rest))
	for _, r := range rest[:n] {
		ev := copyEvent(r.ev)
		// An event appended without the Ingester's validation may hold values JSON cannot carry.
		logingest.LogSanitized(ctx, slog.Default(), &ev, r.seq, logingest.SanitizeStored(&ev))
		page.Events = append(page.Events, ev)
	}
	if n < len(rest) {
		page.NextCursor = cursorOf(rest[n-1], f.SortBy).Encode()
	}
	return page, nil
}

// cursorOf is the position of r in the order by field; its insertion sequence breaks ties.
func cursorOf(r *row, field logingest.SortField) storequery.Cursor {
	return storequery.At(&r.ev, r.seq, field)
}

func matchFilter(r *row, f *logingest.Filter) bool {
	e := &r.ev
	switch {
	case f.Source != "" && e.Source != f.Source,
		f.EventType != "" && e.EventType != f.EventType,
		f.EventName != "" && e.EventName != f.EventName,
		f.UserID != "" && e.UserID != f.UserID,
		f.SessionID != "" && e.SessionID != f.SessionID,
		f.AppVersion != "" && e.AppVersion != f.AppVersion,
		f.Priority != "" && e.Priority != f.Priority,
		f.ProviderName != "" && r.provider != f.ProviderName,
		!f.StartTime.IsZero() && e.Timestamp.Before(f.StartTime),
		!f.EndTime.IsZero() && !e.Timestamp.Before(f.EndTime):
		return false
	}
	if f.Search != "" {
		terms, _ := logingest.SearchTerms(f.Search) // validated by Normalize
		return storequery.SearchMatches(e, terms)
	}
	return true
}

// Stats implements logingest.Store.
func (s *Store) Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	topN := q.Normalize().TopN
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx, "stats"); err != nil {
		return nil, err
	}
	st := &logingest.Stats{}
	hourAgo, dayAgo := q.Now.Add(-time.Hour), q.Now.Add(-24*time.Hour)
	sessionsSince := q.Now.Add(-logingest.ActiveSessionWindow)
	sessions, users := map[string]bool{}, map[string]bool{}
	types, names := map[string]int64{}, map[string]int64{}
	var errorsLastHour, durations int64
	var durationSum float64
	for i := range s.rows {
		e := &s.rows[i].ev
		if q.Source != "" && e.Source != q.Source {
			continue
		}
		st.TotalEvents++
		if e.ReceivedAt.After(q.Now) || !e.ReceivedAt.After(dayAgo) {
			continue
		}
		st.LastDay++
		if e.ReceivedAt.After(hourAgo) {
			st.LastHour++
			if e.EventType == logingest.EventTypeError {
				errorsLastHour++
			}
			if ms, ok := storequery.DurationMs(e.Properties); ok {
				durations++
				durationSum += ms
			}
		}
		if e.SessionID != "" && e.ReceivedAt.After(sessionsSince) {
			sessions[e.SessionID] = true
		}
		if e.UserID != "" {
			users[e.UserID] = true
		}
		types[string(e.EventType)]++
		names[e.EventName]++
	}
	st.ActiveSessions, st.ActiveUsers = int64(len(sessions)), int64(len(users))
	if durations > 0 {
		st.AverageLatencyMs = durationSum / float64(durations)
	}
	if st.LastHour > 0 {
		st.ErrorRatePercent = 100 * float64(errorsLastHour) / float64(st.LastHour)
	}
	st.TopEventTypes, st.TopEventNames = top(types, topN), top(names, topN)
	return st, nil
}

// top returns the n most frequent values, by count descending, then value ascending.
func top(counts map[string]int64, n int) []logingest.ValueCount {
	out := make([]logingest.ValueCount, 0, len(counts))
	for v, c := range counts {
		out = append(out, logingest.ValueCount{Value: v, Count: c})
	}
	slices.SortFunc(out, func(a, b logingest.ValueCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out[:min(n, len(out))]
}

// Ping implements logingest.Store. It fails only when ctx is done or the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.begin(ctx, "ping")
}

// DeleteUserEvents implements logingest.UserEraser. The erased events' keys stay in the store's key set, so
// a re-sent erased event is reported AppendDuplicate.
func (s *Store) DeleteUserEvents(ctx context.Context, source, userID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "delete user events"); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, fmt.Errorf("delete user events: user id must not be empty: %w", logingest.ErrInvalid)
	}
	kept := s.rows[:0]
	for _, r := range s.rows {
		if r.ev.UserID == userID && (source == "" || r.ev.Source == source) {
			continue // its key stays in s.ids: erased for good
		}
		kept = append(kept, r)
	}
	n := len(s.rows) - len(kept)
	clear(s.rows[len(kept):]) // drop references to deleted JSON
	s.rows = kept
	return int64(n), nil
}

// CreateAPIKey implements logingest.KeyStore.
func (s *Store) CreateAPIKey(ctx context.Context, k logingest.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "create api key"); err != nil {
		return err
	}
	for _, old := range s.keys {
		if old.ID == k.ID {
			return fmt.Errorf("create api key: id %q already exists: %w", k.ID, logingest.ErrInvalid)
		}
		if old.Hash == k.Hash {
			return fmt.Errorf("create api key: hash already exists: %w", logingest.ErrInvalid)
		}
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = k.CreatedAt.UTC(), k.ExpiresAt.UTC(), k.RevokedAt.UTC()
	k.LastUsedAt, k.UseCount = time.Time{}, 0
	s.keys = append(s.keys, k)
	return nil
}

// APIKeyByID implements logingest.KeyStore.
func (s *Store) APIKeyByID(ctx context.Context, id string) (logingest.APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx, "api key by id"); err != nil {
		return logingest.APIKey{}, err
	}
	if i := s.keyIndex(id); i >= 0 {
		return s.keys[i], nil
	}
	return logingest.APIKey{}, fmt.Errorf("api key by id %q: %w", id, logingest.ErrNotFound)
}

func (s *Store) keyIndex(id string) int {
	return slices.IndexFunc(s.keys, func(k logingest.APIKey) bool { return k.ID == id })
}

// RevokeAPIKey implements logingest.KeyStore.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "revoke api key"); err != nil {
		return err
	}
	i := s.keyIndex(id)
	if i < 0 {
		return fmt.Errorf("revoke api key %q: %w", id, logingest.ErrNotFound)
	}
	if s.keys[i].RevokedAt.IsZero() {
		s.keys[i].RevokedAt = at.UTC()
	}
	return nil
}

// ExpireAPIKey implements logingest.KeyStore.
func (s *Store) ExpireAPIKey(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "expire api key"); err != nil {
		return err
	}
	i := s.keyIndex(id)
	if i < 0 {
		return fmt.Errorf("expire api key %q: %w", id, logingest.ErrNotFound)
	}
	if k := &s.keys[i]; k.ExpiresAt.IsZero() || at.Before(k.ExpiresAt) {
		k.ExpiresAt = at.UTC()
	}
	return nil
}

// RecordKeyUsage implements logingest.KeyStore.
func (s *Store) RecordKeyUsage(ctx context.Context, usage []logingest.KeyUsage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "record key usage"); err != nil {
		return err
	}
	for _, u := range usage {
		if i := s.keyIndex(u.ID); i >= 0 {
			k := &s.keys[i]
			k.UseCount += u.Count
			if u.LastUsedAt.After(k.LastUsedAt) {
				k.LastUsedAt = u.LastUsedAt.UTC()
			}
		}
	}
	return nil
}

// APIKeyByHash implements logingest.KeyStore.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (logingest.APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx, "api key by hash"); err != nil {
		return logingest.APIKey{}, err
	}
	for _, k := range s.keys {
		if k.Hash == hash {
			return k, nil
		}
	}
	return logingest.APIKey{}, fmt.Errorf("api key by hash: %w", logingest.ErrNotFound)
}

// ListAPIKeys implements logingest.KeyStore.
func (s *Store) ListAPIKeys(ctx context.Context) ([]logingest.APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx, "list api keys"); err != nil {
		return nil, err
	}
	out := slices.Clone(s.keys)
	slices.SortFunc(out, func(a, b logingest.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// copyEvent returns e with its JSON and sequence number copied, so that neither side can change the other's.
func copyEvent(e logingest.Event) logingest.Event {
	e.Properties = bytes.Clone(e.Properties)
	e.DeviceInfo = bytes.Clone(e.DeviceInfo)
	if e.SequenceNumber != nil {
		e.SequenceNumber = new(*e.SequenceNumber)
	}
	return e
}
