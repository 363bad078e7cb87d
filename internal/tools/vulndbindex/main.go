// Command vulndbindex builds an offline Go vulnerability database, in the layout govulncheck reads with
// -db file:///path, from the OSV files of the golang.org/x/vulndb module (its data/osv directory), which the Go
// module proxy serves: CI can check for known vulnerabilities with no network access beyond the proxy.
//
// Usage:
//
//	go run ./internal/tools/vulndbindex -vulns "$(go mod download -json golang.org/x/vulndb@latest | ...)/data/osv" -out DIR
//
// It writes DIR/index/db.json, DIR/index/modules.json, DIR/index/vulns.json and DIR/ID/<id>.json, as vulndb's
// own cmd/indexdb does (whose dependencies take minutes to download), with one deliberate difference:
// modules.json carries no "fixed" versions. govulncheck uses them only to skip entries early; without them it
// reads every entry of a module and matches its full version ranges, which is slower by a few milliseconds
// and never misses a vulnerability.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// entry is the part of an OSV entry the indexes need.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	vulns := flag.String("vulns", "", "directory of OSV JSON files (data/osv of golang.org/x/vulndb)")
	out := flag.String("out", "", "directory to write the database to (replaced)")
	flag.Parse()
	if err := run(*vulns, *out); err != nil {
		fmt.Fprintln(os.Stderr, "vulndbindex:", err)
		os.Exit(1)
	}
}

func run(vulnsDir, outDir string) error {
	if vulnsDir == "" || outDir == "" {
		return errors.New("-vulns and -out are required")
	}
	files, err := filepath.Glob(filepath.Join(vulnsDir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", vulnsDir)
	}
	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(outDir, d), 0o750); err != nil {
			return err
		}
	}
	var (
		modified time.Time
		vulnIdx  []vuln
		modIdx   = map[string]*module{}
		seen     = map[string]bool{}
	)
	for _, f := range files {
		if filepath.Base(f) == "index.json" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || strings.ContainsAny(e.ID, `/\`) || seen[e.ID] {
			return fmt.Errorf("%s: missing, unsafe or repeated id %q", f, e.ID)
		}
		seen[e.ID] = true
		if e.Modified.After(modified) {
			modified = e.Modified
		}
		vulnIdx = append(vulnIdx, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			m := modIdx[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name}
				modIdx[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
		//nolint:gosec // G703: e.ID holds no path separator (checked above)
		if err := os.WriteFile(filepath.Join(outDir, "ID", e.ID+".json"), raw, 0o600); err != nil {
			return err
		}
	}
	slices.SortFunc(vulnIdx, func(a, b vuln) int { return strings.Compare(a.ID, b.ID) })
	mods := make([]*module, 0, len(modIdx))
	for _, m := range modIdx {
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *module) int { return strings.Compare(a.Path, b.Path) })
	for name, v := range map[string]any{
		"db.json": struct {
			Modified time.Time `json:"modified"`
		}{modified},
		"modules.json": mods,
		"vulns.json":   vulnIdx,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, "index", name), b, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "vulndbindex: %d entries, %d modules, last modified %s, in %s\n", len(vulnIdx), len(mods),
		modified.Format(time.RFC3339), outDir)
	return nil
}
