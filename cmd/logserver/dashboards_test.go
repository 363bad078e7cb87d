package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/dashboards"
	"github.com/change66/logserver/internal/dashtest"
	"github.com/change66/logserver/internal/natstest"
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
// logserver, so no panel stays empty because of a renamed or missing metric. The buffer panels'
// metrics (logingest_buffer_*) are read from a second server in buffer mode, on its own nats-server.
func TestDashboardMetricsExist(t *testing.T) {
	t.Parallel()
	const key = "dash-key"
	s := startServer(t, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_LEVEL": "error"})
	generateTraffic(t, s, key)
	mfs := parseScrape(t, scrape(t, s))
	b := startServer(t, map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": key, "LOG_LEVEL": "error",
		"INGEST_BUFFER": natstest.Start(t, 1).URLs(), "INGEST_BUFFER_WRITERS": "1",
	})
	generateTraffic(t, b, key)
	for name, mf := range parseScrape(t, scrape(t, b)) {
		if strings.HasPrefix(name, "logingest_buffer_") {
			mfs[name] = mf
		}
	}

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
