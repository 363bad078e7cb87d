-- ROLLUPS: the aggregates behind GET /api/v1/metrics (Store.Stats) and GET /api/v1/dashboard (Aggregator),
-- kept at ingest so that neither reads millions of rows.
--
-- analytics_rollup_minute and analytics_rollup_hour count events per source, per bucket of received_at
-- (truncated to the minute / hour, UTC), and per combination of the dimensions the dashboard shows:
-- event_type, priority, event_name, app_version ('' when absent) and platform (device_info.platform when it
-- is a string, cut to 64 characters; '' otherwise). Beside the count n they keep dur_count and dur_sum, the
-- number and sum of the numeric properties.duration_ms values between 0 and 1e12 (analytics_duration_ms).
-- A day of realistic traffic has ~200 combinations, so a day is ~200 rows per hour bucket, whatever the volume.
--
-- analytics_last_seen holds, per source, the last received_at of every user id (kind 'u') and session id
-- (kind 's'); "distinct users in the last day" is then an index range count instead of a DISTINCT over every
-- event of the day.
--
-- All three are maintained by statement-level triggers on analytics_logs, so they are updated in the same
-- transaction as the insert (plain INSERT and COPY alike), once per statement with one aggregated upsert per
-- table, in key order (concurrent batches take row locks in the same order and cannot deadlock). DELETE on
-- analytics_logs (erasure) subtracts. Partition maintenance moves rows between partitions directly, which
-- fires no trigger on the parent; retention (pgstore.DropPartitionsBefore) deletes the buckets it drops.
-- Windows are on received_at, the partition key, so retention and rollups agree.

CREATE FUNCTION analytics_duration_ms(p jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(p -> 'duration_ms') = 'number'
        AND (p ->> 'duration_ms')::numeric BETWEEN 0 AND 1e12 THEN (p ->> 'duration_ms')::float8 END
$$;

CREATE FUNCTION analytics_platform(d jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(d -> 'platform') = 'string' THEN left(d ->> 'platform', 64) ELSE '' END
$$;

CREATE TABLE analytics_rollup_minute (
    source      TEXT        NOT NULL,
    bucket      TIMESTAMPTZ NOT NULL,
    event_type  TEXT        NOT NULL,
    priority    TEXT        NOT NULL,
    event_name  TEXT        NOT NULL,
    app_version TEXT        NOT NULL,
    platform    TEXT        NOT NULL,
    n           BIGINT      NOT NULL,
    dur_count   BIGINT      NOT NULL,
    dur_sum     FLOAT8      NOT NULL,
    PRIMARY KEY (source, bucket, event_type, priority, event_name, app_version, platform)
);
CREATE INDEX analytics_rollup_minute_bucket ON analytics_rollup_minute (bucket);

CREATE TABLE analytics_rollup_hour (LIKE analytics_rollup_minute INCLUDING ALL);

CREATE TABLE analytics_last_seen (
    source TEXT        NOT NULL,
    kind   "char"      NOT NULL,  -- 'u' user_id, 's' session_id
    id     TEXT        NOT NULL,
    seen   TIMESTAMPTZ NOT NULL,  -- the latest received_at
    PRIMARY KEY (source, kind, id)
);
-- "Active in a window": an index-only range scan per source; (kind, seen) first would serve every source
-- at once but not one source without a filter.
CREATE INDEX analytics_last_seen_seen ON analytics_last_seen (source, kind, seen);

-- analytics_rollup_add adds (sign 1) or subtracts (sign -1) the rows of the transition table "delta" (the
-- triggers below pass theirs by name) to the rollups.
CREATE FUNCTION analytics_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- Erasure: subtract the deleted rows, and forget the deleted users and their sessions.
CREATE FUNCTION analytics_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE analytics_rollup_minute r
    SET n = r.n - d.n, dur_count = r.dur_count - d.dur_count, dur_sum = r.dur_sum - d.dur_sum
    FROM (SELECT source, date_trunc('minute', received_at) AS bucket, event_type, priority, event_name,
            coalesce(app_version, '') AS app_version, analytics_platform(device_info) AS platform, count(*) AS n,
            count(analytics_duration_ms(properties)) AS dur_count,
            coalesce(sum(analytics_duration_ms(properties)), 0) AS dur_sum
          FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6, 7) d
    WHERE (r.source, r.bucket, r.event_type, r.priority, r.event_name, r.app_version, r.platform)
        = (d.source, d.bucket, d.event_type, d.priority, d.event_name, d.app_version, d.platform);

    UPDATE analytics_rollup_hour r
    SET n = r.n - d.n, dur_count = r.dur_count - d.dur_count, dur_sum = r.dur_sum - d.dur_sum
    FROM (SELECT source, date_trunc('hour', received_at) AS bucket, event_type, priority, event_name,
            coalesce(app_version, '') AS app_version, analytics_platform(device_info) AS platform, count(*) AS n,
            count(analytics_duration_ms(properties)) AS dur_count,
            coalesce(sum(analytics_duration_ms(properties)), 0) AS dur_sum
          FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6, 7) d
    WHERE (r.source, r.bucket, r.event_type, r.priority, r.event_name, r.app_version, r.platform)
        = (d.source, d.bucket, d.event_type, d.priority, d.event_name, d.app_version, d.platform);

    DELETE FROM analytics_last_seen r USING (
        SELECT DISTINCT source, 'u'::"char" AS kind, user_id AS id FROM old_rows WHERE user_id IS NOT NULL
        UNION
        SELECT DISTINCT source, 's'::"char", session_id FROM old_rows WHERE session_id IS NOT NULL
    ) d WHERE (r.source, r.kind, r.id) = (d.source, d.kind, d.id);
    RETURN NULL;
END $$;

CREATE TRIGGER analytics_logs_rollup_insert AFTER INSERT ON analytics_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_rollup_insert();
CREATE TRIGGER analytics_logs_rollup_delete AFTER DELETE ON analytics_logs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_rollup_delete();

-- BACKFILL from the rows stored before this migration, one day of received_at per statement (each reads one
-- or two partitions and aggregates at most a day of buckets), so no statement sorts or hashes the whole table.
DO $$
DECLARE
    lo TIMESTAMPTZ;
    hi TIMESTAMPTZ;
BEGIN
    SELECT date_trunc('day', min(received_at)), max(received_at) INTO lo, hi FROM analytics_logs;
    WHILE lo <= hi LOOP
        INSERT INTO analytics_rollup_minute
        SELECT source, date_trunc('minute', received_at), event_type, priority, event_name,
            coalesce(app_version, ''), analytics_platform(device_info), count(*),
            count(analytics_duration_ms(properties)), coalesce(sum(analytics_duration_ms(properties)), 0)
        FROM analytics_logs WHERE received_at >= lo AND received_at < lo + interval '1 day'
        GROUP BY 1, 2, 3, 4, 5, 6, 7;
        lo := lo + interval '1 day';
    END LOOP;
END $$;

INSERT INTO analytics_rollup_hour
SELECT source, date_trunc('hour', bucket), event_type, priority, event_name, app_version, platform,
    sum(n), sum(dur_count), sum(dur_sum)
FROM analytics_rollup_minute GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO analytics_last_seen
SELECT source, 'u', user_id, max(received_at) FROM analytics_logs WHERE user_id IS NOT NULL GROUP BY 1, 3
UNION ALL
SELECT source, 's', session_id, max(received_at) FROM analytics_logs WHERE session_id IS NOT NULL GROUP BY 1, 3;
