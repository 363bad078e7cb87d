package pgstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// loadSearchable inserts 3,000 events received over 50 hours (three partitions' worth), one a minute: event
// g is named "rarely_seen" when g%100 == 0 (30 events), "sometimes_seen" when g%20 == 1 (150), else
// "often_seen" (2,820). Each carries 800 characters of incompressible properties, as real events do, so
// that the table has hundreds of blocks to sample.
func loadSearchable(t *testing.T, b *testBundle) {
	t.Helper()
	_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
		event_name, properties, received_at)
		SELECT 'default', 'e' || g, $1::timestamptz - g * interval '1 minute', 'behavioral',
			CASE WHEN g % 100 = 0 THEN 'rarely_seen' WHEN g % 20 = 1 THEN 'sometimes_seen' ELSE 'often_seen' END,
			jsonb_build_object('pad', (SELECT string_agg(md5(g::text || '.' || i::text), '') FROM generate_series(1, 25) i)),
			$1::timestamptz - g * interval '1 minute'
		FROM generate_series(1, 3000) g`, now)
	require.NoError(t, err)
	_, err = b.conn.Exec(t.Context(), `ANALYZE analytics_logs`)
	require.NoError(t, err)
}

// since returns the statements of log run after the first n.
func since(log *statementLog, n int) []string { return log.statements()[n:] }

// matching returns the statements that match a search (read the trigram index or the documents), leaving
// out those only planned (EXPLAIN).
func matching(stmts []string) []string {
	var out []string
	for _, q := range stmts {
		if strings.Contains(q, "ILIKE") && !strings.HasPrefix(q, "EXPLAIN") {
			out = append(out, q)
		}
	}
	return out
}

// TestQuery_SearchTotalOnePass: a search matching at most SearchCountThreshold events reads its matches once,
// for both its exact total and its page (the keys of the matches, then the page from them): at 5 million
// events the trigram index of a rare term was read twice, for the page and for the bounded count, each time
// about 25 ms. Every page, in every order, by offset and by cursor, is the page the search gives without its
// total.
func TestQuery_SearchTotalOnePass(t *testing.T) {
	t.Parallel()
	cfg := &pgstore.Config{SearchCountThreshold: 100}
	_, b := setup(t, cfg)
	loadSearchable(t, b)
	s, log := traced(t, b, cfg)

	for _, sort := range []struct {
		by    logingest.SortField
		order logingest.SortOrder
	}{{"", ""}, {logingest.SortEventID, logingest.SortAsc}, {logingest.SortReceivedAt, logingest.SortDesc}} {
		f := logingest.Filter{Search: "RARELY_seen", Limit: 7, SortBy: sort.by, SortOrder: sort.order}
		var seen int
		for {
			n := len(log.statements())
			p, err := s.Query(t.Context(), f)
			require.NoError(t, err)
			require.Len(t, matching(since(log, n)), 1, "one pass over the matches: %q", since(log, n))
			require.False(t, p.TotalIsEstimate)
			require.EqualValues(t, 30, p.Total)

			skip := f
			skip.SkipTotal = true
			want, err := s.Query(t.Context(), skip)
			require.NoError(t, err)
			require.Equal(t, want.Events, p.Events, "%+v", f)
			require.Equal(t, want.NextCursor, p.NextCursor, "%+v", f)
			for _, e := range p.Events {
				require.Equal(t, "rarely_seen", e.EventName)
			}
			seen += len(p.Events)
			if p.NextCursor == "" {
				break
			}
			f.After = p.NextCursor
		}
		require.Equal(t, 30, seen, "%+v", sort)
	}

	// By offset, past the end too: the total stays exact.
	for _, offset := range []int{0, 25, 30, 40} {
		f := logingest.Filter{Search: "rarely_seen", Limit: 7, Offset: offset}
		p, err := s.Query(t.Context(), f)
		require.NoError(t, err)
		require.EqualValues(t, 30, p.Total, "offset %d", offset)
		f.SkipTotal = true
		want, err := s.Query(t.Context(), f)
		require.NoError(t, err)
		require.Equal(t, want.Events, p.Events, "offset %d", offset)
		require.Equal(t, want.NextCursor, p.NextCursor, "offset %d", offset)
	}

	// With other filters: a time range over the last 10 hours holds events 100, 200, ..., 600.
	p, err := s.Query(t.Context(), logingest.Filter{Search: "rarely_seen", StartTime: now.Add(-601 * time.Minute), EndTime: now})
	require.NoError(t, err)
	require.EqualValues(t, 6, p.Total)
	require.Len(t, p.Events, 6)

	// No match: no page query at all.
	n := len(log.statements())
	p, err = s.Query(t.Context(), logingest.Filter{Search: "never_seen"})
	require.NoError(t, err)
	require.Zero(t, p.Total)
	require.False(t, p.TotalIsEstimate)
	require.Empty(t, p.Events)
	require.Empty(t, p.NextCursor)
	require.Len(t, matching(since(log, n)), 1, "%q", since(log, n))
	require.NotContains(t, strings.Join(since(log, n), "\n"), "ORDER BY", "no page query")
}

// TestQuery_SearchTotalAdaptiveSample: a search that the planner expects above SearchCountThreshold is sampled
// first, at a tenth of CountSamplePercent, and a sample that finds at least 100 matches gives its total
// without reading its matches' keys (for terms in a few percent of 5 million events, the planner's bitmap scan
// read the whole index before the first of the bounded count's rows: 70 to 250 ms). Otherwise the keys are
// read, and above the threshold the whole share is sampled: matching a sampled event reads its document, and
// the 1 % sample of 5 million events took 160 ms. The bounded count never runs.
func TestQuery_SearchTotalAdaptiveSample(t *testing.T) {
	t.Parallel()
	cfg := &pgstore.Config{SearchCountThreshold: 100, CountSamplePercent: 100}
	_, b := setup(t, cfg)
	loadSearchable(t, b)
	s, log := traced(t, b, cfg)

	tenth, whole := "TABLESAMPLE SYSTEM (10)", "TABLESAMPLE SYSTEM (100)"
	// ~2,820 matches: a 10 % sample of the table's ~600 blocks finds ~280 of them, enough.
	n := len(log.statements())
	p, err := s.Query(t.Context(), logingest.Filter{Search: "often_seen"})
	require.NoError(t, err)
	require.True(t, p.TotalIsEstimate)
	require.InEpsilon(t, 2820, p.Total, 0.5, "estimate %d", p.Total)
	require.Len(t, p.Events, 50)
	stmts := strings.Join(since(log, n), "\n")
	require.Equal(t, 1, strings.Count(stmts, tenth), stmts)
	require.NotContains(t, stmts, whole, "the tenth found enough matches")
	require.NotContains(t, stmts, "LIMIT 101", "neither the bounded count nor the keys")

	// 150 matches: the tenth finds ~15, too few; the whole share (here the whole table) counts them all.
	n = len(log.statements())
	p, err = s.Query(t.Context(), logingest.Filter{Search: "sometimes_seen"})
	require.NoError(t, err)
	require.True(t, p.TotalIsEstimate, "above the threshold a search's total is labelled an estimate")
	require.EqualValues(t, 150, p.Total)
	stmts = strings.Join(since(log, n), "\n")
	require.Equal(t, 1, strings.Count(stmts, tenth), "the tenth is taken once: %s", stmts)
	require.Equal(t, 1, strings.Count(stmts, whole), stmts)
	require.NotContains(t, stmts, "LIMIT 101) c", "no bounded count")
}
