-- The hashes cannot be turned back into (source, event_id), so the keys are rebuilt from the stored events.
-- Keys of erased events (DeleteUserEvents keeps them) are lost: a retry of such an event would be stored
-- again after this down migration.
CREATE TABLE analytics_event_ids_text (
    source      TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, event_id)
);

INSERT INTO analytics_event_ids_text (source, event_id, received_at)
SELECT source, event_id, min(received_at) FROM analytics_logs GROUP BY source, event_id;

DROP TABLE analytics_event_ids;
ALTER TABLE analytics_event_ids_text RENAME TO analytics_event_ids;
ALTER TABLE analytics_event_ids RENAME CONSTRAINT analytics_event_ids_text_pkey TO analytics_event_ids_pkey;
CREATE INDEX analytics_event_ids_received_at ON analytics_event_ids USING brin (received_at);
