package memstore_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
	"github.com/change66/logserver/logingest/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) logingest.Store {
		t.Helper()
		return memstore.New()
	}, nil)
}

func event(id string) logingest.Event {
	return logingest.Event{
		EventID:        id,
		Timestamp:      time.Date(2025, 8, 27, 9, 0, 24, 829000000, time.UTC),
		EventType:      logingest.EventTypeBehavioral,
		EventName:      "habit_completed",
		Properties:     json.RawMessage(`{"habit_id": "10", "habit_name": "Run 5k", "streak": 106}`),
		UserID:         "WrFJAp1hSvEwhM7r6QMgvJEQj7dg",
		SessionID:      "1756288366532_WrFJAp1hSvEwhM7r6QMgvJEQj7dg",
		AppVersion:     "2.0.1+7",
		DeviceInfo:     json.RawMessage(`{"platform": "ios", "model": "iPhone 14"}`),
		SequenceNumber: new(int64(1)),
		Priority:       logingest.PriorityNormal,
		Source:         logingest.DefaultSource,
		ReceivedAt:     time.Date(2025, 8, 27, 9, 0, 25, 0, time.UTC),
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := memstore.New()
	_, err := s.Append(ctx, []logingest.Event{event("a")})
	require.NoError(t, err)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	_, err = s.Append(ctx, []logingest.Event{event("b")})
	require.ErrorIs(t, err, logingest.ErrClosed)
	_, err = s.Query(ctx, logingest.Filter{})
	require.ErrorIs(t, err, logingest.ErrClosed)
	_, err = s.Stats(ctx, logingest.StatsQuery{Now: time.Now()})
	require.ErrorIs(t, err, logingest.ErrClosed)
	require.ErrorIs(t, s.Ping(ctx), logingest.ErrClosed)
	_, err = s.DeleteUserEvents(ctx, "", "u")
	require.ErrorIs(t, err, logingest.ErrClosed)
	require.ErrorIs(t, s.CreateAPIKey(ctx, logingest.APIKey{ID: "k"}), logingest.ErrClosed)
	_, err = s.APIKeyByHash(ctx, "h")
	require.ErrorIs(t, err, logingest.ErrClosed)
	_, err = s.ListAPIKeys(ctx)
	require.ErrorIs(t, err, logingest.ErrClosed)

	// An empty Append does not touch the store, closed or not.
	st, err := s.Append(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, st)
}

func TestCursor(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := memstore.New()
	_, err := s.Append(ctx, []logingest.Event{event("a"), event("b"), event("c")})
	require.NoError(t, err)

	p, err := s.Query(ctx, logingest.Filter{Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, p.NextCursor)

	t.Run("OtherSortField", func(t *testing.T) {
		t.Parallel()
		_, err := s.Query(ctx, logingest.Filter{Limit: 1, After: p.NextCursor, SortBy: logingest.SortEventName})
		require.ErrorIs(t, err, logingest.ErrInvalid)
	})
	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		for _, c := range []string{
			base64.RawURLEncoding.EncodeToString([]byte(`{}`)),
			base64.RawURLEncoding.EncodeToString([]byte(`{"f":"timestamp","q":0}`)),
			base64.RawURLEncoding.EncodeToString([]byte(`{"f":"timestamp","q":1,"x":2}`)),
			base64.RawURLEncoding.EncodeToString([]byte(`[1]`)),
			p.NextCursor + "=",
		} {
			_, err := s.Query(ctx, logingest.Filter{After: c})
			require.ErrorIs(t, err, logingest.ErrInvalid, "cursor %q", c)
		}
	})
	t.Run("RowDeleted", func(t *testing.T) {
		t.Parallel()
		// The cursor carries the sort key, so it still works after its row is erased.
		s := memstore.New()
		a, b, c := event("a"), event("b"), event("c")
		b.UserID = "erased"
		_, err := s.Append(ctx, []logingest.Event{a, b, c})
		require.NoError(t, err)
		p, err := s.Query(ctx, logingest.Filter{Limit: 2, SortOrder: logingest.SortAsc})
		require.NoError(t, err)
		n, err := s.DeleteUserEvents(ctx, "", "erased")
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		p, err = s.Query(ctx, logingest.Filter{Limit: 2, SortOrder: logingest.SortAsc, After: p.NextCursor})
		require.NoError(t, err)
		require.Len(t, p.Events, 1)
		require.Equal(t, "c", p.Events[0].EventID)
	})
}

func TestDeleteUserEventsKeepsKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := memstore.New()
	e := event("a")
	_, err := s.Append(ctx, []logingest.Event{e})
	require.NoError(t, err)
	n, err := s.DeleteUserEvents(ctx, e.Source, e.UserID)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	st, err := s.Append(ctx, []logingest.Event{e})
	require.NoError(t, err)
	require.Len(t, st, 1)
	require.Equal(t, logingest.AppendDuplicate, st[0].Status, "an erased event sent again stays erased")
	p, err := s.Query(ctx, logingest.Filter{})
	require.NoError(t, err)
	require.Empty(t, p.Events)
}
