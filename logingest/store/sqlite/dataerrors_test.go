package sqlite_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/poisontest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/storetest"
)

// TestIngest_StoreDataErrorsAreIsolated: whatever per-row data error SQLite raises (a CHECK such as
// json_valid, the column type of a STRICT table) fails only the event that caused it, never the neighbours
// written in the same group commit; and Append alone reports it as ErrInvalid.
func TestIngest_StoreDataErrorsAreIsolated(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	events := loadEvents(t, "")[:20]
	for i := range events {
		events[i].ReceivedAt = time.Time{} // the Ingester stamps it
	}
	poison := map[string]func(*logingest.Event){
		events[3].EventID: func(e *logingest.Event) { e.Properties = []byte(`{"a":`) },    // CHECK json_valid
		events[5].EventID: func(e *logingest.Event) { e.DeviceInfo = []byte(`not json`) }, // CHECK json_valid
	}
	poisontest.IngestPoisonedGroupCommit(t, s, "app-prod", events, poison)
	page, err := s.Query(t.Context(), logingest.Filter{Source: "app-prod", Limit: 100})
	require.NoError(t, err)
	require.EqualValues(t, len(events)-len(poison), page.Total)

	for id, f := range poison {
		batch := loadEvents(t, "other")[:10]
		batch[0].EventID = id
		f(&batch[0])
		_, err := s.Append(t.Context(), batch)
		require.ErrorIs(t, err, logingest.ErrInvalid, "event %s", id)
	}
}

// FuzzStoreRoundTrip: whatever ingest validation accepts, SQLite stores and reads back as valid JSON equal to
// what was sent.
func FuzzStoreRoundTrip(f *testing.F) {
	s, _ := setup(f)
	storetest.FuzzRoundTrip(f, s, nil)
}
