-- ROLLUPS: the aggregates behind Store.Stats and the dashboard (logingest.Aggregator), kept at ingest so that
-- neither reads every event. Same design as migrations/postgres/007_rollups.up.sql:
--   analytics_rollup_minute / analytics_rollup_hour: per source, bucket of received_at (the minute / hour
--   start, in the store's fixed-width UTC text form), event_type, priority, event_name, app_version and
--   platform (device_info.platform when it is a string, cut to 64 characters; '' otherwise): the count n and
--   the number and sum of the numeric properties.duration_ms values between 0 and 1e12.
--   analytics_last_seen: per source, the latest received_at of every user id (kind 'u') and session id ('s').
-- Row triggers keep them in step inside Append's transaction (SQLite has a single writer, so the per-row
-- upserts never wait on each other); erasure (DELETE) subtracts.
CREATE TABLE analytics_rollup_minute (
    source      TEXT    NOT NULL,
    bucket      TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    priority    TEXT    NOT NULL,
    event_name  TEXT    NOT NULL,
    app_version TEXT    NOT NULL,
    platform    TEXT    NOT NULL,
    n           INTEGER NOT NULL,
    dur_count   INTEGER NOT NULL,
    dur_sum     REAL    NOT NULL,
    PRIMARY KEY (source, bucket, event_type, priority, event_name, app_version, platform)
) STRICT, WITHOUT ROWID;
CREATE INDEX analytics_rollup_minute_bucket ON analytics_rollup_minute (bucket);

CREATE TABLE analytics_rollup_hour (
    source      TEXT    NOT NULL,
    bucket      TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    priority    TEXT    NOT NULL,
    event_name  TEXT    NOT NULL,
    app_version TEXT    NOT NULL,
    platform    TEXT    NOT NULL,
    n           INTEGER NOT NULL,
    dur_count   INTEGER NOT NULL,
    dur_sum     REAL    NOT NULL,
    PRIMARY KEY (source, bucket, event_type, priority, event_name, app_version, platform)
) STRICT, WITHOUT ROWID;
CREATE INDEX analytics_rollup_hour_bucket ON analytics_rollup_hour (bucket);

CREATE TABLE analytics_last_seen (
    source TEXT NOT NULL,
    kind   TEXT NOT NULL,  -- 'u' user_id, 's' session_id
    id     TEXT NOT NULL,
    seen   TEXT NOT NULL,  -- the latest received_at
    PRIMARY KEY (source, kind, id)
) STRICT, WITHOUT ROWID;
-- "Active in a window": an index-only range scan per source; (kind, seen) first would serve every source
-- at once but not one source without a filter.
CREATE INDEX analytics_last_seen_seen ON analytics_last_seen (source, kind, seen);

