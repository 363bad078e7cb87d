-- Back to 008, whose Append indexes every event in its own transaction: index the events the background
-- indexer had not reached yet (in the search index the ASCII ones above upto, the others are indexed
-- already; in analytics_last_seen all of them), then forget upto.
INSERT INTO analytics_logs_fts (rowid, doc)
SELECT id, substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048) FROM analytics_logs
WHERE id > (SELECT upto FROM analytics_indexed)
    AND NOT (length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id)
        OR length(session_id) < octet_length(session_id)
        OR length(coalesce(properties, '')) < octet_length(coalesce(properties, '')));
INSERT INTO analytics_last_seen (source, kind, id, seen)
SELECT source, 'u', user_id, max(received_at) FROM analytics_logs
WHERE id > (SELECT upto FROM analytics_indexed) AND user_id <> '' GROUP BY source, user_id
ON CONFLICT DO UPDATE SET seen = max(seen, excluded.seen);
INSERT INTO analytics_last_seen (source, kind, id, seen)
SELECT source, 's', session_id, max(received_at) FROM analytics_logs
WHERE id > (SELECT upto FROM analytics_indexed) AND session_id <> '' GROUP BY source, session_id
ON CONFLICT DO UPDATE SET seen = max(seen, excluded.seen);
DROP TABLE analytics_indexed;
