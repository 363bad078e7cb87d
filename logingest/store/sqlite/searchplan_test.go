package sqlite

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// openSearch opens an empty store for the search tests.
func openSearch(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "search.db"), &Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// searchEvent is an event of source "s" for the search tests, numbered i.
func searchEvent(i int) logingest.Event {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := logingest.Event{
		Source: "s", EventID: fmt.Sprintf("e%03d", i), Timestamp: base.Add(time.Duration(i%7) * time.Minute),
		EventType: logingest.EventTypes()[i%5], EventName: fmt.Sprintf("name_%d", i%4),
		UserID: fmt.Sprintf("user_%d", i%9), SessionID: fmt.Sprintf("sess_%d", i%6), AppVersion: fmt.Sprintf("1.%d", i%3),
		Priority: logingest.PriorityNormal, Properties: json.RawMessage(`{}`), DeviceInfo: json.RawMessage(`{}`),
	}
	if i%5 != 0 {
		e.SequenceNumber = new(int64(i % 8))
	}
	return e
}

// queryAll returns the ids of every page of f, followed by cursor, and each page's total.
func queryAll(t *testing.T, s *Store, f logingest.Filter) (ids, totals []int64) {
	t.Helper()
	for {
		p, err := s.Query(t.Context(), f)
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate, "%+v", f)
		for _, e := range p.Events {
			ids = append(ids, e.ID)
		}
		totals = append(totals, p.Total)
		if p.NextCursor == "" {
			return ids, totals
		}
		f.After = p.NextCursor
	}
}

// TestSearchPlans checks that a common search term is served by walking the filter's index with a test of
// each row (no sort of every match), and that it returns the same pages, cursors and totals as the FTS-first
// plan of rare terms, for every sort field and order.
func TestSearchPlans(t *testing.T) {
	t.Parallel()
	s := openSearch(t)

	var events []logingest.Event
	common := int64(0)
	for i := range 60 {
		e := searchEvent(i)
		if i%3 == 0 {
			e.EventName = "Needle_" + e.EventName
			common++
		}
		events = append(events, e)
	}
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)

	// The plan of a common term: the source's received_at index, each row tested (LIKE, or the index of
	// non-ASCII documents probed for a row with non-ASCII text), no temp b-tree.
	f, err := logingest.Filter{Source: "s", Search: "needle"}.Normalize()
	require.NoError(t, err)
	where, args := filterWhereRowMatch(f)
	plan := strings.Join(queryPlan(t, s, "EXPLAIN QUERY PLAN SELECT "+selectColumns+" FROM analytics_logs"+where+
		" ORDER BY received_at DESC, id DESC LIMIT 10", args), "; ")
	require.Contains(t, plan, "INDEX analytics_logs_source_received_at", plan)
	require.Contains(t, plan, "analytics_logs_fts_unicode VIRTUAL TABLE INDEX 0:=M", plan) // probe: rowid = id and MATCH
	require.NotContains(t, plan, "TEMP B-TREE", plan)

	// The plan of a rare term: rowid lookups of the matches of the index of non-ASCII documents, of the
	// candidates of the ASCII index (each verified) and of the un-indexed tail's (a rowid range above upto),
	// then a sort of the few matches.
	where, args = filterWhere(f)
	plan = strings.Join(queryPlan(t, s, "EXPLAIN QUERY PLAN SELECT "+selectColumns+" FROM analytics_logs"+where+
		" ORDER BY received_at DESC, id DESC LIMIT 10", args), "; ")
	require.True(t, strings.HasPrefix(plan, "SEARCH analytics_logs USING INTEGER PRIMARY KEY (rowid=?)"), plan)
	require.Contains(t, plan, "SCAN analytics_logs_fts_unicode VIRTUAL TABLE INDEX 0:M1", plan)
	require.Contains(t, plan, "SCAN analytics_logs_fts VIRTUAL TABLE INDEX 0:M1", plan)
	require.Contains(t, plan, "SEARCH analytics_logs USING INTEGER PRIMARY KEY (rowid>?)", plan)

	// The plan choice: "needle" is common above a threshold of 5 matches and rare under the default.
	tx, err := s.reader.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	isCommon, err := s.commonSearch(t.Context(), tx, f)
	require.NoError(t, err)
	require.False(t, isCommon, "%d matches under the default threshold", common)
	s.search.commonAbove = 5
	isCommon, err = s.commonSearch(t.Context(), tx, f)
	require.NoError(t, err)
	require.True(t, isCommon)
	rare, err := logingest.Filter{Source: "s", Search: "needle user_0 sess_0"}.Normalize()
	require.NoError(t, err)
	isCommon, err = s.commonSearch(t.Context(), tx, rare)
	require.NoError(t, err)
	require.False(t, isCommon, "a term with few matches stays FTS-first")
	require.NoError(t, tx.Rollback())
	s.search.commonAbove = 0

	// Same results from both plans: every page by cursor, for every sort and order.
	for _, by := range logingest.SortFields() {
		for _, order := range []logingest.SortOrder{logingest.SortAsc, logingest.SortDesc} {
			f := logingest.Filter{Source: "s", Search: "needle", SortBy: by, SortOrder: order, Limit: 4}
			s.search.commonAbove = 0
			wantIDs, wantTotals := queryAll(t, s, f)
			require.Len(t, wantIDs, int(common))
			s.search.commonAbove = 5 // the common plan
			gotIDs, gotTotals := queryAll(t, s, f)
			require.Equal(t, wantIDs, gotIDs, "sort %s %s", by, order)
			require.Equal(t, wantTotals, gotTotals, "sort %s %s", by, order)
		}
	}
}

