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

// indexNonASCII adds to the FTS5 index of migration 007, in Append's transaction, the search documents of
// the rows Append inserted (ids) that have a character outside ASCII (or a NUL): the row test of the
// un-indexed tail (tailMatch) is exact for ASCII documents only. The rest wait for the background indexer
// (searchindexer.go). The document is that of 007.
func indexNonASCII(ctx context.Context, tx *sql.Tx, ids idRange) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO analytics_logs_fts (rowid, doc)
		SELECT id, `+searchDoc+` FROM analytics_logs WHERE id BETWEEN ? AND ? AND `+nonASCIIDoc, ids.lo, ids.hi)
	return err
}

// anyNonASCII reports whether maybeNonASCII holds for an event of events.
func anyNonASCII(events []logingest.Event) bool {
	for i := range events {
		if maybeNonASCII(&events[i]) {
			return true
		}
	}
	return false
}

// maybeNonASCII reports whether the search document of e may have a byte outside ASCII or a NUL (what
// nonASCIIDoc tests in SQL): Append skips indexNonASCII when no event it inserted has one.
func maybeNonASCII(e *logingest.Event) bool {
	return !plainASCII(e.EventName) || !plainASCII(e.UserID) || !plainASCII(e.SessionID) || !plainASCII(string(e.Properties))
}

// plainASCII reports whether s has only ASCII bytes other than NUL.
func plainASCII(s string) bool {
	for i := range len(s) {
		if s[i] == 0 || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Search plans (issue 12). A search term is "rare" when the FTS5 index holds at most searchConfig.commonAbove
// (1,000) matches of it: Query then reads those rowids from the index and sorts the few matching rows
// (ftsFirstCond). A "common" term (a large share of the events) would make that plan fetch and sort every match,
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
//
// The un-indexed tail (migration 009). The FTS5 index holds every event up to analytics_indexed.upto,
// and above it the events whose document is not ASCII (Append indexes those itself); the background indexer
// (searchindexer.go) moves upto forward a few times a second. Every search condition therefore also accepts
// a row of the tail (id above upto, ASCII document) that matches every term by LIKE (tailMatch): for an
// ASCII document that is the FTS5 answer (above), also for a non-ASCII term, once folded the way FTS5 folds
// it (foldTerm: a term that keeps a non-ASCII character after folding cannot match an ASCII document). A
// freshly stored event is thus found at once, and the tail is small: what the writer stored in the last
// indexer delay.
const (
	// ftsMatches selects the rowids of the FTS5 index's matches (ftsFirstCond).
	ftsMatches = "SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ?"
	// ftsWindow is ftsMatches over a range of rowids (the total's sample, searchtotal.go).
	ftsWindow = ftsMatches + " AND rowid BETWEEN ? AND ?"
	// searchProbe tests one row against the FTS5 index (a rowid lookup in each term's doclist).
	searchProbe = "EXISTS (SELECT 1 FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ? AND analytics_logs_fts.rowid = analytics_logs.id)"
	// nonASCIIDoc is true when a column of the row's search document holds a byte outside ASCII (length counts
	// characters up to the first NUL, octet_length bytes, so a NUL counts too). properties may be NULL,
	// which concat_ws skips.
	nonASCIIDoc = "(length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id) OR " +
		"length(session_id) < octet_length(session_id) OR length(coalesce(properties, '')) < octet_length(coalesce(properties, '')))"
	// indexedUpTo is the id up to which every event is in the FTS5 index (migration 009).
	indexedUpTo = "(SELECT upto FROM analytics_indexed)"
)

// lastSeenTail is what analytics_last_seen lacks until the indexer has run (rollupsql.Dialect.LastSeenTail):
// the user and session ids of the events above upto, with their received_at.
//
// Its columns are written +column: the conditions a caller puts on source and seen are pushed into each arm,
// and on the bare columns SQLite then walked the (source, received_at) index over the whole window (142 ms at
// 1 M events for the active counts' "any later" test) instead of the rowid range above upto (under 1 ms).
const lastSeenTail = `SELECT +source AS source, 'u' AS kind, +user_id AS id, +received_at AS seen FROM analytics_logs
	WHERE analytics_logs.id > ` + indexedUpTo + ` AND user_id <> ''
	UNION ALL SELECT +source, 's', +session_id, +received_at FROM analytics_logs
	WHERE analytics_logs.id > ` + indexedUpTo + ` AND session_id <> ''`

// tailMatch is the condition that a row of the un-indexed tail (see "The un-indexed tail") matches terms,
// and its arguments; ok is false when no such row can match (a term keeps a non-ASCII character after
// folding).
func tailMatch(terms []string) (cond string, args []any, ok bool) {
	likes := make([]string, len(terms))
	args = make([]any, len(terms))
	for i, t := range terms {
		folded := foldTerm(t)
		if !isASCII(folded) {
			return "", nil, false
		}
		likes[i] = searchDoc + ` LIKE ? ESCAPE '\'`
		args[i] = likePattern(folded)
	}
	return "(id > " + indexedUpTo + " AND NOT " + nonASCIIDoc + " AND " + strings.Join(likes, " AND ") + ")", args, true
}

