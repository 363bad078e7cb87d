ALTER TABLE api_keys DROP COLUMN events_burst;
ALTER TABLE api_keys DROP COLUMN events_per_minute;
ALTER TABLE api_keys DROP COLUMN request_burst;
ALTER TABLE api_keys DROP COLUMN requests_per_minute;
