-- ROLLUPS BY APPEND (issue 11: single events). pgstore's small-batch Append (appendSQL) maintains the rollups
-- of migration 007 itself, in the same statement as its insert: the same aggregated upserts as
-- analytics_rollup_insert, over the rows the statement inserted, in the same order (minute, hour, last_seen,
-- each in key order). That saves each Append the plpgsql call, its three SPI statements and their scans of
-- the transition table. Append marks its transaction with set_config('logingest.rollups', 'statement', true)
-- and the trigger skips such transactions; every other insert (pgstore's COPY path, plain SQL, other tools)
-- leaves the setting unset and keeps the trigger, so the rollups stay exact whoever inserts. The setting is
-- transaction-local: it ends with the Append's transaction. A session that sets it itself must maintain the
-- rollups itself, as Append does.
--
-- COST: replacing a trigger touches no rows; the DROP/CREATE holds an ACCESS EXCLUSIVE lock on analytics_logs
-- for the moment of the catalog change, at any table size.
DROP TRIGGER analytics_logs_rollup_insert ON analytics_logs;
CREATE TRIGGER analytics_logs_rollup_insert AFTER INSERT ON analytics_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('logingest.rollups', true) IS DISTINCT FROM 'statement')
    EXECUTE FUNCTION analytics_rollup_insert();
