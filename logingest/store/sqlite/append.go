package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/change66/logserver/logingest"
)

// An erased event (erased_event_ids) is not inserted again: it is reported a duplicate.
const insertSQL = `INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties,
	user_id, session_id, app_version, device_info, sequence_number, priority, received_at, created_at,
	processed_at, original_timestamp)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16
WHERE NOT EXISTS (SELECT 1 FROM erased_event_ids WHERE source = ?1 AND event_id = ?2)
ON CONFLICT (source, event_id) DO NOTHING`

// storedIDSQL reads the id of the stored copy of a duplicate.
const storedIDSQL = `SELECT id FROM analytics_logs WHERE source = ? AND event_id = ?`

// Append implements logingest.Store. All events are written in one transaction on the single writer
// connection, through one prepared statement; a row the unique (source, event_id) key rejects is reported
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
	insert, err := s.insertStmt(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt := tx.StmtContext(ctx, insert)
	defer stmt.Close()

	// Rows are executed without ctx, which saves the driver a watcher goroutine per row; ctx is checked between
	// rows and before the commit instead, and the transaction (bound to ctx) rolls back if it ends.
	rowCtx := context.WithoutCancel(ctx)
	createdAt := formatTime(s.now())
	results := make([]logingest.AppendResult, len(events))
	for i := range events {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := &events[i]
		var seq any
		if e.SequenceNumber != nil {
			seq = *e.SequenceNumber
		}
		res, err := stmt.ExecContext(rowCtx,
			e.Source, e.EventID, formatTime(e.Timestamp), string(e.EventType), e.EventName, jsonArg(e.Properties),
			e.UserID, e.SessionID, e.AppVersion, jsonArg(e.DeviceInfo), seq, string(e.Priority),
			formatTime(e.ReceivedAt), createdAt, createdAt, nullTime(e.OriginalTimestamp))
		if err != nil {
			return nil, fmt.Errorf("insert event %d: %w", i, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("insert event %d: %w", i, err)
		}
		if n == 1 {
			id, err := res.LastInsertId()
			if err != nil {
				return nil, fmt.Errorf("insert event %d: id: %w", i, err)
			}
			results[i] = logingest.AppendResult{Status: logingest.AppendInserted, ID: id}
			continue
		}
		results[i].Status = logingest.AppendDuplicate
		err = tx.QueryRowContext(rowCtx, storedIDSQL, e.Source, e.EventID).Scan(&results[i].ID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) { // no row: the event was erased; its ID stays 0
			return nil, fmt.Errorf("insert event %d: id of the stored copy: %w", i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return results, nil
}

// jsonArg returns raw as text, or nil (NULL) when it is empty. Text, not a blob, so json_extract works on it.
func jsonArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}
