package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/internal/rollupsql"
	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// sortColumns maps every sortable field (after Filter.Normalize) to its column. Only these strings are ever
// put into ORDER BY. A NULL sequence number sorts as storequery.NullSequenceNumber, so that the keyset
// comparison never meets NULL.
var sortColumns = map[logingest.SortField]string{
	logingest.SortID:             "id",
	logingest.SortEventID:        "event_id",
	logingest.SortTimestamp:      "timestamp",
	logingest.SortReceivedAt:     "received_at",
	logingest.SortEventType:      "event_type",
	logingest.SortEventName:      "event_name",
	logingest.SortUserID:         "user_id",
	logingest.SortSessionID:      "session_id",
	logingest.SortAppVersion:     "app_version",
	logingest.SortPriority:       "priority",
	logingest.SortSequenceNumber: "COALESCE(sequence_number, -9223372036854775808)",
}

const selectColumns = `id, source, event_id, timestamp, event_type, event_name, properties, user_id, session_id,
	app_version, device_info, sequence_number, priority, received_at, processed_at, original_timestamp`

// Query implements logingest.Store. The page and its count (Page.Total) are read in one read transaction, so
// they come from the same snapshot. Page.Total is exact, except for a search with more than 1,000 matches
// (see the package documentation). Pages are fetched by keyset on (sort column, id) when
// f.After is set; NextCursor is set whenever another matching event follows the page. It returns an error
// matching logingest.ErrClosed after Close.
func (s *Store) Query(ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
	f, err := f.Normalize()
	if err != nil {
		return nil, err
	}
	col := sortColumns[f.SortBy]
	after, err := storequery.After(f)
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	page, err := s.query(ctx, f, col, after)
	if err != nil {
		return nil, fmt.Errorf("query: %w", s.mapErr(ctx, err))
	}
	return page, nil
}

// keyset adds to where and args the condition that a row sorts after the cursor after (none when nil), by
// (col, id) in order, and returns them with the matching ORDER BY clause.
func keyset(where string, args []any, col string, order logingest.SortOrder, after *storequery.Cursor) (string, []any, string) {
	op, dir := ">", "ASC"
	if order == logingest.SortDesc {
		op, dir = "<", "DESC"
	}
	if after != nil {
		clause := fmt.Sprintf("(%s, id) %s (?, ?)", col, op)
		if where == "" {
			where = " WHERE " + clause
		} else {
			where += " AND " + clause
		}
		v := after.Value
		if t, ok := v.(time.Time); ok {
			v = formatTime(t)
		}
		args = append(args, v, after.ID)
	}
	return where, args, fmt.Sprintf(" ORDER BY %s %s, id %s", col, dir, dir)
}

