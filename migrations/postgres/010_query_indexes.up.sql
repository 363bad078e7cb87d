-- QUERY INDEXES (issue 11: list queries at 5 million events).
--
-- sort_by=event_name (the original's list has it) pages in (event_name, id) order: id breaks ties, and the
-- cursor is the pair. analytics_logs_event_name (event_name, timestamp, id) gives event_name order but not id
-- within a name, so every such page sorted every matching event (6.7 s at 5 million events); with
-- analytics_logs_event_name_id each partition's index is walked in order and the walks are merged, stopping
-- after the page. Ids only grow, so an insert lands at the right edge of its name's range.
CREATE INDEX analytics_logs_event_name_id ON analytics_logs (event_name, id);

-- One user's (or session's) events are spread over the whole table, one heap page each: a page of a user with
-- 1,000 events read 1,000 heap pages to check source and sort by received_at, and its total read them again.
-- The user and session indexes now carry source and received_at (INCLUDE: stored in the leaf entries, not
-- part of the key, so the order and the inserts' positions are unchanged), so pgstore chooses the page's keys
-- and counts the total from the index alone (an index-only scan, on pages the visibility map marks
-- all-visible), then reads only the page's rows from the heap.
CREATE INDEX analytics_logs_user_covering ON analytics_logs (user_id, timestamp, id) INCLUDE (source, received_at)
    WHERE user_id IS NOT NULL;
DROP INDEX analytics_logs_user;
ALTER INDEX analytics_logs_user_covering RENAME TO analytics_logs_user;
CREATE INDEX analytics_logs_session_covering ON analytics_logs (session_id, timestamp, id) INCLUDE (source, received_at)
    WHERE session_id IS NOT NULL;
DROP INDEX analytics_logs_session;
ALTER INDEX analytics_logs_session_covering RENAME TO analytics_logs_session;

-- COST. Building the three indexes takes a SHARE lock on analytics_logs for the migration: reads go on, inserts
-- wait until they are built (the migrator runs each migration in one transaction, where CREATE INDEX
-- CONCURRENTLY cannot run); see the README ("Measuring") for the time at 5 million events. On a large table,
-- build them beforehand without blocking writes, partition by partition, under the final names; this migration
-- then only has to find them, so run it with the statements above edited to IF NOT EXISTS and without the
-- DROP/RENAME of an index already replaced:
--   CREATE INDEX analytics_logs_event_name_id ON ONLY analytics_logs (event_name, id);
--   CREATE INDEX CONCURRENTLY <partition>_event_name_id ON <partition> (event_name, id);  -- each partition
--   ALTER INDEX analytics_logs_event_name_id ATTACH PARTITION <partition>_event_name_id;   -- each partition
