package httpapi

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Rate is a token bucket: PerMinute tokens are added per minute, continuously, up to Burst.
type Rate struct {
	PerMinute float64
	Burst     int
}

// interval is the time one token takes to refill.
func (r Rate) interval() time.Duration { return time.Duration(float64(time.Minute) / r.PerMinute) }

// RateDecision is the outcome of RateLimiter.Take.
type RateDecision struct {
	// Allowed reports whether the tokens were taken.
	Allowed bool
	// Remaining is how many whole tokens are left.
	Remaining int
	// Reset is the time until the bucket is full again.
	Reset time.Duration
	// RetryAfter is the time until the refused tokens (one token for a Take of 0) are available, when the
	// request is refused or the bucket is empty; else 0.
	RetryAfter time.Duration
}

// RateLimiter keeps token buckets by name; the Handler uses it for the request, event and authentication
// failure limits. Buckets are created full, on first use. Implementations must be safe for concurrent use and
// bound their memory. NewLocalLimiter gives one for a single process; a shared implementation (Redis, for
// example) makes replicas share one budget.
type RateLimiter interface {
	// Take spends n tokens of the bucket named key, refilled at r, when it holds n; otherwise it spends nothing
	// and the decision is not Allowed. A Take of 0 spends nothing and reports the bucket. A non-nil error means
	// the limiter could not decide; the Handler then lets the request through and logs it (it fails open).
	Take(ctx context.Context, key string, r Rate, n int) (RateDecision, error)
	// Return gives back n tokens of an allowed Take of the same key and rate, so a request refused later does
	// not use up the budget; the bucket never holds more than r.Burst. It is best effort.
	Return(ctx context.Context, key string, r Rate, n int) error
}

// LocalLimiterConfig configures a LocalLimiter. The zero value is a reasonable default.
type LocalLimiterConfig struct {
	// MaxKeys bounds the number of buckets kept. Full buckets are forgotten first (a forgotten bucket is
	// recreated full, so that costs nothing); when every bucket is in use and MaxKeys is reached, arbitrary
	// buckets are forgotten, which can only let their owners send more. Defaults to 100000.
	MaxKeys int
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// LocalLimiter is an in-memory RateLimiter for one process: a GCRA (generic cell rate algorithm) bucket per
// key, which is a token bucket stored as one timestamp. It runs no goroutine. It is safe for concurrent use.
type LocalLimiter struct {
	now     func() time.Time
	maxKeys int

	mu      sync.Mutex
	tats    map[string]time.Time // theoretical arrival time: the bucket is full when tat <= now
	sweepAt int
}

// limiterSweepAt is the map size that first triggers a sweep of full buckets; it doubles when a sweep frees
// too little, so sweeping stays amortised O(1) per Take.
const limiterSweepAt = 1024

var _ RateLimiter = (*LocalLimiter)(nil)

// NewLocalLimiter returns an empty LocalLimiter. A nil cfg uses the defaults.
func NewLocalLimiter(cfg *LocalLimiterConfig) *LocalLimiter {
	var c LocalLimiterConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &LocalLimiter{now: c.Now, maxKeys: c.MaxKeys, tats: make(map[string]time.Time), sweepAt: min(limiterSweepAt, c.MaxKeys)}
}

// Take implements RateLimiter. It never returns an error.
func (l *LocalLimiter) Take(_ context.Context, key string, r Rate, n int) (RateDecision, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[key]
	if !ok {
		l.makeRoom(now)
	}
	d, newTat := gcra(now, tat, r, n)
	if d.Allowed && n > 0 {
		l.tats[key] = newTat
	}
	return d, nil
}

// Return implements RateLimiter. It never returns an error.
func (l *LocalLimiter) Return(_ context.Context, key string, r Rate, n int) error {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[key]
	if !ok {
		return nil // full already
	}
	tat = tat.Add(-time.Duration(n) * r.interval())
	if !tat.After(now) {
		delete(l.tats, key)
		return nil
	}
	l.tats[key] = tat
	return nil
}

// gcra decides a Take of n tokens at now from a bucket whose theoretical arrival time is tat, returning the
// decision and the new tat when allowed. It is the algorithm of github.com/go-redis/redis_rate, so the local
// and the Redis limiter answer alike.
func gcra(now, tat time.Time, r Rate, n int) (RateDecision, time.Time) {
	t := r.interval()
	tolerance := time.Duration(r.Burst) * t
	if tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(time.Duration(n) * t)
	allowAt := newTat.Add(-tolerance)
	if diff := now.Sub(allowAt); diff < 0 {
		left := int(math.Floor(float64(now.Sub(tat.Add(-tolerance))) / float64(t)))
		return RateDecision{Remaining: max(0, left), RetryAfter: -diff, Reset: tat.Sub(now)}, tat
	}
	d := RateDecision{
		Allowed:   true,
		Remaining: int(math.Floor(float64(now.Sub(allowAt)) / float64(t))),
		Reset:     newTat.Sub(now),
	}
	if n == 0 && d.Remaining < 1 {
		d.RetryAfter = t - now.Sub(allowAt)
	}
	return d, newTat
}

// makeRoom is called before a new key is added: past sweepAt it forgets full buckets; at MaxKeys it forgets
// arbitrary ones.
func (l *LocalLimiter) makeRoom(now time.Time) {
	if len(l.tats) < l.sweepAt {
		return
	}
	for k, tat := range l.tats {
		if !tat.After(now) {
			delete(l.tats, k)
		}
	}
	for k := range l.tats { // map order is random: the victims are arbitrary
		if len(l.tats) < l.maxKeys {
			break
		}
		delete(l.tats, k)
	}
	if len(l.tats) >= l.sweepAt/2 {
		l.sweepAt = min(l.sweepAt*2, l.maxKeys)
	} else if l.sweepAt > limiterSweepAt && len(l.tats) < l.sweepAt/4 {
		l.sweepAt /= 2
	}
}

// setRateHeaders writes the RateLimit-* headers (IETF draft): Limit is the bucket capacity, Remaining the whole
// tokens left, Reset the seconds until the bucket is full again; Retry-After when the request was refused.
// They are set on every rate-limited request, so the keys are written in their canonical form (the one Set would
// write: Ratelimit-Limit) and the three values share one allocation.
func setRateHeaders(hdr http.Header, r Rate, d RateDecision) {
	// The three numbers are formatted into one string and sliced, so the headers cost two allocations.
	var buf [3 * 20]byte
	b := strconv.AppendInt(buf[:0], int64(r.Burst), 10)
	i := len(b)
	b = strconv.AppendInt(b, int64(max(0, d.Remaining)), 10)
	j := len(b)
	b = strconv.AppendInt(b, ceilSeconds(d.Reset), 10)
	all := string(b)
	v := []string{all[:i], all[i:j], all[j:]}
	hdr["Ratelimit-Limit"] = v[0:1:1]
	hdr["Ratelimit-Remaining"] = v[1:2:2]
	hdr["Ratelimit-Reset"] = v[2:3:3]
	if !d.Allowed {
		hdr.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(d.RetryAfter)), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// ipBucket returns the rate-limit bucket of a client IP: the address itself for IPv4, its /64 for IPv6 (one
// host typically owns a whole /64, so per-address buckets would be free to multiply).
func ipBucket(ip string) string {
	parsed := net.ParseIP(ip)
	if parsed == nil || parsed.To4() != nil {
		return ip
	}
	return parsed.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
