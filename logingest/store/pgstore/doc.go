// Package pgstore is a logingest.Store backed by PostgreSQL (pgx/v5 and pgxpool).
//
// It also implements logingest.UserEraser and logingest.KeyStore. The schema comes from the top-level
// migrations package (migrations.Postgres); apply it with (*Store).Migrator, `logserver migrate up`, or
// Config.AutoMigrate.
//
// # Quick start
//
//	s, err := pgstore.Open(ctx, "postgres://postgres@127.0.0.1:5432/logs?sslmode=disable",
//		&pgstore.Config{AutoMigrate: true})
//	if err != nil { ... }
//	defer s.Close()
//	statuses, err := s.Append(ctx, events)
//
// # Writes
//
// Each event's key in analytics_event_ids is a 16-byte hash of (source, event_id), computed in Go; repeats
// within a batch are resolved in Go (the first occurrence wins). A batch of fewer than 128 distinct keys is one
// statement (one round trip): the columns travel as arrays, are expanded with unnest, and data-modifying CTEs
// insert the keys with ON CONFLICT DO NOTHING and then the events whose key was new. A larger batch is one
// transaction: a statement that probes the key index and inserts the new keys, then COPY of their events; if a
// concurrent Append stores one of the keys first, that statement fails on the primary key, and the batch is
// stored by the one-statement path instead. Both paths are atomic, and concurrent Appends of the same key are
// serialised by the primary key of analytics_event_ids, so exactly one of them reports AppendInserted.
// BenchmarkAppendVsCopy measures Append against COPY into the same table.
//
// # Partitions and retention
//
// analytics_logs is range-partitioned on received_at (the server's clock), one partition per
// Config.PartitionInterval. MaintainPartitions creates the current and the next Config.PremakePartitions
// partitions; Open calls it, and a long-running server should call it at least once per interval. A DEFAULT
// partition catches any received_at without a partition, so no insert fails for lack of one (one received in
// a range of history that MaintainPartitions is moving out of the DEFAULT partition fails with
// logingest.ErrUnavailable until the step commits).
// DropPartitionsBefore implements retention by dropping whole partitions, and deletes the event ids of the
// dropped events, so duplicates are recognised for exactly as long as the events are kept.
//
// Event ids must be unique per source across all partitions, but PostgreSQL only enforces unique indexes that
// include the partition key; hence the separate, unpartitioned analytics_event_ids table. See
// migrations/postgres/001_create_analytics_logs.up.sql for the full rationale and the choice of indexes, and
// 004_hash_event_ids.up.sql for the hashed keys.
//
// # IDs
//
// analytics_logs.id comes from one sequence (analytics_logs_id_seq) shared by every partition. Append draws the
// ids itself, in batch order (nextval in the statement, or in the key insert of the COPY path, which then copies
// the rows with their ids), and stores each id with its key in analytics_event_ids, so a duplicate reports the
// stored copy's id from the same index probe that found it.
//
// # Moving from the original server
//
// Migration 001 recognises the original server's analytics_logs (no source column) and moves its tables into
// the schema <schema>_original instead of failing; ImportOriginal then copies its events in resumable batches,
// keeping ids and created_at, while Append imports the original's copies of the events it is given first, so
// that retries of original events stay duplicates throughout. See ImportOriginal.
//
// # Totals
//
// The web viewer computes its pages from Page.Total, so Query keeps it exact wherever that is affordable:
//
//  0. A filter on rollup dimensions only (source, event type, event name, app version, priority; no time range,
//     no search, no user, session or provider) is counted exactly from the hour rollups of migration 007, in the
//     page's round trip: a sum over the source's hour rows (about 10,000 a day of realistic traffic) instead of
//     a count over the events. The other filters go through the steps below.
//  1. It counts up to Config.CountEstimateThreshold matches (default 10,000) in the page's round trip.
//  2. Above that, it estimates the matches from a TABLESAMPLE SYSTEM of Config.CountSamplePercent (1 %) of the
//     blocks, which costs about 1 % of a scan and, unlike the planner's estimate, does not depend on
//     statistics: right after a bulk ingest of 500,000 events the planner estimated 1,468 (the issue saw
//     totals of 2,001 and 2,626 for 100,000 and 500,000 events).
//  3. When the sample finds at most Config.CountExactMax (2,000,000) matches, it counts them exactly in a
//     read-only transaction whose statement_timeout is Config.CountTimeBudget (50 ms; it was 1 s, which made a
//     list filtered by provider take over a second at 5 million events); 500,000 matches count in
//     about 150 ms.
//  4. Only when the sample finds more, or the count outlasts the budget, is Page.Total the sample's estimate
//     (at least the threshold plus one) with Page.TotalIsEstimate true.
//
// A time range or a provider (without a search) is sampled before step 1 when the sample settles it (at least
// 100 sampled matches, above the threshold; a range is sampled only when the planner expects it above the
// threshold too): their bounded count reads every match through an index and the heap, up to 90 ms at 5
// million events. The exact count of step 3 is skipped when the pace of the last timed count says it
// cannot end within the budget (the budget would be spent for an estimate). Before any count was timed (after
// start-up) it runs when a scan of the table at the sample's pace would end within the budget; otherwise the
// total is the estimate and a count in the background, within the budget, measures the pace.
//
// A search (Filter.Search) is counted exactly only up to Config.SearchCountThreshold (1,000) matches and is
// never counted above it, since matching reads each candidate's search document. When the planner expects more
// matches than that (it has statistics of the indexed document), a sample of a tenth of
// Config.CountSamplePercent (0.1 %) is taken first, and when it finds at least 100 matches its estimate is the
// total. Otherwise the keys of the matches are read, up to the threshold plus one: when they are all of them,
// they give the exact total and the page is read from them by id, so the trigram index is read once per page
// (it was read twice, for the page and for the bounded count); above the threshold the total is estimated from
// the 0.1 % sample, or the 1 % one when the 0.1 % finds fewer than 100 matches. Measured at 5 million events
// (30 samples each of terms matching 200,000 to 2,700,000 events): the 0.1 % sample errs by 7–10 % (relative
// standard deviation), worst 22 %; the 1 % sample by 2–4 %, worst 9 %.
//
// Measured error of the 1 % sample on 500,000 events in one partition (30 samples per filter): relative
// standard deviation 7–11 % and worst case 22 % for 12,500 to 500,000 matches. The error shrinks with the number
// of blocks sampled (about 1/sqrt(blocks)), so at the 2,000,000 matches where estimates begin it is about half
// that. Filters that match rows clustered in few blocks (one user's events) vary more, but they match far fewer
// rows and are counted exactly.
package pgstore
