package httpapi_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/memstore"
)

// maxSingleIngestAllocs bounds the allocations of one single-event request through the Handler (over an
// Ingester that stores nothing), the httptest request and recorder (about 20) included. Every allocation on this
// path is paid once per event the app sends alone; raise the bound only for a reason worth that.
const maxSingleIngestAllocs = 49

// TestIngestSingleAllocs keeps the single-event path from growing allocations back.
func TestIngestSingleAllocs(t *testing.T) { //nolint:paralleltest // AllocsPerRun panics in a parallel test
	single, _ := benchBodies(t)
	h, err := httpapi.New(acceptAll{store: memstore.New()}, &httpapi.Config{
		Logger:            slog.New(slog.DiscardHandler),
		Authenticator:     logingest.NewStaticKeys([]string{"k"}, logingest.ScopeIngest, ""),
		RequestsPerMinute: -1,
		EventsPerMinute:   -1,
	})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(200, func() {
		if rec := postAsClient(t.Context(), h, "/api/v1/ingest", single); rec.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
	require.LessOrEqual(t, allocs, float64(maxSingleIngestAllocs+raceAllocs))
}
