-- SEARCH (the search parameter of GET /api/v1/logs/filter): a pg_trgm GIN index over one document per event:
-- event_id, event_type, event_name, user_id, session_id, app_version, and the JSON text of properties and
-- device_info (analytics_search_doc). pgstore matches every search term with
-- analytics_search_doc(...) ILIKE '%term%', which the trigram index answers for terms of 3 characters or more:
-- case-insensitive substring search, the same semantics as SQLite's FTS5 trigram index.
--
-- pg_trgm is a contrib extension, trusted since PostgreSQL 13: the database owner can create it without
-- superuser rights. An extension exists once per database, in one schema; when it is already installed
-- (in any schema) it is used from there, otherwise it is created in the current schema.
CREATE FUNCTION analytics_search_doc(event_id text, event_type text, event_name text, user_id text,
    session_id text, app_version text, properties jsonb, device_info jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT event_id || ' ' || event_type || ' ' || event_name || ' ' || coalesce(user_id, '') || ' '
        || coalesce(session_id, '') || ' ' || coalesce(app_version, '') || ' ' || coalesce(properties::text, '')
        || ' ' || coalesce(device_info::text, '')
$$;

DO $$
DECLARE
    s TEXT;
BEGIN
    SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF s IS NULL THEN
        CREATE EXTENSION pg_trgm;
        SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    END IF;
    EXECUTE format('CREATE INDEX analytics_logs_search ON analytics_logs USING gin (analytics_search_doc(event_id, '
        'event_type, event_name, user_id, session_id, app_version, properties, device_info) %I.gin_trgm_ops)', s);
END $$;
