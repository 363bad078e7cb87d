-- MOVING FROM THE ORIGINAL SERVER. The original Change66 log server kept its events in a table also named
-- analytics_logs (plain, id bigserial, event_id unique, no source or received_at column), next to api_keys and
-- server_metrics. An operator who points logingest at that database must not meet "relation already exists":
-- when this schema holds the original's analytics_logs (recognised by its missing source column), its three
-- tables move, with their indexes, constraints and sequences, into the schema <current schema>_original
-- (public_original by default), untouched. pgstore then imports the events from there in bounded batches,
-- keeping ids, created_at and every field (pgstore.Store.ImportOriginal; logserver runs it in the background).
DO $adopt$
DECLARE
    target text := current_schema() || '_original';
    t text;
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.tables
               WHERE table_schema = current_schema() AND table_name = 'analytics_logs')
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = 'analytics_logs' AND column_name = 'source')
    THEN
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', target);
        FOREACH t IN ARRAY ARRAY['analytics_logs', 'api_keys', 'server_metrics'] LOOP
            IF EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = t) THEN
                EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', current_schema(), t, target);
            END IF;
        END LOOP;
        RAISE NOTICE 'moved the original server''s tables into schema %', target;
    END IF;
END
$adopt$;

-- analytics_logs keeps the seed's table name and columns, plus source and received_at.
--
-- PARTITIONING. The table is range-partitioned on received_at, not on timestamp:
--   * received_at is stamped by the server, so every new event lands in the current period, for which
--     pgstore always pre-creates a partition (MaintainPartitions, run on Open and periodically). timestamp is
--     set by the client: offline devices upload events days or weeks old, and clocks are wrong, so
--     partitioning on it would scatter writes over old partitions and make retention ("keep what we
--     received in the last N days") drop events we received yesterday.
--   * Retention becomes DROP TABLE of whole partitions: no DELETE, no bloat, no vacuum.
--   * Stats windows (last hour / last day) and the "recent" listing are on received_at and are pruned
--     to one or two partitions.
--   The price: filters on timestamp cannot prune partitions. Each partition has its own timestamp
--   indexes, and for the page sizes the API serves (<= 1000 rows) a Merge Append over the partitions'
--   index scans stops after LIMIT rows, so this costs one index descent per partition, not a scan.
--
-- The DEFAULT partition guarantees that no insert can fail for lack of a partition (a received_at far in the
-- past or future, for example in imports or tests). MaintainPartitions moves rows out of it when it creates
-- the partition they belong to, and DropPartitionsBefore deletes expired rows from it.
CREATE TABLE analytics_logs (
    id              BIGSERIAL   NOT NULL,  -- global insertion order; breaks sort ties and keys the cursor
    source          TEXT        NOT NULL,
    event_id        TEXT        NOT NULL,
    timestamp       TIMESTAMPTZ NOT NULL,
    event_type      TEXT        NOT NULL,
    event_name      TEXT        NOT NULL,
    properties      JSONB,                 -- NULL when the event had none
    user_id         TEXT,                  -- NULL for ""
    session_id      TEXT,                  -- NULL for ""
    app_version     TEXT,                  -- NULL for ""
    device_info     JSONB,                 -- NULL when the event had none
    sequence_number BIGINT      NOT NULL DEFAULT 0,
    priority        TEXT        NOT NULL DEFAULT 'normal',
    received_at     TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at    TIMESTAMPTZ,
    -- A primary key of a partitioned table must contain the partition key. (received_at, id) also serves
    -- the "recent" listing (ORDER BY received_at DESC, id DESC, keyset on the same pair) and the Stats
    -- windows, so it is not an extra index.
    PRIMARY KEY (received_at, id)
) PARTITION BY RANGE (received_at);

CREATE TABLE analytics_logs_default PARTITION OF analytics_logs DEFAULT;

-- INDEXES. Each index costs every insert an extra b-tree insertion, so there are only four besides the
-- primary key, each chosen from EXPLAIN ANALYZE of the filter queries on 5M rows (see pgstore's benchmarks):
--
-- The default listing (no filter, newest timestamp first), time-range filters, and event_type filters
-- (5 values, so ~20% selective: walking this index and filtering by type stops after ~5*LIMIT rows, which
-- beats a separate (event_type, timestamp) index that would cost every insert).
CREATE INDEX analytics_logs_timestamp ON analytics_logs (timestamp, id);
-- user_id and session_id filters: equality, then ordered by timestamp with the id tie-break, so the page
-- is read straight from the index in either direction. Partial: events without a user or session (the
-- app sends some before sign-in) cost no index write.
CREATE INDEX analytics_logs_user ON analytics_logs (user_id, timestamp, id) WHERE user_id IS NOT NULL;
CREATE INDEX analytics_logs_session ON analytics_logs (session_id, timestamp, id) WHERE session_id IS NOT NULL;
-- event_name filters (alone or with a time range); names are selective (dozens of values).
CREATE INDEX analytics_logs_event_name ON analytics_logs (event_name, timestamp, id);
-- provider_name = properties->>'provider_name'. Partial: only observability events carry a provider,
-- so the other events cost no index write. The planner proves "expr IS NOT NULL" from "expr = $1".
CREATE INDEX analytics_logs_provider ON analytics_logs ((properties ->> 'provider_name'), timestamp, id)
    WHERE (properties ->> 'provider_name') IS NOT NULL;
-- There is no index on source: sources are few (one per app and environment), so a source predicate
-- selects most rows and is applied as a filter.

-- EVENT-ID DEDUP (the keys became a hash of (source, event_id) in 004_hash_event_ids). A unique index on a partitioned table must contain the partition key, so
-- UNIQUE (source, event_id) cannot be declared on analytics_logs, and (source, event_id, received_at) would
-- not catch a retry, which carries a new received_at. analytics_event_ids is a plain table holding every
-- stored key. pgstore's Append writes it and analytics_logs in ONE statement (data-modifying CTEs):
-- INSERT INTO analytics_event_ids ... ON CONFLICT DO NOTHING RETURNING the new keys, then inserts into
-- analytics_logs only the events whose key came back. A retry of an event stored days ago is recognised
-- however old its partition is. Keys are inserted in (source, event_id) order so concurrent batches take
-- the index locks in the same order and cannot deadlock.
--
-- received_at lets retention delete the keys of dropped partitions (DropPartitionsBefore); the BRIN index
-- makes that range delete cheap while costing inserts almost nothing (keys arrive in received_at order).
CREATE TABLE analytics_event_ids (
    source      TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX analytics_event_ids_received_at ON analytics_event_ids USING brin (received_at);

-- Ids of new events follow the original's, whose rows keep their ids when imported.
DO $seq$
BEGIN
    IF to_regclass(quote_ident(current_schema() || '_original') || '.analytics_logs') IS NOT NULL THEN
        EXECUTE format('SELECT setval(%L::regclass, GREATEST((SELECT max(id) FROM %I.analytics_logs), 1))',
            format('%I.analytics_logs_id_seq', current_schema()), current_schema() || '_original');
    END IF;
END
$seq$;
