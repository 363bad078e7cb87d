package sqlite

import (
	"context"
	"database/sql"
	"strings"

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

// commonAbove returns the store's search threshold (tests lower it).
func (s *Store) commonAbove() int64 {
	if s.searchCommonAbove > 0 {
		return s.searchCommonAbove
	}
	return defaultSearchCommonAbove
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
