-- Issue 11: the search index is filled after the commit. Append's transaction no longer adds the search
-- documents of plain ASCII events to the FTS5 index of 007 (the trigram index cost about a quarter of the
-- writer's time: every trigram an index entry, merged again and again); a background indexer adds them in
-- bigger transactions of its own and records, in the same transaction, the id up to which every event is
-- indexed. A crash loses no indexing: the indexer starts again from the recorded id. Events whose search
-- document has a character outside ASCII (or a NUL) are still indexed by Append itself. Search stays exact
-- and immediate: it reads the FTS5 index and tests the few events above the recorded id row by row (LIKE on
-- their search document, which gives the FTS5 answer for ASCII documents; logingest/store/sqlite
-- searchindex.go).
--
-- upto: every event with id <= upto is in the FTS5 index. One row. Every event stored so far was indexed by
-- Append (migration 008), so it starts at the largest id.
CREATE TABLE analytics_search_indexed (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    upto INTEGER NOT NULL
) STRICT;
INSERT INTO analytics_search_indexed (one, upto) SELECT 1, coalesce(max(id), 0) FROM analytics_logs;
