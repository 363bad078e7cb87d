package console_test

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest/console"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestServesThePageWithStrictHeaders(t *testing.T) {
	t.Parallel()
	h, err := console.New(nil)
	require.NoError(t, err)
	resp := get(t, h, http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	csp := resp.Header.Get("Content-Security-Policy")
	require.Equal(t, console.ContentSecurityPolicy, csp)
	for _, want := range []string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'",
		"require-trusted-types-for 'script'",
	} {
		require.Contains(t, csp, want)
	}
	require.NotContains(t, csp, "unsafe")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Contains(t, body(t, resp), `<meta name="logingest-api" content="/api/v1">`)
}

func TestAPIPathIsConfigurableAndChecked(t *testing.T) {
	t.Parallel()
	h, err := console.New(&console.Config{APIPath: "/logs/api/v1/"})
	require.NoError(t, err)
	require.Contains(t, body(t, get(t, h, http.MethodGet, "/", nil)), `content="/logs/api/v1"`)
	for _, bad := range []string{"api/v1", "/api\"><script>", "http://other.example/api/v1"} {
		_, err := console.New(&console.Config{APIPath: bad})
		require.ErrorContains(t, err, "Config.APIPath", bad)
	}
}

func TestCachingCompressionAndMethods(t *testing.T) {
	t.Parallel()
	h, err := console.New(nil)
	require.NoError(t, err)
	resp := get(t, h, http.MethodGet, "/app.css", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/css; charset=utf-8", resp.Header.Get("Content-Type"))
	plain := body(t, resp)
	etag := resp.Header.Get("ETag")
	require.Regexp(t, `^"[A-Za-z0-9_-]+"$`, etag)

	resp = get(t, h, http.MethodGet, "/app.css", map[string]string{"If-None-Match": etag})
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, body(t, resp))
	resp = get(t, h, http.MethodGet, "/app.css", map[string]string{"If-None-Match": `"stale"`})
	require.Equal(t, http.StatusOK, resp.StatusCode)

	resp = get(t, h, http.MethodGet, "/app.css", map[string]string{"Accept-Encoding": "br, gzip"})
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	require.Contains(t, resp.Header.Values("Vary"), "Accept-Encoding")
	zr, err := gzip.NewReader(strings.NewReader(body(t, resp)))
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, plain, string(unzipped))
	resp = get(t, h, http.MethodGet, "/app.css", map[string]string{"Accept-Encoding": "gzip;q=0"})
	require.Empty(t, resp.Header.Get("Content-Encoding"))

	resp = get(t, h, http.MethodHead, "/js/main.js", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Empty(t, body(t, resp))

	resp = get(t, h, http.MethodPost, "/", nil)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	resp = get(t, h, http.MethodGet, "/nope.js", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Content-Security-Policy"))
}

func TestMountedUnderAPrefix(t *testing.T) {
	t.Parallel()
	h, err := console.New(nil)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", h))
	mux.Handle("/console", http.StripPrefix("/console", h))
	resp := get(t, mux, http.MethodGet, "/console", nil)
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "./console/", resp.Header.Get("Location"), "relative: the same origin whatever the path")

	// What StripPrefix hands over for a hostile request line: the redirect still stays on this origin.
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	req.URL.Path, req.RequestURI = "", "//evil.example/console"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, "./console/", rec.Header().Get("Location"))
	resp = get(t, mux, http.MethodGet, "/console/js/api.js", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// uiFiles reads the console's sources from disk (the same files the handler embeds).
func uiFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	root := os.DirFS("ui")
	require.NoError(t, fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		files[p] = string(b)
		return err
	}))
	require.Contains(t, files, "index.html")
	return files
}

// TestAssetsAreSelfContained checks what the CSP relies on: no inline script or style, no markup sinks, nothing
// loaded from another origin (no CDN), and every referenced file and module present.
func TestAssetsAreSelfContained(t *testing.T) {
	t.Parallel()
	h, err := console.New(nil)
	require.NoError(t, err)
	files := uiFiles(t)
	idx := files["index.html"]
	require.NotRegexp(t, `<script(?:\s+type="module")?\s*>`, idx, "no inline script")
	require.NotContains(t, idx, "<style", "no inline style element")
	require.NotRegexp(t, `\sstyle=`, idx, "no style attributes")
	require.NotRegexp(t, `\son[a-z]+=`, idx, "no inline event handlers")

	external := regexp.MustCompile(`(?i)(?:src|href)=["']?(?:https?:)?//|@import\s+url\(["']?(?:https?:)?//|from\s+["'](?:https?:)?//`)
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`)
	imports := regexp.MustCompile(`(?m)^import .* from '(\./[^']+)';$`)
	sinks := regexp.MustCompile(`\.(?:innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	for name, src := range files {
		require.NotRegexp(t, external, src, "%s loads nothing from another origin", name)
		var deps []string
		for _, m := range refs.FindAllStringSubmatch(src, -1) {
			deps = append(deps, path.Join(path.Dir(name), m[1]))
		}
		if strings.HasSuffix(name, ".js") {
			require.NotRegexp(t, sinks, src, "%s uses no markup sink", name)
			for _, m := range imports.FindAllStringSubmatch(src, -1) {
				deps = append(deps, path.Join(path.Dir(name), m[1]))
			}
		}
		for _, d := range deps {
			require.Contains(t, files, d, "%s refers to %s", name, d)
			resp := get(t, h, http.MethodGet, "/"+d, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, d)
		}
	}
}
