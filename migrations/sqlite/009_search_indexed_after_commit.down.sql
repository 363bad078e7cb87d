-- Back to 008, whose Append indexes every event in its own transaction: index the events the background
-- indexer had not reached yet (the ASCII ones above upto; the others are indexed already), then forget upto.
INSERT INTO analytics_logs_fts (rowid, doc)
SELECT id, substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048) FROM analytics_logs
WHERE id > (SELECT upto FROM analytics_search_indexed)
    AND NOT (length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id)
        OR length(session_id) < octet_length(session_id)
        OR length(coalesce(properties, '')) < octet_length(coalesce(properties, '')));
DROP TABLE analytics_search_indexed;
