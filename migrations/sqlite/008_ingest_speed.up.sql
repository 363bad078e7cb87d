-- Issue 11: the embedded default writes faster under realistic traffic (timestamps spread over seconds to days,
-- thousands of users), with the same results.
--
-- 1. Append maintains the rollups, analytics_last_seen and the search index itself, once per transaction:
--    it sums the batch's events per rollup key in Go and writes one upsert per distinct key, and inserts the
--    batch's search documents with one INSERT ... SELECT over the batch's rowid range. The per-row insert
--    triggers of 006 and 007 (four upserts and an FTS insert per event, with a dozen JSON function calls) go.
--    Erasure keeps its delete triggers: it is rare, and they subtract exactly what an insert added.
--    A row written into analytics_logs with plain SQL is therefore no longer counted in the rollups or indexed
--    for search; write events through the Store.
DROP TRIGGER analytics_logs_rollup_insert;
DROP TRIGGER analytics_logs_fts_insert;

-- 2. Fewer indexes on the hot table; each remaining one serves a query (logingest/store/sqlite/plan_test.go):
--    UNIQUE (source, event_id)                  idempotency
--    (source, received_at)                      default listing (created_at DESC), Stats and dashboard windows
--    (source, timestamp)                        sort by timestamp, start_time/end_time
--    (user_id, source, received_at)             user filter (default order), dashboard of a user, erasure
--    (session_id, source, received_at)          session filter (default order), dashboard of a session
--    (source, event_type, received_at)          event_type filter (default order) and its count
--    (source, event_name, received_at)          event_name filter (default order) and its count
--    provider_name: a partial index holding only the events that have one.
--    The global (timestamp) and (received_at) indexes go: a listing without a source reads the per-source
--    indexes, one per source, merged in order (Store.Query).
DROP INDEX analytics_logs_timestamp;
DROP INDEX analytics_logs_received_at;
DROP INDEX analytics_logs_user_source_timestamp;
DROP INDEX analytics_logs_session_source_timestamp;
DROP INDEX analytics_logs_source_type_timestamp;
DROP INDEX analytics_logs_source_name_timestamp;
DROP INDEX analytics_logs_provider_name;
CREATE INDEX analytics_logs_user_source_received_at ON analytics_logs (user_id, source, received_at);
CREATE INDEX analytics_logs_session_source_received_at ON analytics_logs (session_id, source, received_at);
CREATE INDEX analytics_logs_source_type_received_at ON analytics_logs (source, event_type, received_at);
CREATE INDEX analytics_logs_source_name_received_at ON analytics_logs (source, event_name, received_at);
CREATE INDEX analytics_logs_provider_name ON analytics_logs (json_extract(properties, '$.provider_name'), source, timestamp)
    WHERE json_extract(properties, '$.provider_name') IS NOT NULL;

-- 3. Planner statistics that describe an event table of any size the way it is shaped (SQLite's documented
--    manual control of query plans, https://sqlite.org/optoverview.html#manctrl): a user or a session holds
--    few events, an event type a fifth of them, an event name a twentieth, and a deployment has few sources.
--    Without statistics SQLite takes the first index whose columns match, and served "one user's errors" by
--    walking every error of the source. ANALYZE, if run, replaces them with measured figures.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl = 'analytics_logs';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('analytics_logs', 'sqlite_autoindex_analytics_logs_1', '1000000 500000 1'),
    ('analytics_logs', 'analytics_logs_source_received_at', '1000000 500000 2'),
    ('analytics_logs', 'analytics_logs_source_timestamp', '1000000 500000 2'),
    ('analytics_logs', 'analytics_logs_user_source_received_at', '1000000 200 200 2'),
    ('analytics_logs', 'analytics_logs_session_source_received_at', '1000000 20 20 2'),
    ('analytics_logs', 'analytics_logs_source_type_received_at', '1000000 500000 100000 2'),
    ('analytics_logs', 'analytics_logs_source_name_received_at', '1000000 500000 25000 2'),
    ('analytics_logs', 'analytics_logs_provider_name', '50000 5000 5000 2');
