package httpapi

import (
	"encoding/json"
	"mime"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestIsJSONMediaTypeMatchesParseMediaType checks the fast path of readBody's Content-Type check against what
// mime.ParseMediaType decides.
func TestIsJSONMediaTypeMatchesParseMediaType(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{
		"", "application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;",
		"application/json; charset", "application/jsonx", " application/json", "application/json ", "text/json",
		"application/json, text/plain", "application/json; a=1; a=2", "application/*",
	} {
		mt, _, err := mime.ParseMediaType(ct)
		require.Equal(t, err == nil && mt == "application/json", isJSONMediaType(ct), "%q", ct)
	}
}

// TestSetRateHeaders checks the three numbers of the RateLimit headers, large ones included, and Retry-After.
func TestSetRateHeaders(t *testing.T) {
	t.Parallel()
	hdr := http.Header{}
	setRateHeaders(hdr, Rate{Burst: 1 << 30}, RateDecision{Allowed: true, Remaining: 1234567890, Reset: 1500 * time.Millisecond})
	require.Equal(t, http.Header{
		"Ratelimit-Limit": {"1073741824"}, "Ratelimit-Remaining": {"1234567890"}, "Ratelimit-Reset": {"2"},
	}, hdr)
	hdr = http.Header{}
	setRateHeaders(hdr, Rate{Burst: 5}, RateDecision{Remaining: -3, RetryAfter: 2100 * time.Millisecond})
	require.Equal(t, http.Header{
		"Ratelimit-Limit": {"5"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"0"}, "Retry-After": {"3"},
	}, hdr)
}

// TestRouteMetricsCountsAsWithLabelValues checks that routeMetrics counts each request under the labels the
// vectors' WithLabelValues(route, methodLabel, statusClass) would, and creates no series before its first
// request.
func TestRouteMetricsCountsAsWithLabelValues(t *testing.T) {
	t.Parallel()
	m, err := newHTTPMetrics(prometheus.NewPedanticRegistry())
	require.NoError(t, err)
	rm := newRouteMetrics(m, "/r")
	require.Zero(t, testutil.CollectAndCount(m.requests))
	require.Zero(t, testutil.CollectAndCount(m.duration))
	for range 2 {
		rm.observe(http.MethodPost, http.StatusCreated, time.Millisecond)
	}
	rm.observe(http.MethodGet, http.StatusNotFound, time.Millisecond)
	rm.observe("BREW", 999, time.Millisecond)
	rm.observe(http.MethodOptions, http.StatusNoContent, time.Millisecond)
	require.InDelta(t, 2, testutil.ToFloat64(m.requests.WithLabelValues("/r", "POST", "2xx")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.requests.WithLabelValues("/r", "GET", "4xx")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.requests.WithLabelValues("/r", "OTHER", "other")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.requests.WithLabelValues("/r", "OPTIONS", "2xx")), 0)
	require.Equal(t, 4, testutil.CollectAndCount(m.requests))
	require.Equal(t, 1, testutil.CollectAndCount(m.duration))
	for _, meth := range methodLabels {
		require.Equal(t, meth, methodLabels[methodIndex(meth)])
		require.Equal(t, methodLabel(meth), methodLabels[methodIndex(meth)])
	}
	require.Equal(t, "OTHER", methodLabels[methodIndex("get")])
}

// methodLabel is the method label as the handler gave it before methodLabels: the reference methodIndex is
// checked against.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions:
		return m
	}
	return "OTHER"
}

// TestPlainJSONStringDecodesAsUnmarshal checks parseTime's fast path: whatever it accepts, json.Unmarshal
// decodes to the same string.
func TestPlainJSONStringDecodesAsUnmarshal(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`"2025-08-27T09:00:24.829000Z"`, `""`, `"a b"`, `"\u0041"`, `"\""`, `"a\/b"`, `"é"`, "\"\x7f\"", "\"\t\"",
		`"`, `"a`, `a"`, `12`, `null`, `"a"b"`, ` "a"`, `"a" `,
	} {
		got, ok := plainJSONString([]byte(raw))
		if !ok {
			continue
		}
		var want string
		require.NoError(t, json.Unmarshal([]byte(raw), &want), "%q", raw)
		require.Equal(t, want, got, "%q", raw)
	}
	got, ok := plainJSONString([]byte(`"2025-08-27T09:00:24.829000+02:00"`))
	require.True(t, ok)
	require.Equal(t, "2025-08-27T09:00:24.829000+02:00", got)
	for _, raw := range []string{`"\u0041"`, `"é"`, `12`, `"a"b"`} {
		_, ok := plainJSONString([]byte(raw))
		require.False(t, ok, "%q", raw)
	}
}
