// Package pgtest gives tests a real, isolated PostgreSQL schema.
//
// The server is taken from TEST_DATABASE_URL, which defaults to DefaultDatabaseURL. When the server cannot be
// reached a test is skipped with a loud message, except when the environment variable CI is "true": then the
// test fails, so CI can never pass by skipping every database test.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDatabaseURL is used when TEST_DATABASE_URL is not set.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DatabaseURL returns the server URL from TEST_DATABASE_URL (or DefaultDatabaseURL) after checking that the
// server answers. When it does not, DatabaseURL skips tb, or fails it when CI=true.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		dsn = DefaultDatabaseURL
	}
	// Generous: a server that answers slowly on a loaded machine is not unreachable (a refused connection fails
	// at once).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = conn.Ping(ctx)
		_ = conn.Close(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("pgtest: PostgreSQL at TEST_DATABASE_URL=%q is unreachable: %v\n"+
			"pgtest: start one, or run the tests through scripts/with-postgres.sh", redact(dsn), err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + "\npgtest: CI=true, so this is a failure, not a skip")
		}
		tb.Skip("!!! SKIPPING DATABASE TEST !!!\n" + msg)
	}
	return dsn
}

// Schema creates a fresh schema named t_<random> on the test server and returns a DSN whose search_path
// points at it, so every table the test creates lands there. The schema is dropped with CASCADE when the test
// ends. Schema skips or fails tb like DatabaseURL when the server is unreachable.
func Schema(tb testing.TB) string {
	tb.Helper()
	base := DatabaseURL(tb)
	name := "t_" + randomHex(8)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	// pg_trgm (migration 008_search) exists once per database: install it in public once, under a lock, so
	// that schemas do not race to create it and dropping a test schema does not drop it.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7346501); CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
		SELECT pg_advisory_unlock(7346501)`); err != nil {
		tb.Fatalf("pgtest: create extension pg_trgm: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("pgtest: drop schema %s: connect: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})

	dsn, err := WithSearchPath(base, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// WithSearchPath returns dsn with its search_path run-time parameter set to schema. dsn may be a URL
// (postgres://...) or a keyword/value string ("host=... user=...").
func WithSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse database url: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}
