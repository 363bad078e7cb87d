package pgstore_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/poisontest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/storetest"
)

// TestIngest_StoreDataErrorsAreIsolated: whatever per-row data error PostgreSQL raises (SQLSTATE class 22,
// program_limit_exceeded) fails only the event that caused it, never the neighbours written in the same group
// commit; and Append alone reports it as ErrInvalid on both of its paths.
func TestIngest_StoreDataErrorsAreIsolated(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	events := loadEvents(t)[:20]
	for i := range events {
		events[i].Source, events[i].ReceivedAt = "", time.Time{} // the Ingester stamps them
	}
	// Random letters compress to about 4.7 bits each: 8000 of them cannot fit a b-tree entry (2704 bytes).
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 8000)
	for i := range noise {
		noise[i] = 'a' + byte(rng.IntN(26))
	}
	poison := map[string]func(*logingest.Event){
		events[3].EventID: func(e *logingest.Event) { e.Properties = []byte(`{"a":1e1000000}`) },                           // 22003
		events[5].EventID: func(e *logingest.Event) { e.DeviceInfo = []byte(`{"a":1e-20000}`) },                            // 22003
		events[7].EventID: func(e *logingest.Event) { e.Properties = []byte(`{"a":"\xff"}`) },                              // 22021
		events[8].EventID: func(e *logingest.Event) { e.Properties = []byte(`{"provider_name":"` + string(noise) + `"}`) }, // 54000
	}
	poisontest.IngestPoisonedGroupCommit(t, s, testSource, events, poison)
	require.EqualValues(t, len(events)-len(poison), count(t, b.conn, "SELECT count(*) FROM analytics_logs"))

	for id, f := range poison {
		for _, size := range []int{1, 200} { // both Append paths
			batch := loadEvents(t)[:size]
			batch[0].EventID = id
			f(&batch[0])
			_, err := s.Append(t.Context(), batch)
			require.ErrorIs(t, err, logingest.ErrInvalid, "event %s in a batch of %d", id, size)
		}
	}
}

// FuzzStoreRoundTrip: whatever ingest validation accepts, PostgreSQL stores and reads back as valid JSON equal
// to what was sent (jsonb keeps numbers by value and the last of duplicate keys; times to the microsecond).
// go test runs the seed corpus, the edges of validation; make fuzz leaves it out (each input costs a round
// trip to the database).
func FuzzStoreRoundTrip(f *testing.F) {
	s, _ := setup(f, nil)
	storetest.FuzzRoundTrip(f, s, &storetest.Options{TimePrecision: time.Microsecond})
}
