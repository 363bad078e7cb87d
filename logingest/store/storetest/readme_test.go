package storetest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
	"github.com/change66/logserver/logingest/store/storetest"
)

// mystore stands in for the reader's own package in the README's "Your own Store" snippet; here it is memstore.
var mystore = struct {
	New func(t *testing.T) logingest.Store
}{
	New: func(*testing.T) logingest.Store { return memstore.New() },
}

// TestConformance is the README's "Your own Store" snippet, compiled and run as written.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) logingest.Store { return mystore.New(t) }, nil) //nolint:thelper // as users write it
}

// TestReadmeSnippet checks that every code line of the README's "Your own Store" snippet is a line of this file,
// so the README shows code that compiles and passes.
func TestReadmeSnippet(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Your own Store")
	if !ok {
		t.Fatal(`README has no "### Your own Store" section`)
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("the section has no Go code block")
	}
	block, _, _ = strings.Cut(block, "```")
	lines := map[string]bool{}
	for l := range strings.SplitSeq(string(src), "\n") {
		l, _, _ = strings.Cut(l, " //nolint:") // lint directives are not part of the snippet
		lines[strings.TrimSpace(l)] = true
	}
	n := 0
	for l := range strings.SplitSeq(block, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		n++
		if !lines[l] {
			t.Errorf("README line not in storetest/readme_test.go: %q", l)
		}
	}
	if n < 3 {
		t.Errorf("the snippet has %d code lines, want the whole test function", n)
	}
}