// TestSearchPlansAgree runs the same searches through the FTS-first plan and the row test of the common plan
// over documents chosen to tell them apart if they differ: letter case, non-ASCII letters (which FTS5 folds
// and LIKE does not), the Kelvin sign (which FTS5 may fold to k), a NUL (where LIKE stops reading), LIKE's
// wildcards and escape character, NULL properties, a term after the 2048th character, several terms, other
// filters. Every search must return the same events, in the same order, with the same totals.
func TestSearchPlansAgree(t *testing.T) {
	t.Parallel()
	s := openSearch(t)

	long := strings.Repeat("x", 2100)
	props := []string{
		`{"msg":"NEEDLE in caps"}`,
		`{"msg":"a needle, lower"}`,
		`{"msg":"café needle"}`,
		`{"msg":"ÉCOLE needle"}`,
		`{"msg":"école"}`,
		`{"msg":"` + "\u212A" + `elvin"}`,
		`{"msg":"kelvin"}`,
		`{"msg":"STRASSE straße"}`,
		`{"msg":"plain strasse"}`,
		`{"msg":"100% done"}`,
		`{"msg":"100 done"}`,
		`{"msg":"a_b and a-b"}`,
		`{"msg":"back\\slash"}`,
		`{"msg":"` + long + `"}`,
		`{"a":"needle","msg":"` + long + `"}`,
		`{"msg":"` + long + ` needle"}`,
		`{"msg":"😀 emoji needle"}`,
		``, // NULL properties
	}
	var events []logingest.Event
	for i := range 3 * len(props) {
		e := searchEvent(i)
		e.Properties = json.RawMessage(props[i%len(props)])
		switch i % 11 {
		case 3:
			e.UserID = "nul\x00needle" // Append does not validate; the ingester rejects a NUL
		case 7:
			e.EventName = "Kelvin_needle"
		}
		events = append(events, e)
	}
	res, err := s.Append(t.Context(), events)
	require.NoError(t, err)

	searches := []string{
		"needle", "NEEDLE", "NeEdLe", "café", "CAFÉ", "école", "ÉCOLE", "kelvin", "\u212Aelvin", "KELVIN",
		"straße", "STRASSE", "100%", "00% done", "a_b", "a-b", "_b_", `k\s`, `back\slash`, "xxxxxx needle",
		"needle lower", "needle caps", `:"😀 needle`, "nul", "needle user_3", "zzz", "elv", "ssE",
		"\u017ftra\u017f\u017fe", "stra\u017f", "\u212A\u212Aelvin", "café strasse",
	}
	filters := []logingest.Filter{
		{Source: "s"},
		{Source: "s", EventType: logingest.EventTypes()[1]},
		{Source: "s", UserID: "user_3", SortBy: logingest.SortTimestamp, SortOrder: logingest.SortAsc},
		{SortBy: logingest.SortEventName, SortOrder: logingest.SortAsc},
	}
	// Both plans, first with the ASCII documents in the un-indexed tail (the background indexer has not run:
	// its delay is longer than this test), then with every document in the FTS5 index: the same answers.
	answers := func() map[string][]int64 {
		out := map[string][]int64{}
		for _, text := range searches {
			for _, base := range filters {
				f := base
				f.Search, f.Limit = text, 7
				s.search.commonAbove = 0 // FTS-first: every search here has at most 1,000 matches
				wantIDs, wantTotals := queryAll(t, s, f)
				s.search.commonAbove = 1 // the common plan whenever the index holds two matches or more
				gotIDs, gotTotals := queryAll(t, s, f)
				require.Equal(t, wantIDs, gotIDs, "search %q, filter %+v", text, base)
				require.Equal(t, wantTotals, gotTotals, "search %q, filter %+v", text, base)
				key := fmt.Sprintf("%q %+v", text, base)
				out[key] = append(append(out[key], wantIDs...), wantTotals...)
			}
		}
		s.search.commonAbove = 0
		return out
	}
	var upto int64
	require.NoError(t, s.writer.QueryRowContext(t.Context(), "SELECT upto FROM analytics_indexed").Scan(&upto))
	require.Zero(t, upto, "the ASCII documents are still in the tail")
	tailAnswers := answers()
	require.NoError(t, s.indexAll(t.Context()))
	require.Equal(t, answers(), tailAnswers)
	matched := 0
	for _, ids := range tailAnswers {
		matched += len(ids)
	}
	require.Positive(t, matched)

	// Known answers: over the events whose document is ASCII (LIKE's domain), the matches are exactly the
	// events whose document (event_name, user_id, session_id, properties, cut at 2048) contains every term,
	// ignoring ASCII case.
	for _, text := range []string{"needle", "NEEDLE", "100%", "00% done", "a_b", "_b_", `back\slash`, "xxxxxx needle", "elv", "zzz"} {
		s.search.commonAbove = 1
		ids, _ := queryAll(t, s, logingest.Filter{Source: "s", Search: text, Limit: logingest.MaxQueryLimit})
		got := map[int64]bool{}
		for _, id := range ids {
			got[id] = true
		}
		terms, err := logingest.SearchTerms(text)
		require.NoError(t, err)
		for i, e := range events {
			doc := strings.Join([]string{e.EventName, e.UserID, e.SessionID, string(e.Properties)}, " ")
			if string(e.Properties) == "" {
				doc = strings.Join([]string{e.EventName, e.UserID, e.SessionID}, " ")
			}
			if !isASCII(doc) || strings.ContainsRune(doc, 0) {
				continue
			}
			doc = strings.ToLower(doc[:min(len(doc), 2048)])
			want := true
			for _, term := range terms {
				want = want && strings.Contains(doc, strings.ToLower(term))
			}
			require.Equal(t, want, got[res[i].ID], "search %q, event %d (%s)", text, i, doc)
		}
	}
	s.search.commonAbove = 0
}

