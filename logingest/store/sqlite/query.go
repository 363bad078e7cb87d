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

// Query implements logingest.Store. The count (Page.Total, exact) and the page are read in one read
// transaction, so they come from the same snapshot. Pages are fetched by keyset on (sort column, id) when
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

func (s *Store) query(ctx context.Context, f logingest.Filter, col string, after *storequery.Cursor) (*logingest.Page, error) {
	where, args := filterWhere(f)

	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // read-only; nothing to lose

	page := &logingest.Page{Events: []logingest.Event{}, Total: -1}
	if !f.SkipTotal {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM analytics_logs"+where, args...).Scan(&page.Total); err != nil {
			return nil, fmt.Errorf("count: %w", err)
		}
	}

	op, dir := ">", "ASC"
	if f.SortOrder == logingest.SortDesc {
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
	//nolint:gosec // G202: where is built by filterWhere from fixed conditions with ? placeholders; col comes from sortColumns
	q := "SELECT " + selectColumns + " FROM analytics_logs" + where +
		fmt.Sprintf(" ORDER BY %s %s, id %s LIMIT ? OFFSET ?", col, dir, dir)
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
	return page, nil
}

// filterWhere returns the WHERE clause (with a leading space, or empty) and its arguments for f's filters.
// Values only ever travel as arguments.
func filterWhere(f logingest.Filter) (string, []any) {
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
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Stats implements logingest.Store. Every figure is read in one read transaction (one snapshot). A TopN of
// zero or less means 5. It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	if err := s.begin(ctx); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	st, err := s.stats(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", s.mapErr(ctx, err))
	}
	return st, nil
}

func (s *Store) stats(ctx context.Context, q logingest.StatsQuery) (*logingest.Stats, error) {
	topN := q.Normalize().TopN
	src, srcArgs := "", []any{}
	if q.Source != "" {
		src, srcArgs = "source = ? AND ", []any{q.Source}
	}
	now := formatTime(q.Now)
	hourAgo := formatTime(q.Now.Add(-time.Hour))
	dayAgo := formatTime(q.Now.Add(-24 * time.Hour))
	window := " FROM analytics_logs WHERE " + src + "received_at > ? AND received_at <= ?"
	windowArgs := slices.Concat(srcArgs, []any{dayAgo, now})

	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // read-only; nothing to lose

	st := &logingest.Stats{}
	totalQ := "SELECT count(*) FROM analytics_logs"
	if q.Source != "" {
		totalQ += " WHERE source = ?"
	}
	if err := tx.QueryRowContext(ctx, totalQ, srcArgs...).Scan(&st.TotalEvents); err != nil {
		return nil, fmt.Errorf("count total: %w", err)
	}
	// duration_ms counts when it is a JSON number of magnitude at most logingest.MaxDurationMs.
	duration := `CASE WHEN received_at > ?1 AND json_type(properties, '$.duration_ms') IN ('integer', 'real')
		AND abs(json_extract(properties, '$.duration_ms')) <= ` + strconv.FormatFloat(logingest.MaxDurationMs, 'g', -1, 64) + `
		THEN json_extract(properties, '$.duration_ms') END`
	var errorsLastHour, durations int64
	var durationSum float64
	err = tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE received_at > ?1),
		count(*) FILTER (WHERE received_at > ?1 AND event_type = 'error'),
		count(`+duration+`), coalesce(sum(`+duration+`), 0),
		count(DISTINCT CASE WHEN received_at > ?2 THEN NULLIF(session_id, '') END),
		count(DISTINCT NULLIF(user_id, ''))`+window,
		append([]any{hourAgo, formatTime(q.Now.Add(-logingest.ActiveSessionWindow))}, windowArgs...)...).Scan(
		&st.LastDay, &st.LastHour, &errorsLastHour, &durations, &durationSum, &st.ActiveSessions, &st.ActiveUsers)
	if err != nil {
		return nil, fmt.Errorf("count window: %w", err)
	}
	if durations > 0 {
		st.AverageLatencyMs = durationSum / float64(durations)
	}
	if st.LastHour > 0 {
		st.ErrorRatePercent = 100 * float64(errorsLastHour) / float64(st.LastHour)
	}
	if st.TopEventTypes, err = topValues(ctx, tx, "event_type", window, windowArgs, topN); err != nil {
		return nil, err
	}
	if st.TopEventNames, err = topValues(ctx, tx, "event_name", window, windowArgs, topN); err != nil {
		return nil, err
	}
	return st, nil
}

// topValues counts col over window. col is one of two constants.
func topValues(ctx context.Context, tx *sql.Tx, col, window string, args []any, n int) ([]logingest.ValueCount, error) {
	//nolint:gosec // G202: col is "event_type" or "event_name" and window is built from constants; values are ? arguments
	rows, err := tx.QueryContext(ctx, "SELECT "+col+", count(*) AS n"+window+
		" GROUP BY "+col+" ORDER BY n DESC, "+col+" ASC LIMIT ?", append(slices.Clip(args), n)...)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	defer rows.Close()
	out := []logingest.ValueCount{}
	for rows.Next() {
		var vc logingest.ValueCount
		if err := rows.Scan(&vc.Value, &vc.Count); err != nil {
			return nil, fmt.Errorf("top %s: %w", col, err)
		}
		out = append(out, vc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	return out, nil
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
	if _, err := tx.ExecContext(ctx, "INSERT INTO erased_event_ids (source, event_id) SELECT source, event_id FROM analytics_logs WHERE "+
		where+" ON CONFLICT DO NOTHING", args...); err != nil {
		return 0, fmt.Errorf("delete user events: keep erased keys: %w", s.mapErr(ctx, err))
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM analytics_logs WHERE "+where, args...)
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
