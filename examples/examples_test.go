// Package examples_test builds and runs every program in examples/: each must start, serve its requests and
// stop cleanly on SIGINT. It also checks that the README's embedding snippet is taken from examples/embed.
package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// request is one request of a smoke test and the status it must get.
type request struct {
	method, path string
	body         string
	header       map[string]string
	want         int
}

// smoke lists, for every program in examples/, the requests it must answer. A new example needs an entry.
var smoke = map[string][]request{
	"embed": {
		{method: http.MethodGet, path: "/", want: http.StatusOK},
		{
			method: http.MethodPost, path: "/logs/api/v1/ingest",
			body:   `{"event_id":"smoke-1","timestamp":"2025-08-27T09:00:24Z","event_type":"behavioral","event_name":"habit_completed"}`,
			header: map[string]string{"X-API-Key": "dev-key", "Content-Type": "application/json"},
			want:   http.StatusCreated,
		},
		{method: http.MethodGet, path: "/logs/api/v1/logs/recent", header: map[string]string{"X-API-Key": "dev-key"}, want: http.StatusOK},
		{method: http.MethodGet, path: "/logs/api/v1/logs/recent", want: http.StatusUnauthorized},
		{method: http.MethodGet, path: "/ops/health", want: http.StatusOK},
		{method: http.MethodGet, path: "/ops/metrics", want: http.StatusOK},
	},
}

func TestExamplesRun(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob("*/main.go")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, m := range dirs {
		name := filepath.Dir(m)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reqs, ok := smoke[name]
			require.True(t, ok, "examples/%s has no smoke requests in examples_test.go", name)
			runExample(t, name, reqs)
		})
	}
}

func runExample(t *testing.T, name string, reqs []request) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./"+name)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./examples/%s:\n%s", name, out)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = t.TempDir() // the example's data files go here
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// The program prints "listening on http://ADDR" once it accepts connections.
	lines := bufio.NewScanner(stdout)
	var base string
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			base = rest
			break
		}
	}
	require.NotEmpty(t, base, "examples/%s never printed its address; stderr:\n%s", name, &stderr)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	for _, rq := range reqs {
		req, err := http.NewRequestWithContext(ctx, rq.method, base+rq.path, strings.NewReader(rq.body))
		require.NoError(t, err)
		for k, v := range rq.header {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err, "%s %s", rq.method, rq.path)
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		require.Equal(t, rq.want, res.StatusCode, "%s %s: %s", rq.method, rq.path, body)
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "examples/%s must exit 0 on SIGINT; stderr:\n%s", name, &stderr)
}

// TestReadmeSnippetFromExample checks that every code line of the README's "Embedding the library" snippet
// appears in examples/embed/main.go, which TestExamplesRun builds and runs: the snippet cannot rot.
func TestReadmeSnippetFromExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("embed/main.go")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "## Embedding the library")
	require.True(t, ok, "README has no Embedding the library section")
	_, block, ok := strings.Cut(section, "```go\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	code := map[string]bool{}
	for l := range strings.SplitSeq(string(src), "\n") {
		code[strings.TrimSpace(l)] = true
	}
	n := 0
	for l := range strings.SplitSeq(block, "\n") {
		if l = strings.TrimSpace(l); l == "" || l == "…" || strings.HasPrefix(l, "//") {
			continue
		}
		n++
		require.True(t, code[l], "README line not in examples/embed/main.go: %q", l)
	}
	require.Greater(t, n, 5, "the snippet is not empty")
}
