package sqlite

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestFoldTermIsFTS5Folding checks foldTerm against SQLite's FTS5 trigram tokenizer over every code point of
// Unicode's planes 0 and 1 outside ASCII (the planes above have no case mappings, and each plane costs
// seconds of FTS5 tokenizing under -race): the code points FTS5 folds to an ASCII character are exactly
// those foldTerm replaces, and foldTerm replaces each with the character FTS5 folds it to. The un-indexed tail's row test (tailMatch)
// is exact only if they agree.
func TestFoldTermIsFTS5Folding(t *testing.T) {
	t.Parallel()
	db, err := openDB(":memory:", nil)
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	ctx := t.Context()
	_, err = db.ExecContext(ctx, `CREATE VIRTUAL TABLE chunks USING fts5(doc, tokenize='trigram');
		CREATE VIRTUAL TABLE points USING fts5(doc, tokenize='trigram')`)
	require.NoError(t, err)

	// Every code point c as "#c#", 1024 to a row of chunks (rowid: the first code point).
	const chunk = 1024
	const last = 0x1FFFF // the end of plane 1
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	for lo := rune(0x80); lo <= last; lo += chunk {
		var b strings.Builder
		for c := lo; c < lo+chunk && c <= last; c++ {
			if utf8.ValidRune(c) {
				b.WriteString("#" + string(c) + "#")
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO chunks (rowid, doc) VALUES (?, ?)", lo, b.String())
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())

	matches := func(table string, a rune) []int64 {
		q := "SELECT rowid FROM " + table + " WHERE " + table + " MATCH ?" // table: one of two constants
		rows, err := db.QueryContext(ctx, q, `"#`+string(a)+`#"`)
		require.NoError(t, err)
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			out = append(out, id)
		}
		require.NoError(t, rows.Err())
		return out
	}
	// The chunks with a code point that folds to an ASCII character a, then that code point.
	got := map[rune]string{}
	for a := rune(0x20); a < 0x7f; a++ {
		if a == '"' {
			continue // ends the FTS5 string; no code point outside ASCII folds to it (nor to anything but letters)
		}
		for _, lo := range matches("chunks", a) {
			_, err := db.ExecContext(ctx, "DELETE FROM points")
			require.NoError(t, err)
			for c := rune(lo); c < rune(lo)+chunk && c <= last; c++ {
				if utf8.ValidRune(c) {
					_, err := db.ExecContext(ctx, "INSERT INTO points (rowid, doc) VALUES (?, ?)", c, "#"+string(c)+"#")
					require.NoError(t, err)
				}
			}
			for _, c := range matches("points", a) {
				got[rune(c)] = strings.ToLower(string(a))
			}
		}
	}
	want := map[rune]string{}
	for c := rune(0x80); c <= last; c++ {
		if f := foldTerm(string(c)); f != string(c) {
			want[c] = f
		}
	}
	require.Equal(t, want, got)
	require.NotEmpty(t, got)
}
