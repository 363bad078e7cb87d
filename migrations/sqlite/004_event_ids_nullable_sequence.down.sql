-- Back to 003's analytics_logs: absent sequence numbers become 0 and original timestamps are dropped (the
-- corrected timestamp stays).
CREATE TABLE analytics_logs_old (
    id              INTEGER PRIMARY KEY,
    source          TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    timestamp       TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    event_name      TEXT    NOT NULL,
    properties      TEXT CHECK (properties IS NULL OR json_valid(properties)),
    user_id         TEXT    NOT NULL DEFAULT '',
    session_id      TEXT    NOT NULL DEFAULT '',
    app_version     TEXT    NOT NULL DEFAULT '',
    device_info     TEXT CHECK (device_info IS NULL OR json_valid(device_info)),
    sequence_number INTEGER NOT NULL DEFAULT 0,
    priority        TEXT    NOT NULL DEFAULT '',
    received_at     TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    processed_at    TEXT,
    UNIQUE (source, event_id)
) STRICT;

INSERT INTO analytics_logs_old (id, source, event_id, timestamp, event_type, event_name, properties, user_id,
    session_id, app_version, device_info, sequence_number, priority, received_at, created_at, processed_at)
SELECT id, source, event_id, timestamp, event_type, event_name, properties, user_id, session_id, app_version,
    device_info, COALESCE(sequence_number, 0), priority, received_at, created_at, NULL
FROM analytics_logs ORDER BY id;

DROP TABLE analytics_logs;
ALTER TABLE analytics_logs_old RENAME TO analytics_logs;

CREATE INDEX analytics_logs_source_timestamp ON analytics_logs (source, timestamp);
CREATE INDEX analytics_logs_timestamp ON analytics_logs (timestamp);
CREATE INDEX analytics_logs_source_received_at ON analytics_logs (source, received_at);
CREATE INDEX analytics_logs_user_source_timestamp ON analytics_logs (user_id, source, timestamp);
CREATE INDEX analytics_logs_session_source_timestamp ON analytics_logs (session_id, source, timestamp);
CREATE INDEX analytics_logs_source_type_timestamp ON analytics_logs (source, event_type, timestamp);
CREATE INDEX analytics_logs_source_name_timestamp ON analytics_logs (source, event_name, timestamp);
CREATE INDEX analytics_logs_provider_name ON analytics_logs (json_extract(properties, '$.provider_name'), source, timestamp);