CREATE TRIGGER analytics_logs_rollup_insert AFTER INSERT ON analytics_logs BEGIN
    INSERT INTO analytics_rollup_minute VALUES (NEW.source, substr(NEW.received_at, 1, 16) || ':00.000000000Z',
        NEW.event_type, NEW.priority, NEW.event_name, NEW.app_version,
        CASE WHEN json_type(NEW.device_info, '$.platform') = 'text'
            THEN substr(json_extract(NEW.device_info, '$.platform'), 1, 64) ELSE '' END,
        1,
        CASE WHEN json_type(NEW.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(NEW.properties, '$.duration_ms') BETWEEN 0 AND 1e12 THEN 1 ELSE 0 END,
        CASE WHEN json_type(NEW.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(NEW.properties, '$.duration_ms') BETWEEN 0 AND 1e12
            THEN json_extract(NEW.properties, '$.duration_ms') ELSE 0.0 END)
    ON CONFLICT DO UPDATE SET n = n + 1, dur_count = dur_count + excluded.dur_count,
        dur_sum = dur_sum + excluded.dur_sum;
    INSERT INTO analytics_rollup_hour VALUES (NEW.source, substr(NEW.received_at, 1, 13) || ':00:00.000000000Z',
        NEW.event_type, NEW.priority, NEW.event_name, NEW.app_version,
        CASE WHEN json_type(NEW.device_info, '$.platform') = 'text'
            THEN substr(json_extract(NEW.device_info, '$.platform'), 1, 64) ELSE '' END,
        1,
        CASE WHEN json_type(NEW.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(NEW.properties, '$.duration_ms') BETWEEN 0 AND 1e12 THEN 1 ELSE 0 END,
        CASE WHEN json_type(NEW.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(NEW.properties, '$.duration_ms') BETWEEN 0 AND 1e12
            THEN json_extract(NEW.properties, '$.duration_ms') ELSE 0.0 END)
    ON CONFLICT DO UPDATE SET n = n + 1, dur_count = dur_count + excluded.dur_count,
        dur_sum = dur_sum + excluded.dur_sum;
    INSERT INTO analytics_last_seen SELECT NEW.source, 'u', NEW.user_id, NEW.received_at WHERE NEW.user_id <> ''
    ON CONFLICT DO UPDATE SET seen = max(seen, excluded.seen);
    INSERT INTO analytics_last_seen SELECT NEW.source, 's', NEW.session_id, NEW.received_at WHERE NEW.session_id <> ''
    ON CONFLICT DO UPDATE SET seen = max(seen, excluded.seen);
END;

-- Erasure: subtract the row, and forget its user and session.
CREATE TRIGGER analytics_logs_rollup_delete AFTER DELETE ON analytics_logs BEGIN
    UPDATE analytics_rollup_minute SET n = n - 1,
        dur_count = dur_count - (CASE WHEN json_type(OLD.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(OLD.properties, '$.duration_ms') BETWEEN 0 AND 1e12 THEN 1 ELSE 0 END),
        dur_sum = dur_sum - CASE WHEN json_type(OLD.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(OLD.properties, '$.duration_ms') BETWEEN 0 AND 1e12
            THEN json_extract(OLD.properties, '$.duration_ms') ELSE 0.0 END
    WHERE source = OLD.source AND bucket = substr(OLD.received_at, 1, 16) || ':00.000000000Z'
        AND event_type = OLD.event_type AND priority = OLD.priority AND event_name = OLD.event_name
        AND app_version = OLD.app_version AND platform = CASE WHEN json_type(OLD.device_info, '$.platform') = 'text'
            THEN substr(json_extract(OLD.device_info, '$.platform'), 1, 64) ELSE '' END;
    UPDATE analytics_rollup_hour SET n = n - 1,
        dur_count = dur_count - (CASE WHEN json_type(OLD.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(OLD.properties, '$.duration_ms') BETWEEN 0 AND 1e12 THEN 1 ELSE 0 END),
        dur_sum = dur_sum - CASE WHEN json_type(OLD.properties, '$.duration_ms') IN ('integer', 'real')
            AND json_extract(OLD.properties, '$.duration_ms') BETWEEN 0 AND 1e12
            THEN json_extract(OLD.properties, '$.duration_ms') ELSE 0.0 END
    WHERE source = OLD.source AND bucket = substr(OLD.received_at, 1, 13) || ':00:00.000000000Z'
        AND event_type = OLD.event_type AND priority = OLD.priority AND event_name = OLD.event_name
        AND app_version = OLD.app_version AND platform = CASE WHEN json_type(OLD.device_info, '$.platform') = 'text'
            THEN substr(json_extract(OLD.device_info, '$.platform'), 1, 64) ELSE '' END;
    DELETE FROM analytics_last_seen WHERE source = OLD.source
        AND ((kind = 'u' AND id = OLD.user_id) OR (kind = 's' AND id = OLD.session_id));
END;

-- BACKFILL from the rows stored before this migration, in one pass each (SQLite aggregates with a sorter
-- that spills to disk, so memory stays bounded).
INSERT INTO analytics_rollup_minute
SELECT source, substr(received_at, 1, 16) || ':00.000000000Z', event_type, priority, event_name, app_version,
    CASE WHEN json_type(device_info, '$.platform') = 'text' THEN substr(json_extract(device_info, '$.platform'), 1, 64) ELSE '' END,
    count(*),
    sum(CASE WHEN json_type(properties, '$.duration_ms') IN ('integer', 'real') AND json_extract(properties, '$.duration_ms') BETWEEN 0 AND 1e12 THEN 1 ELSE 0 END),
    total(CASE WHEN json_type(properties, '$.duration_ms') IN ('integer', 'real') AND json_extract(properties, '$.duration_ms') BETWEEN 0 AND 1e12
        THEN json_extract(properties, '$.duration_ms') END)
FROM analytics_logs GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO analytics_rollup_hour
SELECT source, substr(bucket, 1, 13) || ':00:00.000000000Z', event_type, priority, event_name, app_version, platform,
    sum(n), sum(dur_count), total(dur_sum)
FROM analytics_rollup_minute GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO analytics_last_seen
SELECT source, 'u', user_id, max(received_at) FROM analytics_logs WHERE user_id <> '' GROUP BY 1, 3;
INSERT INTO analytics_last_seen
SELECT source, 's', session_id, max(received_at) FROM analytics_logs WHERE session_id <> '' GROUP BY 1, 3;
