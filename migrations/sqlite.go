package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql
var sqliteFS embed.FS

// SQLite returns the SQLite migration set, rooted so that the files sit at the top of the returned FS.
// Use it with DialectSQLite.
func SQLite() fs.FS {
	sub, err := fs.Sub(sqliteFS, "sqlite")
	if err != nil {
		// fs.Sub only fails on an invalid path, and "sqlite" is a constant valid path.
		panic("migrations: " + err.Error())
	}
	return sub
}
