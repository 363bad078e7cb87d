-- SEARCH (the search parameter of GET /api/v1/logs/filter): an FTS5 index with the trigram tokenizer over one
-- document per event: event_name, user_id, session_id and the JSON text of properties (the same fields as
-- PostgreSQL's analytics_search_doc, for the same reason: every trigram is an index entry per insert). The trigram tokenizer answers case-insensitive substring queries (a MATCH of
-- the phrase "abc" finds every document containing abc, in any case, for terms of 3 characters or more),
-- the same semantics as pg_trgm on PostgreSQL. Contentless (content=''), so the text is not stored twice;
-- contentless_delete lets erasure delete by rowid. The document is cut at 2048 characters, so that an event
-- with 32 KiB of properties costs an insert no more index entries than an ordinary one. Rowid = analytics_logs.id.
CREATE VIRTUAL TABLE analytics_logs_fts USING fts5(doc, content='', contentless_delete=1, tokenize='trigram');

CREATE TRIGGER analytics_logs_fts_insert AFTER INSERT ON analytics_logs BEGIN
    INSERT INTO analytics_logs_fts (rowid, doc) VALUES (NEW.id, substr(concat_ws(' ', NEW.event_name, NEW.user_id,
        NEW.session_id, NEW.properties), 1, 2048));
END;
CREATE TRIGGER analytics_logs_fts_delete AFTER DELETE ON analytics_logs BEGIN
    DELETE FROM analytics_logs_fts WHERE rowid = OLD.id;
END;

INSERT INTO analytics_logs_fts (rowid, doc)
SELECT id, substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048)
FROM analytics_logs;
