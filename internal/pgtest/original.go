package pgtest

// OriginalSchemaSQL is the original server's schema, as the seed's original-api.md describes it (plus
// the kind of indexes it had), for tests of the move from the original's database.
const OriginalSchemaSQL = `
CREATE TABLE analytics_logs (
    id              BIGSERIAL PRIMARY KEY,
    event_id        VARCHAR(255) UNIQUE NOT NULL,
    timestamp       TIMESTAMPTZ NOT NULL,
    event_type      VARCHAR(50) NOT NULL,
    event_name      VARCHAR(100) NOT NULL,
    properties      JSONB,
    user_id         VARCHAR(255),
    session_id      VARCHAR(255),
    app_version     VARCHAR(50),
    device_info     JSONB,
    sequence_number INTEGER,
    priority        VARCHAR(20) DEFAULT 'normal',
    created_at      TIMESTAMPTZ DEFAULT NOW(),
    processed_at    TIMESTAMPTZ
);
CREATE INDEX idx_analytics_logs_timestamp ON analytics_logs (timestamp);
CREATE INDEX idx_analytics_logs_event_type ON analytics_logs (event_type);
CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    key_hash     VARCHAR(255) UNIQUE NOT NULL,
    name         VARCHAR(255),
    is_active    BOOLEAN DEFAULT true,
    created_at   TIMESTAMPTZ DEFAULT NOW(),
    last_used_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    usage_count  BIGINT DEFAULT 0
);
CREATE TABLE server_metrics (
    id           BIGSERIAL PRIMARY KEY,
    metric_name  VARCHAR(100) NOT NULL,
    metric_value DOUBLE PRECISION,
    labels       JSONB,
    timestamp    TIMESTAMPTZ DEFAULT NOW()
);
INSERT INTO api_keys (key_hash, name) VALUES ('abc', 'app');`

// OriginalEventsSQL fills the original's analytics_logs with $2 events in SQL, quickly (generate_series):
// event i (id i) has event_id 'orig-<i>', was created (received) i seconds after $1, and every seventh has no
// sequence number, user or processed_at.
const OriginalEventsSQL = `
INSERT INTO analytics_logs (event_id, timestamp, event_type, event_name, properties, user_id, session_id,
    app_version, device_info, sequence_number, priority, created_at, processed_at)
SELECT 'orig-' || g, $1::timestamptz + g * interval '1 second' - interval '3 seconds',
    (ARRAY['behavioral','telemetry','observability','error','performance'])[1 + g % 5], 'name_' || (g % 40),
    jsonb_build_object('n', g, 'duration_ms', g % 500),
    CASE WHEN g % 7 = 0 THEN NULL ELSE 'user-' || (g % 5000) END,
    'session-' || (g % 20000), '2.0.' || (g % 3) || '+' || (g % 9), '{"platform":"android"}'::jsonb,
    CASE WHEN g % 7 = 0 THEN NULL ELSE g END, CASE WHEN g % 11 = 0 THEN 'high' ELSE 'normal' END,
    $1::timestamptz + g * interval '1 second',
    CASE WHEN g % 7 = 0 THEN NULL ELSE $1::timestamptz + g * interval '1 second' + interval '5 milliseconds' END
FROM generate_series(1, $2::int) g`
