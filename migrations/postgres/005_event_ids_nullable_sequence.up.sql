-- Issue 10: the original server's log object.
--   * sequence_number is NULL when the client sent none, stored apart from 0. Rows written before this
--     migration keep 0: absent and 0 could not be told apart then.
--   * original_timestamp keeps the device's timestamp when the client sent sent_at and the server corrected
--     timestamp for the device's clock skew (NULL otherwise).
--   * processed_at (present since 001) is now written: the time of the transaction that stored the row. Rows
--     written before this migration keep NULL (unknown); backfilling it would rewrite every partition.
-- All three ALTERs on analytics_logs change the catalog only (no table rewrite) and cascade to the partitions.
ALTER TABLE analytics_logs
    ALTER COLUMN sequence_number DROP NOT NULL,
    ALTER COLUMN sequence_number DROP DEFAULT,
    ADD COLUMN original_timestamp TIMESTAMPTZ;

-- ID OF A DUPLICATE. Append reports, for a duplicate, the id of the stored copy, so that a client's retry sees
-- the id its first delivery got. analytics_event_ids answers "is this key stored?" with one index probe; it
-- now answers "under which id?" from the same row. Append takes ids from analytics_logs' sequence itself
-- (nextval, in batch order) and writes each one to both tables in the same statement or transaction.
-- Keys of events stored before this migration get their id here; keys of erased events keep NULL (Append then
-- reports id 0 for a retry of an erased event).
ALTER TABLE analytics_event_ids ADD COLUMN id BIGINT;

UPDATE analytics_event_ids k SET id = l.id
FROM analytics_logs l
WHERE k.key = encode(substring(sha256(convert_to(l.source, 'UTF8') || '\x00'::bytea || convert_to(l.event_id, 'UTF8'))
    FROM 1 FOR 16), 'hex')::uuid;
