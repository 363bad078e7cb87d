DROP TRIGGER analytics_logs_rollup_delete ON analytics_logs;
DROP TRIGGER analytics_logs_rollup_insert ON analytics_logs;
DROP FUNCTION analytics_rollup_delete();
DROP FUNCTION analytics_rollup_insert();
DROP TABLE analytics_last_seen;
DROP TABLE analytics_rollup_hour;
DROP TABLE analytics_rollup_minute;
DROP FUNCTION analytics_platform(jsonb);
DROP FUNCTION analytics_duration_ms(jsonb);
