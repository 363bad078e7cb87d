// Package dashboards holds logserver's Grafana dashboards, embedded so a program can provision them itself:
// analytics-overview.json (PostgreSQL datasource, uid "postgres") and server-metrics.json (Prometheus
// datasource, uid "prometheus"). README.md lists every panel, its query and the metrics it uses; the
// provisioning/ directory configures Grafana to load them (see docker-compose.yml).
package dashboards

import "embed"

// FS holds analytics-overview.json and server-metrics.json at its root.
//
//go:embed *.json
var FS embed.FS
