package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/change66/logserver/logingest"
)

// CreateAPIKey implements logingest.KeyStore. A key with the same ID or Hash gives an error matching
// logingest.ErrInvalid.
func (s *Store) CreateAPIKey(ctx context.Context, k logingest.APIKey) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, hash, source, scopes, created_at, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Name, k.Hash, k.Source, int32(k.Scopes), k.CreatedAt, nullTime(k.ExpiresAt), nullTime(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("create api key: %w", withCtx(ctx, mapErr(err)))
	}
	return nil
}

const keyColumns = `id, name, hash, source, scopes, created_at, expires_at, revoked_at`

// APIKeyByHash implements logingest.KeyStore.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (logingest.APIKey, error) {
	if err := s.checkOpen(); err != nil {
		return logingest.APIKey{}, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash)
	if err != nil {
		return logingest.APIKey{}, fmt.Errorf("api key by hash: %w", withCtx(ctx, mapErr(err)))
	}
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if err != nil {
		return logingest.APIKey{}, fmt.Errorf("api key by hash: %w", withCtx(ctx, mapErr(err)))
	}
	return k, nil
}

// ListAPIKeys implements logingest.KeyStore. It returns an empty, non-nil slice when there are no keys.
func (s *Store) ListAPIKeys(ctx context.Context) ([]logingest.APIKey, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", withCtx(ctx, mapErr(err)))
	}
	keys, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", withCtx(ctx, mapErr(err)))
	}
	if keys == nil {
		keys = []logingest.APIKey{}
	}
	return keys, nil
}

func scanKey(r pgx.CollectableRow) (logingest.APIKey, error) {
	var (
		k                logingest.APIKey
		scopes           int32
		expires, revoked *time.Time
	)
	if err := r.Scan(&k.ID, &k.Name, &k.Hash, &k.Source, &scopes, &k.CreatedAt, &expires, &revoked); err != nil {
		return k, err
	}
	k.Scopes = logingest.Scope(scopes)
	k.CreatedAt = k.CreatedAt.UTC()
	if expires != nil {
		k.ExpiresAt = expires.UTC()
	}
	if revoked != nil {
		k.RevokedAt = revoked.UTC()
	}
	return k, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
