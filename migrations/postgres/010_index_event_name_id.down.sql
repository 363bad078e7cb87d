DROP INDEX IF EXISTS analytics_logs_event_name_id;
