package sqlite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/change66/logserver/logingest"
)

// RealisticEvent returns a copy of a random template of tmpl shaped like cmd/loadgen's default traffic, received
// at receivedAt: a random event id, 5,000 users with 3 sessions each, a timestamp up to 10 s old or, for 5% of
// events, an offline one 1 h to 72 h old (log-uniform). The benchmarks of both test packages share it.
func RealisticEvent(rng *rand.Rand, tmpl []logingest.Event, receivedAt time.Time) logingest.Event {
	e := tmpl[rng.IntN(len(tmpl))]
	e.EventID = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff,
		rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
	e.ReceivedAt = receivedAt
	if rng.Float64() < 0.05 {
		lo, hi := math.Log(float64(time.Hour)), math.Log(float64(72*time.Hour))
		e.Timestamp = receivedAt.Add(-time.Duration(math.Exp(lo + rng.Float64()*(hi-lo))))
	} else {
		e.Timestamp = receivedAt.Add(-time.Duration(rng.Int64N(int64(10 * time.Second))))
	}
	u := rng.IntN(5000)
	if e.UserID != "" {
		e.UserID = fmt.Sprintf("u-%d", u)
	}
	e.SessionID = fmt.Sprintf("s-%d-%d", u, rng.IntN(3))
	return e
}