// TestSearchTotal checks Page.Total of a common search: exact up to the count threshold, an estimate flagged
// TotalIsEstimate above it (never below what the page showed), exact again when the sample covers the whole
// table, and an estimate when the exact count runs out of time; the page itself is always exact.
func TestSearchTotal(t *testing.T) {
	t.Parallel()
	s := openSearch(t)

	var events []logingest.Event
	for i := range 400 {
		e := searchEvent(i)
		if i%2 == 0 {
			e.EventName = "needle_" + e.EventName
		}
		events = append(events, e)
	}
	_, err := s.Append(t.Context(), events)
	require.NoError(t, err)
	const want = 200

	query := func(cfg searchConfig, f logingest.Filter) *logingest.Page {
		t.Helper()
		s.search = cfg
		p, err := s.Query(t.Context(), f)
		require.NoError(t, err)
		return p
	}
	f := logingest.Filter{Source: "s", Search: "needle", Limit: 10}
	exact := query(searchConfig{}, f)
	require.Equal(t, int64(want), exact.Total)
	require.False(t, exact.TotalIsEstimate)

	// Common plan, matches under the threshold: exact.
	p := query(searchConfig{commonAbove: 5}, f)
	require.Equal(t, int64(want), p.Total)
	require.False(t, p.TotalIsEstimate)
	require.Equal(t, exact.Events, p.Events)

	// Above the threshold with windows covering the whole table: counted in full, exact.
	p = query(searchConfig{commonAbove: 5, countThreshold: 20}, f)
	require.Equal(t, int64(want), p.Total)
	require.False(t, p.TotalIsEstimate)

	// Above the threshold, sampled: 4 windows of 20 ids (ids alternate match/no match), an estimate.
	p = query(searchConfig{commonAbove: 5, countThreshold: 20, sampleWindows: 4, windowIDs: 20}, f)
	require.True(t, p.TotalIsEstimate)
	require.InDelta(t, want, p.Total, want/5)
	require.Equal(t, exact.Events, p.Events, "the page itself is exact")
	require.Equal(t, exact.NextCursor, p.NextCursor)

	// A filter with few matches is exact under the threshold, even with sampling configured.
	uf := logingest.Filter{Source: "s", Search: "needle", UserID: "user_4"}
	wantUser := query(searchConfig{}, uf)
	require.Equal(t, int64(22), wantUser.Total)
	p = query(searchConfig{commonAbove: 5, countThreshold: 30, sampleWindows: 4, windowIDs: 20}, uf)
	require.False(t, p.TotalIsEstimate)
	require.Equal(t, wantUser.Total, p.Total)

	// Never below the threshold plus one once the count has passed it, nor below what the page showed: a
	// deep page (offset) of a filter the sample misses.
	tf := logingest.Filter{Source: "s", Search: "needle", EventType: logingest.EventTypes()[0], Limit: 5, Offset: 30}
	wantType := query(searchConfig{}, tf)
	require.Greater(t, wantType.Total, int64(36))
	p = query(searchConfig{commonAbove: 5, countThreshold: 2, sampleWindows: 2, windowIDs: 1}, tf)
	require.True(t, p.TotalIsEstimate)
	require.GreaterOrEqual(t, p.Total, int64(tf.Offset+len(p.Events)+1))
	require.Equal(t, wantType.Events, p.Events)

	// The exact count runs out of its time budget: an estimate, and the transaction still reads the sample.
	p = query(searchConfig{commonAbove: 5, countBudget: time.Nanosecond, sampleWindows: 4, windowIDs: 20}, f)
	require.True(t, p.TotalIsEstimate)
	require.InDelta(t, want, p.Total, want/5)
	require.Equal(t, exact.Events, p.Events)

	// A last page read from the first match on is its own exact total; past the end, nothing is proven.
	lf := logingest.Filter{Source: "s", Search: "needle", Limit: logingest.MaxQueryLimit, Offset: 150}
	p = query(searchConfig{commonAbove: 5, countThreshold: 20, sampleWindows: 4, windowIDs: 20}, lf)
	require.Len(t, p.Events, want-150)
	require.Equal(t, int64(want), p.Total)
	require.False(t, p.TotalIsEstimate)
	lf.Offset = 1000
	p = query(searchConfig{commonAbove: 5, countThreshold: 20, sampleWindows: 4, windowIDs: 20}, lf)
	require.Empty(t, p.Events)
	require.True(t, p.TotalIsEstimate)
	require.InDelta(t, want, p.Total, want/5, "not the offset")

	// SkipTotal leaves it alone.
	sf := f
	sf.SkipTotal = true
	p = query(searchConfig{commonAbove: 5, countThreshold: 20, sampleWindows: 4, windowIDs: 20}, sf)
	require.Equal(t, int64(-1), p.Total)
	require.False(t, p.TotalIsEstimate)
	s.search = searchConfig{}
}

