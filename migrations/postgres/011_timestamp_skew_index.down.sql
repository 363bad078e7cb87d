DROP INDEX IF EXISTS analytics_logs_timestamp_skewed;
