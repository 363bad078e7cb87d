package consolebench

import (
	"testing"
	"time"
)

// TestDataSpreadsOverTheDay: events are received in order over the day before Now (a regression test for an
// int64 overflow that squeezed 5 million events into two hours), with realistic users and sessions.
func TestDataSpreadsOverTheDay(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	d, err := NewData(5_000_000, now)
	if err != nil {
		t.Fatal(err)
	}
	prev := now.Add(-24 * time.Hour)
	for _, i := range []int{0, 1, 1_000_000, 2_500_000, 4_999_998, 4_999_999} {
		e := d.Event(i)
		if !e.ReceivedAt.After(prev) || e.ReceivedAt.After(now) {
			t.Fatalf("event %d received at %v, want after %v and not after %v", i, e.ReceivedAt, prev, now)
		}
		prev = e.ReceivedAt
		if e.Timestamp.After(e.ReceivedAt) || e.ReceivedAt.Sub(e.Timestamp) > 73*time.Hour {
			t.Fatalf("event %d: timestamp %v, received at %v", i, e.Timestamp, e.ReceivedAt)
		}
	}
	if got := d.Event(2_500_000).ReceivedAt; got.Sub(now.Add(-12*time.Hour)).Abs() > time.Second {
		t.Fatalf("the middle event is received at %v, want about %v", got, now.Add(-12*time.Hour))
	}
	users, sessions := map[string]bool{}, map[string]bool{}
	for i := range 100_000 {
		e := d.Event(i)
		if e.UserID != "" {
			users[e.UserID] = true
		}
		sessions[e.SessionID] = true
	}
	if len(users) < 4000 || len(sessions) < 12000 {
		t.Fatalf("%d users and %d sessions in 100,000 events, want thousands", len(users), len(sessions))
	}
}
