// Package redistest gives tests a real Redis and a key prefix of their own.
//
// The server is taken from TEST_REDIS_URL, which defaults to DefaultURL. When it cannot be reached a test is
// skipped with a loud message, except when the environment variable CI is "true": then the test fails, so CI
// can never pass by skipping every Redis test.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is used when TEST_REDIS_URL is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the server URL after checking that it answers; it skips tb (fails it under CI=true) when not.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = DefaultURL
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("redistest: TEST_REDIS_URL=%q: %v", u, err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		msg := fmt.Sprintf("redistest: Redis at %q is unreachable: %v", u, err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + "\nredistest: CI=true, so this is a failure, not a skip")
		}
		tb.Skip("!!! SKIPPING REDIS TEST !!!\n" + msg)
	}
	return u
}

// Prefix returns a key prefix unique to tb ("test:<random>:") and deletes every key containing it when tb ends.
func Prefix(tb testing.TB, url string) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
	})
	return prefix
}
