DROP INDEX IF EXISTS analytics_logs_event_name_id;
CREATE INDEX analytics_logs_user_plain ON analytics_logs (user_id, timestamp, id) WHERE user_id IS NOT NULL;
DROP INDEX analytics_logs_user;
ALTER INDEX analytics_logs_user_plain RENAME TO analytics_logs_user;
CREATE INDEX analytics_logs_session_plain ON analytics_logs (session_id, timestamp, id) WHERE session_id IS NOT NULL;
DROP INDEX analytics_logs_session;
ALTER INDEX analytics_logs_session_plain RENAME TO analytics_logs_session;
