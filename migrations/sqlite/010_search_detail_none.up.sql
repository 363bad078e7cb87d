-- Issue 11: a search index that costs the writer less. The FTS5 index of 007 kept, for every trigram of every
-- document, the list of its positions (detail=full), which FTS5 wrote out and merged again and again: flushing
-- and merging it took over a third of the server's CPU under ingest. The index of plain ASCII documents (the
-- events of an app, and every one the background indexer of 009 adds) now keeps only which documents hold
-- each trigram (detail=none): a search reads the documents that hold every trigram of every term, a superset
-- of the matches, and keeps those whose search document contains each term by LIKE, which for an ASCII
-- document is exactly FTS5's case-insensitive substring test (logingest/store/sqlite searchindex.go). A
-- document with a character outside ASCII (or a NUL), which LIKE cannot test the way FTS5 folds case, goes
-- into an index of its own that keeps the positions, so its matches stay exact phrase matches; Append adds
-- those in its transaction, as before.
--
-- analytics_logs_fts: the ASCII documents of the events up to analytics_indexed.upto (detail=none).
-- analytics_logs_fts_unicode: the documents with a character outside ASCII or a NUL, of every event.
-- Both contentless, with contentless_delete for erasure; the document is 007's.
DROP TRIGGER analytics_logs_fts_delete;
DROP TABLE analytics_logs_fts;
CREATE VIRTUAL TABLE analytics_logs_fts USING fts5(doc, content='', contentless_delete=1, tokenize='trigram',
    detail=none);
CREATE VIRTUAL TABLE analytics_logs_fts_unicode USING fts5(doc, content='', contentless_delete=1,
    tokenize='trigram');
CREATE TRIGGER analytics_logs_fts_delete AFTER DELETE ON analytics_logs BEGIN
    DELETE FROM analytics_logs_fts WHERE rowid = OLD.id;
    DELETE FROM analytics_logs_fts_unicode WHERE rowid = OLD.id;
END;

INSERT INTO analytics_logs_fts (rowid, doc)
SELECT id, substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048) FROM analytics_logs
WHERE id <= (SELECT upto FROM analytics_indexed)
    AND NOT (length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id)
        OR length(session_id) < octet_length(session_id)
        OR length(coalesce(properties, '')) < octet_length(coalesce(properties, '')));
INSERT INTO analytics_logs_fts_unicode (rowid, doc)
SELECT id, substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048) FROM analytics_logs
WHERE length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id)
    OR length(session_id) < octet_length(session_id)
    OR length(coalesce(properties, '')) < octet_length(coalesce(properties, ''));
