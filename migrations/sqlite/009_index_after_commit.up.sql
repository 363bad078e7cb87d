-- Issue 11: the search index and analytics_last_seen are filled after the commit. Append's transaction no
-- longer adds the search documents of plain ASCII events to the FTS5 index of 007 (every trigram an index
-- entry, merged again and again), nor moves analytics_last_seen forward (an upsert per distinct user and
-- session of every commit, nearly one per event, each dirtying pages at random places); a background indexer
-- does both in bigger transactions of its own (one upsert per distinct id per transaction) and records, in
-- the same transaction, the id up to which every event is indexed. A crash loses nothing: the indexer starts
-- again from the recorded id. Events whose search document has a character outside ASCII (or a NUL) are
-- still indexed by Append itself. Readers stay exact and immediate: search reads the FTS5 index and tests
-- the few events above the recorded id row by row (LIKE on their search document, which gives the FTS5 answer
-- for ASCII documents; logingest/store/sqlite searchindex.go), and the active user and session counts merge
-- those events' ids with analytics_last_seen (internal/rollupsql, Dialect.LastSeenTail).
--
-- upto: every event with id <= upto is in the FTS5 index and in analytics_last_seen. One row. Every event
-- stored so far was indexed by Append (migration 008), so it starts at the largest id.
CREATE TABLE analytics_indexed (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    upto INTEGER NOT NULL
) STRICT;
INSERT INTO analytics_indexed (one, upto) SELECT 1, coalesce(max(id), 0) FROM analytics_logs;
