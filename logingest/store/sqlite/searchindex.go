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

// indexNonASCII adds to the FTS5 index of non-ASCII documents (analytics_logs_fts_unicode, migration 010),
// in Append's transaction, the search documents of the rows Append inserted (ids) that have a character
// outside ASCII (or a NUL): LIKE, which verifies the candidates of the ASCII index and tests the un-indexed
// tail, is exact for ASCII documents only. The rest wait for the background indexer (searchindexer.go). The
// document is that of 007.
func indexNonASCII(ctx context.Context, tx *sql.Tx, ids idRange) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO analytics_logs_fts_unicode (rowid, doc)
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

// The search indexes (migration 010). Two FTS5 trigram indexes hold the search documents:
//
//   - analytics_logs_fts, detail=none: the ASCII documents (no byte outside ASCII, no NUL) of the events up to
//     analytics_indexed.upto. It records which documents hold a trigram, not where, so it cannot answer a
//     phrase: a term becomes the AND of its trigrams (trigramQuery), whose matches are candidates, a superset
//     of the term's matches ("abcXbcd" holds every trigram of "abcd"). Every candidate is verified by LIKE on
//     its search document, which for an ASCII document is exactly the FTS5 answer (below).
//   - analytics_logs_fts_unicode, detail=full (007's index): the documents with a character outside ASCII or a
//     NUL, of every event (Append indexes them in its transaction). A term is the FTS5 string of its trigrams
//     (ftsQuery), an exact phrase match with FTS5's Unicode case folding.
//
// Keeping positions for every ASCII document made FTS5's flushes and merges over a third of the server's CPU
// under ingest; without them the index holds one entry per distinct trigram of a document, and the few
// candidates that hold every trigram of a term without the term are removed before any row is counted,
// paged or returned.
//
// Search plans (issue 12). A search term is "rare" when the indexes and the un-indexed tail hold at most
// searchConfig.commonAbove (1,000) candidates: Query then reads those, verifies them and sorts the few
// matching rows (ftsFirstCond). A "common" term (a large share of the events) would make that plan fetch and
// sort every match, seconds at a million rows, so Query instead walks the filter's ordered index and tests
// each row (rowMatch), stopping at the page size. Both plans return the same rows in the same order; only the
// cost differs, and both costs grow with the candidates, so the candidates choose the plan.
//
// The row test must give exactly the FTS5 trigram tokenizer's answer: every term a case-insensitive
// substring of the document, where "case-insensitive" is FTS5's Unicode case folding. SQLite's LIKE folds
// ASCII letters only, so it gives the same answer when both the term and the document are ASCII: an ASCII
// letter of the term then only meets ASCII letters of the document, which both fold the same way. A term with
// a non-ASCII character that FTS5 folds to an ASCII letter (the Kelvin sign to k, the long s to s) is folded
// first (foldTerm); a term that keeps a non-ASCII character cannot match an ASCII document. When the document
// has a non-ASCII character (which FTS5 might fold to an ASCII letter) and LIKE finds no match, the row is
// looked up in the index of non-ASCII documents instead (searchProbe): exact, but about a thousand times
// slower than LIKE. A LIKE match is always a FTS5 match.
//
// The un-indexed tail (migration 009). The ASCII index holds every ASCII document up to
// analytics_indexed.upto; the background indexer (searchindexer.go) moves upto forward a few times a second.
// Every search condition therefore also accepts a row of the tail (id above upto, ASCII document) that
// matches every folded term by LIKE (asciiMatch). A freshly stored event is thus found at once, and the tail
// is small: what the writer stored in the last indexer delay.
const (
	// unicodeMatches selects the rowids of the matches of the index of non-ASCII documents.
	unicodeMatches = "SELECT rowid FROM analytics_logs_fts_unicode WHERE analytics_logs_fts_unicode MATCH ?"
	// asciiCandidates selects the rowids of the ASCII index's candidates.
	asciiCandidates = "SELECT rowid FROM analytics_logs_fts WHERE analytics_logs_fts MATCH ?"
	// searchProbe tests one row against the index of non-ASCII documents (a rowid lookup in each term's
	// doclist).
	searchProbe = "EXISTS (SELECT 1 FROM analytics_logs_fts_unicode WHERE analytics_logs_fts_unicode MATCH ? " +
		"AND analytics_logs_fts_unicode.rowid = analytics_logs.id)"
	// nonASCIIDoc is true when a column of the row's search document holds a byte outside ASCII (length counts
	// characters up to the first NUL, octet_length bytes, so a NUL counts too). properties may be NULL,
	// which concat_ws skips.
	nonASCIIDoc = "(length(event_name) < octet_length(event_name) OR length(user_id) < octet_length(user_id) OR " +
		"length(session_id) < octet_length(session_id) OR length(coalesce(properties, '')) < octet_length(coalesce(properties, '')))"
	// indexedUpTo is the id up to which every event is in the search index (migration 009).
	indexedUpTo = "(SELECT upto FROM analytics_indexed)"
	// unindexedASCII selects the rows of the un-indexed tail that the ASCII index will hold: above upto, with
	// an ASCII document (the others are indexed by Append).
	unindexedASCII = "id > " + indexedUpTo + " AND NOT " + nonASCIIDoc
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

// asciiMatch returns the condition that a row's search document contains every term by LIKE (ASCII case
// folding), each term folded as FTS5 folds it (foldTerm), and its arguments: for an ASCII document, exactly
// the FTS5 answer. ok is false when a term keeps a non-ASCII character after folding: then no ASCII document
// matches.
func asciiMatch(terms []string) (cond string, args []any, ok bool) {
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
	return strings.Join(likes, " AND "), args, true
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

// searchCond returns the search condition of the FTS-first plan and its arguments: id IN one list of the
// matches of the index of non-ASCII documents, the verified candidates of the ASCII index, and the matches of
// the un-indexed tail. lo and hi, when hi > 0, bound the ids (the total's sample, searchtotal.go). One list of
// ids, so that SQLite drives the query from it (rowid lookups); "id IN (...) OR tail" made it walk the
// filter's index instead.
func searchCond(terms []string, lo, hi int64) (string, []any) {
	unicode, args := unicodeMatches, []any{ftsQuery(terms)}
	if hi > 0 {
		unicode += " AND rowid BETWEEN ? AND ?"
		args = append(args, lo, hi)
	}
	match, likes, ok := asciiMatch(terms)
	if !ok {
		return "id IN (" + unicode + ")", args
	}
	candidates, tail := asciiCandidates, unindexedASCII
	args = append(args, trigramQuery(terms))
	if hi > 0 {
		candidates += " AND rowid BETWEEN ? AND ?"
		tail = "id BETWEEN ? AND ? AND " + tail
		args = append(args, lo, hi)
	}
	args = append(args, likes...)
	if hi > 0 {
		args = append(args, lo, hi)
	}
	args = append(args, likes...)
	return "id IN (" + unicode +
		" UNION ALL SELECT id FROM analytics_logs WHERE id IN (" + candidates + ") AND " + match +
		" UNION ALL SELECT id FROM analytics_logs WHERE " + tail + " AND " + match + ")", args
}

// searchConfig holds the search plan's and total's limits; a zero field means its default (tests lower
// them).
type searchConfig struct {
	// commonAbove is how many candidates a search may have and still be served FTS-first. Defaults to 1000.
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

// ftsQuery returns the FTS5 query of search terms (logingest.SearchTerms) for the index of non-ASCII
// documents: each term an FTS5 string (a phrase of its trigrams), which matches it as a case-insensitive
// substring; every term must match.
func ftsQuery(terms []string) string {
	quoted := make([]string, len(terms))
	for i, t := range terms {
		quoted[i] = ftsString(t)
	}
	return strings.Join(quoted, " AND ")
}

// trigramQuery returns the FTS5 query of the ASCII index (detail=none, which answers no phrase) for terms
// whose folded forms are ASCII: the AND of every distinct trigram of every folded term, each an FTS5 string of
// one token. Its matches are the documents holding every trigram: every match of the terms, and possibly
// more.
func trigramQuery(terms []string) string {
	var quoted []string
	seen := map[string]bool{}
	for _, t := range terms {
		folded := strings.ToLower(foldTerm(t)) // ASCII (asciiMatch checked); the tokenizer folds case too
		for i := 0; i+3 <= len(folded); i++ {
			if tri := folded[i : i+3]; !seen[tri] {
				seen[tri] = true
				quoted = append(quoted, ftsString(tri))
			}
		}
	}
	return strings.Join(quoted, " AND ")
}

// ftsString quotes s as an FTS5 string.
func ftsString(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ftsFirstCond is the search condition of the FTS-first plan (searchCond over every id).
func ftsFirstCond(terms []string) (string, []any) { return searchCond(terms, 0, 0) }

// ftsWindowCond is ftsFirstCond restricted to the ids from lo to hi (the total's sample).
func ftsWindowCond(terms []string, lo, hi int64) (string, []any) { return searchCond(terms, lo, hi) }

// rowMatch is the search condition of the index-first plan: a test of the row itself (see "Search plans").
// LIKE on the folded terms, exact for an ASCII document whether or not it is indexed yet; else, for a
// document with a non-ASCII character, the probe of the index of non-ASCII documents, which holds every such
// document (indexNonASCII).
func rowMatch(terms []string) (string, []any) {
	probe := "(" + nonASCIIDoc + " AND " + searchProbe + ")"
	match, args, ok := asciiMatch(terms)
	if !ok {
		return probe, []any{ftsQuery(terms)}
	}
	return "((" + match + ") OR " + probe + ")", append(args, ftsQuery(terms))
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

// commonSearch reports whether f searches for terms with more than commonAbove candidates (see "Search
// plans"): matches in the index of non-ASCII documents, candidates of the ASCII index, and matches of the
// un-indexed tail, reading at most commonAbove+1 of each.
func (s *Store) commonSearch(ctx context.Context, tx *sql.Tx, f logingest.Filter) (bool, error) {
	terms, _ := logingest.SearchTerms(f.Search) // validated by Normalize
	if len(terms) == 0 {
		return false, nil
	}
	limit := s.search.common() + 1
	q := `SELECT (SELECT count(*) FROM (` + unicodeMatches + ` LIMIT ?))`
	args := []any{ftsQuery(terms), limit}
	if match, likes, ok := asciiMatch(terms); ok {
		q += ` + (SELECT count(*) FROM (` + asciiCandidates + ` LIMIT ?))` +
			` + (SELECT count(*) FROM (SELECT 1 FROM analytics_logs WHERE ` + unindexedASCII + ` AND ` + match + ` LIMIT ?))`
		args = append(append(append(args, trigramQuery(terms), limit), likes...), limit)
	}
	var n int64
	err := tx.QueryRowContext(ctx, q, args...).Scan(&n)
	return n > s.search.common(), err
}