// foldTerm replaces the characters outside ASCII that the FTS5 trigram tokenizer (case_sensitive 0,
// remove_diacritics 0) folds to an ASCII letter: U+017F (long s) and U+212A (Kelvin sign). Every other
// non-ASCII character folds to a non-ASCII one (TestFoldTermIsFTS5Folding checks every code point against
// SQLite). ASCII letters LIKE folds itself.
func foldTerm(t string) string {
	if isASCII(t) {
		return t
	}
	return strings.NewReplacer("\u017f", "s", "\u212a", "k").Replace(t)
}

// orTail returns "(cond OR tail)" with cond's arguments followed by the tail's, or cond alone when no tail
// row can match: a row test.
func orTail(cond string, args []any, terms []string) (string, []any) {
	tail, more, ok := tailMatch(terms)
	if !ok {
		return cond, args
	}
	return "(" + cond + " OR " + tail + ")", append(args, more...)
}

// inFTSOrTail returns "id IN (the FTS5 matches of fts, the tail's matches)", where fts is the SELECT of
// rowids from the FTS5 index with its arguments args; lo and hi, when hi > 0, bound the tail's ids. One list
// of ids, so that SQLite drives the query from it (rowid lookups) as it did from the FTS5 matches alone;
// "id IN (...) OR tail" made it walk the filter's index instead.
func inFTSOrTail(fts string, args []any, terms []string, lo, hi int64) (string, []any) {
	tail, more, ok := tailMatch(terms)
	if !ok {
		return "id IN (" + fts + ")", args
	}
	if hi > 0 {
		tail = "id BETWEEN ? AND ? AND " + tail
		more = append([]any{lo, hi}, more...)
	}
	return "id IN (" + fts + " UNION ALL SELECT id FROM analytics_logs WHERE " + tail + ")", append(args, more...)
}

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

// ftsFirstCond is the search condition of the FTS-first plan: the FTS5 index's matches, and the tail's.
func ftsFirstCond(terms []string) (string, []any) {
	return inFTSOrTail(ftsMatches, []any{ftsQuery(terms)}, terms, 0, 0)
}

// ftsWindowCond is ftsFirstCond restricted to the ids from lo to hi (the total's sample).
func ftsWindowCond(terms []string, lo, hi int64) (string, []any) {
	return inFTSOrTail(ftsWindow, []any{ftsQuery(terms), lo, hi}, terms, lo, hi)
}

// rowMatch is the search condition of the index-first plan: a test of the row itself (see "Search plans").
// An ASCII document is tested by LIKE whether or not it is indexed yet; a non-ASCII one is always indexed
// (indexNonASCII), so the probe finds it.
func rowMatch(terms []string) (string, []any) {
	likes := make([]string, len(terms))
	args := make([]any, 0, len(terms)+1)
	for i, t := range terms {
		if !isASCII(t) {
			return orTail(searchProbe, []any{ftsQuery(terms)}, terms)
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

// commonSearch reports whether f searches for terms with more than commonAbove matches in the FTS5 index and
// the un-indexed tail, reading at most commonAbove+1 of each.
func (s *Store) commonSearch(ctx context.Context, tx *sql.Tx, f logingest.Filter) (bool, error) {
	terms, _ := logingest.SearchTerms(f.Search) // validated by Normalize
	if len(terms) == 0 {
		return false, nil
	}
	limit := s.search.common() + 1
	q := `SELECT (SELECT count(*) FROM (SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ? LIMIT ?))`
	args := []any{ftsQuery(terms), limit}
	if tail, more, ok := tailMatch(terms); ok {
		q += ` + (SELECT count(*) FROM (SELECT 1 FROM analytics_logs WHERE ` + tail + ` LIMIT ?))`
		args = append(append(args, more...), limit)
	}
	var n int64
	err := tx.QueryRowContext(ctx, q, args...).Scan(&n)
	return n > s.search.common(), err
}
