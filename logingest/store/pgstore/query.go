package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	case logingest.SortID:
		return sortColumn{"id", typeInt8}
	case logingest.SortEventID:
		return sortColumn{"event_id", typeText}
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
		// A NULL sorts as storequery.NullSequenceNumber, so that keyset comparisons never meet NULL.
		return sortColumn{"COALESCE(sequence_number, '-9223372036854775808'::int8)", typeInt8}
	default:
		return sortColumn{"timestamp", typeTimestamptz}
	}
}

const selectColumns = `id, source, event_id, timestamp, event_type, event_name, properties, COALESCE(user_id, ''),
	COALESCE(session_id, ''), COALESCE(app_version, ''), device_info, sequence_number, priority, received_at,
	processed_at, original_timestamp`

// searchDoc is the indexed search document of migration 008_search.
const searchDoc = `analytics_search_doc(event_name, user_id, session_id, properties)`

// likeEscaper escapes the LIKE wildcards and the escape character (backslash, PostgreSQL's default).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// whereClause builds the WHERE clause of f with positional placeholders only.
func whereClause(f logingest.Filter, args []any) (string, []any) {
	conds, args := conditions(f, args, "timestamp")
	if conds == "" {
		return "", args
	}
	return " WHERE " + conds, args
}

// conditions returns the conditions of f joined by AND ("" when f has none), numbering the placeholders after
// args, and args with their values. ts is the expression compared with StartTime and EndTime: "timestamp", or
// an equivalent that no index serves (skewSplitSQL).
func conditions(f logingest.Filter, args []any, ts string) (string, []any) {
	var conds []string
	add := func(cond string, vs ...any) {
		for _, v := range vs {
			args = append(args, v)
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1)
		}
		conds = append(conds, cond)
	}
	for _, m := range storequery.Matches(f) {
		add(m.Column+" = ?", m.Value)
	}
	if f.ProviderName != "" {
		add("(properties ->> 'provider_name') = ?", f.ProviderName)
	}
	if !f.StartTime.IsZero() {
		add(ts+" >= ?", f.StartTime)
	}
	if !f.EndTime.IsZero() {
		add(ts+" < ?", f.EndTime)
	}
	// Search (logingest.SearchTerms): every term is a case-insensitive substring of the document that the
	// trigram index of migration 008 covers (searchCondition).
	terms, _ := logingest.SearchTerms(f.Search) // validated by Normalize
	for _, t := range terms {
		cond, vs := searchCondition(t)
		add(cond, vs...)
	}
	return strings.Join(conds, " AND "), args
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

	threshold, search := s.cfg.CountEstimateThreshold, f.Search != ""
	if search {
		threshold = s.cfg.SearchCountThreshold
	}
	fromRollups := storequery.RollupFilter(f)
	var countSQL string
	var countSQLArgs []any
	switch {
	case f.SkipTotal:
	case fromRollups:
		countSQL, countSQLArgs = rollupTotalSQL(f)
	default:
		countSQL = fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM analytics_logs%s LIMIT %d) c", countWhere, threshold+1)
		countSQLArgs = countArgs
	}

	// A search with its total is estimated, or the keys of its matches are read, before the page (searchFirst).
	st, pageSQL, args, err := s.searchFirstPage(ctx, f, countSQL != "", pageSQL, args, countWhere, countArgs, threshold)
	if err != nil {
		return nil, err
	}
	if st.none() {
		return &logingest.Page{Events: []logingest.Event{}}, nil
	}

	// Usually the page and the bounded count travel in one batch: one round trip, with statements that pgx
	// prepares once per connection. A search or a time range is planned for its values instead (customPlan),
	// page and count one after the other. A time range or a provider without a search is sampled first
	// (sampleFirst), and counted only when the sample does not settle its total. A search with its total is
	// never counted: see above.
	custom := customPlan(f)
	first := countSQL != "" && !fromRollups && sampleFirst(f)
	page := &logingest.Page{Events: []logingest.Event{}, Total: -1}
	var (
		rows pgx.Rows
		br   pgx.BatchResults
	)
	if custom {
		rows, err = s.pool.Query(ctx, pageSQL, append([]any{pgx.QueryExecModeExec}, args...)...)
	} else {
		batch := &pgx.Batch{}
		batch.Queue(pageSQL, args...)
		if countSQL != "" && !first {
			batch.Queue(countSQL, countSQLArgs...)
		}
		br = s.pool.SendBatch(ctx, batch)
		defer br.Close()
		rows, err = br.Query()
	}
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
			processed  pgtype.Timestamptz
			original   pgtype.Timestamptz
		)
		if err := rows.Scan(&id, &e.Source, &e.EventID, &ts, &typ, &e.EventName, &props, &e.UserID,
			&e.SessionID, &e.AppVersion, &dev, &e.SequenceNumber, &prio, &recv, &processed, &original); err != nil {
			rows.Close()
			return nil, fmt.Errorf("query: scan: %w", err)
		}
		e.ID = id
		var bad []logingest.FieldError
		e.Timestamp, bad = readTime(ts, "timestamp", bad)
		e.ReceivedAt, bad = readTime(recv, "received_at", bad)
		e.ProcessedAt, bad = readNullTime(processed, "processed_at", bad)
		e.OriginalTimestamp, bad = readNullTime(original, "original_timestamp", bad)
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

	if countSQL == "" {
		return page, nil
	}
	if st != nil {
		return s.withSearchTotal(ctx, page, *st, countWhere, countArgs)
	}
	var sampled *sample // once taken
	if first {
		if br != nil {
			// The batch held the page only: its connection goes back to the pool before the next statements.
			if err := br.Close(); err != nil {
				return nil, fmt.Errorf("query: %w", withCtx(ctx, mapErr(err)))
			}
		}
		// Sampled first, so that the bounded count is skipped when the sample shows that the filter matches
		// more than the threshold (sampledTotal).
		total, estimated, done, smp, err := s.sampledTotal(ctx, countWhere, countArgs, threshold, f.ProviderName == "")
		if err != nil {
			return nil, err
		}
		if done {
			page.Total, page.TotalIsEstimate = total, estimated
			return page, nil
		}
		sampled = smp
	}
	started := time.Now()
	switch {
	case custom || first:
		// A time range's bounded count keeps the prepared statement, as before customPlan: planned for the
		// values of an hour of 5 million events, the list with its total took twice as long.
		err = s.pool.QueryRow(ctx, countSQL, countSQLArgs...).Scan(&page.Total)
		if err == nil && page.Total > threshold {
			s.countPace.observe(time.Since(started), page.Total)
		}
	default:
		if err = br.QueryRow().Scan(&page.Total); err == nil {
			err = br.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("query: count: %w", withCtx(ctx, mapErr(err)))
	}
	if !fromRollups && page.Total > threshold {
		total, estimated, err := s.largeTotal(ctx, countWhere, countArgs, threshold, sampled)
		if err != nil {
			return nil, err
		}
		page.Total, page.TotalIsEstimate = total, estimated
	}
	return page, nil
}

