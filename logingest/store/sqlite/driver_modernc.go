//go:build !sqlite_cgo

package sqlite

import (
	"database/sql"
	"errors"
	"net/url"

	sqlitedrv "modernc.org/sqlite"
)

// driverName is the module of the SQLite driver in this build: the default, pure-Go one (see driver.go).
const driverName = "modernc.org/sqlite"

// openDB opens the database at path through modernc.org/sqlite, whose DSN takes params as they are.
func openDB(path string, params url.Values) (*sql.DB, error) {
	dsn := path
	if len(params) > 0 {
		dsn += "?" + params.Encode()
	}
	return sql.Open("sqlite", dsn)
}

// errorCode returns the extended result code and the message of the *sqlite.Error in err's chain; ok is false
// when there is none.
func errorCode(err error) (code int, msg string, ok bool) {
	se, ok := errors.AsType[*sqlitedrv.Error](err)
	if !ok {
		return 0, "", false
	}
	return se.Code(), se.Error(), true
}