func (s *Store) query(ctx context.Context, f logingest.Filter, col string, after *storequery.Cursor) (*logingest.Page, error) {
	where, args := filterWhere(f)

	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // read-only; nothing to lose

	page := &logingest.Page{Events: make([]logingest.Event, 0, min(f.Limit+1, logingest.MaxQueryLimit+1)), Total: -1}
	common, err := s.commonSearch(ctx, tx, f)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if common {
		where, args = filterWhereRowMatch(f)
	}
	countWhere, countArgs := where, slices.Clip(args)

	where, args, order := keyset(where, args, col, f.SortOrder, after)
	//nolint:gosec // G202: where is built by filterWhere from fixed conditions with ? placeholders; col comes from sortColumns
	q := "SELECT " + selectColumns + " FROM analytics_logs" + where + order + " LIMIT ? OFFSET ?"
	args = append(args, f.Limit+1, f.Offset)

	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	defer rows.Close()
	var (
		ids        []int64
		unreadable [][]logingest.FieldError // per row: stored values that could not be read
	)
	for rows.Next() {
		var (
			e                logingest.Event
			id               int64
			ts, recv         string
			props, device    []byte
			evType, priority string
			seq              sql.NullInt64
			processed, orig  sql.NullString
		)
		if err := rows.Scan(&id, &e.Source, &e.EventID, &ts, &evType, &e.EventName, &props, &e.UserID,
			&e.SessionID, &e.AppVersion, &device, &seq, &priority, &recv, &processed, &orig); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		e.ID = id
		if seq.Valid {
			e.SequenceNumber = new(seq.Int64)
		}
		var bad []logingest.FieldError
		e.Timestamp, bad = readTime(ts, "timestamp", bad)
		e.ReceivedAt, bad = readTime(recv, "received_at", bad)
		e.ProcessedAt, bad = readNullTime(processed, "processed_at", bad)
		e.OriginalTimestamp, bad = readNullTime(orig, "original_timestamp", bad)
		e.EventType, e.Priority = logingest.EventType(evType), logingest.Priority(priority)
		e.Properties, e.DeviceInfo = json.RawMessage(props), json.RawMessage(device)
		page.Events = append(page.Events, e)
		ids = append(ids, id)
		unreadable = append(unreadable, bad)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	if len(page.Events) > f.Limit {
		page.Events = page.Events[:f.Limit]
		page.NextCursor = storequery.At(&page.Events[f.Limit-1], ids[f.Limit-1], f.SortBy).Encode()
	}
	s.sanitize(ctx, page.Events, ids, unreadable) // after the cursor, which must hold the stored values

	switch {
	case f.SkipTotal:
	case common && after == nil && page.NextCursor == "" && (len(page.Events) > 0 || f.Offset == 0):
		page.Total = int64(f.Offset + len(page.Events)) // the last page of the matches from the first one: exact
	case common: // exact up to searchConfig.threshold matches, else estimated (searchtotal.go)
		var seen int64 // matches the page proves exist: none when it is past the end
		if len(page.Events) > 0 {
			seen = int64(f.Offset + len(page.Events))
		}
		if page.NextCursor != "" {
			seen++
		}
		// order is the page's order: the same walk
		if page.Total, page.TotalIsEstimate, err = s.searchTotal(ctx, tx, f, countWhere, countArgs, order, seen); err != nil {
			return nil, fmt.Errorf("count: %w", err)
		}
	default: // exact; a search here has at most searchConfig.common matches, read FTS-first
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM analytics_logs"+countWhere, countArgs...).Scan(&page.Total); err != nil {
			return nil, fmt.Errorf("count: %w", err)
		}
	}
	return page, nil
}

// filterWhere returns the WHERE clause (with a leading space, or empty) and its arguments for f's filters.
// Values only ever travel as arguments. Search reads the FTS5 index first (ftsFirstCond).
func filterWhere(f logingest.Filter) (string, []any) { return filterWhereSearch(f, ftsFirstCond) }

// filterWhereRowMatch is filterWhere with search as a test of each row (rowMatch), so that the rows are read
// in the order of the filter's index.
func filterWhereRowMatch(f logingest.Filter) (string, []any) { return filterWhereSearch(f, rowMatch) }

