DROP TRIGGER analytics_logs_rollup_delete;
DROP TRIGGER analytics_logs_rollup_insert;
DROP TABLE analytics_last_seen;
DROP TABLE analytics_rollup_hour;
DROP TABLE analytics_rollup_minute;
