package sqlite

// The SQLite driver is chosen at build time. The default build uses modernc.org/sqlite, a pure-Go translation
// of SQLite's C source (no cgo: cross-compiles and builds static binaries); the build tags
// "sqlite_cgo sqlite_fts5" with CGO_ENABLED=1 use github.com/mattn/go-sqlite3, the same SQLite compiled by the
// C compiler. Each build provides, in driver_modernc.go or driver_cgo.go:
//
//	driverName                  the driver's module path, for messages
//	openDB(path, params)        a *sql.DB on the file at path; params are DSN parameters in modernc's
//	                            vocabulary ("_pragma" values "name(arg)", run in order on every new
//	                            connection; "_txlock" "immediate"), the one definition of the connection
//	                            settings (Config.pragmas and Open)
//	errorCode(err)              the extended result code and message of the SQLite error in err's chain
//
// Everything else in the package is driver-neutral SQL.

// SQLite result codes (https://sqlite.org/rescode.html), a stable part of SQLite's C API: the primary codes are
// an extended code's low 8 bits.
const (
	codeError    = 1
	codeBusy     = 5
	codeLocked   = 6
	codeIOErr    = 10
	codeFull     = 13
	codeCantOpen = 14
	codeTooBig   = 18
	codeMismatch = 20

	codeConstraintCheck      = 275  // SQLITE_CONSTRAINT | 1<<8
	codeConstraintNotNull    = 1299 // SQLITE_CONSTRAINT | 5<<8
	codeConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT | 6<<8
	codeConstraintUnique     = 2067 // SQLITE_CONSTRAINT | 8<<8
	codeConstraintDataType   = 3091 // SQLITE_CONSTRAINT | 12<<8
)

// Driver returns the module path of the SQLite driver this build uses: "modernc.org/sqlite" (the default, pure
// Go) or "github.com/mattn/go-sqlite3" (build tags sqlite_cgo sqlite_fts5). logserver names it at start-up.
func Driver() string { return driverName }
