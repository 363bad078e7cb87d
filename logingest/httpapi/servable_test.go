package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/logingesttest"
)

// TestRead_StoredValueThatCannotBeServed: an event the store holds but JSON cannot carry (appended past the
// Ingester's validation) does not break the read pages: they answer 200 with valid JSON, and the store logs
// the cause under the request's id.
func TestRead_StoredValueThatCannotBeServed(t *testing.T) {
	t.Parallel()
	var logs logingesttest.LogBuffer
	e := newEnv(t, &Config{Logger: testLogger(&logs)})
	ts, err := time.Parse(time.RFC3339, "0000-01-01T00:00:00+01:00") // year -1 in UTC
	require.NoError(t, err)
	_, err = e.store.Append(t.Context(), []logingest.Event{{
		EventID: "poisoned", Timestamp: ts, EventType: logingest.EventTypeError, EventName: "poison",
		Properties: json.RawMessage("{\"a\":\"\xff\"}"), Priority: logingest.PriorityNormal, Source: "app",
		ReceivedAt: e.clock.Now(),
	}})
	require.NoError(t, err)

	for _, target := range []string{"/api/v1/logs/filter", "/api/v1/logs/recent", "/api/v1/logs/filter?sort_by=timestamp&sort_order=asc"} {
		r := request(t, http.MethodGet, target, keyRead, nil)
		r.Header.Set("X-Request-ID", "req-poison-1")
		w := serve(e.h, r)
		require.Equal(t, http.StatusOK, w.Code, "%s: %s", target, w.Body)
		require.True(t, json.Valid(w.Body.Bytes()), "%s: %s", target, w.Body)
		require.Contains(t, w.Body.String(), `"event_id":"poisoned"`)
		require.Contains(t, w.Body.String(), `"timestamp":"0001-01-01T00:00:00Z"`)
	}
	var found bool
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "served sanitised") {
			found = true
			require.Contains(t, line, `"request_id":"req-poison-1"`)
			require.Contains(t, line, `"event_id":"poisoned"`)
		}
	}
	require.True(t, found, "the cause is logged: %s", logs.String())
}
