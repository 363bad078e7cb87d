// Package redislimit is an httpapi.RateLimiter kept in Redis, so every replica of a server spends from the same
// buckets. It uses the GCRA limiter of github.com/go-redis/redis_rate (one key per bucket holding one
// timestamp, updated atomically by a Lua script), and falls back to an in-process limiter while Redis is
// unreachable: limits then hold per replica instead of globally, and traffic is never refused because Redis is
// down.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/change66/logserver/internal/promutil"
	"github.com/change66/logserver/logingest/httpapi"
)

// Config configures a Limiter. The zero value is a reasonable default.
type Config struct {
	// Prefix is put before every bucket name, so several servers (or tests) can share one Redis. Defaults to
	// "logingest:".
	Prefix string
	// Fallback decides while Redis is unreachable. Defaults to httpapi.NewLocalLimiter(nil).
	Fallback httpapi.RateLimiter
	// RetryInterval is how long the Limiter uses Fallback alone after a Redis failure before trying Redis again,
	// so an outage costs one failed call per interval rather than one per request. Defaults to 1s.
	RetryInterval time.Duration
	// Timeout bounds each Redis call. Defaults to 250ms.
	Timeout time.Duration
	// Logger receives one line when the Limiter falls back and one when Redis is back. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Registerer receives logingest_ratelimit_fallback_total and logingest_ratelimit_fallback_active.
	// Defaults to nil: the metrics are kept but not registered.
	Registerer prometheus.Registerer
	// Now returns the current time, for RetryInterval. Defaults to time.Now.
	Now func() time.Time
}

// Limiter is an httpapi.RateLimiter in Redis with a local fallback. It is safe for concurrent use.
type Limiter struct {
	rdb      redis.UniversalClient
	rl       *redis_rate.Limiter
	cfg      Config
	fallback prometheus.Counter
	active   prometheus.Gauge

	mu        sync.Mutex
	downUntil time.Time // use the fallback alone until then
	down      bool
}

var _ httpapi.RateLimiter = (*Limiter)(nil)

// New returns a Limiter over rdb. The caller keeps ownership of rdb and closes it. A nil cfg uses the defaults.
// It returns an error only when its metrics cannot be registered.
func New(rdb redis.UniversalClient, cfg *Config) (*Limiter, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Prefix == "" {
		c.Prefix = "logingest:"
	}
	if c.Fallback == nil {
		c.Fallback = httpapi.NewLocalLimiter(nil)
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 250 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	fb, err := promutil.Register(c.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logingest_ratelimit_fallback_total",
		Help: "Rate limit decisions taken by the local fallback limiter because Redis was unreachable.",
	}))
	if err != nil {
		return nil, fmt.Errorf("redislimit: %w", err)
	}
	act, err := promutil.Register(c.Registerer, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "logingest_ratelimit_fallback_active",
		Help: "1 while rate limits are kept locally because Redis is unreachable, else 0.",
	}))
	if err != nil {
		return nil, fmt.Errorf("redislimit: %w", err)
	}
	return &Limiter{rdb: rdb, rl: redis_rate.NewLimiter(rdb), cfg: c, fallback: fb, active: act}, nil
}

// limit converts a Rate to redis_rate's integer rate per period, keeping three decimals of PerMinute.
func limit(r httpapi.Rate) redis_rate.Limit {
	if r.PerMinute == math.Trunc(r.PerMinute) {
		return redis_rate.Limit{Rate: int(r.PerMinute), Burst: r.Burst, Period: time.Minute}
	}
	return redis_rate.Limit{Rate: int(math.Round(r.PerMinute * 1000)), Burst: r.Burst, Period: 1000 * time.Minute}
}

// Take implements httpapi.RateLimiter. It never returns an error: when Redis fails, Fallback decides.
func (l *Limiter) Take(ctx context.Context, key string, r httpapi.Rate, n int) (httpapi.RateDecision, error) {
	if l.useFallback() {
		l.fallback.Inc()
		return l.cfg.Fallback.Take(ctx, key, r, n)
	}
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	res, err := l.rl.AllowN(cctx, l.cfg.Prefix+key, limit(r), n)
	if err != nil {
		if ctx.Err() != nil {
			return httpapi.RateDecision{}, ctx.Err() // the client went away; not Redis's fault
		}
		l.failed(err)
		l.fallback.Inc()
		return l.cfg.Fallback.Take(ctx, key, r, n)
	}
	l.succeeded()
	d := httpapi.RateDecision{
		Allowed:   n == 0 || res.Allowed > 0,
		Remaining: res.Remaining,
		Reset:     max(0, res.ResetAfter),
	}
	switch {
	case !d.Allowed:
		d.RetryAfter = res.RetryAfter
	case n == 0 && d.Remaining < 1:
		interval := time.Duration(float64(time.Minute) / r.PerMinute)
		d.RetryAfter = max(0, res.ResetAfter-time.Duration(r.Burst-1)*interval)
	}
	return d, nil
}

// returnScript moves a bucket's theoretical arrival time back by ARGV[1] seconds, deleting the key when the
// bucket is full again. It reads time as redis_rate's script does (seconds since 2017-01-01), so the two agree.
var returnScript = redis.NewScript(`
local tat = redis.call("GET", KEYS[1])
if not tat then return 0 end
local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local new_tat = tonumber(tat) - tonumber(ARGV[1])
if new_tat <= now then
  redis.call("DEL", KEYS[1])
else
  redis.call("SET", KEYS[1], new_tat, "EX", math.ceil(new_tat - now))
end
return 1
`)

// Return implements httpapi.RateLimiter. While Redis is unreachable it returns to Fallback.
func (l *Limiter) Return(ctx context.Context, key string, r httpapi.Rate, n int) error {
	if l.useFallback() {
		return l.cfg.Fallback.Return(ctx, key, r, n)
	}
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	seconds := float64(n) * 60 / r.PerMinute
	// redis_rate keeps its keys under "rate:".
	err := returnScript.Run(cctx, l.rdb, []string{"rate:" + l.cfg.Prefix + key}, seconds).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		l.failed(err)
		return fmt.Errorf("redislimit: return tokens: %w", err)
	}
	return nil
}

func (l *Limiter) useFallback() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down && l.cfg.Now().Before(l.downUntil)
}

func (l *Limiter) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		l.cfg.Logger.Error("redis rate limiter unreachable; keeping rate limits locally (per replica) until it is back",
			slog.Any("error", err))
		l.active.Set(1)
	}
	l.down = true
	l.downUntil = l.cfg.Now().Add(l.cfg.RetryInterval)
}

func (l *Limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		l.cfg.Logger.Info("redis rate limiter reachable again; rate limits are shared across replicas")
		l.active.Set(0)
		l.down = false
	}
}

// FallbackCounter returns logingest_ratelimit_fallback_total, for tests and for hosts that register metrics
// themselves.
func (l *Limiter) FallbackCounter() prometheus.Counter { return l.fallback }

// FallbackGauge returns logingest_ratelimit_fallback_active.
func (l *Limiter) FallbackGauge() prometheus.Gauge { return l.active }
