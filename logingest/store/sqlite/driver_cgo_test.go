//go:build sqlite_cgo && cgo

package sqlite

import (
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestCgoDriver checks the cgo build's openDB and errorCode: the connection is mattn's, the "_pragma" values
// are applied, the bundled SQLite has what the migrations need (FTS5's trigram tokenizer and
// contentless_delete, SQLite 3.43), and a UNIQUE violation is read as its extended code.
func TestCgoDriver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := openDB(":memory:", map[string][]string{"_pragma": {"cache_size(-1234)", "foreign_keys(1)"}})
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	require.IsType(t, &sqlite3.SQLiteDriver{}, db.Driver())

	var cache, fk int
	require.NoError(t, db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache))
	require.NoError(t, db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
	require.Equal(t, -1234, cache)
	require.Equal(t, 1, fk)

	_, err = db.ExecContext(ctx, `CREATE VIRTUAL TABLE f USING fts5(doc, content='', contentless_delete=1,
		tokenize='trigram'); CREATE TABLE u (k TEXT UNIQUE); INSERT INTO u VALUES ('a')`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO u VALUES ('a')")
	code, msg, ok := errorCode(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, codeConstraintUnique, code)
	require.Contains(t, msg, "UNIQUE")

	_, err = openDB(":memory:", map[string][]string{"_pragma": {"cache_size"}})
	require.Error(t, err, "a _pragma without (arg)")
}
