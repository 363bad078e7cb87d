-- Back to 007: the indexes of 004 and the insert triggers of 006 and 007 (the rollups and the search index are
-- already up to date: Append kept them).
DELETE FROM sqlite_stat1 WHERE tbl = 'analytics_logs';
DROP INDEX analytics_logs_provider_name;
DROP INDEX analytics_logs_source_name_received_at;
DROP INDEX analytics_logs_source_type_received_at;
DROP INDEX analytics_logs_session_source_received_at;
DROP INDEX analytics_logs_user_source_received_at;
CREATE INDEX analytics_logs_timestamp ON analytics_logs (timestamp);
CREATE INDEX analytics_logs_received_at ON analytics_logs (received_at);
CREATE INDEX analytics_logs_user_source_timestamp ON analytics_logs (user_id, source, timestamp);
CREATE INDEX analytics_logs_session_source_timestamp ON analytics_logs (session_id, source, timestamp);
CREATE INDEX analytics_logs_source_type_timestamp ON analytics_logs (source, event_type, timestamp);
CREATE INDEX analytics_logs_source_name_timestamp ON analytics_logs (source, event_name, timestamp);
CREATE INDEX analytics_logs_provider_name ON analytics_logs (json_extract(properties, '$.provider_name'), source, timestamp);

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

CREATE TRIGGER analytics_logs_fts_insert AFTER INSERT ON analytics_logs BEGIN
    INSERT INTO analytics_logs_fts (rowid, doc) VALUES (NEW.id, substr(concat_ws(' ', NEW.event_name, NEW.user_id,
        NEW.session_id, NEW.properties), 1, 2048));
END;
