package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/dashboards"
	"github.com/change66/logserver/internal/dashtest"
)

// serverMetricsQueries returns the PromQL targets of dashboards/server-metrics.json.
func serverMetricsQueries(t *testing.T) []dashtest.Query {
	t.Helper()
	d, err := dashtest.Load(dashboards.FS, "server-metrics.json")
	require.NoError(t, err)
	qs, err := dashtest.Queries(d)
	require.NoError(t, err)
	require.NotEmpty(t, qs)
	return qs
}

// TestDashboardMetricsExist checks that every metric a server-metrics panel reads is exposed by a running
// logserver, so no panel stays empty because of a renamed or missing metric.
func TestDashboardMetricsExist(t *testing.T) {
	t.Parallel()
	const key = "dash-key"
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_LEVEL": "error"})
	generateTraffic(t, s, key)
	mfs := parseScrape(t, scrape(t, s))

	for _, q := range serverMetricsQueries(t) {
		names, err := dashtest.MetricNames(dashtest.ExpandPromQL(q.Expr, "1m"))
		require.NoError(t, err, q.Name())
		for _, n := range names {
			mf, ok := mfs[dashtest.BaseMetricName(n)]
			require.True(t, ok, "%s reads %s, which logserver does not expose", q.Name(), n)
			if n != mf.GetName() { // a _bucket/_sum/_count series must belong to a histogram
				require.Equal(t, "HISTOGRAM", mf.GetType().String(), "%s reads %s", q.Name(), n)
			}
		}
	}
}
