package pgstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/change66/logserver/logingest"
)

// appendSQL stores a batch in one statement. The batch arrives as one array per column, with ord each row's
// 1-based position; every key occurs at most once (Append resolves repeats within the batch). input draws an id
// from analytics_logs' sequence for every row, in batch order (a duplicate's id is left unused: ids may have
// gaps, never disorder), and parses the JSON columns once. new_ids inserts the keys with their ids (in key
// order, so concurrent batches take index locks in the same order and cannot deadlock) with ON CONFLICT DO
// NOTHING, which waits for a concurrent writer of the same key and skips it if that one commits, and returns the
// keys that were new; ins stores exactly their events, in batch order, under the same ids. The result is the
// positions and ids of the inserted events.
//
// The statement also maintains the rollups of migration 007 for the rows it inserts (rollup_minute,
// rollup_hour, last_seen: the same aggregated upserts as analytics_rollup_insert, over new_rows instead of the
// trigger's transition table), so Append runs it after rollupsByAppendSQL, which turns the trigger off for the
// transaction (migration 009). Each rollup CTE reads a count of the previous one's RETURNING before it writes,
// so the three run to completion in the trigger's order (minute, hour, last_seen), each in key order: every
// writer takes rollup row locks in one global order and concurrent Appends, COPY and plain SQL inserts cannot
// deadlock on them.
const appendSQL = `
WITH input AS MATERIALIZED (
	SELECT t.source, t.event_id, t.ts, t.event_type, t.event_name, t.properties::jsonb AS properties,
		NULLIF(t.user_id, '') AS user_id, NULLIF(t.session_id, '') AS session_id,
		NULLIF(t.app_version, '') AS app_version, t.device_info::jsonb AS device_info, t.sequence_number,
		t.priority, t.received_at, t.key, t.original_timestamp, t.ord,
		nextval('analytics_logs_id_seq'::regclass) AS id
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::timestamptz[], $14::uuid[],
		$15::timestamptz[])
		WITH ORDINALITY AS t(source, event_id, ts, event_type, event_name, properties,
			user_id, session_id, app_version, device_info, sequence_number, priority, received_at, key,
			original_timestamp, ord)
), new_ids AS (
	INSERT INTO analytics_event_ids AS e (key, received_at, id)
	SELECT key, received_at, id FROM input ORDER BY key
	ON CONFLICT DO NOTHING
	RETURNING e.key
), new_rows AS (
	SELECT i.* FROM input i JOIN new_ids n ON n.key = i.key
), ins AS (
	INSERT INTO analytics_logs (id, source, event_id, timestamp, event_type, event_name, properties, user_id,
		session_id, app_version, device_info, sequence_number, priority, received_at, processed_at,
		original_timestamp)
	SELECT id, source, event_id, ts, event_type, event_name, properties, user_id, session_id, app_version,
		device_info, sequence_number, priority, received_at, now(), original_timestamp
	FROM new_rows ORDER BY ord
), rollup_minute AS (
	INSERT INTO analytics_rollup_minute AS r
	SELECT source, date_trunc('minute', received_at), event_type, priority, event_name,
		coalesce(app_version, ''), analytics_platform(device_info), count(*),
		count(analytics_duration_ms(properties)), coalesce(sum(analytics_duration_ms(properties)), 0)
	FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
	ON CONFLICT (source, bucket, event_type, priority, event_name, app_version, platform) DO UPDATE
	SET n = r.n + excluded.n, dur_count = r.dur_count + excluded.dur_count, dur_sum = r.dur_sum + excluded.dur_sum
	RETURNING 1
), rollup_hour AS (
	INSERT INTO analytics_rollup_hour AS r
	SELECT source, date_trunc('hour', received_at), event_type, priority, event_name,
		coalesce(app_version, ''), analytics_platform(device_info), count(*),
		count(analytics_duration_ms(properties)), coalesce(sum(analytics_duration_ms(properties)), 0)
	FROM new_rows WHERE (SELECT count(*) FROM rollup_minute) >= 0
	GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
	ON CONFLICT (source, bucket, event_type, priority, event_name, app_version, platform) DO UPDATE
	SET n = r.n + excluded.n, dur_count = r.dur_count + excluded.dur_count, dur_sum = r.dur_sum + excluded.dur_sum
	RETURNING 1
), last_seen AS (
	INSERT INTO analytics_last_seen AS r
	SELECT source, kind, id, max(received_at) FROM (
		SELECT source, 'u'::"char" AS kind, user_id AS id, received_at FROM new_rows WHERE user_id IS NOT NULL
		UNION ALL
		SELECT source, 's'::"char", session_id, received_at FROM new_rows WHERE session_id IS NOT NULL
	) t WHERE (SELECT count(*) FROM rollup_hour) >= 0
	GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
	ON CONFLICT (source, kind, id) DO UPDATE SET seen = greatest(r.seen, excluded.seen)
)
SELECT ord, id FROM new_rows`

