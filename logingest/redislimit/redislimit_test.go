package redislimit_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/change66/logserver/internal/redistest"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/logingesttest"
	"github.com/change66/logserver/logingest/redislimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	opts.MaxRetries = -1
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestSharedBudget: two limiters with their own clients, as on two replicas, spend from one bucket.
func TestSharedBudget(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a, err := redislimit.New(client(t, url), &redislimit.Config{Prefix: prefix})
	require.NoError(t, err)
	b, err := redislimit.New(client(t, url), &redislimit.Config{Prefix: prefix})
	require.NoError(t, err)
	rate := httpapi.Rate{PerMinute: 1, Burst: 5} // one token a minute: nothing refills during the test

	for i, l := range []*redislimit.Limiter{a, b, a, b, a} {
		d, err := l.Take(t.Context(), "req:k1", rate, 1)
		require.NoError(t, err)
		require.True(t, d.Allowed, "take %d", i)
		require.Equal(t, 4-i, d.Remaining)
	}
	d, err := b.Take(t.Context(), "req:k1", rate, 1)
	require.NoError(t, err)
	require.False(t, d.Allowed, "the sixth take, on either replica, finds the shared bucket empty")
	require.InDelta(t, time.Minute.Seconds(), d.RetryAfter.Seconds(), 1)

	// Another key has its own bucket.
	d, err = b.Take(t.Context(), "req:k2", rate, 5)
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

func TestReturnAndPeek(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	l, err := redislimit.New(client(t, url), &redislimit.Config{Prefix: redistest.Prefix(t, url)})
	require.NoError(t, err)
	rate := httpapi.Rate{PerMinute: 1, Burst: 10}
	take := func(n int) httpapi.RateDecision {
		d, err := l.Take(t.Context(), "ev:k", rate, n)
		require.NoError(t, err)
		return d
	}
	require.True(t, take(8).Allowed)
	require.False(t, take(3).Allowed, "a refused take spends nothing")
	require.Equal(t, 2, take(0).Remaining)
	require.NoError(t, l.Return(t.Context(), "ev:k", rate, 5))
	require.Equal(t, 7, take(0).Remaining)
	require.NoError(t, l.Return(t.Context(), "ev:k", rate, 100))
	require.Equal(t, 10, take(0).Remaining, "never more than the burst")
	require.True(t, take(10).Allowed)
	d := take(0)
	require.True(t, d.Allowed)
	require.Equal(t, 0, d.Remaining)
	require.InDelta(t, time.Minute.Seconds(), d.RetryAfter.Seconds(), 1, "an empty bucket reports when the next token comes")
	require.NoError(t, l.Return(t.Context(), "nothing-taken", rate, 1), "returning to a full bucket is a no-op")
}

// TestFallbackWhenRedisIsDown points at a port where nothing listens: every decision is taken locally, none
// fails, the limits still hold, and the fallback shows in the log and the metrics.
func TestFallbackWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	logs := &logingesttest.LogBuffer{}
	reg := prometheus.NewPedanticRegistry()
	now := time.Date(2025, 8, 27, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l, err := redislimit.New(rdb, &redislimit.Config{
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
		Registerer: reg,
		Now:        clock,
		Fallback:   httpapi.NewLocalLimiter(&httpapi.LocalLimiterConfig{Now: clock}),
	})
	require.NoError(t, err)
	rate := httpapi.Rate{PerMinute: 60, Burst: 3}
	for i := range 3 {
		d, err := l.Take(t.Context(), "req:k", rate, 1)
		require.NoError(t, err, "take %d", i)
		require.True(t, d.Allowed, "take %d", i)
	}
	d, err := l.Take(t.Context(), "req:k", rate, 1)
	require.NoError(t, err)
	require.False(t, d.Allowed, "the local fallback still enforces the limit")
	require.InDelta(t, 4, testutil.ToFloat64(l.FallbackCounter()), 0)
	require.InDelta(t, 1, testutil.ToFloat64(l.FallbackGauge()), 0)
	require.Equal(t, 1, strings.Count(logs.String(), "redis rate limiter unreachable"), "logged once, not per request")
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	// After RetryInterval Redis is tried again, still fails, and the fallback goes on.
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	d, err = l.Take(t.Context(), "req:k", rate, 1)
	require.NoError(t, err)
	require.True(t, d.Allowed, "two tokens refilled in 2s")
}
