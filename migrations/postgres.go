package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql
var postgresFS embed.FS

// Postgres returns the PostgreSQL migration set, rooted so that the files sit at the top of the returned FS.
// Use it with DialectPostgres. The set is what package pgstore expects; the design of its schema
// (partitioning, event-id dedup, indexes) is explained in the comments of the SQL files.
func Postgres() fs.FS {
	sub, err := fs.Sub(postgresFS, "postgres")
	if err != nil {
		// fs.Sub only fails on an invalid path, and "postgres" is a constant valid path.
		panic("migrations: " + err.Error())
	}
	return sub
}
