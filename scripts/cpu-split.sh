#!/usr/bin/env bash
# cpu-split.sh — where the CPU goes per ingested event: logserver vs PostgreSQL vs the load generator.
# Runs logserver on PostgreSQL (a fresh database at TEST_DATABASE_URL's server) and loadgen with single events
# (64 clients) and batches of 100 (16 clients), and reads each process's CPU ticks from /proc around the run.
# Linux only. Run it through scripts/with-postgres.sh. PostgreSQL's figure sums every postgres process.
# After each run it prints, from logserver's /metrics, the events per store write (group commit size) and the
# mean store write time. Tunables: CPU_SPLIT_MODES (default "64 1 60000;16 100 300000": clients, batch, events
# per run), CPU_SPLIT_LOGSERVER (a prebuilt logserver binary to measure instead of this tree's, e.g. main's
# for a before/after), CPU_SPLIT_PPROF (a directory: a 10 s CPU profile of logserver per run is saved there).
set -euo pipefail
cd "$(dirname "$0")/.."
PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
work=$(mktemp -d); db=logingest_cpusplit_$$; pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${CPU_SPLIT_LOGSERVER:-}" ]; then cp "$CPU_SPLIT_LOGSERVER" "$work/logserver"; else go build -o "$work/logserver" ./cmd/logserver; fi
go build -o "$work/loadgen" ./cmd/loadgen
psql "$PG_URL" -qAtc "CREATE DATABASE $db" >/dev/null
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$PG_URL" "$db")
clk=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_ticks() { local t=0 p; for p in $(pgrep -x postgres || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
field() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$1" | head -1; }

maddr=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# hist NAME: sum and count of a histogram in logserver's /metrics.
hist() { curl -fsS "http://$maddr/metrics" | awk -v n="$1" '$1 == n "_sum" { s = $2 } $1 == n "_count" { c = $2 } END { print s + 0, c + 0 }'; }

IFS=';' read -r -a modes <<<"${CPU_SPLIT_MODES:-64 1 60000;16 100 300000}"
for mode in "${modes[@]}"; do
  set -- $mode
  env -i PATH="$PATH" HOME="$HOME" PORT=0 HOST=127.0.0.1 API_KEYS=k LOG_LEVEL=warn RATE_LIMIT_REQUESTS_PER_MINUTE=0 \
    RATE_LIMIT_EVENTS_PER_MINUTE=0 METRICS_ADDR="$maddr" DATABASE_URL="$db_url" "$work/logserver" >"$work/out" 2>"$work/err" &
  pid=$!
  url=""
  for _ in $(seq 1 300); do
    url=$(grep -o 'http://[^ ]*' "$work/out" | head -1 || true)
    if [ -n "$url" ] && curl -fsS "$url/readiness" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$work/err" >&2; echo "cpu-split: logserver did not start" >&2; exit 1; }
  read -r fs0 fc0 < <(hist logingest_flush_size_events); read -r ws0 wc0 < <(hist logingest_store_write_duration_seconds)
  s0=$(ticks "$pid"); p0=$(pg_ticks)
  prof=""
  if [ -n "${CPU_SPLIT_PPROF:-}" ]; then
    mkdir -p "$CPU_SPLIT_PPROF"
    (sleep 2; curl -fsS -o "$CPU_SPLIT_PPROF/logserver-c$1-b$2.pprof" "http://$maddr/debug/pprof/profile?seconds=10") &
    prof=$!
  fi
  "$work/loadgen" -url "$url" -key k -clients "$1" -batch "$2" -events "$3" -duration 30s -json >"$work/lg.json"
  s1=$(ticks "$pid"); p1=$(pg_ticks)
  if [ -n "$prof" ]; then wait "$prof" || true; fi
  read -r fs1 fc1 < <(hist logingest_flush_size_events); read -r ws1 wc1 < <(hist logingest_store_write_duration_seconds)
  kill "$pid"; wait "$pid" || true; pid=""
  events=$(awk -v a="$(field "$work/lg.json" accepted)" -v d="$(field "$work/lg.json" duplicates)" 'BEGIN { print a + d }')
  awk -v c="$1" -v b="$2" -v eps="$(field "$work/lg.json" events_per_sec)" -v s=$((s1 - s0)) -v p=$((p1 - p0)) \
    -v lg="$(field "$work/lg.json" cpu_us_per_event)" -v n="$events" -v clk="$clk" 'BEGIN {
      printf "clients=%d batch=%d: %.0f events/s; CPU µs per event: logserver %.0f, postgres %.0f, loadgen %.1f\n",
        c, b, eps, s * 1e6 / clk / n, p * 1e6 / clk / n, lg }'
  awk -v fs=$(awk -v a="$fs0" -v b="$fs1" 'BEGIN{print b-a}') -v fc=$(awk -v a="$fc0" -v b="$fc1" 'BEGIN{print b-a}') \
    -v ws=$(awk -v a="$ws0" -v b="$ws1" 'BEGIN{print b-a}') 'BEGIN {
      if (fc > 0) printf "  store writes: %d, %.1f events per write, %.2f ms per write\n", fc, fs / fc, ws * 1000 / fc }'
done
