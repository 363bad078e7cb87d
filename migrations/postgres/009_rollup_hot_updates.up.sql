-- ROLLUP WRITES WITHOUT INDEX WRITES. Every Append updates the rollup rows of its minute and hour buckets
-- (migration 007): n, dur_count and dur_sum, none of them indexed. PostgreSQL can then update a row in place
-- ("HOT": heap-only tuple, no new entry in the primary key or the bucket index) when the row's page has room
-- for the new version; at the default fillfactor of 100 pages are full, so every update also wrote an entry
-- in both indexes of the table. Half-full pages leave that room (the tables are small: a day of realistic
-- traffic is ~10,000 hour rows). Pages written before this migration keep their rows; new buckets get the room.
ALTER TABLE analytics_rollup_minute SET (fillfactor = 50);
ALTER TABLE analytics_rollup_hour SET (fillfactor = 50);

-- One pass over the inserted rows for both rollups: the minute rows are aggregated once, upserted, and the
-- hour rows are summed from them (at most 60 minute rows per hour row) instead of from the events again. The
-- minute upsert is the main statement and the hour upsert a WITH clause that nothing reads, which PostgreSQL
-- runs after the main statement: row locks are still taken minute table first, then hour table, in key order,
-- as the delete trigger takes them, so concurrent inserts and erasures cannot deadlock.
CREATE OR REPLACE FUNCTION analytics_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH m AS MATERIALIZED (
        SELECT source, date_trunc('minute', received_at) AS bucket, event_type, priority, event_name,
            coalesce(app_version, '') AS app_version, analytics_platform(device_info) AS platform, count(*) AS n,
            count(d) AS dur_count, coalesce(sum(d), 0) AS dur_sum
        FROM (SELECT *, analytics_duration_ms(properties) AS d FROM new_rows) e
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), hour AS (
        INSERT INTO analytics_rollup_hour AS r
        SELECT source, date_trunc('hour', bucket), event_type, priority, event_name, app_version, platform,
            sum(n)::int8, sum(dur_count)::int8, sum(dur_sum)
        FROM m GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (source, bucket, event_type, priority, event_name, app_version, platform) DO UPDATE
        SET n = r.n + excluded.n, dur_count = r.dur_count + excluded.dur_count, dur_sum = r.dur_sum + excluded.dur_sum
    )
    INSERT INTO analytics_rollup_minute AS r
    SELECT * FROM m ORDER BY 1, 2, 3, 4, 5, 6, 7
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