// filterWhereSearch is filterWhere with search, when f has one, as the condition and arguments that search
// returns for its terms.
func filterWhereSearch(f logingest.Filter, search func(terms []string) (string, []any)) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	for _, m := range storequery.Matches(f) {
		add(m.Column+" = ?", m.Value)
	}
	if f.ProviderName != "" {
		// Exactly the indexed expression; json_extract yields SQL text only for JSON strings, so a number 5
		// does not match "5".
		add("json_extract(properties, '$.provider_name') = ?", f.ProviderName)
	}
	if !f.StartTime.IsZero() {
		add("timestamp >= ?", formatTime(f.StartTime))
	}
	if !f.EndTime.IsZero() {
		add("timestamp < ?", formatTime(f.EndTime))
	}
	// Search (logingest.SearchTerms) through the FTS5 trigram index of migration 007_search: each term is an
	// FTS5 string (a phrase of its trigrams), which matches it as a case-insensitive substring.
	if terms, _ := logingest.SearchTerms(f.Search); len(terms) > 0 { // validated by Normalize
		cond, more := search(terms)
		conds = append(conds, cond)
		args = append(args, more...)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Stats implements logingest.Store from the rollups of migration 006 (see package rollupsql), in one read
// transaction (one snapshot): it reads at most ~2 hours of minute rows, a day of hour rows and ~2 minutes of
// events, and every figure is exact. A TopN of zero or less means 5. It returns an error matching
// logingest.ErrClosed after Close.
func (s *Store) Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	if err := s.begin(ctx); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	var st *logingest.Stats
	err := s.readOnly(ctx, func(qr rollupsql.Querier) error {
		var err error
		st, err = dialect.Stats(ctx, qr, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", s.mapErr(ctx, err))
	}
	return st, nil
}

// Dashboard implements logingest.Aggregator from the rollups of migration 006 (see package rollupsql), in
// one read transaction. It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Dashboard(ctx context.Context, q logingest.DashboardQuery) (*logingest.Dashboard, error) {
	if _, _, err := q.Normalize(); err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var d *logingest.Dashboard
	err := s.readOnly(ctx, func(qr rollupsql.Querier) error {
		var err error
		d, err = dialect.Dashboard(ctx, qr, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", s.mapErr(ctx, err))
	}
	return d, nil
}

// readOnly runs fn in a read transaction on the reader pool.
func (s *Store) readOnly(ctx context.Context, fn func(rollupsql.Querier) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // read-only; nothing to lose
	return fn(querier{tx})
}

// querier adapts a *sql.Tx to rollupsql.Querier.
type querier struct{ tx *sql.Tx }

func (q querier) Query(ctx context.Context, query string, args ...any) (rollupsql.Rows, error) {
	rows, err := q.tx.QueryContext(ctx, query, args...) //nolint:rowserrcheck // the caller (rollupsql) closes the rows and checks Err
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// durationSQL is the duration_ms that the rollups count (0 to logingest.MaxDurationMs), or NULL.
const durationSQL = `CASE WHEN json_type(properties, '$.duration_ms') IN ('integer', 'real')
	AND json_extract(properties, '$.duration_ms') BETWEEN 0 AND 1e12 THEN json_extract(properties, '$.duration_ms') END`

// dialect is rollupsql's view of SQLite: the rollup tables and triggers of migration 006_rollups.
var dialect = &rollupsql.Dialect{
	Placeholder:   func(n int) string { return "?" + strconv.Itoa(n) },
	Time:          func(t time.Time) any { return formatTime(t) },
	ParseTime:     parseTime,
	BucketText:    "bucket",
	RawMinute:     "substr(received_at, 1, 16) || ':00.000000000Z'",
	RawAppVersion: "app_version",
	RawPlatform:   platformSQL,
	RawDuration:   durationSQL,
	LastSeenTail:  lastSeenTail,
	Where: func(f logingest.Filter, args []any) (string, []any) {
		w, more := filterWhere(f)
		w = strings.TrimPrefix(w, " WHERE ")
		// Number the ? placeholders after args, so that they can be mixed with rollupsql's numbered ones.
		var b strings.Builder
		n := len(args)
		for _, r := range w {
			if r == '?' {
				n++
				b.WriteString("?" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(r)
		}
		return b.String(), append(args, more...)
	},
}

// DeleteUserEvents implements logingest.UserEraser. In one transaction on the writer connection it records
// the keys of the events of userID (in source, or every source when source is empty) in erased_event_ids, so a
// re-sent erased event is reported a duplicate, then deletes the events and returns how many it deleted.
func (s *Store) DeleteUserEvents(ctx context.Context, source, userID string) (_ int64, err error) {
	if err := s.begin(ctx); err != nil {
		return 0, fmt.Errorf("delete user events: %w", err)
	}
	if userID == "" {
		return 0, fmt.Errorf("delete user events: user id must not be empty: %w", logingest.ErrInvalid)
	}
	where, args := "user_id = ?", []any{userID}
	if source != "" {
		where, args = where+" AND source = ?", append(args, source)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("delete user events: %w", s.mapErr(ctx, err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// where is one of two constant conditions built above; the values are bound parameters.
	keep := "INSERT INTO erased_event_ids (source, event_id) " + //nolint:gosec // where is a constant condition
		"SELECT source, event_id FROM analytics_logs WHERE " + where + " ON CONFLICT DO NOTHING"
	if _, err := tx.ExecContext(ctx, keep, args...); err != nil {
		return 0, fmt.Errorf("delete user events: keep erased keys: %w", s.mapErr(ctx, err))
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM analytics_logs WHERE "+where, args...) //nolint:gosec // constant condition
	if err != nil {
		return 0, fmt.Errorf("delete user events: %w", s.mapErr(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete user events: %w", s.mapErr(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("delete user events: commit: %w", s.mapErr(ctx, err))
	}
	return n, nil
}
