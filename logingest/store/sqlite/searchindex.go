package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// searchDoc is the search document of an event, as indexed in the FTS5 index of migration 007: event_name,
// user_id, session_id and the JSON text of properties, cut at 2048 characters. The row test of a common
// search (rowMatch) evaluates the same expression, so the two cannot drift apart.
const searchDoc = "substr(concat_ws(' ', event_name, user_id, session_id, properties), 1, 2048)"

// indexForSearch adds the search documents of the rows Append inserted to the FTS5 index of migration 007, in
// one statement over their id range. The document is that of 007 (migration 008 replaced its per-row
// trigger).
func indexForSearch(ctx context.Context, tx *sql.Tx, ids idRange) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO analytics_logs_fts (rowid, doc)
		SELECT id, `+searchDoc+` FROM analytics_logs WHERE id BETWEEN ? AND ?`, ids.lo, ids.hi)
	return err
}

// Search plans (issue 12). A search term is "rare" when the FTS5 index holds at most searchConfig.commonAbove
// (1,000) matches of it: Query then reads those rowids from the index and sorts the few matching rows
// (ftsFirst). A "common" term (a large share of the events) would make that plan fetch and sort every match,
// seconds at a million rows, so Query instead walks the filter's ordered index and tests each row
// (rowMatch), stopping at the page size. Both plans return the same rows in the same order; only the cost
// differs.
//
// The row test must give exactly the FTS5 trigram tokenizer's answer: every term a case-insensitive
// substring of the document, where "case-insensitive" is FTS5's Unicode case folding. SQLite's LIKE folds
// ASCII letters only, so it gives the same answer when both the term and the document are ASCII: an ASCII
// letter of the term then only meets ASCII letters of the document, which both fold the same way. When the
// document has a non-ASCII character (which FTS5 might fold to an ASCII letter, as it folds the Kelvin sign
// to k) and LIKE finds no match, the row is looked up in the FTS5 index instead (searchProbe): exact, but
// about a thousand times slower than LIKE (0.5–7 ms per row at a million events). A LIKE match is always a
// FTS5 match. A search with a non-ASCII term is probed on every row.
const (
	// ftsFirst drives the query from the FTS5 index (rowid IN the matches).
	ftsFirst = "id IN (SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ?)"
	// ftsWindow is ftsFirst over a range of rowids (the total's sample, searchtotal.go).
	ftsWindow = "id IN (SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ? AND rowid BETWEEN ? AND ?)"
	// searchProbe tests one row against the FTS5 index (a rowid lookup in each term's doclist).
	searchProbe = "EXISTS (SELECT 1 FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ? AND analytics_logs_fts.rowid = analytics_logs.id)"
	// nonASCIIDoc is true when a column of the row's search document holds a byte outside ASCII (length counts
	// characters up to the first NUL, octet_length bytes, so a NUL counts too). properties may be NULL,
	// which concat_ws skips.
	nonASCIIDoc = "(length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id) OR " +
		"length(session_id) < octet_length(session_id) OR length(coalesce(properties, '')) < octet_length(coalesce(properties, '')))"
)

// searchConfig holds the search plan's and total's limits; a zero field means its default (tests lower
// them).
type searchConfig struct {
	// commonAbove is how many FTS5 matches a search may have and still be served FTS-first. Defaults to 1000.
	commonAbove int64
	// countThreshold is how many matches of a common search Query counts exactly; above it Page.Total is an
	// estimate with Page.TotalIsEstimate set (as pgstore's SearchCountThreshold). Defaults to 1000.
	countThreshold int64
	// countBudget bounds that count: a filter whose rows rarely match walks many rows to find them. Defaults
	// to 50ms (pgstore's CountTimeBudget).
	countBudget time.Duration
	// sampleWindows and windowIDs shape the estimate's sample: that many ranges of that many ids, spread
	// evenly over the table. Default to 8 and 2500 (each range costs a FTS5 query of about 2 ms at a million
	// events, plus about 1 µs per id).
	sampleWindows, windowIDs int64
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (c searchConfig) common() int64         { return orDefault(c.commonAbove, 1000) }
func (c searchConfig) threshold() int64      { return orDefault(c.countThreshold, 1000) }
func (c searchConfig) budget() time.Duration { return orDefault(c.countBudget, 50*time.Millisecond) }

func (c searchConfig) windows() (n, size int64) {
	return orDefault(c.sampleWindows, 8), orDefault(c.windowIDs, 2500)
}

// ftsQuery returns the FTS5 query of search terms (logingest.SearchTerms): each term an FTS5 string (a
// phrase of its trigrams), which matches it as a case-insensitive substring; every term must match.
func ftsQuery(terms []string) string {
	quoted := make([]string, len(terms))
	for i, t := range terms {
		quoted[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return strings.Join(quoted, " AND ")
}

// ftsFirstCond is the search condition of the FTS-first plan.
func ftsFirstCond(terms []string) (string, []any) { return ftsFirst, []any{ftsQuery(terms)} }

// rowMatch is the search condition of the index-first plan: a test of the row itself (see "Search plans").
func rowMatch(terms []string) (string, []any) {
	likes := make([]string, len(terms))
	args := make([]any, 0, len(terms)+1)
	for i, t := range terms {
		if !isASCII(t) {
			return searchProbe, []any{ftsQuery(terms)}
		}
		likes[i] = searchDoc + ` LIKE ? ESCAPE '\'`
		args = append(args, likePattern(t))
	}
	cond := "((" + strings.Join(likes, " AND ") + ") OR (" + nonASCIIDoc + " AND " + searchProbe + "))"
	return cond, append(args, ftsQuery(terms))
}

// likePattern is the LIKE pattern of a substring, with LIKE's wildcards and the escape character escaped.
func likePattern(term string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(term) + "%"
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
		WHERE analytics_logs_fts MATCH ? LIMIT ?)`, ftsQuery(terms), s.search.common()+1).Scan(&n)
	return n > s.search.common(), err
}
