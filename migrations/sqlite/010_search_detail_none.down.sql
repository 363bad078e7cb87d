-- Back to 009: one FTS5 index with positions (007's) holding the documents of the events up to
-- analytics_indexed.upto and those with a character outside ASCII (or a NUL) of every event.
DROP TRIGGER analytics_logs_fts_delete;
DROP TABLE analytics_logs_fts_unicode;
DROP TABLE analytics_logs_fts;
CREATE VIRTUAL TABLE analytics_logs_fts USING fts5(doc, content='', contentless_delete=1, tokenize='trigram');
CREATE TRIGGER analytics_logs_fts_delete AFTER DELETE ON analytics_logs BEGIN
    DELETE FROM analytics_logs_fts WHERE rowid = OLD.id;
END;

INSERT INTO analytics_logs_fts (rowid, doc)
SELECT id, substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048) FROM analytics_logs
WHERE id <= (SELECT upto FROM analytics_indexed)
    OR length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id)
    OR length(session_id) < octet_length(session_id)
    OR length(coalesce(properties, '')) < octet_length(coalesce(properties, ''));
