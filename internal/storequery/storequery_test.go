package storequery_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

func event() logingest.Event {
	return logingest.Event{
		Timestamp:      time.Date(2025, 8, 27, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600)),
		ReceivedAt:     time.Date(2025, 8, 27, 10, 0, 1, 0, time.UTC),
		EventType:      logingest.EventTypeError,
		EventName:      "name",
		UserID:         "user",
		SessionID:      "session",
		AppVersion:     "1.2.3",
		Priority:       logingest.PriorityHigh,
		SequenceNumber: new(int64(42)),
	}
}

// decode returns storequery.After of f, normalized, with After set to s.
func decode(t *testing.T, s string, f logingest.Filter) (*storequery.Cursor, error) {
	t.Helper()
	f, err := f.Normalize()
	require.NoError(t, err)
	f.After = s
	return storequery.After(f)
}

func TestSortValue(t *testing.T) {
	t.Parallel()
	e := event()
	want := map[logingest.SortField]any{
		logingest.SortID:             int64(0),
		logingest.SortEventID:        "",
		logingest.SortCreatedAt:      e.ReceivedAt,
		logingest.SortTimestamp:      e.Timestamp.UTC(),
		logingest.SortReceivedAt:     e.ReceivedAt,
		logingest.SortSequenceNumber: int64(42),
		logingest.SortEventType:      string(logingest.EventTypeError),
		logingest.SortEventName:      "name",
		logingest.SortUserID:         "user",
		logingest.SortSessionID:      "session",
		logingest.SortAppVersion:     "1.2.3",
		logingest.SortPriority:       string(logingest.PriorityHigh),
	}
	require.Len(t, want, len(logingest.SortFields()), "every sort field is covered")
	for field, v := range want {
		require.Equal(t, v, storequery.SortValue(&e, field), field)
	}
	require.Equal(t, time.UTC, storequery.SortValue(&e, logingest.SortTimestamp).(time.Time).Location())
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	e := event()
	for _, field := range logingest.SortFields() {
		for _, order := range []logingest.SortOrder{"", logingest.SortAsc, logingest.SortDesc} {
			f, err := logingest.Filter{SortBy: field}.Normalize()
			require.NoError(t, err)
			c := storequery.At(&e, 7, f.SortBy) // stores make cursors for the normalized field
			c.Order = order
			got, err := decode(t, c.Encode(), logingest.Filter{SortBy: field, SortOrder: order})
			require.NoError(t, err, "%s %s", field, order)
			require.Equal(t, c, *got, "%s %s", field, order)
			require.Zero(t, c.Compare(*got))
		}
	}
}

// TestCursorFormat pins the text form. It is the one the SQLite store used before, so its cursors survive upgrades.
func TestCursorFormat(t *testing.T) {
	t.Parallel()
	e := event()
	c := storequery.At(&e, 3, logingest.SortTimestamp)
	b, err := base64.RawURLEncoding.DecodeString(c.Encode())
	require.NoError(t, err)
	require.JSONEq(t, `{"f":"timestamp","s":"2025-08-27T10:00:00.123456789Z","i":3}`, string(b))
	c = storequery.At(&e, 3, logingest.SortSequenceNumber)
	c.Order = logingest.SortAsc
	b, err = base64.RawURLEncoding.DecodeString(c.Encode())
	require.NoError(t, err)
	require.JSONEq(t, `{"f":"sequence_number","o":"ASC","n":42,"i":3}`, string(b))
}

func TestAfterRejects(t *testing.T) {
	t.Parallel()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	e := event()
	good := storequery.At(&e, 1, logingest.SortTimestamp).Encode()
	pinned := storequery.At(&e, 1, logingest.SortTimestamp)
	pinned.Order = logingest.SortAsc
	for name, s := range map[string]string{
		"not base64":    "not base64!",
		"padded":        good + "=",
		"empty object":  enc(`{}`),
		"not an object": enc(`[1]`),
		"unknown field": enc(`{"f":"timestamp","s":"2025-08-27T10:00:00.000000000Z","i":1,"x":2}`),
		"bad time":      enc(`{"f":"timestamp","s":"bad","i":1}`),
		"zero id":       enc(`{"f":"timestamp","s":"2025-08-27T10:00:00.000000000Z","i":0}`),
		"negative id":   enc(`{"f":"timestamp","s":"2025-08-27T10:00:00.000000000Z","i":-1}`),
		"other field":   storequery.At(&e, 1, logingest.SortEventName).Encode(),
		"other order":   pinned.Encode(), // f sorts DESC
		"string id":     enc(`{"f":"timestamp","s":"2025-08-27T10:00:00.000000000Z","i":"1"}`),
	} {
		_, err := decode(t, s, logingest.Filter{SortBy: logingest.SortTimestamp})
		require.ErrorIs(t, err, logingest.ErrInvalid, name)
		var verr *logingest.ValidationError
		require.ErrorAs(t, err, &verr, name)
		require.Equal(t, "cursor", verr.Errors[0].Field, name)
	}
	// A cursor without an order is valid for either order.
	_, err := decode(t, good, logingest.Filter{SortBy: logingest.SortTimestamp, SortOrder: logingest.SortAsc})
	require.NoError(t, err)
	// No cursor: the first page.
	c, err := decode(t, "", logingest.Filter{SortBy: logingest.SortTimestamp})
	require.NoError(t, err)
	require.Nil(t, c)
}

func TestCursorCompare(t *testing.T) {
	t.Parallel()
	at := func(v any, id int64) storequery.Cursor { return storequery.Cursor{Value: v, ID: id} }
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		a, b storequery.Cursor
		want int
	}{
		{at(t0, 1), at(t0.Add(time.Nanosecond), 1), -1},
		{at(t0, 2), at(t0, 1), 1},
		{at(t0, 1), at(t0.In(time.FixedZone("X", 3600)), 1), 0},
		{at(int64(-5), 9), at(int64(3), 1), -1},
		{at("b", 1), at("a", 9), 1},
		{at("a", 1), at("a", 2), -1},
	} {
		require.Equal(t, tc.want, tc.a.Compare(tc.b), "%+v vs %+v", tc.a, tc.b)
		require.Equal(t, -tc.want, tc.b.Compare(tc.a), "%+v vs %+v", tc.b, tc.a)
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	require.Empty(t, storequery.Matches(logingest.Filter{ProviderName: "p", StartTime: time.Now()}),
		"ProviderName and the time bounds are left to the stores")
	got := storequery.Matches(logingest.Filter{
		Priority: logingest.PriorityHigh, UserID: "u", Source: "s", EventType: logingest.EventTypeError,
		EventName: "n", SessionID: "x", AppVersion: "v",
	})
	require.Equal(t, []storequery.Match{
		{"source", "s"},
		{"event_type", string(logingest.EventTypeError)},
		{"event_name", "n"},
		{"user_id", "u"},
		{"session_id", "x"},
		{"app_version", "v"},
		{"priority", string(logingest.PriorityHigh)},
	}, got)
	require.Equal(t, []storequery.Match{{"user_id", "u"}}, storequery.Matches(logingest.Filter{UserID: "u"}))
}
