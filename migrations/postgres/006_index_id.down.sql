DROP INDEX IF EXISTS analytics_logs_id;
