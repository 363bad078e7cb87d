-- analytics_logs holds every ingested event, one row per (source, event_id).
--
-- Timestamps (timestamp, received_at, created_at, processed_at) are fixed-width UTC text in the form
-- '2006-01-02T15:04:05.000000000Z': text comparison orders them chronologically, so range filters and ORDER BY
-- work on the raw column, and the nanosecond round-trip is exact.
-- Optional strings are stored as '' rather than NULL so that keyset pagination can compare them directly.
CREATE TABLE analytics_logs (
    id              INTEGER PRIMARY KEY, -- rowid alias: insertion order, the tie-breaker of every sort
    source          TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    timestamp       TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    event_name      TEXT    NOT NULL,
    properties      TEXT CHECK (properties IS NULL OR json_valid(properties)),  -- JSON object as sent
    user_id         TEXT    NOT NULL DEFAULT '',
    session_id      TEXT    NOT NULL DEFAULT '',
    app_version     TEXT    NOT NULL DEFAULT '',
    device_info     TEXT CHECK (device_info IS NULL OR json_valid(device_info)), -- JSON object as sent
    sequence_number INTEGER NOT NULL DEFAULT 0,
    priority        TEXT    NOT NULL DEFAULT '',
    received_at     TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,  -- when the row was written
    processed_at    TEXT,              -- reserved for downstream processing; NULL until then
    -- Idempotency key: the app retries until it sees 201, so a retry must hit this and do nothing.
    UNIQUE (source, event_id)
) STRICT;

-- Every index below ends, implicitly, in the rowid (id), so it also serves the keyset cursor (sort value, id).

-- Default listing: one source, newest timestamp first, and start_time/end_time ranges.
CREATE INDEX analytics_logs_source_timestamp ON analytics_logs (source, timestamp);
-- The same listing across every source (admin queries without a source).
CREATE INDEX analytics_logs_timestamp ON analytics_logs (timestamp);
-- "Recent" listings sorted by received_at, and the last-hour/last-day windows of Stats.
CREATE INDEX analytics_logs_source_received_at ON analytics_logs (source, received_at);
-- user_id filter, and DeleteUserEvents (user first, so erasure across every source can use it too).
CREATE INDEX analytics_logs_user_source_timestamp ON analytics_logs (user_id, source, timestamp);
-- session_id filter (a session's timeline).
CREATE INDEX analytics_logs_session_source_timestamp ON analytics_logs (session_id, source, timestamp);
-- event_type and event_name filters with a time order or range.
CREATE INDEX analytics_logs_source_type_timestamp ON analytics_logs (source, event_type, timestamp);
CREATE INDEX analytics_logs_source_name_timestamp ON analytics_logs (source, event_name, timestamp);
-- provider_name filter: queries must use exactly json_extract(properties, '$.provider_name') to hit it.
CREATE INDEX analytics_logs_provider_name ON analytics_logs (json_extract(properties, '$.provider_name'), source, timestamp);
