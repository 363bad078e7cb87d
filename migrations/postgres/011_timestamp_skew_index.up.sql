-- SKEWED TIMESTAMPS (issue 11: a time range in the past, newest received first, at 5 million events).
--
-- The default order is received_at DESC, the partition key, but start_time/end_time filter on timestamp, which
-- cannot prune partitions. Walking received_at newest first reads every event received after the range until
-- the page is full, and under the Merge Append of the partitions all of a partition that has no match (an
-- hour 20 h ago read the previous day's 378,761 events). Almost every event is received within seconds of its
-- timestamp, so pgstore splits such a page in two (pgstore/skewsplit.go):
--   * events whose received_at is within one minute of their timestamp lie in received_at [start - 1 min,
--     end + 1 min): a primary-key range that prunes to the range's partitions and is walked in order;
--   * the others (offline devices, imports, wrong clocks; a few percent) come from this partial index, whose
--     leaf entries carry what the common filters and the order need, so their keys are read index-only and
--     only the page's rows come from the heap.
-- The two parts are disjoint and together hold every event. The predicate must stay exactly skewedSQL in
-- skewsplit.go: the planner uses the index only when the query repeats it. It compares UTC wall times because
-- an index predicate must be immutable: timestamptz + interval is not (days and months depend on the time
-- zone), and timestamptz - timestamptz fails on the infinities, which would fail the insert. UTC wall time + 1
-- minute fails only within a minute of PostgreSQL's largest timestamp (294276 AD).
CREATE INDEX analytics_logs_timestamp_skewed ON analytics_logs (timestamp, id)
    INCLUDE (source, received_at, event_type, event_name)
    WHERE (received_at AT TIME ZONE 'UTC') > (timestamp AT TIME ZONE 'UTC') + interval '1 minute'
       OR (timestamp AT TIME ZONE 'UTC') > (received_at AT TIME ZONE 'UTC') + interval '1 minute';

-- COST. The build reads every partition and takes a SHARE lock on analytics_logs for the migration: reads go
-- on, inserts wait until it is built (see the README, "At 5 million events on PostgreSQL", for the time at 5
-- million events). On a large table, build it beforehand without blocking writes, partition by partition,
-- under the final name; this migration then only has to find it, so run it with CREATE INDEX IF NOT EXISTS:
--   CREATE INDEX analytics_logs_timestamp_skewed ON ONLY analytics_logs (timestamp, id)
--       INCLUDE (source, received_at, event_type, event_name)
--       WHERE (received_at AT TIME ZONE 'UTC') > (timestamp AT TIME ZONE 'UTC') + interval '1 minute'
--          OR (timestamp AT TIME ZONE 'UTC') > (received_at AT TIME ZONE 'UTC') + interval '1 minute';
--   CREATE INDEX CONCURRENTLY <partition>_timestamp_skewed ON <partition> (timestamp, id)
--       INCLUDE (source, received_at, event_type, event_name)
--       WHERE <the same predicate>;                                                       -- each partition
--   ALTER INDEX analytics_logs_timestamp_skewed ATTACH PARTITION <partition>_timestamp_skewed; -- each partition
