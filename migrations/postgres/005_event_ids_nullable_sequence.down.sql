ALTER TABLE analytics_event_ids DROP COLUMN id;
UPDATE analytics_logs SET sequence_number = 0 WHERE sequence_number IS NULL;
ALTER TABLE analytics_logs
    DROP COLUMN original_timestamp,
    ALTER COLUMN sequence_number SET DEFAULT 0,
    ALTER COLUMN sequence_number SET NOT NULL;
