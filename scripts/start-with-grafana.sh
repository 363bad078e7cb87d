#!/usr/bin/env bash
# Starts logserver with PostgreSQL, Prometheus, Grafana and Redis (docker-compose.yml), waits until they answer,
# and prints their URLs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "docker compose is not installed" >&2
  exit 1
fi

"${compose[@]}" up -d --build

# wait_for NAME URL: polls URL for up to 120s.
wait_for() {
  local name=$1 url=$2
  printf 'waiting for %s ' "$name"
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      echo "ready"
      return 0
    fi
    printf '.'
    sleep 1
  done
  echo " not ready after 120s; see: ${compose[*]} logs" >&2
  return 1
}

wait_for "logserver"  http://localhost:8080/readiness
wait_for "Prometheus" http://localhost:9090/-/ready
wait_for "Grafana"    http://localhost:3000/api/health

cat <<INFO

Services:
  Server:      http://localhost:8080   (API key: ${API_KEYS:-dev-key-change-me})
  Grafana:     http://localhost:3000   (admin / ${GRAFANA_ADMIN_PASSWORD:-admin})
  Prometheus:  http://localhost:9090
  PostgreSQL:  localhost:5432          (postgres / ${POSTGRES_PASSWORD:-postgres}, database analytics_logs)
  Redis:       localhost:6379

Dashboards:
  Analytics Overview: http://localhost:3000/d/analytics-overview
  Server Metrics:     http://localhost:3000/d/server-metrics

Logs: ${compose[*]} logs -f log-server    Stop: ${compose[*]} down
INFO
