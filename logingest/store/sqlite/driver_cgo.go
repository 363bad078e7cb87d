//go:build sqlite_cgo && cgo

package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// driverName is the module of the SQLite driver in this build: the opt-in cgo one, selected by the build tags
// "sqlite_cgo sqlite_fts5" (see driver.go).
const driverName = "github.com/mattn/go-sqlite3"

// openDB opens the database at path through github.com/mattn/go-sqlite3. mattn knows no "_pragma" parameter:
// each "_pragma" value "name(arg)" becomes "PRAGMA name = arg", run in order by the driver's ConnectHook on
// every new connection, after mattn's own defaults (busy_timeout 5000, synchronous NORMAL), which it
// overrides. "_txlock" is mattn's parameter of the same meaning. Any other parameter is an error.
func openDB(path string, params url.Values) (*sql.DB, error) {
	var pragmas []string
	dsn := url.Values{}
	for k, vs := range params {
		switch k {
		case "_pragma":
			for _, v := range vs {
				name, arg, ok := strings.Cut(v, "(")
				if !ok || !strings.HasSuffix(arg, ")") {
					return nil, fmt.Errorf("sqlite: malformed _pragma %q, want name(arg)", v)
				}
				pragmas = append(pragmas, "PRAGMA "+name+" = "+strings.TrimSuffix(arg, ")"))
			}
		case "_txlock":
			dsn[k] = vs
		default:
			return nil, fmt.Errorf("sqlite: unsupported DSN parameter %q", k)
		}
	}
	name := path
	if len(dsn) > 0 {
		name += "?" + dsn.Encode()
	}
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := c.Exec(p, nil); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	}}
	return sql.OpenDB(connector{drv: drv, dsn: name}), nil
}

// connector opens connections of drv to dsn (mattn's driver has no connector of its own).
type connector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// errorCode returns the extended result code and the message of the sqlite3.Error in err's chain; ok is false
// when there is none.
func errorCode(err error) (code int, msg string, ok bool) {
	se, ok := errors.AsType[sqlite3.Error](err)
	if !ok {
		return 0, "", false
	}
	return int(se.ExtendedCode), se.Error(), true
}
