package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// limiterIdle is how long a key's bucket may go unused before a sweep forgets it. A forgotten key starts
	// again with a full bucket, which is what a bucket idle this long would hold anyway.
	limiterIdle = 10 * time.Minute
	// limiterSweepAt is the map size that triggers a sweep; it doubles when a sweep frees too little, so the
	// cost of sweeping stays amortised O(1) per request.
	limiterSweepAt = 1024
)

// keyLimiter is a token bucket per API key. Its map is bounded: when it grows past sweepAt, buckets unused for
// limiterIdle are evicted. It runs no goroutine and reads the time only from the now values it is given.
type keyLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt int
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// limitDecision is the outcome of one take: whether the request may proceed and the header values.
type limitDecision struct {
	allowed    bool
	remaining  int
	reset      time.Duration // until the bucket is full again
	retryAfter time.Duration // until one token is available, when !allowed
}

func newKeyLimiter(perMinute float64, burst int) *keyLimiter {
	return &keyLimiter{
		limit:   rate.Limit(perMinute / 60),
		burst:   burst,
		buckets: make(map[string]*bucket),
		sweepAt: limiterSweepAt,
	}
}

// take consumes one token of key's bucket at now if one is available.
func (kl *keyLimiter) take(key string, now time.Time) limitDecision {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	b, ok := kl.buckets[key]
	if !ok {
		if len(kl.buckets) >= kl.sweepAt {
			kl.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(kl.limit, kl.burst)}
		kl.buckets[key] = b
	}
	b.lastSeen = now
	var d limitDecision
	res := b.lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); !res.OK() || delay > 0 {
		res.CancelAt(now)
		d.retryAfter = delay
	} else {
		d.allowed = true
	}
	tokens := b.lim.TokensAt(now)
	d.remaining = max(0, int(math.Floor(tokens)))
	d.reset = time.Duration((float64(kl.burst) - tokens) / float64(kl.limit) * float64(time.Second))
	return d
}

func (kl *keyLimiter) sweep(now time.Time) {
	for k, b := range kl.buckets {
		if now.Sub(b.lastSeen) >= limiterIdle {
			delete(kl.buckets, k)
		}
	}
	if len(kl.buckets) >= kl.sweepAt/2 {
		kl.sweepAt *= 2
	} else if kl.sweepAt > limiterSweepAt && len(kl.buckets) < kl.sweepAt/4 {
		kl.sweepAt /= 2
	}
}

func (kl *keyLimiter) len() int {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	return len(kl.buckets)
}

// setHeaders writes the RateLimit-* headers (IETF draft): Limit is the bucket capacity, Remaining the whole
// tokens left, Reset the seconds until the bucket is full again; Retry-After when the request was refused.
func (kl *keyLimiter) setHeaders(hdr http.Header, d limitDecision) {
	hdr.Set("RateLimit-Limit", strconv.Itoa(kl.burst))
	hdr.Set("RateLimit-Remaining", strconv.Itoa(d.remaining))
	hdr.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.reset), 10))
	if !d.allowed {
		hdr.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(d.retryAfter)), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
