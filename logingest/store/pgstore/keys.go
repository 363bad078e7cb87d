package pgstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/change66/logserver/logingest"
)

// CreateAPIKey implements logingest.KeyStore. A key with the same ID or Hash, or a burst limit too large for its
// INTEGER column, gives an error matching logingest.ErrInvalid.
func (s *Store) CreateAPIKey(ctx context.Context, k logingest.APIKey) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	rBurst, err := int4("RequestBurst", k.Limits.RequestBurst)
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	eBurst, err := int4("EventsBurst", k.Limits.EventsBurst)
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, hash, source, scopes, created_at, expires_at, revoked_at,
			requests_per_minute, request_burst, events_per_minute, events_burst)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		k.ID, k.Name, k.Hash, k.Source, int32(k.Scopes), k.CreatedAt, nullTime(k.ExpiresAt), nullTime(k.RevokedAt),
		k.Limits.RequestsPerMinute, rBurst, k.Limits.EventsPerMinute, eBurst)
	if err != nil {
		return fmt.Errorf("create api key: %w", withCtx(ctx, mapErr(err)))
	}
	return nil
}

// int4 converts a key limit to the type of its INTEGER column. A value the column cannot hold is refused with an
// error matching logingest.ErrInvalid rather than stored wrapped around.
func int4(field string, v int) (int32, error) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %s %d does not fit in an INTEGER column", logingest.ErrInvalid, field, v)
	}
	return int32(v), nil
}

const keyColumns = `id, name, hash, source, scopes, created_at, expires_at, revoked_at, last_used_at, use_count,
	requests_per_minute, request_burst, events_per_minute, events_burst`

// APIKeyByHash implements logingest.KeyStore.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (logingest.APIKey, error) {
	return s.oneKey(ctx, "api key by hash", `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash)
}

// APIKeyByID implements logingest.KeyStore.
func (s *Store) APIKeyByID(ctx context.Context, id string) (logingest.APIKey, error) {
	return s.oneKey(ctx, "api key by id", `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id)
}

func (s *Store) oneKey(ctx context.Context, op, query string, arg string) (logingest.APIKey, error) {
	if err := s.checkOpen(); err != nil {
		return logingest.APIKey{}, err
	}
	rows, err := s.pool.Query(ctx, query, arg)
	if err != nil {
		return logingest.APIKey{}, fmt.Errorf("%s: %w", op, withCtx(ctx, mapErr(err)))
	}
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if err != nil {
		return logingest.APIKey{}, fmt.Errorf("%s: %w", op, withCtx(ctx, mapErr(err)))
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

// RevokeAPIKey implements logingest.KeyStore: a key already revoked keeps its earlier RevokedAt.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "revoke api key", id, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, at)
}

// ExpireAPIKey implements logingest.KeyStore: it only ever moves ExpiresAt earlier.
func (s *Store) ExpireAPIKey(ctx context.Context, id string, at time.Time) error {
	// LEAST ignores NULLs, so a key without an expiry gets at.
	return s.updateKey(ctx, "expire api key", id, `UPDATE api_keys SET expires_at = LEAST(expires_at, $2) WHERE id = $1`, at)
}

func (s *Store) updateKey(ctx context.Context, op, id, query string, at time.Time) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, query, id, at)
	if err != nil {
		return fmt.Errorf("%s: %w", op, withCtx(ctx, mapErr(err)))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s %q: %w", op, id, logingest.ErrNotFound)
	}
	return nil
}

// RecordKeyUsage implements logingest.KeyStore with one UPDATE for the whole batch. Unknown IDs are ignored.
func (s *Store) RecordKeyUsage(ctx context.Context, usage []logingest.KeyUsage) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(usage) == 0 {
		return nil
	}
	ids := make([]string, len(usage))
	counts := make([]int64, len(usage))
	times := make([]time.Time, len(usage))
	for i, u := range usage {
		ids[i], counts[i], times[i] = u.ID, u.Count, u.LastUsedAt
	}
	// A key listed twice is summed first: UPDATE ... FROM applies only one matching row per target row.
	_, err := s.pool.Exec(ctx, `UPDATE api_keys k SET use_count = k.use_count + u.n,
			last_used_at = GREATEST(k.last_used_at, u.at)
		FROM (SELECT id, sum(n)::bigint AS n, max(at) AS at
		      FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS t(id, n, at) GROUP BY id) u
		WHERE k.id = u.id`, ids, counts, times)
	if err != nil {
		return fmt.Errorf("record key usage: %w", withCtx(ctx, mapErr(err)))
	}
	return nil
}

func scanKey(r pgx.CollectableRow) (logingest.APIKey, error) {
	var (
		k                      logingest.APIKey
		scopes, rBurst, eBurst int32
		expires, revoked, used *time.Time
	)
	if err := r.Scan(&k.ID, &k.Name, &k.Hash, &k.Source, &scopes, &k.CreatedAt, &expires, &revoked, &used, &k.UseCount,
		&k.Limits.RequestsPerMinute, &rBurst, &k.Limits.EventsPerMinute, &eBurst); err != nil {
		return k, err
	}
	if scopes < 0 || scopes > math.MaxUint8 {
		return k, fmt.Errorf("api key %s: scopes %d out of range", k.ID, scopes)
	}
	k.Scopes = logingest.Scope(scopes)
	k.Limits.RequestBurst, k.Limits.EventsBurst = int(rBurst), int(eBurst)
	k.CreatedAt = k.CreatedAt.UTC()
	if expires != nil {
		k.ExpiresAt = expires.UTC()
	}
	if revoked != nil {
		k.RevokedAt = revoked.UTC()
	}
	if used != nil {
		k.LastUsedAt = used.UTC()
	}
	return k, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
