// Package storetest provides a conformance suite for logingest.Store implementations. Import it only from
// _test.go files.
//
// Every sentence of the logingest.Store contract, and of the optional logingest.UserEraser,
// logingest.KeyStore and logingest.Aggregator interfaces, is a check: a name, an explanation of the rule and a function that returns an
// error when the store breaks it. Run turns each check into a parallel subtest, grouped by method:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) logingest.Store {
//			s := mystore.New(...)
//			t.Cleanup(func() { s.Close() })
//			return s
//		}, nil)
//	}
//
// Run the suite with -race: some checks call the store from many goroutines at once.
//
// The package depends only on the standard library and logingest, so it adds nothing to a test build.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
)

// Options describes the limitations of the store under test. The zero value describes a store that keeps
// everything exactly; a nil *Options is the same as the zero value.
type Options struct {
	// TimePrecision is the coarsest timestamp resolution the store keeps (PostgreSQL: time.Microsecond). A
	// returned time may differ from the appended one by less than TimePrecision. Defaults to 0 (exact).
	TimePrecision time.Duration
}

// checkTimeout bounds each check, so a store that hangs fails instead of stalling the test binary.
const checkTimeout = 2 * time.Minute

// Run runs every check against stores made by newStore. newStore is called once per subtest and must return an
// empty store that no other subtest sees; it registers any cleanup with t.Cleanup. Subtests run in parallel and
// are named after the method they exercise, for example "Query/Cursor/timestamp". Run returns when every check
// has finished.
//
// Checks of an optional interface (logingest.UserEraser, logingest.KeyStore, logingest.Aggregator) are skipped, with the reason, when
// the store does not implement it.
func Run(t *testing.T, newStore func(t *testing.T) logingest.Store, opts *Options) {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	groups := map[string][]check{}
	var order []string
	for _, c := range checks() {
		g, _, _ := strings.Cut(c.name, "/")
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], c)
	}
	for _, g := range order {
		t.Run(g, func(t *testing.T) {
			for _, c := range groups[g] {
				_, rest, _ := strings.Cut(c.name, "/")
				t.Run(rest, func(t *testing.T) {
					t.Parallel()
					s := newStore(t)
					ctx, cancel := context.WithTimeout(t.Context(), checkTimeout)
					defer cancel()
					err := c.run(ctx, s, o)
					if reason, ok := skipped(err); ok {
						t.Skip(reason)
					}
					if err != nil {
						t.Errorf("%s\n%s\n%v", c.explanation, c.source, err)
					}
				})
			}
		})
	}
}

// check is one rule of the contract.
type check struct {
	// name is "Method/Rule"; the part before the first slash groups subtests.
	name string
	// explanation states the rule as a sentence, for example "Query must return ...".
	explanation string
	// run returns nil when s obeys the rule. s is empty when run starts.
	run func(ctx context.Context, s logingest.Store, o Options) error
	// source is the file:line where the check is declared.
	source string
}

// newCheck returns a check whose source is the line that called newCheck.
func newCheck(name, explanation string, run func(ctx context.Context, s logingest.Store, o Options) error) check {
	_, file, line, _ := runtime.Caller(1)
	return check{name: name, explanation: explanation, run: run, source: fmt.Sprintf("%s:%d", filepath.Base(file), line)}
}

// checks returns every check, in a stable order.
func checks() []check {
	var all []check
	all = append(all, appendChecks()...)
	all = append(all, queryChecks()...)
	all = append(all, statsChecks()...)
	all = append(all, searchChecks()...)
	all = append(all, aggregatorChecks()...)
	all = append(all, pingChecks()...)
	all = append(all, userEraserChecks()...)
	all = append(all, keyStoreChecks()...)
	all = append(all, exportChecks()...)
	return all
}

// skipError is returned by a check whose precondition (usually an optional interface) the store does not meet.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func skip(reason string) error { return &skipError{reason} }

func skipped(err error) (string, bool) {
	if s, ok := errors.AsType[*skipError](err); ok {
		return s.reason, true
	}
	return "", false
}