// TestSearchTrigramCandidates checks that the candidates of the ASCII index (detail=none: a term is the AND of
// its trigrams) that do not contain a term are never returned, counted or paged: "abcXbcd" holds every trigram
// of "abcd" but not "abcd". Both plans, with the documents in the un-indexed tail and in the index, with the
// total counted FTS-first, by the walk, and from a sample covering the whole table; documents with non-ASCII
// text (the index with positions) alike.
func TestSearchTrigramCandidates(t *testing.T) {
	t.Parallel()
	s := openSearch(t)

	var events []logingest.Event
	want := map[string][]int64{}
	for i := range 40 {
		e := searchEvent(i)
		var msg string
		switch {
		case i < 24:
			msg = "abcXbcd" // every trigram of abcd, in two places
		case i < 30:
			msg = "xxABCDxx"
		case i < 36:
			msg = "é abcXbcd"
		default:
			msg = "é aBcD"
		}
		e.Properties = json.RawMessage(`{"msg":"` + msg + `"}`)
		events = append(events, e)
	}
	res, err := s.Append(t.Context(), events)
	require.NoError(t, err)
	for i, r := range res {
		if i >= 24 && i < 30 || i >= 36 {
			want["abcd"] = append(want["abcd"], r.ID)
		}
		want["abc bcd"] = append(want["abc bcd"], r.ID) // both terms, each a substring of every document
	}
	want["Xbcd abcd"] = nil

	check := func(state string) {
		for text, ids := range want {
			for _, cfg := range []searchConfig{
				{},                                  // FTS-first, exact count
				{commonAbove: 5},                    // the walk: 40 candidates
				{commonAbove: 5, countThreshold: 3}, // above the threshold: a sample of the whole table
				{commonAbove: 5, countBudget: time.Nanosecond}, // the walk out of time: the same sample
			} {
				s.search = cfg
				gotIDs, totals := queryAll(t, s, logingest.Filter{
					Source: "s", Search: text, Limit: 4, SortBy: logingest.SortID, SortOrder: logingest.SortAsc,
				})
				require.Equal(t, ids, gotIDs, "%s: search %q, %+v", state, text, cfg)
				for _, total := range totals {
					require.Equal(t, int64(len(ids)), total, "%s: search %q, %+v", state, text, cfg)
				}
			}
		}
		s.search = searchConfig{}
	}
	check("in the tail")
	require.NoError(t, s.indexAll(t.Context()))
	check("indexed")

	// The plan choice counts candidates: 24 + 6 in the ASCII index and 4 matches in the other.
	s.search.commonAbove = 33
	tx, err := s.reader.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	f, err := logingest.Filter{Source: "s", Search: "abcd"}.Normalize()
	require.NoError(t, err)
	common, err := s.commonSearch(t.Context(), tx, f)
	require.NoError(t, err)
	require.True(t, common, "34 candidates, over 33")
	s.search.commonAbove = 34
	common, err = s.commonSearch(t.Context(), tx, f)
	require.NoError(t, err)
	require.False(t, common, "34 candidates, not over 34")
	s.search = searchConfig{}
}