// customPlan reports whether the queries of f are planned for its values (pgx.QueryExecModeExec: an unnamed
// statement) rather than prepared once per connection. After five executions of a prepared statement
// PostgreSQL may switch to a generic plan, made without the values; for a search that plan reads every match
// of the term through the trigram index and sorts them, the planner's guess for a term being a fraction of a
// percent: 16.5 s for the first page of a term in 40 % of 5 million events (the value's own plan walks the
// newest events and stops after the page: 4 ms). A time range's plan likewise depends on where the range lies.
// Planning each time costs about a millisecond.
func customPlan(f logingest.Filter) bool {
	return f.Search != "" || !f.StartTime.IsZero() || !f.EndTime.IsZero()
}

// sampleFirst reports whether the total of f, when not taken from the rollups, is sampled before it is
// counted (sampledTotal): a time range or a provider, without a search. Their bounded count is the dearest:
// a time range's reads every match through the timestamp index (15 to 45 ms for an hour of 5 million events),
// a provider's reads one heap page per match, since an index on an expression of properties gives no
// index-only scan (10,001 of a provider's ~117,000 events: 8,800 heap pages, 90 ms). A provider with a user
// or a session is not: it matches few events, which the bounded count reads faster than the sample.
func sampleFirst(f logingest.Filter) bool {
	if f.Search != "" {
		return false
	}
	return !f.StartTime.IsZero() || !f.EndTime.IsZero() || f.ProviderName != "" && f.UserID == "" && f.SessionID == ""
}

