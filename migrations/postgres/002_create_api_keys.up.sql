-- api_keys backs the KeyStore. Only the SHA-256 hash of a key is stored, never the secret.
CREATE TABLE api_keys (
    id           TEXT        PRIMARY KEY,      -- public identifier, safe to log
    name         TEXT        NOT NULL DEFAULT '',
    hash         TEXT        NOT NULL UNIQUE,  -- hex SHA-256 of the secret; the UNIQUE index serves lookups
    source       TEXT        NOT NULL,
    scopes       INTEGER     NOT NULL,         -- logingest.Scope bit set
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,                  -- NULL means "not set"
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    use_count    BIGINT      NOT NULL DEFAULT 0
);

-- ListAPIKeys orders by created_at, then id.
CREATE INDEX api_keys_created_at ON api_keys (created_at, id);
