package pgstore_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// The session of searchUser, named as the app names sessions: "<start in epoch milliseconds>_<user id>".
const (
	searchUser    = "aB3dEf9hIjKlMnOpQrStUvWxYz12"
	searchSession = "1764484812345_" + searchUser
)

// loadIDLikeSearch inserts events whose search documents hold id-like words beside numbers, in the ways that
// a search term split by the store (digit-only words left out of the index's condition) must still tell
// apart.
func loadIDLikeSearch(t *testing.T, b *testBundle) {
	t.Helper()
	rows := []struct{ id, name, user, session, props string }{
		{"session", "screen_view", searchUser, searchSession, `{"ts": 1764484812345}`},
		// The same user and number, but not the session: the index's words match, the term does not.
		{"other-session", "screen_view", searchUser, "1764484899999_" + searchUser, `{"ts": 1764484812345}`},
		{"reversed", "Sync_Failed", "", "", `{"note": "AB3DEF9HIJKLMNOPQRSTUVWXYZ12_1764484812345"}`},
		{"lower", "app_open", "", "", `{"msg": "1764484812345_ab3def9hijklmnopqrstuvwxyz12 done"}`},
		{"upper-digits-apart", "app_open", "", "", `{"msg": "1764484812345 AB3DEF9HIJKLMNOPQRSTUVWXYZ12"}`},
		{"percent", "coupon", "", "", `{"code": "50%_off_a1b2c3d4e5f6"}`},
		{"wildcards", "coupon", "", "", `{"code": "500_offxa1b2c3d4e5f6"}`},
		{"backslash", "import", `12345\a1b2c3d4e5f6`, "", `{"path": "C:\\12345\\a1b2c3d4e5f6"}`},
		{"non-ascii", "ville", "", "", `{"city": "Ünïcode_12345678_a1b2c3d4É"}`},
		{"short-words", "cfg", "", "", `{"k": "v2_99_x9y8z7w6v5", "n": 99}`},
		{"words", "login", "user_12345", "", `{"id": "550e8400-e29b-41d4-a716-446655440000"}`},
		{"uuid-apart", "login", "", "", `{"a": "550e8400-e29b-41d4-a716", "b": "446655440000"}`},
	}
	for _, r := range rows {
		_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
			event_name, user_id, session_id, properties, received_at)
			VALUES ('default', $1, $2, 'behavioral', $3, NULLIF($4, ''), NULLIF($5, ''), $6::jsonb, $2)`,
			r.id, now, r.name, r.user, r.session, r.props)
		require.NoError(t, err, r.id)
	}
	_, err := b.conn.Exec(t.Context(), `ANALYZE analytics_logs`)
	require.NoError(t, err)
}

// idLikeSearches are searches over loadIDLikeSearch's events: terms the store splits and terms it does not.
var idLikeSearches = []string{
	searchSession,
	strings.ToUpper(searchSession),
	"_" + searchSession + "_",
	"1764484812345_" + searchUser[:10],
	searchUser + "_1764484812345",
	searchSession + " screen",
	"1764484812345 " + searchUser,
	"1764484812345",
	searchUser,
	"50%_off_a1b2c3d4e5f6",
	"0%_off_a1b2c3d4e5f6",
	"500_offxa1b2c3d4e5f6",
	`12345\a1b2c3d4e5f6`,
	`12345\\a1b2c3d4e5f6`,
	"ÜNÏCODE_12345678_A1B2C3D4é",
	"12345678_a1b2c3d4É",
	"2_99_x9y8z7w6v5",
	"v2_99_x9y8z7w6v5",
	"99_x9y8z7w6",
	"user_12345",
	"550e8400-e29b-41d4-a716-446655440000",
	"a716-446655440000",
}

// plainILIKE returns the ids of the events of search, as the plain condition of every term matches them:
// searchDoc ILIKE '%term%', the term LIKE-escaped.
func plainILIKE(t *testing.T, b *testBundle, search string) []string {
	t.Helper()
	terms, err := logingest.SearchTerms(search)
	require.NoError(t, err)
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	q := `SELECT event_id FROM analytics_logs WHERE true`
	var args []any
	for _, term := range terms {
		args = append(args, "%"+esc.Replace(term)+"%")
		q += ` AND analytics_search_doc(event_name, user_id, session_id, properties) ILIKE $` +
			string(rune('0'+len(args)))
	}
	rows, err := b.conn.Query(t.Context(), q+` ORDER BY event_id`, args...)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// TestQuery_SearchIDLikeTerms: a term whose digit-only words the store leaves out of the trigram index's
// condition (an id beside a number, as in a session id) matches exactly the events that the plain condition
// of every term matches: order of the words, case (ASCII and not), LIKE's wildcards and escape character,
// several terms, short words, whether the planner reads the index or every event, with and without totals.
func TestQuery_SearchIDLikeTerms(t *testing.T) {
	t.Parallel()
	s, b := setup(t, nil)
	loadIDLikeSearch(t, b)
	// The same schema through a Store that reads the trigram index whenever it can.
	cfg := pgstore.Config{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	indexed, err := pgstore.Open(context.Background(), b.dsn+"&enable_seqscan=off", &cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = indexed.Close() })

	want := map[string][]string{
		searchSession:                          {"lower", "session"},
		"_" + searchSession + "_":              nil,
		searchUser + "_1764484812345":          {"reversed"},
		"50%_off_a1b2c3d4e5f6":                 {"percent"},
		"500_offxa1b2c3d4e5f6":                 {"wildcards"},
		`12345\a1b2c3d4e5f6`:                   {"backslash"},
		`12345\\a1b2c3d4e5f6`:                  {"backslash"},
		"2_99_x9y8z7w6v5":                      {"short-words"},
		"550e8400-e29b-41d4-a716-446655440000": {"words"},
	}
	for _, search := range idLikeSearches {
		ref := plainILIKE(t, b, search)
		if w, ok := want[search]; ok {
			require.Equal(t, w, ref, "%q: the crafted data", search)
		}
		for _, st := range []*pgstore.Store{s, indexed} {
			for _, skip := range []bool{false, true} {
				p, err := st.Query(t.Context(), logingest.Filter{Search: search, Limit: 100, SkipTotal: skip})
				require.NoError(t, err, search)
				var got []string
				for _, e := range p.Events {
					got = append(got, e.EventID)
				}
				slices.Sort(got)
				require.Equal(t, ref, got, "%q (total skipped: %v)", search, skip)
				if !skip {
					require.EqualValues(t, len(ref), p.Total, search)
					require.False(t, p.TotalIsEstimate, search)
				}
			}
		}
	}
}

// TestQuery_SearchIndexLeavesOutDigitWords: the trigram index is given a session id's id-like word alone,
// not its epoch milliseconds, whose trigrams are in nearly every event (at 5 million events the digits made
// the index read 3,150 pages for 300 matches); the whole term is checked on what the index finds.
func TestQuery_SearchIndexLeavesOutDigitWords(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	loadIDLikeSearch(t, b)
	_, err := b.conn.Exec(t.Context(), `SET enable_seqscan = off; SET enable_indexscan = off`)
	require.NoError(t, err)
	q, args := pgstore.PageSQLForTest(logingest.Filter{Search: searchSession})
	rows, err := b.conn.Query(t.Context(), "EXPLAIN (COSTS OFF) "+q, args...)
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	text := strings.Join(plan, "\n")

	var indexConds int
	for _, line := range plan {
		if !strings.Contains(line, "Index Cond") || !strings.Contains(line, "~~*") {
			continue
		}
		indexConds++
		require.Contains(t, line, searchUser, text)
		require.NotContains(t, line, "1764484812345", "the digits drive the index:\n%s", text)
	}
	require.Positive(t, indexConds, "the trigram index is read:\n%s", text)
	require.Contains(t, text, `1764484812345\_`+searchUser, "the whole term is checked:\n%s", text)
}

// TestQuery_SearchIDLikeTermEstimate: the planner's estimate of a split term (searchCondition) stays that of
// the plain condition when the term is common, so that the store still plans it as a common search (a sample,
// an ordered walk) rather than reading all of its matches: half of 2,000 events hold the session id searched
// for, and every one its user id, the word given to the index.
func TestQuery_SearchIDLikeTermEstimate(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
		event_name, user_id, session_id, properties, received_at)
		SELECT 'default', 'e' || g, $1::timestamptz - g * interval '1 second', 'behavioral', 'screen_view', $2,
			CASE WHEN g % 2 = 0 THEN $3 ELSE '1764484899999_' || $2 END,
			jsonb_build_object('pad', md5(g::text)), $1::timestamptz - g * interval '1 second'
		FROM generate_series(1, 2000) g`, now, searchUser, searchSession)
	require.NoError(t, err)
	_, err = b.conn.Exec(t.Context(), `ANALYZE analytics_logs`)
	require.NoError(t, err)
	require.Len(t, plainILIKE(t, b, searchSession), 1000)

	where, args := pgstore.WhereForTest(logingest.Filter{Search: searchSession})
	require.Contains(t, where, "IS TRUE", "the term is split")
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"` //nolint:tagliatelle // PostgreSQL's EXPLAIN key
		} `json:"Plan"` //nolint:tagliatelle // PostgreSQL's EXPLAIN key
	}
	require.NoError(t, b.conn.QueryRow(t.Context(), "EXPLAIN (FORMAT JSON) SELECT 1 FROM analytics_logs"+where,
		args...).Scan(&plan))
	require.Len(t, plan, 1)
	require.Greater(t, plan[0].Plan.Rows, 250.0, "1,000 matches")
}
