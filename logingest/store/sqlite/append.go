package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/change66/logserver/logingest"
)

// Append implements logingest.Store. All events are written in one transaction on the single writer
// connection, in multi-row INSERT statements; a row the unique (source, event_id) key rejects is reported
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

	// Rows go in multi-row INSERT statements of up to insertChunk rows, not one statement per row: every
	// statement that writes through a trigger opens a statement savepoint, and at each savepoint FTS5 (the
	// search index, migration 007) flushes its pending terms to a new segment and merges segments, which cost a
	// third of the writer's CPU with one statement per row. Statements run without ctx, which saves the driver
	// a watcher goroutine each; ctx is checked between them and before the commit, and the transaction (bound
	// to ctx) rolls back if it ends.
	rowCtx := context.WithoutCancel(ctx)
	createdAt := formatTime(s.now())
	results := make([]logingest.AppendResult, len(events))
	inserted := make(map[eventKey]int64, len(events))
	for lo := 0; lo < len(events); lo += insertChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := events[lo:min(lo+insertChunk, len(events))]
		if err := s.insertChunk(rowCtx, tx, chunk, createdAt, inserted); err != nil {
			return nil, fmt.Errorf("insert events %d-%d: %w", lo, lo+len(chunk)-1, err)
		}
	}
	// An event is inserted when its key came back from RETURNING and no earlier event of this call had the same
	// key; every other event is a duplicate (of a stored row, of an erased event, or of an earlier event of
	// this call) with the stored copy's id.
	stored, err := storedIDs(rowCtx, tx, events, inserted)
	if err != nil {
		return nil, fmt.Errorf("ids of the stored copies: %w", err)
	}
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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return results, nil
}

// eventKey is the idempotency key of an event.
type eventKey struct{ source, eventID string }

// insertChunk is the most rows one INSERT statement carries: 16 parameters each, well below SQLite's limit of
// 32,766 parameters per statement.
const insertChunk = 500

// insertColumns are the values of one row, in the order of insertChunkSQL's VALUES tuples.
const insertColumns = 16

// insertChunkSQL returns the INSERT of n rows. An erased event (erased_event_ids) is not inserted again.
// RETURNING reports the rows inserted; rows the unique (source, event_id) key skipped are not returned.
func insertChunkSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties,
	user_id, session_id, app_version, device_info, sequence_number, priority, received_at, created_at,
	processed_at, original_timestamp)
SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9,
	v.column10, v.column11, v.column12, v.column13, v.column14, v.column15, v.column16
FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	b.WriteString(`) AS v
WHERE NOT EXISTS (SELECT 1 FROM erased_event_ids e WHERE e.source = v.column1 AND e.event_id = v.column2)
ON CONFLICT (source, event_id) DO NOTHING
RETURNING source, event_id, id`)
	return b.String()
}

// insertChunk inserts events in one statement and records the id of every row inserted in inserted.
func (s *Store) insertChunk(
	ctx context.Context, tx *sql.Tx, events []logingest.Event, createdAt string, inserted map[eventKey]int64,
) error {
	args := make([]any, 0, len(events)*insertColumns)
	for i := range events {
		e := &events[i]
		var seq any
		if e.SequenceNumber != nil {
			seq = *e.SequenceNumber
		}
		args = append(args,
			e.Source, e.EventID, formatTime(e.Timestamp), string(e.EventType), e.EventName, jsonArg(e.Properties),
			e.UserID, e.SessionID, e.AppVersion, jsonArg(e.DeviceInfo), seq, string(e.Priority),
			formatTime(e.ReceivedAt), createdAt, createdAt, nullTime(e.OriginalTimestamp))
	}
	rows, err := tx.QueryContext(ctx, insertChunkSQL(len(events)), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k eventKey
		var id int64
		if err := rows.Scan(&k.source, &k.eventID, &id); err != nil {
			return err
		}
		inserted[k] = id
	}
	return rows.Err()
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
	var keys []eventKey
	seen := make(map[eventKey]bool)
	for i := range events {
		k := eventKey{events[i].Source, events[i].EventID}
		if _, ok := inserted[k]; !ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	ids := make(map[eventKey]int64, len(keys))
	for lo := 0; lo < len(keys); lo += insertChunk {
		if err := storedIDsChunk(ctx, tx, keys[lo:min(lo+insertChunk, len(keys))], ids); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// storedIDsChunk looks up the ids of keys in one statement and records them in ids.
func storedIDsChunk(ctx context.Context, tx *sql.Tx, keys []eventKey, ids map[eventKey]int64) error {
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k.source, k.eventID)
	}
	q := "SELECT source, event_id, id FROM analytics_logs WHERE (source, event_id) IN (VALUES " + //nolint:gosec // placeholders only
		strings.TrimSuffix(strings.Repeat("(?,?),", len(keys)), ",") + ")"
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k eventKey
		var id int64
		if err := rows.Scan(&k.source, &k.eventID, &id); err != nil {
			return err
		}
		ids[k] = id
	}
	return rows.Err()
}
