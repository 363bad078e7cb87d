package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

type sortColumn struct{ expr, typ string }

// SQL types of the sort columns, used to cast cursor values.
const (
	typeTimestamptz = "timestamptz"
	typeText        = "text"
	typeInt8        = "int8"
)

// sortColumnFor is the whitelist of ORDER BY expressions and the SQL type of their cursor value. Nullable text
// columns sort as "" so that keyset comparisons never meet NULL. f has been validated by Normalize.
func sortColumnFor(f logingest.SortField) sortColumn {
	switch f {
	case logingest.SortReceivedAt:
		return sortColumn{"received_at", typeTimestamptz}
	case logingest.SortEventType:
		return sortColumn{"event_type", typeText}
	case logingest.SortEventName:
		return sortColumn{"event_name", typeText}
	case logingest.SortUserID:
		return sortColumn{"COALESCE(user_id, '')", typeText}
	case logingest.SortSessionID:
		return sortColumn{"COALESCE(session_id, '')", typeText}
	case logingest.SortAppVersion:
		return sortColumn{"COALESCE(app_version, '')", typeText}
	case logingest.SortPriority:
		return sortColumn{"priority", typeText}
	case logingest.SortSequenceNumber:
		return sortColumn{"sequence_number", typeInt8}
	default:
		return sortColumn{"timestamp", typeTimestamptz}
	}
}

const selectColumns = `id, source, event_id, timestamp, event_type, event_name, properties, COALESCE(user_id, ''),
	COALESCE(session_id, ''), COALESCE(app_version, ''), device_info, sequence_number, priority, received_at`

// whereClause builds the WHERE clause of f with positional placeholders only.
func whereClause(f logingest.Filter, args []any) (string, []any) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	for _, m := range storequery.Matches(f) {
		add(m.Column+" = ?", m.Value)
	}
	if f.ProviderName != "" {
		add("(properties ->> 'provider_name') = ?", f.ProviderName)
	}
	if !f.StartTime.IsZero() {
		add("timestamp >= ?", f.StartTime)
	}
	if !f.EndTime.IsZero() {
		add("timestamp < ?", f.EndTime)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Query implements logingest.Store. Ties are broken by id, which follows insertion order. See the package
// documentation for how Page.Total is computed. It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Query(ctx context.Context, f logingest.Filter) (*logingest.Page, error) {
	f, err := f.Normalize()
	if err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	pageSQL, args, countWhere, countArgs, err := buildPageSQL(f)
	if err != nil {
		return nil, err
	}

	// The page and the bounded count travel in one batch: one round trip.
	batch := &pgx.Batch{}
	batch.Queue(pageSQL, args...)
	threshold := s.cfg.CountEstimateThreshold
	if !f.SkipTotal {
		batch.Queue(fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM analytics_logs%s LIMIT %d) c", countWhere, threshold+1),
			countArgs...)
	}
	br := s.pool.SendBatch(ctx, batch)
	defer br.Close()

	page := &logingest.Page{Events: []logingest.Event{}, Total: -1}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("query: %w", withCtx(ctx, mapErr(err)))
	}
	var (
		last storequery.Cursor
		more bool
	)
	for rows.Next() {
		if len(page.Events) == f.Limit {
			// The extra row only tells that another page exists.
			more = true
			continue
		}
		var (
			e          logingest.Event
			props, dev []byte
			typ, prio  string
			id         int64
			ts, recv   pgtype.Timestamptz
		)
		if err := rows.Scan(&id, &e.Source, &e.EventID, &ts, &typ, &e.EventName, &props, &e.UserID,
			&e.SessionID, &e.AppVersion, &dev, &e.SequenceNumber, &prio, &recv); err != nil {
			rows.Close()
			return nil, fmt.Errorf("query: scan: %w", err)
		}
		var bad []logingest.FieldError
		e.Timestamp, bad = readTime(ts, "timestamp", bad)
		e.ReceivedAt, bad = readTime(recv, "received_at", bad)
		e.EventType, e.Priority = logingest.EventType(typ), logingest.Priority(prio)
		if props != nil {
			e.Properties = json.RawMessage(props)
		}
		if dev != nil {
			e.DeviceInfo = json.RawMessage(dev)
		}
		last = storequery.At(&e, id, f.SortBy)
		last.Order = f.SortOrder
		s.sanitize(ctx, &e, id, bad) // after the cursor, which must hold the stored values
		page.Events = append(page.Events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", withCtx(ctx, mapErr(err)))
	}
	if more {
		page.NextCursor = last.Encode()
	}

	if !f.SkipTotal {
		if err := br.QueryRow().Scan(&page.Total); err != nil {
			return nil, fmt.Errorf("query: count: %w", withCtx(ctx, mapErr(err)))
		}
		if err := br.Close(); err != nil {
			return nil, fmt.Errorf("query: %w", withCtx(ctx, mapErr(err)))
		}
		if page.Total > threshold {
			est, err := s.estimate(ctx, countWhere, countArgs)
			if err != nil {
				return nil, err
			}
			page.Total, page.TotalIsEstimate = max(est, threshold+1), true
		}
	}
	return page, nil
}

// estimate returns the planner's row estimate for the filter.
func (s *Store) estimate(ctx context.Context, where string, args []any) (int64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"` //nolint:tagliatelle // format fixed by PostgreSQL EXPLAIN
		} `json:"Plan"` //nolint:tagliatelle // format fixed by PostgreSQL EXPLAIN
	}
	var out []byte
	if err := s.pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM analytics_logs"+where, args...).Scan(&out); err != nil {
		return 0, fmt.Errorf("query: estimate count: %w", withCtx(ctx, mapErr(err)))
	}
	if err := json.Unmarshal(out, &plan); err != nil {
		return 0, fmt.Errorf("query: estimate count: unexpected EXPLAIN output: %w", err)
	}
	if len(plan) == 0 {
		return 0, errors.New("query: estimate count: unexpected EXPLAIN output: no plan")
	}
	return int64(plan[0].Plan.Rows), nil
}

// buildPageSQL returns the page query of a normalized filter (fetching Limit+1 rows, the extra one telling that
// another page exists) and the WHERE clause of the filter without the cursor, for counting.
func buildPageSQL(f logingest.Filter) (pageSQL string, args []any, countWhere string, countArgs []any, err error) {
	col := sortColumnFor(f.SortBy)
	cmp, dir := ">", "ASC"
	if f.SortOrder == logingest.SortDesc {
		cmp, dir = "<", "DESC"
	}

	where, args := whereClause(f, nil)
	countWhere, countArgs = where, append([]any(nil), args...)
	after, err := storequery.After(f)
	if err != nil {
		return "", nil, "", nil, err
	}
	if after != nil {
		args = append(args, after.Value, after.ID)
		keyset := fmt.Sprintf("(%s, id) %s ($%d::%s, $%d::int8)", col.expr, cmp, len(args)-1, col.typ, len(args))
		if where == "" {
			where = " WHERE " + keyset
		} else {
			where += " AND " + keyset
		}
	}
	args = append(args, f.Limit+1, f.Offset)
	pageSQL = fmt.Sprintf("SELECT %s FROM analytics_logs%s ORDER BY %s %s, id %s LIMIT $%d OFFSET $%d",
		selectColumns, where, col.expr, dir, dir, len(args)-1, len(args))

	return pageSQL, args, countWhere, countArgs, nil
}
