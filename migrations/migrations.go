// Package migrations holds logingest's versioned SQL migrations and a small migrator that applies them.
//
// The SQL is embedded in the binary: SQLite returns the SQLite set and, when present, Postgres the PostgreSQL
// set. Each set is a flat directory of files named NNN_snake_name.up.sql and NNN_snake_name.down.sql, with
// versions numbered contiguously from 001.
//
// A Migrator applies one set to a *sql.DB, recording every applied version in a version table (by default
// "logingest_migration"). It works with any database/sql driver of the two supported dialects, for example
// modernc.org/sqlite or pgx's stdlib adapter (stdlib.OpenDBFromPool):
//
//	m, err := migrations.New(db, migrations.DialectSQLite, migrations.SQLite(), nil)
//	if err != nil { ... }
//	res, err := m.Migrate(ctx, migrations.DirectionUp, nil)
//
// # Concurrency
//
// Several processes may call Migrate on the same database at once (for example replicas starting together):
//
//   - On PostgreSQL, Migrate holds a session-level pg_advisory_lock on one dedicated connection for the whole
//     call. The key is derived from the version table's name and the connection's current schema, so
//     migrators of different schemas do not wait for each other.
//   - On SQLite, every migration runs in a BEGIN IMMEDIATE transaction, which takes SQLite's single write lock
//     before anything is read; the migrator re-reads the version table inside that transaction and skips a
//     version another process has applied (or reverted) in the meantime. Set a busy timeout on the database
//     so that waiting writers retry instead of failing with SQLITE_BUSY.
//
// In both dialects each migration runs in its own transaction together with the insert (or delete) of its
// version row, so a failing migration leaves both the schema and the version table unchanged.
package migrations
