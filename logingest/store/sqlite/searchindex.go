package sqlite

import (
	"context"
	"database/sql"
)

// indexForSearch adds the search documents of the rows Append inserted to the FTS5 index of migration 007, in
// one statement over their id range. The document is that of 007 (migration 008 replaced its per-row
// trigger).
func indexForSearch(ctx context.Context, tx *sql.Tx, ids idRange) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO analytics_logs_fts (rowid, doc)
		SELECT id, substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048)
		FROM analytics_logs WHERE id BETWEEN ? AND ?`, ids.lo, ids.hi)
	return err
}
