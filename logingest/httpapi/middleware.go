package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// ctxKey is the context key of requestInfo. It has no fields: a key with a field would be copied into an
// interface, an allocation, on every context lookup.
type ctxKey struct{}

var requestInfoKey = ctxKey{}

// requestInfo travels in the request context: it is the context, wrapping the request's, and answers
// requestInfoKey with itself. Its logger carries request_id, and key_id once the caller is authenticated, so
// every line logged for the request (the access log included) names both.
//
// The loggers, their handlers and the response recorder live inside it, so a request allocates one requestInfo
// rather than one object for each.
type requestInfo struct {
	context.Context //nolint:containedctx // requestInfo is the request's context, one allocation for both
	id              string
	logger          *slog.Logger
	rec             *recorder // the response, for the status once the handler returns
	charges         []charge  // rate-limit tokens taken, to give back if the request fails
	// chargeBuf backs charges for the usual request, which takes a request token and event tokens.
	chargeBuf [2]charge
	failure   error // the error the request was answered with, if any (see giveBack)
	// client is ipBucket(clientIP) once clientBucket has computed it (hasClient).
	client    string
	hasClient bool

	// Backing storage of rec and of logger: the request_id logger, then the one with key_id too.
	recBuf                recorder
	idHandler, keyHandler requestHandler
	idLogger, keyIDLogger slog.Logger
}

// newRequestInfo returns the requestInfo of request id over parent, whose logger is newRequestLogger(base, id)
// and whose recorder wraps w.
func newRequestInfo(parent context.Context, base *slog.Logger, id string, w http.ResponseWriter) *requestInfo {
	ri := &requestInfo{Context: parent, id: id}
	ri.charges = ri.chargeBuf[:0]
	ri.idHandler = requestHandler{inner: base.Handler(), id: id}
	ri.idLogger = *slog.New(&ri.idHandler)
	ri.logger = &ri.idLogger
	ri.recBuf = recorder{ResponseWriter: w, status: http.StatusOK}
	ri.rec = &ri.recBuf
	return ri
}

// Value implements context.Context: requestInfoKey is ri, other keys are the parent's.
func (ri *requestInfo) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return ri
	}
	return ri.Context.Value(key)
}

// setKeyID adds key_id to the request's logger, as ri.logger = withKeyID(ri.logger, keyID) does, without an
// allocation the first time.
func (ri *requestInfo) setKeyID(keyID string) {
	if ri.logger != &ri.idLogger {
		ri.logger = withKeyID(ri.logger, keyID)
		return
	}
	ri.keyHandler = requestHandler{inner: ri.idHandler.inner, id: ri.id, keyID: keyID, hasKey: true}
	ri.keyIDLogger = *slog.New(&ri.keyHandler)
	ri.logger = &ri.keyIDLogger
}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey).(*requestInfo)
	return ri
}

func requestIDFrom(ctx context.Context) string {
	if ri := infoFrom(ctx); ri != nil {
		return ri.id
	}
	return ""
}

func (h *Handler) requestLogger(r *http.Request) *slog.Logger {
	if ri := infoFrom(r.Context()); ri != nil {
		return ri.logger
	}
	return h.logger
}

// saneRequestID reports whether a client-supplied X-Request-ID may be reused: 1..128 characters of
// [A-Za-z0-9-_.], so it cannot inject anything into logs or headers.
func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// recorder remembers the status and size of a response for the access log, metrics and panic recovery.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (rw *recorder) WriteHeader(code int) {
	if !rw.wroteHeader {
		rw.status = code
		rw.wroteHeader = true
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	n, err := rw.ResponseWriter.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// headerCapture is a ResponseWriter that keeps only the header and status; it turns ServeMux's plain-text
// 404/405 answers into JSON ones while keeping their Allow header.
type headerCapture struct {
	header http.Header
	status int
}

func (c *headerCapture) Header() http.Header         { return c.header }
func (c *headerCapture) Write(p []byte) (int, error) { return len(p), nil }
func (c *headerCapture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

// serve is the outer middleware chain: request ID, access log and metrics, panic recovery, security headers,
// CORS, then routing.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	id := r.Header.Get(headerRequestID)
	if !saneRequestID(id) {
		id = newRequestID()
	}
	ri := newRequestInfo(r.Context(), h.logger, id, w)
	// The logger in the context lets the store log what it finds wrong with a row under the request id.
	ctx := logingest.ContextWithLogger(ri, ri.logger)
	r = r.WithContext(ctx)
	w.Header()[headerRequestID] = []string{id}

	rec := ri.rec
	handler, pattern := h.route(r)
	rm, ok := h.routeStats[pattern]
	if !ok {
		rm = h.routeStats[""] // a pattern not registered through handle: counted as unmatched, never as a raw path
	}

	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
				panic(v)
			}
			ri.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if !rec.wroteHeader {
				h.writeError(rec, r, fmt.Errorf("panic: %v", v))
			} else {
				rec.status = http.StatusInternalServerError // for the log and metrics; the client sees a cut answer
			}
		}
		h.observe(r, rec, ri, rm, start)
	}()

	setSecurityHeaders(w.Header())
	if h.cors(rec, r) {
		return
	}
	handler.ServeHTTP(rec, r)
}

