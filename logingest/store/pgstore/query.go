package pgstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/change66/logserver/logingest"
)

type sortColumn struct{ expr, typ string }

// SQL types of the sort columns, used to cast and parse cursor values.
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

// cursor is the decoded form of Page.NextCursor: the sort field and order it was made for, the sort value of
// the last event of the page (as text) and that event's id.
type cursor struct {
	Sort  logingest.SortField `json:"s"`
	Order logingest.SortOrder `json:"o"`
	Value string              `json:"v"`
	ID    int64               `json:"i"`
}

func (c cursor) encode() (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func decodeCursor(s string, f logingest.Filter) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err == nil && (c.Sort != f.SortBy || c.Order != f.SortOrder) {
		err = errors.New("cursor was made for another sort order")
	}
	if err != nil {
		return cursor{}, malformedCursor("malformed cursor: " + err.Error())
	}
	return c, nil
}

// malformedCursor is the validation error for a Filter.After the store cannot use.
func malformedCursor(reason string) error {
	return &logingest.ValidationError{Errors: []logingest.FieldError{{Field: "cursor", Reason: reason}}}
}

// whereClause builds the WHERE clause of f with positional placeholders only.
func whereClause(f logingest.Filter, args []any) (string, []any) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if f.EventType != "" {
		add("event_type = ?", string(f.EventType))
	}
	if f.EventName != "" {
		add("event_name = ?", f.EventName)
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if f.SessionID != "" {
		add("session_id = ?", f.SessionID)
	}
	if f.AppVersion != "" {
		add("app_version = ?", f.AppVersion)
	}
	if f.Priority != "" {
		add("priority = ?", string(f.Priority))
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
	col := sortColumnFor(f.SortBy)
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
		last cursor
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
			sortValue  string
			typ, prio  string
			id         int64
		)
		if err := rows.Scan(&id, &e.Source, &e.EventID, &e.Timestamp, &typ, &e.EventName, &props, &e.UserID,
			&e.SessionID, &e.AppVersion, &dev, &e.SequenceNumber, &prio, &e.ReceivedAt, &sortValue); err != nil {
			rows.Close()
			return nil, fmt.Errorf("query: scan: %w", err)
		}
		e.EventType, e.Priority = logingest.EventType(typ), logingest.Priority(prio)
		e.Timestamp, e.ReceivedAt = e.Timestamp.UTC(), e.ReceivedAt.UTC()
		if props != nil {
			e.Properties = json.RawMessage(props)
		}
		if dev != nil {
			e.DeviceInfo = json.RawMessage(dev)
		}
		if col.typ == typeTimestamptz {
			if f.SortBy == logingest.SortTimestamp {
				sortValue = e.Timestamp.Format(time.RFC3339Nano)
			} else {
				sortValue = e.ReceivedAt.Format(time.RFC3339Nano)
			}
		}
		last = cursor{Sort: f.SortBy, Order: f.SortOrder, Value: sortValue, ID: id}
		page.Events = append(page.Events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", withCtx(ctx, mapErr(err)))
	}
	if more {
		if page.NextCursor, err = last.encode(); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
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
	if f.After != "" {
		c, err := decodeCursor(f.After, f)
		if err != nil {
			return "", nil, "", nil, err
		}
		var v any = c.Value
		switch col.typ {
		case typeTimestamptz:
			t, err := time.Parse(time.RFC3339Nano, c.Value)
			if err != nil {
				return "", nil, "", nil, malformedCursor("malformed cursor value")
			}
			v = t
		case typeInt8:
			n, err := strconv.ParseInt(c.Value, 10, 64)
			if err != nil {
				return "", nil, "", nil, malformedCursor("malformed cursor value")
			}
			v = n
		}
		args = append(args, v, c.ID)
		keyset := fmt.Sprintf("(%s, id) %s ($%d::%s, $%d::int8)", col.expr, cmp, len(args)-1, col.typ, len(args))
		if where == "" {
			where = " WHERE " + keyset
		} else {
			where += " AND " + keyset
		}
	}
	args = append(args, f.Limit+1, f.Offset)
	pageSQL = fmt.Sprintf("SELECT %s, (%s)::text AS sort_value FROM analytics_logs%s ORDER BY %s %s, id %s LIMIT $%d OFFSET $%d",
		selectColumns, col.expr, where, col.expr, dir, dir, len(args)-1, len(args))

	return pageSQL, args, countWhere, countArgs, nil
}
