-- erased_event_ids keeps the (source, event_id) keys of events erased by DeleteUserEvents, and nothing else of
-- them, so that an app re-sending an erased event (apps retry until they see 201) gets "duplicate" and the
-- event stays erased. Event ids are random identifiers chosen by the app.
CREATE TABLE erased_event_ids (
    source   TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (source, event_id)
) STRICT, WITHOUT ROWID;