// observe counts the request in the metrics of its route (rm) and writes its access log line.
func (h *Handler) observe(r *http.Request, rec *recorder, ri *requestInfo, rm *routeMetrics, start time.Time) {
	d := h.cfg.Now().Sub(start)
	rm.observe(r.Method, rec.status, d)
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	if !ri.logger.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", rm.route),
		slog.Int("status", rec.status),
		slog.Duration("duration", d),
		slog.Int64("bytes", rec.bytes),
		slog.String("client_ip", h.clientIP(r)),
	}
	ri.logger.LogAttrs(r.Context(), level, "http request", attrs...)
}

// clientBucket returns ipBucket(h.clientIP(r)), the client's key for the auth-failure limit and the per-client
// body budget, computed once per request.
func (h *Handler) clientBucket(r *http.Request) string {
	ri := infoFrom(r.Context())
	if ri == nil {
		return ipBucket(h.clientIP(r))
	}
	if !ri.hasClient {
		ri.client, ri.hasClient = ipBucket(h.clientIP(r)), true
	}
	return ri.client
}

func (h *Handler) clientIP(r *http.Request) string {
	if hdr := h.cfg.TrustedProxyHeader; hdr != "" {
		if v := r.Header.Get(hdr); v != "" {
			first, _, _ := strings.Cut(v, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// headerRequestID is X-Request-ID in its canonical form, so that Header.Get and direct map use need no
// conversion (which allocates).
const headerRequestID = "X-Request-Id"

// securityHeaders are the headers every answer carries, keys in canonical form. Their value slices are shared
// by every answer, which is safe: nothing writes into a header's slice in place (Set replaces it, Add appends
// past its capacity, so into a copy).
var securityHeaders = []struct {
	key   string
	value []string
}{
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"Content-Security-Policy", []string{"default-src 'none'; frame-ancestors 'none'"}},
	{"Cache-Control", []string{"no-store"}},
}

func setSecurityHeaders(hdr http.Header) {
	for _, h := range securityHeaders {
		hdr[h.key] = h.value
	}
}

// cors adds CORS headers for allowed origins and answers preflight requests itself, returning true when it
// did. With no AllowedOrigins it does nothing.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	c := &h.cfg.CORS
	if len(c.AllowedOrigins) == 0 {
		return false
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		hdr.Add("Vary", "Access-Control-Request-Method")
		hdr.Add("Vary", "Access-Control-Request-Headers")
	}
	allowed := h.allowOrigin(origin)
	if allowed != "" {
		hdr.Set("Access-Control-Allow-Origin", allowed)
		hdr.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset")
	}
	if !preflight {
		return false
	}
	if allowed != "" {
		hdr.Set("Access-Control-Allow-Methods", strings.Join(c.AllowedMethods, ", "))
		hdr.Set("Access-Control-Allow-Headers", strings.Join(c.AllowedHeaders, ", "))
		hdr.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
	}
	// A disallowed origin gets a preflight answer without CORS headers, which the browser treats as a refusal.
	w.WriteHeader(http.StatusNoContent)
	return true
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin, or "" when it is not allowed.
func (h *Handler) allowOrigin(origin string) string {
	if origin == "" {
		return ""
	}
	for _, o := range h.cfg.CORS.AllowedOrigins {
		if o == "*" {
			return "*"
		}
		if strings.EqualFold(o, origin) {
			return origin
		}
	}
	return ""
}

// route finds the handler for r: the registered route, or a JSON 404/405 answer. pattern is "" when no route
// matched.
func (h *Handler) route(r *http.Request) (http.Handler, string) {
	if p := h.cfg.PathPrefix; p != "" {
		rest, ok := strings.CutPrefix(r.URL.Path, p)
		if !ok || (rest != "" && rest[0] != '/') {
			return h.notFound(), ""
		}
		if rest == "" {
			rest = "/"
		}
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = &u
		hd, pattern := h.routeMux(r2)
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hd.ServeHTTP(w, r2) }), pattern
	}
	return h.routeMux(r)
}

func (h *Handler) routeMux(r *http.Request) (http.Handler, string) {
	hd, pattern := h.mux.Handler(r)
	if pattern != "" {
		return hd, pattern
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &headerCapture{header: http.Header{}}
		hd.ServeHTTP(c, r)
		if c.status == http.StatusMethodNotAllowed {
			if allow := c.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			h.writeError(w, r, errMethodNotAllowed)
			return
		}
		if c.status >= 300 && c.status < 400 {
			// Path-cleaning redirect from ServeMux: pass it through.
			maps.Copy(w.Header(), c.header)
			w.WriteHeader(c.status)
			return
		}
		h.writeError(w, r, errRouteNotFound)
	}), ""
}

func (h *Handler) notFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.writeError(w, r, errRouteNotFound) })
}
