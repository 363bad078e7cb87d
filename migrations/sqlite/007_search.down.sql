DROP TRIGGER analytics_logs_fts_delete;
DROP TRIGGER analytics_logs_fts_insert;
DROP TABLE analytics_logs_fts;