// rollupsByAppendSQL runs before appendSQL in the same transaction: it tells the rollup trigger of migration
// 009 that the statements of this transaction maintain the rollups themselves.
const rollupsByAppendSQL = `SELECT set_config('logingest.rollups', 'statement', true)`

// keysSQL inserts the keys of a large batch that are not stored yet, each with an id drawn from analytics_logs'
// sequence in batch order ($1 is in batch order; OFFSET 0 keeps nextval evaluated before the sort by key), and
// returns them with their ids and the transaction's time (processed_at). A probe of the primary key and a
// plain INSERT cost less than ON CONFLICT, which writes and then confirms a speculative tuple for every row;
// OFFSET 0 in the probe keeps the NOT EXISTS a per-row probe (the planner could otherwise hash the whole key
// table). The probe sees the statement's snapshot, so a key that a concurrent Append is inserting, or has just
// committed, makes the INSERT fail with unique_violation; Append then rolls back and runs appendSQL.
const keysSQL = `
INSERT INTO analytics_event_ids (key, received_at, id)
SELECT k, r, id FROM (
	SELECT k, r, nextval('analytics_logs_id_seq'::regclass) AS id
	FROM unnest($1::uuid[], $2::timestamptz[]) AS t(k, r)
	WHERE NOT EXISTS (SELECT 1 FROM analytics_event_ids e WHERE e.key = t.k OFFSET 0)
	OFFSET 0
) n
ORDER BY k
RETURNING key, id, now()`

// storedIDsSQL reads the ids of stored keys, for the duplicates of a batch. It runs as its own statement after
// the insert, so it sees a key that a concurrent Append committed while the insert waited for it.
const storedIDsSQL = `SELECT key, COALESCE(id, 0) FROM analytics_event_ids WHERE key = ANY($1::uuid[])`

// copyColumns are the columns of analytics_logs that the COPY path writes, in the order of copyRow.
var copyColumns = []string{
	"id", "source", "event_id", "timestamp", "event_type", "event_name", "properties", "user_id",
	"session_id", "app_version", "device_info", "sequence_number", "priority", "received_at", "processed_at",
	"original_timestamp",
}

// eventKey is the key of an event in analytics_event_ids: the first 16 bytes of
// SHA-256(source || 0x00 || event_id). Migration 004 computes the same value in SQL; the design (and why a
// collision is not a practical concern) is in migrations/postgres/004_hash_event_ids.up.sql.
func eventKey(source, eventID string) [16]byte {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	var sum [sha256.Size]byte
	var key [16]byte
	copy(key[:], h.Sum(sum[:0]))
	return key
}

