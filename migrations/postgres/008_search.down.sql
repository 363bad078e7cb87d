DROP INDEX analytics_logs_search;
DROP FUNCTION analytics_search_doc(text, text, text, jsonb);
-- pg_trgm stays: other objects may use it.
