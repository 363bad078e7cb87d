package pgstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/change66/logserver/logingest"
)

// appendInput expands a batch, sent as one array per column, into rows; ord is each row's 1-based position
// in the arrays. Every key occurs at most once (Append removes repeats within the batch before sending).
//
//nolint:unqueryvet // the * is over the unnest's own column list (t(...))
const appendInput = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::timestamptz[], $14::uuid[])
		WITH ORDINALITY AS t(source, event_id, ts, event_type, event_name, properties,
			user_id, session_id, app_version, device_info, sequence_number, priority, received_at, key, ord)
)`

// appendInsertRows stores new_rows in analytics_logs in batch order, so ids follow the order of the slice.
const appendInsertRows = `
ins AS (
	INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties, user_id,
		session_id, app_version, device_info, sequence_number, priority, received_at)
	SELECT source, event_id, ts, event_type, event_name, properties::jsonb, NULLIF(user_id, ''),
		NULLIF(session_id, ''), NULLIF(app_version, ''), device_info::jsonb, sequence_number, priority, received_at
	FROM new_rows ORDER BY ord
)
SELECT ord FROM new_rows`

// appendSQL is the fast path: one statement that keeps the rows whose key is not in analytics_event_ids yet,
// inserts their keys (in key order, so concurrent batches take index locks in the same order and cannot
// deadlock) and the events. A plain INSERT of the keys costs less than INSERT … ON CONFLICT, which writes and
// then confirms a speculative tuple for every row. OFFSET 0 keeps the NOT EXISTS as a per-row probe of the
// primary key: without it the planner may hash the whole key table when its statistics are stale or small.
//
// The probe sees the statement's snapshot, so a key that a concurrent Append is inserting or has just
// committed makes the key INSERT fail with unique_violation; the statement then changes nothing and Append
// runs appendConflictSQL instead.
//
//nolint:unqueryvet // every * is over the CTEs above, whose columns are the unnest's own column list
const appendSQL = appendInput + `,
new_rows AS (
	SELECT * FROM input i WHERE NOT EXISTS (SELECT 1 FROM analytics_event_ids e WHERE e.key = i.key OFFSET 0)
), new_ids AS (
	INSERT INTO analytics_event_ids (key, received_at) SELECT key, received_at FROM new_rows ORDER BY key
),` + appendInsertRows

// appendConflictSQL is the path for a batch that races another Append of the same keys: ON CONFLICT DO
// NOTHING waits for the other transaction and skips the keys it stored, and RETURNING names the keys that
// were new.
//
//nolint:unqueryvet // every * is over the CTEs above, whose columns are the unnest's own column list
const appendConflictSQL = appendInput + `,
new_ids AS (
	INSERT INTO analytics_event_ids AS e (key, received_at)
	SELECT key, received_at FROM input ORDER BY key
	ON CONFLICT DO NOTHING
	RETURNING e.key
), new_rows AS (
	SELECT i.* FROM input i JOIN new_ids n ON n.key = i.key
),` + appendInsertRows

// probeMinBatch is the smallest batch sent with appendSQL; smaller ones use appendConflictSQL. PostgreSQL
// plans appendSQL anew for each small batch (its generic plan assumes ten index probes, which looks dearer
// than planning), and planning costs more than the probe saves below a few dozen rows; appendConflictSQL gets
// a cached generic plan at every size. Measured with BenchmarkAppendVsCopy.
const probeMinBatch = 32

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

// Append implements logingest.Store. The whole batch is one SQL statement, hence one round trip and atomic
// (a second statement only when a batch of probeMinBatch or more races a concurrent Append of the same event). Timestamps are stored with
// microsecond precision. Empty UserID, SessionID and AppVersion are stored as NULL and read back as "". It
// returns an error matching logingest.ErrClosed after Close.
func (s *Store) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendStatus, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	out := make([]logingest.AppendStatus, len(events))
	for i := range out {
		out[i] = logingest.AppendDuplicate
	}
	// A key repeated within the batch is a duplicate of its first occurrence; only first occurrences are sent.
	// pos maps a sent row (ord-1) back to its index in events.
	keys := make([][16]byte, 0, len(events))
	pos := make([]int, 0, len(events))
	seen := make(map[[16]byte]struct{}, len(events))
	for i := range events {
		k := eventKey(events[i].Source, events[i].EventID)
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		keys = append(keys, k)
		pos = append(pos, i)
	}
	args := appendArgs(events, pos, keys)

	var inserted []int64
	var err error
	if len(pos) >= probeMinBatch {
		inserted, err = s.appendRows(ctx, appendSQL, args)
	}
	if len(pos) < probeMinBatch || isKeyConflict(err) {
		inserted, err = s.appendRows(ctx, appendConflictSQL, args)
	}
	if err != nil {
		return nil, fmt.Errorf("append: %w", withCtx(ctx, mapErr(err)))
	}
	for _, ord := range inserted {
		if ord < 1 || int(ord) > len(pos) {
			return nil, fmt.Errorf("append: the database returned position %d of a batch of %d", ord, len(pos))
		}
		out[pos[ord-1]] = logingest.AppendInserted
	}
	return out, nil
}

// appendRows runs one of the append statements and returns the positions of the inserted rows.
func (s *Store) appendRows(ctx context.Context, sql string, args []any) ([]int64, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var inserted []int64
	for rows.Next() {
		var ord int64
		if err := rows.Scan(&ord); err != nil {
			return nil, err
		}
		inserted = append(inserted, ord)
	}
	return inserted, rows.Err()
}

// isKeyConflict reports whether err is the unique violation of appendSQL racing another Append.
func isKeyConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "analytics_event_ids_pkey"
}

// appendArgs returns the statement's arguments: one array per column, of the events at pos, in that order.
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
		seqs        = make([]int64, n)
		priorities  = make([]string, n)
		receivedAts = make([]time.Time, n)
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
	}
	return []any{
		sources, eventIDs, timestamps, types, names, props, users, sessions, versions, devices, seqs,
		priorities, receivedAts, keys,
	}
}

// rawJSON returns nil for an absent JSON value, so it is stored as NULL.
func rawJSON(b []byte) *string {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	return &s
}