// Append implements logingest.Store. It takes one of two paths, chosen by the number of distinct keys in the
// batch (BenchmarkAppendVsCopy measures both against COPY):
//
//   - Below Config.CopyMinBatch: appendSQL, one statement that also maintains the rollups (after
//     rollupsByAppendSQL, pipelined with it: one round trip).
//   - From Config.CopyMinBatch: one transaction of keysSQL, then COPY of the events whose key was new. COPY
//     writes rows in bulk (one WAL record per page, not per row) and the events travel once, but the
//     transaction costs three more round trips, which only pay for themselves in large batches. The rollup
//     trigger maintains the rollups.
//
// Both are atomic, and concurrent Appends of the same key are serialised by the primary key of
// analytics_event_ids, so exactly one of them reports AppendInserted. IDs come from analytics_logs' sequence,
// drawn in batch order, and are kept with the key in analytics_event_ids, so a batch holding duplicates of
// stored events costs one more statement (storedIDsSQL) to report their ids. Timestamps are stored with
// microsecond precision. Empty UserID, SessionID and AppVersion are stored as NULL and read back as "". It
// returns an error matching logingest.ErrClosed after Close.
func (s *Store) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	// A key repeated within the batch is a duplicate of its first occurrence; only first occurrences are sent.
	// pos[i] is the index in events of the i-th key sent; index maps a key to its position in keys and pos.
	keys := make([][16]byte, 0, len(events))
	pos := make([]int, 0, len(events))
	index := make(map[[16]byte]int, len(events))
	for i := range events {
		k := eventKey(events[i].Source, events[i].EventID)
		if _, dup := index[k]; dup {
			continue
		}
		index[k] = len(keys)
		keys = append(keys, k)
		pos = append(pos, i)
	}

	if s.origSchema.Load() != nil {
		// While the original's events are imported, import the original's copies of these first, so that
		// a retry of an event the original stored is a duplicate with the original's id.
		var ids []string
		for _, p := range pos {
			if events[p].Source == s.cfg.OriginalSource {
				ids = append(ids, events[p].EventID)
			}
		}
		if err := s.importOriginalCopies(ctx, ids); err != nil {
			return nil, fmt.Errorf("append: import the original's copies: %w", withCtx(ctx, mapErr(err)))
		}
	}
	var inserted []insertedKey
	var err error
	useCopy := s.cfg.CopyMinBatch > 0 && len(pos) >= s.cfg.CopyMinBatch
	if useCopy {
		inserted, err = s.appendCopy(ctx, events, pos, keys, index)
	}
	if !useCopy || isKeyConflict(err) {
		inserted, err = s.appendStatement(ctx, events, pos, keys)
	}
	if err != nil {
		return nil, fmt.Errorf("append: %w", withCtx(ctx, mapErr(err)))
	}
	// ids[i] is the id of keys[i]: new keys' from the insert, the others' from the key table.
	ids := make([]int64, len(keys))
	for _, in := range inserted {
		ids[in.i] = in.id
	}
	if len(inserted) < len(keys) {
		if err := s.storedIDs(ctx, keys, ids, index); err != nil {
			return nil, fmt.Errorf("append: ids of duplicates: %w", withCtx(ctx, mapErr(err)))
		}
	}
	out := make([]logingest.AppendResult, len(events))
	for i := range out {
		k := index[eventKey(events[i].Source, events[i].EventID)]
		out[i] = logingest.AppendResult{Status: logingest.AppendDuplicate, ID: ids[k]}
	}
	for _, in := range inserted {
		out[pos[in.i]].Status = logingest.AppendInserted
	}
	return out, nil
}

// insertedKey is a key the insert stored: i indexes pos and keys, id is the event's new id.
type insertedKey struct {
	i  int
	id int64
}

// storedIDs fills ids[i] for every key whose id is still 0 from analytics_event_ids.
func (s *Store) storedIDs(ctx context.Context, keys [][16]byte, ids []int64, index map[[16]byte]int) error {
	var missing [][16]byte
	for i, id := range ids {
		if id == 0 {
			missing = append(missing, keys[i])
		}
	}
	rows, err := s.pool.Query(ctx, storedIDsSQL, missing)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k  [16]byte
			id int64
		)
		if err := rows.Scan(&k, &id); err != nil {
			return err
		}
		if i, ok := index[k]; ok && ids[i] == 0 {
			ids[i] = id
		}
	}
	return rows.Err()
}

// appendStatement stores the events at pos with appendSQL and returns those inserted with their ids. It sends
// rollupsByAppendSQL and appendSQL as one pipelined batch: one round trip, and one implicit transaction (the
// batch ends in a single Sync), so the setting holds for appendSQL and ends with it.
func (s *Store) appendStatement(ctx context.Context, events []logingest.Event, pos []int, keys [][16]byte) (_ []insertedKey, err error) {
	b := &pgx.Batch{}
	b.Queue(rollupsByAppendSQL)
	b.Queue(appendSQL, appendArgs(events, pos, keys)...)
	br := s.pool.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var inserted []insertedKey
	for rows.Next() {
		var ord, id int64
		if err := rows.Scan(&ord, &id); err != nil {
			return nil, err
		}
		if ord < 1 || int(ord) > len(pos) {
			return nil, fmt.Errorf("the database returned position %d of a batch of %d", ord, len(pos))
		}
		inserted = append(inserted, insertedKey{i: int(ord - 1), id: id})
	}
	return inserted, rows.Err()
}

