// Package console serves logingest's built-in web console: a dashboard, a log explorer with search, a live
// tail and export, as one http.Handler that can be served directly or mounted under a prefix.
//
// The console is a set of static files (HTML, CSS and JavaScript modules, no build step) embedded in the
// binary, so it works offline and needs nothing but the server. It runs in the browser and talks to the
// logingest HTTP API (package httpapi) with an API key the user pastes in; it has no server-side logic and no
// credentials of its own. The key needs the read scope; it is kept in the tab's sessionStorage and sent in the
// X-API-Key header, never in a URL.
//
// # Mounting
//
// The console expects to be mounted with its prefix stripped, and the API at Config.APIPath on the same
// origin:
//
//	mux.Handle("/ui/", http.StripPrefix("/ui", console.New(nil)))
//	mux.Handle("/", api) // an *httpapi.Handler
//
// Every asset is referenced by a relative URL, so any prefix works. A request for the prefix itself without
// the trailing slash ("/ui") is redirected to "/ui/", because the relative URLs need it.
//
// # Security and caching
//
// Every answer carries a strict Content-Security-Policy: scripts, styles and connections from the console's
// own origin only, no inline script or style, no framing, and Trusted Types required, so the console cannot
// turn event data into markup. Assets are answered with a strong ETag and Cache-Control: no-cache, so
// browsers revalidate (a cheap 304) and a new server version is picked up at once; answers are gzip-compressed
// when the client accepts it.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed ui
var embedded embed.FS

// ContentSecurityPolicy is the policy sent with every console answer.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// apiPlaceholder is replaced in index.html by Config.APIPath (HTML-escaped).
const apiPlaceholder = "{{API_PATH}}"

// DefaultAPIPath is where the console looks for the API when Config.APIPath is empty: httpapi's routes served
// at the root of the same origin.
const DefaultAPIPath = "/api/v1"

// Config configures a Handler. The zero value (or a nil *Config) serves a console that talks to the API at
// DefaultAPIPath.
type Config struct {
	// APIPath is the absolute URL path of the API's /api/v1 routes on the console's origin, for example
	// "/logs/api/v1" when the httpapi handler is mounted under /logs/. Default DefaultAPIPath.
	APIPath string
}

// Handler serves the console. It is safe for concurrent use and holds every asset in memory (about 100 KB).
type Handler struct {
	files map[string]*asset // by path without the leading slash; "" is index.html
}

var _ http.Handler = (*Handler)(nil)

type asset struct {
	body        []byte
	gz          []byte // nil when compression does not pay
	contentType string
	etag        string
}

// New returns a Handler. A nil cfg uses the defaults. It returns an error when cfg.APIPath is not an absolute
// path.
func New(cfg *Config) (*Handler, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.APIPath == "" {
		c.APIPath = DefaultAPIPath
	}
	if !strings.HasPrefix(c.APIPath, "/") || strings.ContainsAny(c.APIPath, "?#\"<> ") {
		return nil, fmt.Errorf("console: Config.APIPath must be an absolute URL path such as %s, got %q", DefaultAPIPath, c.APIPath)
	}
	c.APIPath = strings.TrimRight(c.APIPath, "/")
	h := &Handler{files: map[string]*asset{}}
	root, err := fs.Sub(embedded, "ui")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		if p == "index.html" {
			body = bytes.ReplaceAll(body, []byte(apiPlaceholder), []byte(html.EscapeString(c.APIPath)))
		}
		a, err := newAsset(p, body)
		if err != nil {
			return err
		}
		h.files[p] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: load assets: %w", err)
	}
	idx, ok := h.files["index.html"]
	if !ok {
		return nil, errors.New("console: index.html missing from the embedded assets")
	}
	h.files[""] = idx
	return h, nil
}

func newAsset(name string, body []byte) (*asset, error) {
	ct := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // the platform's MIME table may lack or differ on these
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	case ".json", ".webmanifest":
		ct = "application/manifest+json"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	sum := sha256.Sum256(body)
	a := &asset{body: body, contentType: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
	if len(body) > 1024 {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(body); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		if buf.Len() < len(body)*9/10 {
			a.gz = buf.Bytes()
		}
	}
	return a, nil
}

// ServeHTTP answers GET and HEAD for the console's assets; "/" (and "") is the console's page. Other paths
// answer 404, other methods 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	setSecurityHeaders(hdr)
	if r.URL.Path == "" {
		// Mounted with StripPrefix and requested without the trailing slash, which the relative asset URLs need.
		// The Location is relative ("./ui/" for "/ui"), so it can only ever lead to the same origin.
		hdr.Set("Location", "./"+lastSegment(r.RequestURI)+"/")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, ok := h.files[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	hdr.Add("Vary", "Accept-Encoding")
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hdr.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body) // a failed write means the client went away
}

// lastSegment returns the last path segment of a request URI, as sent (escaped).
func lastSegment(requestURI string) string {
	p, _, _ := strings.Cut(requestURI, "?")
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

func setSecurityHeaders(hdr http.Header) {
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
}

// etagMatches reports whether an If-None-Match header lists etag (or is "*").
func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(header string) bool {
	for t := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(t), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			refused := strings.HasPrefix(q, "q=0") && strings.Trim(q[len("q="):], "0.") == ""
			return !refused
		}
	}
	return false
}