// rollupTotalSQL counts the events of a filter that storequery.RollupFilter accepts (source, event type, name,
// app version, priority; no time range, no search) from the hour rollups of migration 007, which the insert
// and delete triggers keep exact in the rows' own transactions: a sum over the source's hour rows instead of a
// count over millions of events.
func rollupTotalSQL(f logingest.Filter) (string, []any) {
	matches := storequery.Matches(f)
	conds := make([]string, 0, len(matches))
	args := make([]any, 0, len(matches))
	for _, m := range matches {
		args = append(args, m.Value)
		conds = append(conds, m.Column+" = $"+strconv.Itoa(len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	return "SELECT coalesce(sum(n), 0)::int8 FROM analytics_rollup_hour" + where, args
}

// largeTotal returns the total of a filter without a search known to match more than threshold events: exact
// when a sample finds at most Config.CountExactMax matches and counting them ends within Config.CountTimeBudget;
// else the sample's estimate (never below the threshold plus one), with estimated true. (A search's total is
// never counted above its threshold: see searchFirst.) sampled is the sample when the caller already took it,
// else nil.
func (s *Store) largeTotal(ctx context.Context, where string, args []any, threshold int64, sampled *sample) (
	total int64, estimated bool, err error,
) {
	if sampled == nil {
		smp, err := s.sampleTotal(ctx, where, args)
		if err != nil {
			return 0, false, err
		}
		sampled = &smp
	}
	smp := *sampled
	smp.est = max(smp.est, threshold+1)
	return s.exactWithin(ctx, where, args, smp)
}

// exactWithin returns the exact count of the events matching where, when Config.CountExactMax allows counting
// est (the sampled total) events, counting them at the last measured pace (countPace) would not take longer
// than Config.CountTimeBudget, and the count ends within that budget; else est, with estimated true. At 5
// million events an hour's ~200,000 matches spent the whole 50 ms budget on every page for an estimate. A
// count that runs out is taken as having needed twice the budget for est events, so that totals as large are
// not attempted again until a faster count is measured.
//
// While no pace is known (after start-up), the count is attempted when even a scan of the whole table, at
// the sample's pace (sample.scan), would end within the budget: a small table's totals stay exact from the
// first page. Otherwise it answers est and measures the pace with this count in the background
// (measurePace): the first time-range list after start-up used to wait for a count that at 5 million events
// could not finish (about 150 ms for the page).
func (s *Store) exactWithin(ctx context.Context, where string, args []any, smp sample) (
	total int64, estimated bool, err error,
) {
	est := smp.est
	if s.cfg.CountExactMax < 0 || est > s.cfg.CountExactMax {
		return est, true, nil
	}
	d, paced := s.countPace.project(est)
	if !paced {
		d = smp.scan
	}
	if d > s.cfg.CountTimeBudget {
		if !paced {
			s.measurePace(where, args, est)
		}
		return est, true, nil
	}
	started := time.Now()
	n, ok, err := s.countWithin(ctx, where, args)
	if err != nil {
		return 0, false, err
	}
	if !ok {
		s.countPace.observe(2*s.cfg.CountTimeBudget, est)
		return est, true, nil
	}
	s.countPace.observe(time.Since(started), n)
	return n, false, nil
}

// rangeSureSample is how many sampled matches sampledTotal needs before it trusts the sample's estimate: a sample
// of a few blocks (a small table, a short range) can overshoot many times.
const rangeSureSample = 100

// sampledTotal returns the total of a filter that sampleFirst accepts when the planner expects more than
// threshold matches (asked only when askPlanner is set: it has no statistics of a provider, since PostgreSQL
// ignores those of a partial index, and guesses 0.5 % of the events for any provider, 25,000 of 5 million
// however many match) and a sample of at least rangeSureSample matches puts the total above threshold: then the
// bounded count (see sampleFirst for its cost) is skipped, and the total is exact when exactWithin counts it:
// a filter that the sample overestimated matches few events, and counting them is cheap. Otherwise done is
// false, smp is the sample (nil when none was taken) and the caller counts as for any filter.
func (s *Store) sampledTotal(ctx context.Context, where string, args []any, threshold int64, askPlanner bool) (
	total int64, estimated, done bool, smp *sample, err error,
) {
	if askPlanner {
		planned, err := s.plannedRows(ctx, where, args)
		if err != nil {
			return 0, false, false, nil, err
		}
		if planned <= threshold {
			return 0, false, false, nil, nil
		}
	}
	taken, err := s.sampleTotal(ctx, where, args)
	if err != nil {
		return 0, false, false, nil, err
	}
	if taken.hits < rangeSureSample || taken.est <= threshold {
		return 0, false, false, &taken, nil
	}
	total, estimated, err = s.exactWithin(ctx, where, args, taken)
	return total, estimated, true, &taken, err
}

// plannedRows returns the planner's estimate of the number of events matching where. It decides only whether
// sampledTotal samples first: a range the planner puts below the threshold (a rare name, or any range while the
// statistics lag behind a bulk ingest) goes straight to the bounded count, which a sample would only delay.
func (s *Store) plannedRows(ctx context.Context, where string, args []any) (int64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"` //nolint:tagliatelle // PostgreSQL's EXPLAIN key
		} `json:"Plan"` //nolint:tagliatelle // PostgreSQL's EXPLAIN key
	}
	q := "EXPLAIN (FORMAT JSON) SELECT 1 FROM analytics_logs" + where
	if err := s.pool.QueryRow(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...).Scan(&plan); err != nil {
		return 0, fmt.Errorf("query: plan count: %w", withCtx(ctx, mapErr(err)))
	}
	if len(plan) == 0 {
		return 0, nil
	}
	return int64(plan[0].Plan.Rows), nil
}

// countPace is the last measured time it took to count one matching event (a bounded or an exact count), safe
// for concurrent use. Zero until a count above the threshold was measured. It also tracks the background
// count that measures it (measurePace).
type countPace struct {
	nsPerEvent atomic.Uint64
	// measuring is set while a background count runs; at most one does.
	measuring atomic.Bool
	mu        sync.Mutex // guards stopped and the start of a background count (wg.Add)
	stopped   bool
	wg        sync.WaitGroup
}

// stop waits for the background count, if one runs, and starts no other. Store.Close calls it.
func (p *countPace) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
}

