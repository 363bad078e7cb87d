-- The trigger of migration 007 again, for every insert. pgstore of version 9 sets logingest.rollups and
-- maintains the rollups in its statement; run the binary of the version you go back to, whose Append relies on
-- the trigger.
DROP TRIGGER analytics_logs_rollup_insert ON analytics_logs;
CREATE TRIGGER analytics_logs_rollup_insert AFTER INSERT ON analytics_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_rollup_insert();
