DROP TABLE erased_event_ids;
