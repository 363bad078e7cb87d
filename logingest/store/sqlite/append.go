package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"

	"github.com/change66/logserver/logingest"
)

// Append implements logingest.Store. All events are written in one transaction on the single writer
// connection, one prepared INSERT per event; a row the unique (source, event_id) key rejects is reported
// AppendDuplicate, which also covers a repeat within the same call, with the stored copy's id (read in the same
// transaction). IDs are the rowid (AUTOINCREMENT, so never reused after an erasure). Empty Properties or
// DeviceInfo are stored as NULL and read back as nil. It returns an error matching logingest.ErrClosed after Close, and one wrapping
// ctx.Err() (with nothing stored) when ctx is done before the commit.
func (s *Store) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := s.begin(ctx); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	statuses, err := s.append(ctx, events)
	if err != nil {
		return nil, fmt.Errorf("append: %w", s.mapErr(ctx, err))
	}
	return statuses, nil
}

func (s *Store) append(ctx context.Context, events []logingest.Event) (_ []logingest.AppendResult, err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	// Rows go in one prepared single-row INSERT each. A single-row INSERT into a table without insert triggers
	// needs no statement journal (SQLite checks every constraint of the row before it writes), while a
	// multi-row INSERT, or one with RETURNING or a trigger, copies every page it changes to the statement
	// journal first so that it can be undone alone: that copying, with its allocations, cost about a quarter
	// of the writer's time. Statements run without ctx, which saves the driver a watcher goroutine each; ctx
	// is checked between them and before the commit, and the transaction (bound to ctx) rolls back if it
	// ends.
	rowCtx := context.WithoutCancel(ctx)
	erased, err := erasedKeys(rowCtx, tx, events)
	if err != nil {
		return nil, fmt.Errorf("erased keys: %w", err)
	}
	createdAt := formatTime(s.now())
	insert := tx.StmtContext(rowCtx, s.insertStmt)
	defer insert.Close() // the transaction's copy; s.insertStmt stays prepared
	inserted := make(map[eventKey]int64, len(events))
	ids := idRange{lo: math.MaxInt64}
	for i := range events {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e := &events[i]
		k := eventKey{e.Source, e.EventID}
		if _, seen := inserted[k]; seen || erased[k] {
			continue
		}
		var seq any
		if e.SequenceNumber != nil {
			seq = *e.SequenceNumber
		}
		res, err := insert.ExecContext(rowCtx,
			e.Source, e.EventID, formatTime(e.Timestamp), string(e.EventType), e.EventName, jsonArg(e.Properties),
			e.UserID, e.SessionID, e.AppVersion, jsonArg(e.DeviceInfo), seq, string(e.Priority),
			formatTime(e.ReceivedAt), createdAt, createdAt, nullTime(e.OriginalTimestamp))
		if err != nil {
			return nil, fmt.Errorf("insert event %d: %w", i, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			continue // the unique (source, event_id) key: a stored event
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, err
		}
		inserted[k] = id
		ids.lo, ids.hi = min(ids.lo, id), max(ids.hi, id)
	}
	// An event is inserted when its INSERT inserted a row and no earlier event of this call had the same key;
	// every other event is a duplicate (of a stored row, of an erased event, or of an earlier event of this
	// call) with the stored copy's id.
	stored, err := storedIDs(rowCtx, tx, events, inserted)
	if err != nil {
		return nil, fmt.Errorf("ids of the stored copies: %w", err)
	}
	results := make([]logingest.AppendResult, len(events))
	first := make(map[eventKey]bool, len(inserted))
	for i := range events {
		k := eventKey{events[i].Source, events[i].EventID}
		results[i].Status = logingest.AppendDuplicate
		if id, ok := inserted[k]; ok {
			results[i].ID = id
			if !first[k] {
				first[k] = true
				results[i].Status = logingest.AppendInserted
			}
			continue
		}
		results[i].ID = stored[k] // absent: the event was erased; its ID stays 0
	}
	// The rollups follow the rows inserted, in the same transaction (migration 008 replaced the per-row
	// triggers that kept them). The search index gets the non-ASCII documents now and the rest, with
	// analytics_last_seen, from the background indexer after the commit (migration 009, searchindexer.go).
	if len(inserted) > 0 {
		if err := updateRollups(rowCtx, tx, ids); err != nil {
			return nil, fmt.Errorf("rollups: %w", err)
		}
		if anyNonASCII(events) {
			if err := indexNonASCII(rowCtx, tx, ids); err != nil {
				return nil, fmt.Errorf("search index: %w", err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if len(inserted) > 0 {
		s.indexer.wake()
	}
	return results, nil
}

// eventKey is the idempotency key of an event.
type eventKey struct{ source, eventID string }

// idRange is the range of the ids an Append inserted. AUTOINCREMENT gives the rows of a transaction ids above
// every id used before, and the single writer inserts nothing else meanwhile, so the range holds exactly the
// rows of the transaction.
type idRange struct{ lo, hi int64 }

// insertSQL inserts one event. A row the unique (source, event_id) key rejects is not inserted (no change).
const insertSQL = `INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties,
	user_id, session_id, app_version, device_info, sequence_number, priority, received_at, created_at,
	processed_at, original_timestamp)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, event_id) DO NOTHING`

// keyChunk is the most keys one lookup statement carries (2 parameters each).
const keyChunk = 500

// erasedKeys returns the keys of events that were erased (erased_event_ids): they are not inserted again.
func erasedKeys(ctx context.Context, tx *sql.Tx, events []logingest.Event) (map[eventKey]bool, error) {
	var some bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM erased_event_ids)").Scan(&some); err != nil || !some {
		return nil, err
	}
	out := make(map[eventKey]bool)
	keys := keysOf(events, func(eventKey) bool { return true })
	err := lookupKeys(ctx, tx, "erased_event_ids", "0", keys, func(k eventKey, _ int64) { out[k] = true })
	return out, err
}

// jsonArg returns raw as text, or nil (NULL) when it is empty. Text, not a blob, so json_extract works on it.
func jsonArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// storedIDs returns the ids of the stored copies of the events this call did not insert (duplicates of stored
// rows), looked up a chunk of keys per statement rather than one query per duplicate: a retried batch is all
// duplicates. Erased events have no row and no entry.
func storedIDs(
	ctx context.Context, tx *sql.Tx, events []logingest.Event, inserted map[eventKey]int64,
) (map[eventKey]int64, error) {
	keys := keysOf(events, func(k eventKey) bool { _, ok := inserted[k]; return !ok })
	ids := make(map[eventKey]int64, len(keys))
	err := lookupKeys(ctx, tx, "analytics_logs", "id", keys, func(k eventKey, id int64) { ids[k] = id })
	return ids, err
}

// keysOf returns the distinct keys of events that keep accepts, in order.
func keysOf(events []logingest.Event, keep func(eventKey) bool) []eventKey {
	var keys []eventKey
	seen := make(map[eventKey]bool)
	for i := range events {
		k := eventKey{events[i].Source, events[i].EventID}
		if !seen[k] && keep(k) {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// lookupKeys finds the rows of table whose (source, event_id) is one of keys, keyChunk keys per statement, and
// calls found with each row's key and its value of column (an integer expression).
func lookupKeys(
	ctx context.Context, tx *sql.Tx, table, column string, keys []eventKey, found func(eventKey, int64),
) error {
	for lo := 0; lo < len(keys); lo += keyChunk {
		chunk := keys[lo:min(lo+keyChunk, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.source, k.eventID)
		}
		q := "SELECT source, event_id, " + column + " FROM " + table + // table and column are constants; placeholders only
			" WHERE (source, event_id) IN (VALUES " + placeholders(len(chunk), 2) + ")"
		if err := scanKeys(ctx, tx, q, args, found); err != nil {
			return err
		}
	}
	return nil
}

// scanKeys runs q and calls found for each (source, event_id, value) row.
func scanKeys(ctx context.Context, tx *sql.Tx, q string, args []any, found func(eventKey, int64)) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k eventKey
		var v int64
		if err := rows.Scan(&k.source, &k.eventID, &v); err != nil {
			return err
		}
		found(k, v)
	}
	return rows.Err()
}
