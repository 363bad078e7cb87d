-- The trigger function of 007_rollups.
CREATE OR REPLACE FUNCTION analytics_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_rollup_minute AS r
    SELECT source, date_trunc('minute', received_at), event_type, priority, event_name,
        coalesce(app_version, ''), analytics_platform(device_info), count(*),
        count(analytics_duration_ms(properties)), coalesce(sum(analytics_duration_ms(properties)), 0)
    FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (source, bucket, event_type, priority, event_name, app_version, platform) DO UPDATE
    SET n = r.n + excluded.n, dur_count = r.dur_count + excluded.dur_count, dur_sum = r.dur_sum + excluded.dur_sum;

    INSERT INTO analytics_rollup_hour AS r
    SELECT source, date_trunc('hour', received_at), event_type, priority, event_name,
        coalesce(app_version, ''), analytics_platform(device_info), count(*),
        count(analytics_duration_ms(properties)), coalesce(sum(analytics_duration_ms(properties)), 0)
    FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (source, bucket, event_type, priority, event_name, app_version, platform) DO UPDATE
    SET n = r.n + excluded.n, dur_count = r.dur_count + excluded.dur_count, dur_sum = r.dur_sum + excluded.dur_sum;

    INSERT INTO analytics_last_seen AS r
    SELECT source, kind, id, max(received_at) FROM (
        SELECT source, 'u'::"char" AS kind, user_id AS id, received_at FROM new_rows WHERE user_id IS NOT NULL
        UNION ALL
        SELECT source, 's'::"char", session_id, received_at FROM new_rows WHERE session_id IS NOT NULL
    ) t GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (source, kind, id) DO UPDATE SET seen = greatest(r.seen, excluded.seen);
    RETURN NULL;
END $$;

ALTER TABLE analytics_rollup_hour RESET (fillfactor);
ALTER TABLE analytics_rollup_minute RESET (fillfactor);
