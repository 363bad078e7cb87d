//go:build !sqlite_cgo

package sqlite

import (
	"testing"

	"github.com/stretchr/testify/require"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestResultCodes checks driver.go's result codes against modernc's copy of SQLite's header.
func TestResultCodes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ ours, sqlite int }{
		{codeError, sqlite3.SQLITE_ERROR},
		{codeBusy, sqlite3.SQLITE_BUSY},
		{codeLocked, sqlite3.SQLITE_LOCKED},
		{codeIOErr, sqlite3.SQLITE_IOERR},
		{codeFull, sqlite3.SQLITE_FULL},
		{codeCantOpen, sqlite3.SQLITE_CANTOPEN},
		{codeTooBig, sqlite3.SQLITE_TOOBIG},
		{codeMismatch, sqlite3.SQLITE_MISMATCH},
		{codeConstraintCheck, sqlite3.SQLITE_CONSTRAINT_CHECK},
		{codeConstraintNotNull, sqlite3.SQLITE_CONSTRAINT_NOTNULL},
		{codeConstraintPrimaryKey, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY},
		{codeConstraintUnique, sqlite3.SQLITE_CONSTRAINT_UNIQUE},
		{codeConstraintDataType, sqlite3.SQLITE_CONSTRAINT_DATATYPE},
	} {
		require.Equal(t, c.sqlite, c.ours)
	}
}
