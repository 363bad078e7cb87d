package logingest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

func TestSanitizeStored(t *testing.T) {
	t.Parallel()
	good := validEvent("good")
	good.ReceivedAt = testNow
	e := good
	require.Nil(t, logingest.SanitizeStored(&e), "a valid event is left alone")
	require.Equal(t, good, e)

	e = good
	e.Timestamp = time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC)
	e.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	e.UserID = "u\xff"
	e.Properties = json.RawMessage("{\"a\":\"\xff\"}")
	e.DeviceInfo = json.RawMessage(`[1]`)
	changed := logingest.SanitizeStored(&e)
	require.Equal(t, []logingest.FieldError{
		{Field: "timestamp", Reason: "year -1 is outside 1 to 9999; served as the zero time"},
		{Field: "received_at", Reason: "year 10000 is outside 1 to 9999; served as the zero time"},
		{Field: "user_id", Reason: "invalid UTF-8; replaced by U+FFFD"},
		{Field: "properties", Reason: "invalid UTF-8; replaced by U+FFFD"},
		{Field: "device_info", Reason: "not a JSON object; served as absent"},
	}, changed)
	require.True(t, e.Timestamp.IsZero())
	require.True(t, e.ReceivedAt.IsZero())
	require.Equal(t, "u\uFFFD", e.UserID)
	require.JSONEq(t, `{"a":"\ufffd"}`, string(e.Properties))
	require.Nil(t, e.DeviceInfo)
	b, err := json.Marshal(e)
	require.NoError(t, err)
	require.True(t, json.Valid(b))
}
