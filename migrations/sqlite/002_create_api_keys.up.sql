-- api_keys backs the KeyStore. Only the SHA-256 hash of a key is stored, never the secret.
-- Times use the same fixed-width UTC text as analytics_logs; NULL means "not set".
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,        -- public identifier, safe to log
    name         TEXT    NOT NULL DEFAULT '',
    hash         TEXT    NOT NULL UNIQUE,    -- hex SHA-256 of the secret; the UNIQUE index serves lookups
    source       TEXT    NOT NULL,
    scopes       INTEGER NOT NULL,           -- logingest.Scope bit set
    created_at   TEXT    NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT,
    use_count    INTEGER NOT NULL DEFAULT 0
) STRICT;

-- ListAPIKeys orders by created_at, then id.
CREATE INDEX api_keys_created_at ON api_keys (created_at, id);
