ALTER TABLE api_keys
    DROP COLUMN IF EXISTS events_burst,
    DROP COLUMN IF EXISTS events_per_minute,
    DROP COLUMN IF EXISTS request_burst,
    DROP COLUMN IF EXISTS requests_per_minute;
