package pgstore

import "time"

// SetCountPaceForTest sets the measured pace of counting (see countPace) to perEvent per matching event.
func SetCountPaceForTest(s *Store, perEvent time.Duration) { s.countPace.observe(perEvent, 1) }

// CountPaceForTest returns the measured pace of counting one event; ok is false before any count was measured.
func CountPaceForTest(s *Store) (time.Duration, bool) { return s.countPace.project(1) }

// WaitPaceForTest waits for the background count that measures the pace of counting, if one runs.
func WaitPaceForTest(s *Store) { s.countPace.wg.Wait() }
