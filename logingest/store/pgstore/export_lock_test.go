package pgstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestExport_HoldsNoLockWhileFnRuns: while Export's fn runs (a slow client), Export holds no lock on
// analytics_logs or its partitions, not even the ACCESS SHARE of a statement still reading: another session
// takes an ACCESS EXCLUSIVE lock on the table (what partition upkeep's DETACH and DROP need; ATTACH needs one
// on the DEFAULT partition) within a second, at the first event, in the middle and at the last event. The
// export then delivers every event once.
func TestExport_HoldsNoLockWhileFnRuns(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	var events []logingest.Event
	for i, e := range loadEvents(t) {
		for k := range 9 { // 2,700 events: three chunks
			e.EventID = fmt.Sprintf("lock-%d-%d", i, k)
			events = append(events, e)
		}
	}
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)

	lockAll := func(at int) error {
		return pgx.BeginFunc(t.Context(), b.conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(t.Context(), "SET LOCAL lock_timeout = '1s'"); err != nil {
				return err
			}
			_, err := tx.Exec(t.Context(), "LOCK TABLE analytics_logs IN ACCESS EXCLUSIVE MODE")
			if err != nil {
				return fmt.Errorf("at event %d: %w", at, err)
			}
			return nil
		})
	}
	seen := map[string]bool{}
	n := 0
	err = s.Export(context.Background(), logingest.Filter{Source: testSource, SortBy: logingest.SortEventID}, func(e *logingest.Event) error {
		n++
		require.False(t, seen[e.EventID], "%s delivered twice", e.EventID)
		seen[e.EventID] = true
		if n == 1 || n == len(events)/2 || n == len(events) {
			return lockAll(n)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, len(events), n)
}
