package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/change66/logserver/internal/promutil"
)

// httpMetrics are the Handler's collectors. Every label is bounded: routes are registered patterns, methods are
// the standard ones (anything else is "OTHER"), codes are status classes, auth reasons a fixed set.
type httpMetrics struct {
	requests     *prometheus.CounterVec   // route, method, code
	duration     *prometheus.HistogramVec // route
	rateLimited  *prometheus.CounterVec   // limit
	authFailures *prometheus.CounterVec   // reason
	// inflightBytes is the part of the in-flight ingest memory budget held by requests now.
	inflightBytes prometheus.Gauge
}

// Auth failure reasons, the values of logingest_auth_failures_total{reason}.
const (
	authMissing   = "missing"
	authInvalid   = "invalid"
	authForbidden = "forbidden"
	authError     = "error"
)

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status class (2xx, 4xx, ...).",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logingest_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_http_rate_limited_total",
			Help: "API requests refused with 429, by the limit exceeded (requests and events per key, auth_failures per client IP).",
		}, []string{"limit"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logingest_auth_failures_total",
			Help: "API requests refused by authentication or authorization, by reason (missing, invalid, forbidden, error).",
		}, []string{"reason"}),
		inflightBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logingest_http_inflight_body_bytes",
			Help: "Bytes of the in-flight ingest memory budget held by requests being read, decoded or ingested (bodies and decoded events).",
		}),
	}
	// One Register call per collector keeps its static type; when reg already holds an equal collector, that one
	// is returned and used instead.
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.requests, err = promutil.Register(reg, m.requests)
	keep(err)
	m.duration, err = promutil.Register(reg, m.duration)
	keep(err)
	m.rateLimited, err = promutil.Register(reg, m.rateLimited)
	keep(err)
	m.authFailures, err = promutil.Register(reg, m.authFailures)
	keep(err)
	m.inflightBytes, err = promutil.Register(reg, m.inflightBytes)
	keep(err)
	if err = errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, r := range []string{authMissing, authInvalid, authForbidden, authError} {
		m.authFailures.WithLabelValues(r) // export zeros so rate() works from the first failure
	}
	for _, l := range []string{limitRequests, limitEvents, limitAuthFailures} {
		m.rateLimited.WithLabelValues(l)
	}
	return m, nil
}

// routeLabel turns a ServeMux pattern such as "POST /api/v1/ingest" into its path; unmatched requests share
// one label so raw paths never become label values.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// statusClasses are the values of the code label for 1xx to 5xx, constants so that labelling allocates nothing.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(code int) string {
	switch {
	case code >= 100 && code < 600:
		return statusClasses[code/100-1]
	default:
		return "other"
	}
}

// methodLabels are the values of the method label: the standard methods but CONNECT and TRACE, and "OTHER" for
// any other (a client's method never becomes a label value).
var methodLabels = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
	http.MethodOptions, "OTHER",
}

// methodIndex returns the index in methodLabels of method m's label.
func methodIndex(m string) int {
	for i, l := range methodLabels[:len(methodLabels)-1] {
		if m == l {
			return i
		}
	}
	return len(methodLabels) - 1
}

// statusClassIndex returns the index of statusClass(code) in statusClasses, or len(statusClasses) for "other".
func statusClassIndex(code int) int {
	if code >= 100 && code < 600 {
		return code/100 - 1
	}
	return len(statusClasses)
}

// routeMetrics are one route's children of the request counter and duration histogram, looked up in their
// vectors once, on first use (a series appears when its first request is counted, as with WithLabelValues on
// every request), then reused without hashing the labels again. It is safe for concurrent use.
type routeMetrics struct {
	m        *httpMetrics
	route    string
	duration atomic.Pointer[prometheus.Observer]
	requests [len(methodLabels)][len(statusClasses) + 1]atomic.Pointer[prometheus.Counter]
}

func newRouteMetrics(m *httpMetrics, route string) *routeMetrics {
	return &routeMetrics{m: m, route: route}
}

// observe counts one request with method and status code that took d.
func (rm *routeMetrics) observe(method string, code int, d time.Duration) {
	mi, ci := methodIndex(method), statusClassIndex(code)
	c := rm.requests[mi][ci].Load()
	if c == nil {
		child := rm.m.requests.WithLabelValues(rm.route, methodLabels[mi], statusClass(code))
		c = &child
		rm.requests[mi][ci].Store(c)
	}
	(*c).Inc()
	o := rm.duration.Load()
	if o == nil {
		child := rm.m.duration.WithLabelValues(rm.route)
		o = &child
		rm.duration.Store(o)
	}
	(*o).Observe(d.Seconds())
}
