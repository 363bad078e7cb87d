package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/change66/logserver/logingest"
)

// CreateAPIKey implements logingest.KeyStore. It returns an error matching logingest.ErrInvalid when a key with
// the same ID or Hash exists, and one matching logingest.ErrClosed after Close.
func (s *Store) CreateAPIKey(ctx context.Context, k logingest.APIKey) error {
	if err := s.begin(ctx); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	_, err := s.writer.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, source, scopes, created_at, expires_at, revoked_at,
			requests_per_minute, request_burst, events_per_minute, events_burst)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash, k.Source, int64(k.Scopes), formatTime(k.CreatedAt), nullTime(k.ExpiresAt), nullTime(k.RevokedAt),
		k.Limits.RequestsPerMinute, k.Limits.RequestBurst, k.Limits.EventsPerMinute, k.Limits.EventsBurst)
	if err != nil {
		return fmt.Errorf("create api key: %w", s.mapErr(ctx, err))
	}
	return nil
}

const keyColumns = `id, name, hash, source, scopes, created_at, expires_at, revoked_at, last_used_at, use_count,
	requests_per_minute, request_burst, events_per_minute, events_burst`

// APIKeyByHash implements logingest.KeyStore. It returns an error matching logingest.ErrNotFound when no key has
// that hash, and one matching logingest.ErrClosed after Close.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (logingest.APIKey, error) {
	if err := s.begin(ctx); err != nil {
		return logingest.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	k, err := scanKey(s.reader.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE hash = ?", hash))
	if err != nil {
		return logingest.APIKey{}, fmt.Errorf("api key by hash: %w", s.mapErr(ctx, err))
	}
	return k, nil
}

// APIKeyByID implements logingest.KeyStore. It returns an error matching logingest.ErrNotFound when no key has
// that ID, and one matching logingest.ErrClosed after Close.
func (s *Store) APIKeyByID(ctx context.Context, id string) (logingest.APIKey, error) {
	if err := s.begin(ctx); err != nil {
		return logingest.APIKey{}, fmt.Errorf("api key by id: %w", err)
	}
	k, err := scanKey(s.reader.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ?", id))
	if err != nil {
		return logingest.APIKey{}, fmt.Errorf("api key by id: %w", s.mapErr(ctx, err))
	}
	return k, nil
}

// ListAPIKeys implements logingest.KeyStore: every key, ordered by CreatedAt, then ID. It returns an error
// matching logingest.ErrClosed after Close.
func (s *Store) ListAPIKeys(ctx context.Context) ([]logingest.APIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", s.mapErr(ctx, err))
	}
	defer rows.Close()
	out := []logingest.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", s.mapErr(ctx, err))
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", s.mapErr(ctx, err))
	}
	return out, nil
}

// RevokeAPIKey implements logingest.KeyStore: a key already revoked keeps its earlier RevokedAt. It returns an
// error matching logingest.ErrNotFound for an unknown ID.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "revoke api key", id,
		`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, formatTime(at), id)
}

// ExpireAPIKey implements logingest.KeyStore: it only ever moves ExpiresAt earlier. It returns an error matching
// logingest.ErrNotFound for an unknown ID.
func (s *Store) ExpireAPIKey(ctx context.Context, id string, at time.Time) error {
	// The fixed-width UTC text format orders like the times it holds, so min() compares times.
	return s.updateKey(ctx, "expire api key", id,
		`UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NULL THEN ?1 ELSE min(expires_at, ?1) END WHERE id = ?2`,
		formatTime(at), id)
}

func (s *Store) updateKey(ctx context.Context, op, id, query string, args ...any) error {
	if err := s.begin(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, s.mapErr(ctx, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", op, s.mapErr(ctx, err))
	} else if n == 0 {
		return fmt.Errorf("%s %q: %w", op, id, logingest.ErrNotFound)
	}
	return nil
}

// RecordKeyUsage implements logingest.KeyStore, in one transaction. Unknown IDs are ignored.
func (s *Store) RecordKeyUsage(ctx context.Context, usage []logingest.KeyUsage) error {
	if err := s.begin(ctx); err != nil {
		return fmt.Errorf("record key usage: %w", err)
	}
	if len(usage) == 0 {
		return nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record key usage: %w", s.mapErr(ctx, err))
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	for _, u := range usage {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET use_count = use_count + ?1,
				last_used_at = CASE WHEN last_used_at IS NULL THEN ?2 ELSE max(last_used_at, ?2) END WHERE id = ?3`,
			u.Count, formatTime(u.LastUsedAt), u.ID); err != nil {
			return fmt.Errorf("record key usage: %w", s.mapErr(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record key usage: %w", s.mapErr(ctx, err))
	}
	return nil
}

func scanKey(row interface{ Scan(dest ...any) error }) (logingest.APIKey, error) {
	var (
		k                      logingest.APIKey
		scopes                 int64
		created                string
		expires, revoked, used sql.NullString
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &k.Source, &scopes, &created, &expires, &revoked, &used, &k.UseCount,
		&k.Limits.RequestsPerMinute, &k.Limits.RequestBurst, &k.Limits.EventsPerMinute, &k.Limits.EventsBurst); err != nil {
		return logingest.APIKey{}, err
	}
	if scopes < 0 || scopes > math.MaxUint8 {
		return logingest.APIKey{}, fmt.Errorf("api key %s: scopes %d out of range", k.ID, scopes)
	}
	k.Scopes = logingest.Scope(scopes)
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return logingest.APIKey{}, err
	}
	if k.ExpiresAt, err = parseNullTime(expires); err != nil {
		return logingest.APIKey{}, err
	}
	if k.RevokedAt, err = parseNullTime(revoked); err != nil {
		return logingest.APIKey{}, err
	}
	if k.LastUsedAt, err = parseNullTime(used); err != nil {
		return logingest.APIKey{}, err
	}
	return k, nil
}
