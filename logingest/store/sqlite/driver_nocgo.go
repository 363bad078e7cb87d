//go:build sqlite_cgo && !cgo

package sqlite

// The build tag sqlite_cgo selects github.com/mattn/go-sqlite3, which needs cgo: build with CGO_ENABLED=1 and a
// C compiler, or without the tag for the pure-Go driver. The undefined name below makes the build fail saying so.
var _ = sqlite_cgo_needs_CGO_ENABLED_1