// appendCopy stores the events at pos in one transaction: keysSQL, then COPY of the events whose key was new,
// in batch order, under the ids keysSQL drew. index maps each key to its position in keys and pos. It returns
// those inserted with their ids.
func (s *Store) appendCopy(ctx context.Context, events []logingest.Event, pos []int, keys [][16]byte,
	index map[[16]byte]int,
) ([]insertedKey, error) {
	received := make([]time.Time, len(pos))
	for i, p := range pos {
		received[i] = events[p].ReceivedAt
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	rows, err := tx.Query(ctx, keysSQL, keys, received)
	if err != nil {
		return nil, err
	}
	var (
		inserted  []insertedKey
		processed time.Time
	)
	for rows.Next() {
		var (
			k  [16]byte
			id int64
		)
		if err := rows.Scan(&k, &id, &processed); err != nil {
			rows.Close()
			return nil, err
		}
		i, ok := index[k]
		if !ok {
			rows.Close()
			return nil, errors.New("the database returned a key that is not in the batch")
		}
		inserted = append(inserted, insertedKey{i: i, id: id})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Batch order, so that rows are written in id order.
	slices.SortFunc(inserted, func(a, b insertedKey) int { return cmp.Compare(a.i, b.i) })

	_, err = tx.CopyFrom(ctx, pgx.Identifier{"analytics_logs"}, copyColumns, pgx.CopyFromSlice(len(inserted),
		func(j int) ([]any, error) {
			return copyRow(inserted[j].id, &events[pos[inserted[j].i]], processed), nil
		}))
	if err != nil {
		return nil, err
	}
	return inserted, tx.Commit(ctx)
}

// copyRow is e, stored under id, as the values of copyColumns, with the same NULLs as appendSQL.
func copyRow(id int64, e *logingest.Event, processed time.Time) []any {
	return []any{
		id, e.Source, e.EventID, e.Timestamp, string(e.EventType), e.EventName, jsonValue(e.Properties),
		nullIfEmpty(e.UserID), nullIfEmpty(e.SessionID), nullIfEmpty(e.AppVersion), jsonValue(e.DeviceInfo),
		e.SequenceNumber, string(e.Priority), e.ReceivedAt, processed, nullTime(e.OriginalTimestamp),
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonValue is nil (NULL) for an absent JSON value, else the raw JSON.
func jsonValue(b []byte) any {
	if absentJSON(b) {
		return nil
	}
	return b
}

// absentJSON reports whether b is an absent JSON value (empty or null), which is stored as NULL.
func absentJSON(b []byte) bool { return len(b) == 0 || string(b) == "null" }

// isKeyConflict reports whether err is keysSQL's unique violation when racing another Append.
func isKeyConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "analytics_event_ids_pkey"
}

// appendArgs returns appendSQL's arguments: one array per column, of the events at pos, in that order.
func appendArgs(events []logingest.Event, pos []int, keys [][16]byte) []any {
	n := len(pos)
	var (
		sources     = make([]string, n)
		eventIDs    = make([]string, n)
		timestamps  = make([]time.Time, n)
		types       = make([]string, n)
		names       = make([]string, n)
		props       = make([]*string, n)
		users       = make([]string, n)
		sessions    = make([]string, n)
		versions    = make([]string, n)
		devices     = make([]*string, n)
		seqs        = make([]*int64, n)
		priorities  = make([]string, n)
		receivedAts = make([]time.Time, n)
		originals   = make([]*time.Time, n)
	)
	for i, p := range pos {
		e := &events[p]
		sources[i] = e.Source
		eventIDs[i] = e.EventID
		timestamps[i] = e.Timestamp
		types[i] = string(e.EventType)
		names[i] = e.EventName
		props[i] = rawJSON(e.Properties)
		users[i] = e.UserID
		sessions[i] = e.SessionID
		versions[i] = e.AppVersion
		devices[i] = rawJSON(e.DeviceInfo)
		seqs[i] = e.SequenceNumber
		priorities[i] = string(e.Priority)
		receivedAts[i] = e.ReceivedAt
		originals[i] = nullTime(e.OriginalTimestamp)
	}
	return []any{
		sources, eventIDs, timestamps, types, names, props, users, sessions, versions, devices, seqs,
		priorities, receivedAts, keys, originals,
	}
}

// rawJSON returns nil for an absent JSON value, so it is stored as NULL.
func rawJSON(b []byte) *string {
	if absentJSON(b) {
		return nil
	}
	s := string(b)
	return &s
}
