-- Dropping the parent drops every partition, including those created by pgstore.MaintainPartitions.
DROP TABLE IF EXISTS analytics_event_ids;
DROP TABLE IF EXISTS analytics_logs;

-- The events imported from the original server's tables (kept aside in <schema>_original) went with
-- analytics_logs: forget the import's progress, so that migrating up again imports them again.
DO $forget$
BEGIN
    IF to_regclass(quote_ident(current_schema() || '_original') || '.logingest_import') IS NOT NULL THEN
        EXECUTE format('DROP TABLE %I.logingest_import', current_schema() || '_original');
    END IF;
END
$forget$;
