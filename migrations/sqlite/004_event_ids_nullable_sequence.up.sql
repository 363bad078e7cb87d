-- Issue 10: the original server's log object. analytics_logs is rebuilt (SQLite cannot drop a NOT NULL) so that
--   * sequence_number is NULL when the client sent none, stored apart from 0;
--   * original_timestamp keeps the device's timestamp when the client sent sent_at and the server corrected
--     timestamp for the device's clock skew (NULL otherwise);
--   * processed_at is when the store wrote the row (the write's time, like created_at); rows written before
--     this migration get their created_at.
-- id keeps its values (the rowid alias), so ids already served stay stable; AUTOINCREMENT makes sure an id is
-- never reused after the newest rows are erased, so ids only ever grow in insertion order.
-- Rows written before this migration keep sequence_number 0: absent and 0 could not be told apart then.
CREATE TABLE analytics_logs_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order, the tie-breaker of every sort
    source             TEXT    NOT NULL,
    event_id           TEXT    NOT NULL,
    timestamp          TEXT    NOT NULL,
    event_type         TEXT    NOT NULL,
    event_name         TEXT    NOT NULL,
    properties         TEXT CHECK (properties IS NULL OR json_valid(properties)),  -- JSON object as sent
    user_id            TEXT    NOT NULL DEFAULT '',
    session_id         TEXT    NOT NULL DEFAULT '',
    app_version        TEXT    NOT NULL DEFAULT '',
    device_info        TEXT CHECK (device_info IS NULL OR json_valid(device_info)), -- JSON object as sent
    sequence_number    INTEGER,            -- NULL when the client sent none
    priority           TEXT    NOT NULL DEFAULT '',
    received_at        TEXT    NOT NULL,
    created_at         TEXT    NOT NULL,   -- when the row was written
    processed_at       TEXT,               -- when the store wrote the row; NULL when unknown
    original_timestamp TEXT,               -- the device's timestamp when sent_at corrected timestamp
    UNIQUE (source, event_id)
) STRICT;

INSERT INTO analytics_logs_new (id, source, event_id, timestamp, event_type, event_name, properties, user_id,
    session_id, app_version, device_info, sequence_number, priority, received_at, created_at, processed_at)
SELECT id, source, event_id, timestamp, event_type, event_name, properties, user_id, session_id, app_version,
    device_info, sequence_number, priority, received_at, created_at, COALESCE(processed_at, created_at)
FROM analytics_logs ORDER BY id;

DROP TABLE analytics_logs;
ALTER TABLE analytics_logs_new RENAME TO analytics_logs;

-- The indexes of 001, recreated on the new table (each ends, implicitly, in the rowid id).
CREATE INDEX analytics_logs_source_timestamp ON analytics_logs (source, timestamp);
CREATE INDEX analytics_logs_timestamp ON analytics_logs (timestamp);
CREATE INDEX analytics_logs_source_received_at ON analytics_logs (source, received_at);
CREATE INDEX analytics_logs_user_source_timestamp ON analytics_logs (user_id, source, timestamp);
CREATE INDEX analytics_logs_session_source_timestamp ON analytics_logs (session_id, source, timestamp);
CREATE INDEX analytics_logs_source_type_timestamp ON analytics_logs (source, event_type, timestamp);
CREATE INDEX analytics_logs_source_name_timestamp ON analytics_logs (source, event_name, timestamp);
CREATE INDEX analytics_logs_provider_name ON analytics_logs (json_extract(properties, '$.provider_name'), source, timestamp);
-- New: the default listing (created_at DESC = received_at DESC) across every source (admin queries).
CREATE INDEX analytics_logs_received_at ON analytics_logs (received_at);