// measurePace counts the events matching where in the background, within Config.CountTimeBudget, and records
// the pace: that of the count when it ends in time, else twice the budget for est events (as exactWithin
// does). It starts nothing while another such count runs or after Close. An error (an outage, a closed pool)
// records nothing: the next large total tries again.
func (s *Store) measurePace(where string, args []any, est int64) {
	p := &s.countPace
	if !p.measuring.CompareAndSwap(false, true) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		p.measuring.Store(false)
		return
	}
	p.wg.Go(func() {
		defer p.measuring.Store(false)
		// statement_timeout ends the count; the deadline only guards against a server that does not answer.
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CountTimeBudget+10*time.Second)
		defer cancel()
		started := time.Now()
		n, ok, err := s.countWithin(ctx, where, args)
		switch {
		case err != nil:
			s.logger.Debug("pgstore: measuring the pace of counting", "err", err)
		case ok:
			p.observe(time.Since(started), n)
		default:
			p.observe(2*s.cfg.CountTimeBudget, est)
		}
	})
}

func (p *countPace) observe(took time.Duration, n int64) {
	if n > 0 {
		p.nsPerEvent.Store(math.Float64bits(float64(took) / float64(n)))
	}
}

// project returns how long counting n events would take at the measured pace; ok is false before any.
func (p *countPace) project(n int64) (time.Duration, bool) {
	bits := p.nsPerEvent.Load()
	if bits == 0 {
		return 0, false
	}
	return time.Duration(math.Float64frombits(bits) * float64(n)), true
}

// sampleTotal estimates the number of events matching where from a TABLESAMPLE SYSTEM of
// Config.CountSamplePercent of the blocks of every partition. Unlike the planner's estimate, it does not
// depend on statistics, which lag far behind right after a bulk ingest (the planner then reported 1,468 rows
// for 500,000).
// The sample runs without parallel workers: each worker starts a process that loads the catalog entries of
// every partition, which at 5 million events made the 1 % sample take 42 ms instead of 11 to 20 ms.
func (s *Store) sampleTotal(ctx context.Context, where string, args []any) (sample, error) {
	return s.sampleTotalAt(ctx, where, args, s.cfg.CountSamplePercent)
}

// sampleTotalAt is sampleTotal with a sample of pct percent of the blocks.
func (s *Store) sampleTotalAt(ctx context.Context, where string, args []any, pct float64) (sample, error) {
	q := fmt.Sprintf("SELECT count(*) FROM analytics_logs TABLESAMPLE SYSTEM (%g)%s", pct, where)
	fail := func(err error) (sample, error) {
		return sample{}, fmt.Errorf("query: estimate count: %w", withCtx(ctx, mapErr(err)))
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return fail(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		return fail(err)
	}
	var hits int64
	started := time.Now()
	if err := tx.QueryRow(ctx, q, args...).Scan(&hits); err != nil {
		return fail(err)
	}
	return sample{
		est:  int64(math.Round(float64(hits) * 100 / pct)),
		hits: hits,
		scan: time.Duration(float64(time.Since(started)) * 100 / pct),
	}, nil
}

// sample is what sampleTotal found.
type sample struct {
	// est is the estimated number of matching events; hits the number of sampled matches.
	est, hits int64
	// scan is the sample's duration scaled to the whole table: about what a sequential scan of every
	// partition would take, so an upper bound of an exact count's duration when no count's pace is known.
	scan time.Duration
}

// countWithin counts the events matching where exactly, in a read-only transaction whose statement_timeout is
// Config.CountTimeBudget. ok is false when the budget ran out.
func (s *Store) countWithin(ctx context.Context, where string, args []any) (n int64, ok bool, err error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, false, fmt.Errorf("query: count: %w", withCtx(ctx, mapErr(err)))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	ms := max(s.cfg.CountTimeBudget.Milliseconds(), 1)
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", ms)); err != nil {
		return 0, false, fmt.Errorf("query: count: %w", withCtx(ctx, mapErr(err)))
	}
	err = tx.QueryRow(ctx, "SELECT count(*) FROM analytics_logs"+where, args...).Scan(&n)
	var pgErr *pgconn.PgError
	if err != nil && ctx.Err() == nil && errors.As(err, &pgErr) && pgErr.Code == "57014" { // query_canceled: the budget
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("query: count: %w", withCtx(ctx, mapErr(err)))
	}
	return n, true, nil
}

