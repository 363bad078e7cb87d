package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRun builds a database from two OSV entries and checks the layout govulncheck reads with -db file://.
func TestRun(t *testing.T) {
	t.Parallel()
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "db")
	entries := map[string]string{
		"GO-2026-0002.json": `{"id":"GO-2026-0002","modified":"2026-02-01T00:00:00Z","aliases":["CVE-2026-2"],
			"affected":[{"package":{"name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.26.9"}]}]},
			{"package":{"name":"golang.org/x/net"}}]}`,
		"GO-2026-0001.json": `{"id":"GO-2026-0001","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"name":"stdlib"}}]}`,
		"notes.txt":         "ignored",
	}
	for name, body := range entries {
		if err := os.WriteFile(filepath.Join(in, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(in, out); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, want := range map[string]string{
		"index/db.json": `{"modified":"2026-02-01T00:00:00Z"}`,
		"index/vulns.json": `[{"id":"GO-2026-0001","modified":"2026-01-01T00:00:00Z"},` +
			`{"id":"GO-2026-0002","modified":"2026-02-01T00:00:00Z","aliases":["CVE-2026-2"]}]`,
		"index/modules.json": `[{"path":"golang.org/x/net","vulns":[{"id":"GO-2026-0002","modified":"2026-02-01T00:00:00Z"}]},` +
			`{"path":"stdlib","vulns":[{"id":"GO-2026-0001","modified":"2026-01-01T00:00:00Z"},{"id":"GO-2026-0002","modified":"2026-02-01T00:00:00Z"}]}]`,
	} {
		if got := read(name); got != want {
			t.Errorf("%s = %s\nwant %s", name, got, want)
		}
	}
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(read("ID/GO-2026-0002.json")), &e); err != nil || e.ID != "GO-2026-0002" {
		t.Errorf("ID/GO-2026-0002.json: %v %q", err, e.ID)
	}

	if err := os.WriteFile(filepath.Join(in, "GO-2026-0003.json"), []byte(`{"id":"../evil"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(in, out); err == nil {
		t.Error("an id with a path separator was accepted")
	}
}
