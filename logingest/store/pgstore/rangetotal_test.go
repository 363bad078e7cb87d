package pgstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// TestQuery_RangeTotal: a time range's total above CountEstimateThreshold is taken from the sample alone,
// without the bounded count, once a count has been measured; it is exact when counting it at the measured
// pace fits CountTimeBudget, else the sample's estimate, labelled. CountSamplePercent 100 makes the sample the
// whole table, so its estimate is the true total and only the label tells the paths apart.
func TestQuery_RangeTotal(t *testing.T) {
	t.Parallel()
	const n, inRange = 3000, 2000
	load := func(t *testing.T) *pgstore.Store {
		t.Helper()
		s, b := setup(t, &pgstore.Config{CountEstimateThreshold: 50, CountSamplePercent: 100, CountTimeBudget: time.Minute})
		// Event g happened g seconds before now: the last inRange of them lie in the range below.
		_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
			event_name, received_at) SELECT 'default', 'e' || g, $1::timestamptz - g * interval '1 second', 'behavioral',
			'name_' || (g % 40), $1::timestamptz FROM generate_series(1, $2::int) g`, now, n)
		require.NoError(t, err)
		// Statistics, so that the planner expects the range above the threshold (rangeTotal asks it first).
		_, err = b.conn.Exec(t.Context(), `ANALYZE analytics_logs`)
		require.NoError(t, err)
		return s
	}
	hour := logingest.Filter{StartTime: now.Add(-inRange * time.Second), EndTime: now}
	small := logingest.Filter{StartTime: now.Add(-30 * time.Second), EndTime: now}

	t.Run("first count measures the pace, exactly", func(t *testing.T) {
		t.Parallel()
		s := load(t)
		_, known := pgstore.CountPaceForTest(s)
		require.False(t, known)
		p, err := s.Query(t.Context(), hour)
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate)
		require.EqualValues(t, inRange, p.Total)
		_, known = pgstore.CountPaceForTest(s)
		require.True(t, known, "the bounded count above the threshold was timed")
	})

	t.Run("exact when the pace fits the budget", func(t *testing.T) {
		t.Parallel()
		s := load(t)
		pgstore.SetCountPaceForTest(s, time.Microsecond) // 2 ms for the range
		p, err := s.Query(t.Context(), hour)
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate)
		require.EqualValues(t, inRange, p.Total)
	})

	t.Run("estimate, labelled, when counting would outlast the budget", func(t *testing.T) {
		t.Parallel()
		s := load(t)
		pgstore.SetCountPaceForTest(s, time.Second) // 2,000 s for the range: not attempted
		p, err := s.Query(t.Context(), hour)
		require.NoError(t, err)
		require.True(t, p.TotalIsEstimate, "a one-minute budget would have counted it: the pace skipped the count")
		require.EqualValues(t, inRange, p.Total, "a sample of the whole table")
		require.Len(t, p.Events, 50)

		// Below the threshold the bounded count answers, exactly, whatever the pace.
		p, err = s.Query(t.Context(), small)
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate)
		require.EqualValues(t, 30, p.Total)
	})
}
