-- Per-key overrides of the server's rate limits. 0 means "use the server default", a negative rate "unlimited".
ALTER TABLE api_keys
    ADD COLUMN requests_per_minute DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN request_burst       INTEGER          NOT NULL DEFAULT 0,
    ADD COLUMN events_per_minute   DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN events_burst        INTEGER          NOT NULL DEFAULT 0;
