package sqlite

import (
	"database/sql"
	"net/url"
)

// OpenDB is openDB for the external tests: a plain *sql.DB on path through this build's driver (driver.go).
func OpenDB(path string, params url.Values) (*sql.DB, error) { return openDB(path, params) }
