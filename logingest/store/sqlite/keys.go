package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/change66/logserver/logingest"
)

// CreateAPIKey implements logingest.KeyStore. It returns an error matching logingest.ErrInvalid when a key with
// the same ID or Hash exists, and one matching logingest.ErrClosed after Close.
func (s *Store) CreateAPIKey(ctx context.Context, k logingest.APIKey) error {
	if err := s.begin(ctx); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	_, err := s.writer.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, source, scopes, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash, k.Source, int64(k.Scopes), formatTime(k.CreatedAt), nullTime(k.ExpiresAt), nullTime(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("create api key: %w", s.mapErr(ctx, err))
	}
	return nil
}

const keyColumns = "id, name, hash, source, scopes, created_at, expires_at, revoked_at"

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

func scanKey(row interface{ Scan(...any) error }) (logingest.APIKey, error) {
	var (
		k                logingest.APIKey
		scopes           int64
		created          string
		expires, revoked sql.NullString
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &k.Source, &scopes, &created, &expires, &revoked); err != nil {
		return logingest.APIKey{}, err
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
	return k, nil
}