// keysFromIndex reports whether the page of f is chosen from the user or session index alone before its rows
// are read. One user's or session's events are spread over the table, one heap page each; the user and session
// indexes (migration 010) carry source and received_at, so when the filter and the sort need nothing else (user
// or session, source, time range; sorted by received_at, timestamp or id), an index-only scan picks the page's
// keys and only the page's rows are read from the heap: about 50 pages instead of one per match. Any other
// filter or sort column must be read from the heap for every match anyway, and the plain query does that once.
func keysFromIndex(f logingest.Filter) bool {
	if f.UserID == "" && f.SessionID == "" {
		return false
	}
	if f.EventType != "" || f.EventName != "" || f.AppVersion != "" || f.Priority != "" || f.ProviderName != "" ||
		f.Search != "" {
		return false
	}
	switch f.SortBy {
	case logingest.SortReceivedAt, logingest.SortTimestamp, logingest.SortID:
		return true
	default:
		return false
	}
}

// buildPageSQL returns the page query of a normalized filter (fetching Limit+1 rows, the extra one telling that
// another page exists) and the WHERE clause of the filter without the cursor, for counting.
func buildPageSQL(f logingest.Filter) (pageSQL string, args []any, countWhere string, countArgs []any, err error) {
	where, args := whereClause(f, nil)
	countWhere, countArgs = where, append([]any(nil), args...)
	pageSQL, args, err = pageSQLOver(f, where, args, true)
	return pageSQL, args, countWhere, countArgs, err
}

// pageSQLOver returns the page query of a normalized filter over the events matching where (with its
// placeholders numbered from $1, their values in args): the keyset of the cursor, the order, Limit+1 and
// Offset. With shapes set it may pick the skew-split or the keys-from-index shape of the page (skewSplit,
// keysFromIndex), which assume that where is the filter's own (whereClause).
func pageSQLOver(f logingest.Filter, where string, args []any, shapes bool) (pageSQL string, _ []any, err error) {
	col := sortColumnFor(f.SortBy)
	cmp, dir := ">", "ASC"
	if f.SortOrder == logingest.SortDesc {
		cmp, dir = "<", "DESC"
	}
	after, err := storequery.After(f)
	if err != nil {
		return "", nil, err
	}
	keyset := ""
	if after != nil {
		args = append(args, after.Value, after.ID)
		keyset = fmt.Sprintf("(%s, id) %s ($%d::%s, $%d::int8)", col.expr, cmp, len(args)-1, col.typ, len(args))
	}
	plainWhere := where
	switch {
	case keyset == "":
	case where == "":
		where = " WHERE " + keyset
	default:
		where += " AND " + keyset
	}
	args = append(args, f.Limit+1, f.Offset)
	order := fmt.Sprintf(" ORDER BY %s %s, id %s", col.expr, dir, dir)
	limit := fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	pageSQL = "SELECT " + selectColumns + " FROM analytics_logs" + where + order + limit
	switch {
	case !shapes:
	case skewSplit(f):
		if keyset != "" {
			keyset = " AND " + keyset
		}
		pageSQL, args = skewSplitSQL(f, strings.TrimPrefix(plainWhere, " WHERE "), keyset, args, order, limit)
	case keysFromIndex(f):
		pageSQL = "SELECT " + selectColumns + " FROM analytics_logs WHERE (received_at, id) IN (SELECT received_at, id" +
			" FROM analytics_logs" + where + order + limit + ")" + order
	}
	return pageSQL, args, nil
}
