package sqlite

import (
	"context"
	"database/sql"
	"math"
	"slices"
	"strings"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
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

// Search plans (issue 12). A search term is "rare" when the FTS5 index holds at most
// defaultSearchCommonAbove matches of it: Query then reads those rowids from the index and sorts the few
// matching rows (ftsFirst). A "common" term (a large share of the events) would make that plan fetch and sort
// every match, seconds at a million rows, so Query instead walks the filter's ordered index and probes the
// FTS5 index once per row (searchProbe), stopping at the page size. Both plans return the same rows in the
// same order; only the cost differs.
const (
	// ftsFirst drives the query from the FTS5 index (rowid IN the matches).
	ftsFirst = "id IN (SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ?)"
	// searchProbe tests one row against the FTS5 index (a rowid lookup in each term's doclist).
	searchProbe = "EXISTS (SELECT 1 FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ? AND analytics_logs_fts.rowid = analytics_logs.id)"

	// defaultSearchCommonAbove is how many FTS5 matches a search may have and still be served FTS-first.
	defaultSearchCommonAbove = 1000
	// defaultSearchCountThreshold is how many matches of a common search Query counts exactly; above it,
	// Page.Total is an estimate with Page.TotalIsEstimate set (as pgstore's CountEstimateThreshold).
	defaultSearchCountThreshold = 1000
	// defaultSearchSampleRows is how many rows of the filter (without the search) the estimate probes.
	defaultSearchSampleRows = 10000
)

// ftsQuery returns the FTS5 query of search terms (logingest.SearchTerms): each term an FTS5 string (a
// phrase of its trigrams), which matches it as a case-insensitive substring; every term must match.
func ftsQuery(terms []string) string {
	quoted := make([]string, len(terms))
	for i, t := range terms {
		quoted[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return strings.Join(quoted, " AND ")
}

// commonAbove and countThreshold return the store's search thresholds (tests lower them).
func (s *Store) commonAbove() int64 {
	if s.searchCommonAbove > 0 {
		return s.searchCommonAbove
	}
	return defaultSearchCommonAbove
}

func (s *Store) sampleRows() int64 {
	if s.searchSample > 0 {
		return s.searchSample
	}
	return defaultSearchSampleRows
}

func (s *Store) countThreshold() int64 {
	if s.searchCountThreshold > 0 {
		return s.searchCountThreshold
	}
	return defaultSearchCountThreshold
}

// commonSearch reports whether f searches for terms with more than commonAbove matches in the FTS5 index,
// reading at most commonAbove+1 of them.
func (s *Store) commonSearch(ctx context.Context, tx *sql.Tx, f logingest.Filter) (bool, error) {
	terms, _ := logingest.SearchTerms(f.Search) // validated by Normalize
	if len(terms) == 0 {
		return false, nil
	}
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT rowid FROM analytics_logs_fts
		WHERE analytics_logs_fts MATCH ? LIMIT ?)`, ftsQuery(terms), s.commonAbove()+1).Scan(&n)
	return n > s.commonAbove(), err
}

// searchTotal returns Page.Total of a common search f, whose WHERE clause (searchProbe, no cursor) is
// where/args. It is exact when at most countThreshold rows match, found by walking the filter's rows until
// countThreshold+1 match (a search that matches few of the filter's rows therefore walks them all). Above
// that it estimates: the share of matches among the first sampleRows (10,000) rows of the filter, times the
// filter's size without the search (from the hourly rollups when the filter only has columns they keep,
// else counted), never below countThreshold+1, with estimated true. When the filter has fewer than
// sampleRows rows the sample is the whole filter and the total is exact.
func (s *Store) searchTotal(ctx context.Context, tx *sql.Tx, f logingest.Filter, where string, args []any) (
	total int64, estimated bool, err error,
) {
	limit := s.countThreshold()
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM analytics_logs"+where+" LIMIT ?)",
		append(slices.Clip(args), limit+1)...).Scan(&total); err != nil {
		return 0, false, err
	}
	if total <= limit {
		return total, false, nil
	}
	terms, _ := logingest.SearchTerms(f.Search)
	base := f
	base.Search = ""
	baseWhere, baseArgs := filterWhere(base)
	var rows, hits int64
	q := "SELECT count(*), coalesce(sum(" + searchProbe + "), 0) FROM (SELECT id FROM analytics_logs" + baseWhere +
		" LIMIT ?) AS analytics_logs"
	if err := tx.QueryRowContext(ctx, q, ftsQueryArg(terms, baseArgs, s.sampleRows())...).Scan(&rows, &hits); err != nil {
		return 0, false, err
	}
	if rows < s.sampleRows() {
		return hits, false, nil
	}
	n, err := filterSize(ctx, tx, base, baseWhere, baseArgs)
	if err != nil {
		return 0, false, err
	}
	est := int64(math.Round(float64(hits) / float64(rows) * float64(n)))
	return max(est, limit+1), true, nil
}

// ftsQueryArg orders the arguments of searchTotal's sample: the probe's FTS5 query first (it is in the
// select list), then the filter's, then the sample size.
func ftsQueryArg(terms []string, baseArgs []any, sample int64) []any {
	out := make([]any, 0, len(baseArgs)+2)
	out = append(out, ftsQuery(terms))
	out = append(out, baseArgs...)
	return append(out, sample)
}

// filterSize returns the number of events matching f (which has no search): the sum of the hourly rollups
// when f only matches columns they keep (events written through the Store; cheap), else a count.
func filterSize(ctx context.Context, tx *sql.Tx, f logingest.Filter, where string, args []any) (int64, error) {
	// The hourly rollups of migration 006 keep every column of storequery.Matches but user_id and session_id.
	fromRollups := f.UserID == "" && f.SessionID == "" && f.ProviderName == "" && f.StartTime.IsZero() && f.EndTime.IsZero()
	matches := storequery.Matches(f)
	conds := make([]string, 0, len(matches))
	rargs := make([]any, 0, len(matches))
	for _, m := range matches {
		conds = append(conds, m.Column+" = ?")
		rargs = append(rargs, m.Value)
	}
	var n int64
	if !fromRollups {
		err := tx.QueryRowContext(ctx, "SELECT count(*) FROM analytics_logs"+where, args...).Scan(&n)
		return n, err
	}
	q := "SELECT coalesce(sum(n), 0) FROM analytics_rollup_hour"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	err := tx.QueryRowContext(ctx, q, rargs...).Scan(&n)
	return n, err
}
