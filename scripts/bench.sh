#!/usr/bin/env bash
# bench.sh — the ingest benchmark behind `make bench`. In one run, on this machine:
#   (a) the database ceiling: the same kind of events written straight into analytics_logs with COPY, no HTTP,
#       and pgstore's own idempotent Append, interleaved batch by batch (pgstore's BenchmarkAppendVsCopy, batch 1000);
#   (b) logserver over HTTP on PostgreSQL: single events (64 clients), batches of 100 (16), batches of 1000 (8);
#   (c) the same on the embedded SQLite store;
#   (d) buffer mode (INGEST_BUFFER): logserver publishing to a JetStream stream on a private nats-server, two
#       in-process writers moving it into a fresh PostgreSQL database, batches of 100 (16 clients), compared
#       with pg-batch100 of (b): the ingest rate (201 answers/s) and the end-to-end rate (until the writers
#       have stored every event, lag 0); then (d2) the same load with no writers in logserver (the replicas'
#       ingest rate while the database is slow or away) and `logserver consume` draining the stream alone.
#   (e) the baseline of single events: `loadgen noop-server`, a net/http server that reads and decodes the same
#       JSON bodies and stores nothing, 64 clients;
#   (f) overload: on each store, batches of 1000 from 3x and 10x the 8 clients that saturate it in (b)/(c), each
#       client retrying 429/503 after Retry-After as the app does, while 4 live clients send single events;
#       prints goodput (acknowledged events/s) as a ratio to the saturation throughput (the mean of a saturation
#       run before and one after the overload runs: the database grows through the step), the answer mix and p99.
#   (g) fleet: `loadgen fleet` on SQLite: BENCH_FLEET_INSTALLS (500) installs come online at once with
#       BENCH_FLEET_EVENTS (500,000) buffered events in 1000-event batches while sending live single events, each
#       behaving like the app (retries after Retry-After, 5 s / 15 s client timeouts, resend after a timeout);
#       prints whether every event was stored exactly once, live p99, timeouts, delivery delay, Retry-After spread.
# loadgen sends the app's realistic traffic by default (timestamps seconds old with a tail of offline events
# hours to days old, 5,000 users); the "-now" rows reproduce the old load where every timestamp is the current
# time. SQLite runs durable (SQLITE_SYNCHRONOUS=FULL, the default); the "-normal" row is the opt-out.
# It prints a table with each throughput as a ratio to (a). Client, server and database share the machine.
# Needs PostgreSQL at TEST_DATABASE_URL (run it through scripts/with-postgres.sh, as `make bench` does).
# Tunables: BENCH_EVENTS (per HTTP run, default 200000), BENCH_SINGLE_EVENTS (default 60000), BENCH_DURATION (30s),
# BENCH_STEPS (default "a b c d e f g": the steps to run; (a) is always run when b, c or d is), BENCH_SINGLE_ONLY=1
# (steps b and c run only their single-event rows, and (a) is skipped: the quick check of the single / no-op
# ratios), BENCH_FLEET_INSTALLS, BENCH_FLEET_EVENTS, BENCH_FLEET_MAX (bound of step g, default 5m),
# BENCH_B_ROWS (the rows of step b to run, e.g. "pg-batch100" for the baseline of step d alone; default all),
# BENCH_BUFFER_ENV (extra environment for the logserver and consume processes of step d, e.g.
# "INGEST_BUFFER_APPENDERS=2": to compare writer settings in one run), BENCH_GO_TAGS (build tags of the logserver
# binary, e.g. "sqlite_cgo sqlite_fts5" for the cgo SQLite driver; needs CGO_ENABLED=1 and a C compiler),
# BENCH_SQLITE_CGO (default 1: step c also runs its single and batch-100 rows on a logserver built with the
# opt-in cgo SQLite driver, rows "sqlite-cgo-*"; 0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
EVENTS=${BENCH_EVENTS:-200000}
SINGLE_EVENTS=${BENCH_SINGLE_EVENTS:-60000}
DURATION=${BENCH_DURATION:-30s}
STEPS=" ${BENCH_STEPS:-a b c d e f g} "
step() { [[ "$STEPS" == *" $1 "* ]]; }
SINGLE_ONLY=${BENCH_SINGLE_ONLY:-}
full() { [ -z "$SINGLE_ONLY" ]; } # the rows other than single events
KEY=bench-key-$$
work=$(mktemp -d)
db=logingest_bench_$$
server_pid=""
nats_pid=""

cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$nats_pid" ]; then kill "$nats_pid" 2>/dev/null || true; wait "$nats_pid" 2>/dev/null || true; fi
  psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS ${db}_buf" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building logserver and loadgen ..." >&2
go build -tags "${BENCH_GO_TAGS:-}" -o "$work/logserver" ./cmd/logserver
go build -o "$work/loadgen" ./cmd/loadgen
SQLITE_CGO=${BENCH_SQLITE_CGO:-1}
if step c && [ "$SQLITE_CGO" = 1 ]; then
  echo "building logserver with the cgo SQLite driver (the first build compiles SQLite: about a minute) ..." >&2
  CGO_ENABLED=1 go build -tags "sqlite_cgo sqlite_fts5" -o "$work/logserver-cgo" ./cmd/logserver
fi
server_bin="$work/logserver"

ceiling=0 append=0
if step a || { full && { step b || step c; }; } || step d; then
echo "(a) COPY ceiling and idempotent Append, straight into PostgreSQL ..." >&2
go test -run '^$' -bench 'BenchmarkAppendVsCopy/batch=1000$' -benchtime 100x ./logingest/store/pgstore/ | tee "$work/gobench.txt" >&2
metric() { awk -v unit="$1" '$1 ~ /^BenchmarkAppendVsCopy\/batch=1000/ { for (i = 2; i <= NF; i++) if ($(i) == unit) print $(i-1) }' "$work/gobench.txt" | tail -1; }
ceiling=$(metric copy_events/s)
append=$(metric append_events/s)
[ -n "$ceiling" ] || { echo "bench: could not read the COPY ceiling from go test output" >&2; exit 1; }
fi

# start_server ENV... : runs logserver on a free port with the given environment, waits until it is ready.
start_server() {
  : >"$work/server.out"
  env -i PATH="$PATH" HOME="$HOME" PORT=0 HOST=127.0.0.1 API_KEYS="$KEY" LOG_LEVEL=warn LOG_FORMAT=json \
    RATE_LIMIT_REQUESTS_PER_MINUTE=0 RATE_LIMIT_EVENTS_PER_MINUTE=0 "$@" "$server_bin" >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 300); do
    url=$(grep -o 'http://[^ ]*' "$work/server.out" | head -1 || true)
    if [ -n "$url" ] && curl -fsS "$url/readiness" >/dev/null 2>&1; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; echo "bench: logserver exited" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench: logserver did not become ready" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" || true; server_pid=""; }

# load NAME CLIENTS BATCH EVENTS [LOADGEN ARGS...] : runs loadgen and records events/s and latencies.
results=()
load() {
  local name=$1 clients=$2 batch=$3 events=$4
  shift 4
  echo "  $name: $clients clients, batch $batch $* ..." >&2
  "$work/loadgen" -url "$url" -key "$KEY" -clients "$clients" -batch "$batch" -events "$events" \
    -duration "$DURATION" -json "$@" >"$work/$name.json"
  results+=("$name")
}

# overload NAME CLIENTS : batches of 1000 from CLIENTS clients that retry every 429/503 after its Retry-After
# (as the app does), with 4 live clients sending single events at the same time.
overload() {
  local name=$1 clients=$2
  echo "  $name: $clients clients, batch 1000, with 4 live single-event clients ..." >&2
  "$work/loadgen" -url "$url" -key "$KEY" -clients 4 -batch 1 -events 100000000 -duration "$DURATION" \
    -retries 1000 -retry-max-wait 60s -timeout 15s -json >"$work/$name-live.json" &
  local live=$!
  "$work/loadgen" -url "$url" -key "$KEY" -clients "$clients" -batch 1000 -events 100000000 -duration "$DURATION" \
    -retries 1000 -retry-max-wait 60s -timeout 15s -json >"$work/$name.json"
  wait "$live" || true
  overloads+=("$name")
}
overloads=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }'; }
field() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$work/$1.json" | head -1; }

psql "$PG_URL" -qAtc "CREATE DATABASE $db" >/dev/null
bench_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$PG_URL" "$db")
if step b; then
echo "(b) logserver over HTTP on PostgreSQL ..." >&2
B_ROWS=" ${BENCH_B_ROWS:-pg-single pg-batch100 pg-batch1000} "
brow() { [[ "$B_ROWS" == *" $1 "* ]]; }
start_server DATABASE_URL="$bench_url"
if brow pg-single; then load pg-single 64 1 "$SINGLE_EVENTS"; fi
if full; then
if brow pg-batch100; then load pg-batch100 16 100 "$EVENTS"; fi
if brow pg-batch1000; then load pg-batch1000 8 1000 "$EVENTS"; fi
fi
stop_server
fi

if step c; then
echo "(c) logserver over HTTP on SQLite (durable: SQLITE_SYNCHRONOUS=FULL) ..." >&2
start_server DATA_DIR="$work/sqlite"
load sqlite-single 64 1 "$SINGLE_EVENTS"
if full; then
load sqlite-batch100 16 100 "$EVENTS"
load sqlite-batch100-now 16 100 "$EVENTS" -timestamps now
load sqlite-batch1000 8 1000 "$EVENTS"
fi
stop_server
if full; then
start_server DATA_DIR="$work/sqlite-normal" SQLITE_SYNCHRONOUS=NORMAL
load sqlite-normal-batch100 16 100 "$EVENTS"
stop_server
fi
if [ "$SQLITE_CGO" = 1 ]; then
server_bin="$work/logserver-cgo"
start_server DATA_DIR="$work/sqlite-cgo"
load sqlite-cgo-single 64 1 "$SINGLE_EVENTS"
if full; then load sqlite-cgo-batch100 16 100 "$EVENTS"; fi
stop_server
server_bin="$work/logserver"
fi
fi

if step e; then
echo "(e) baseline: a no-op net/http server that reads and decodes the same bodies ..." >&2
"$work/loadgen" noop-server >"$work/noop.out" 2>&1 &
noop_pid=$!
for _ in $(seq 1 100); do url=$(grep -o 'http://[^ ]*' "$work/noop.out" | head -1 || true); [ -n "$url" ] && break; sleep 0.1; done
load noop-single 64 1 "$SINGLE_EVENTS"
kill "$noop_pid"; wait "$noop_pid" 2>/dev/null || true
fi

if step f; then
echo "(f) overload: 3x and 10x the clients that saturate each store ..." >&2
start_server DATA_DIR="$work/sqlite-overload"
load sqlite-saturation 8 1000 100000000 -retries 1000 -retry-max-wait 60s -timeout 15s
overload sqlite-overload-3x 24
overload sqlite-overload-10x 80
load sqlite-saturation-after 8 1000 100000000 -retries 1000 -retry-max-wait 60s -timeout 15s
stop_server
psql "$bench_url" -qAtc "TRUNCATE analytics_logs" >/dev/null 2>&1 || true
start_server DATABASE_URL="$bench_url"
load pg-saturation 8 1000 100000000 -retries 1000 -retry-max-wait 60s -timeout 15s
overload pg-overload-3x 24
overload pg-overload-10x 80
load pg-saturation-after 8 1000 100000000 -retries 1000 -retry-max-wait 60s -timeout 15s
stop_server
fi

if step g; then
echo "(g) fleet: ${BENCH_FLEET_INSTALLS:-500} installs online at once, ${BENCH_FLEET_EVENTS:-500000} buffered events, live single events, SQLite ..." >&2
start_server DATA_DIR="$work/sqlite-fleet"
"$work/loadgen" fleet -url "$url" -key "$KEY" -installs "${BENCH_FLEET_INSTALLS:-500}" \
  -buffered "${BENCH_FLEET_EVENTS:-500000}" -max-duration "${BENCH_FLEET_MAX:-5m}" >"$work/fleet.txt" || true
stop_server
fi

if step d; then
echo "(d) buffer mode: logserver -> JetStream -> writers -> PostgreSQL ..." >&2
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
nats_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$nats_bin" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
nats_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done
psql "$PG_URL" -qAtc "CREATE DATABASE ${db}_buf" >/dev/null
buf_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$PG_URL" "${db}_buf")
# CPU split of the end-to-end run: each process's CPU ticks (user+sys) from /proc. PostgreSQL's are those of the
# backends connected to the benchmark's database and of the WAL writer, checkpointer and background writer (shared
# with other databases of the server, if any): pg_snap lists "pid ticks" of those, pg_delta sums their growth
# since a snapshot (a backend that started since counts from 0; one that exited meanwhile is missed).
clk=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_snap() {
  local p
  for p in $(pgrep -f "^postgres: (.*: )?([a-z]+ ${db}_buf |walwriter|checkpointer|background writer)" || true); do
    echo "$p $(ticks "$p")"
  done
}
pg_delta() { pg_snap | awk -v before="$1" 'BEGIN { n = split(before, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], f, " "); t0[f[1]] = f[2] } }
  { d += $2 - ($1 in t0 ? t0[$1] : 0) } END { print d + 0 }'; }
read -r -a buf_env <<<"${BENCH_BUFFER_ENV:-}"
start_server DATABASE_URL="$buf_url" INGEST_BUFFER="nats://127.0.0.1:$nats_port" INGEST_BUFFER_WRITERS=2 "${buf_env[@]}"
s0=$(ticks "$server_pid"); n0=$(ticks "$nats_pid"); p0=$(pg_snap)
t0=$(date +%s.%N)
load pg-buffer-batch100 16 100 "$EVENTS"
tl=$(date +%s.%N)
lag_at_load=$(curl -fsS "$url/metrics" | awk '$1 == "logingest_buffer_lag_events" { print $2 }')
# End to end: wait until the writers have stored everything the load got acknowledged.
for _ in $(seq 1 6000); do
  lag=$(curl -fsS "$url/metrics" | awk '$1 == "logingest_buffer_lag_events" { print $2 }')
  [ "${lag:-1}" = "0" ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
s1=$(ticks "$server_pid"); n1=$(ticks "$nats_pid"); pg=$(pg_delta "$p0")
stop_server
buf_acked=$(field pg-buffer-batch100 events_acked)
buf_e2e=$(awk -v n="$buf_acked" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
buf_stored=$(psql "$buf_url" -qAtc "SELECT count(*) FROM analytics_logs")
buf_cpu=$(awk -v n="$buf_acked" -v clk="$clk" -v s=$((s1 - s0)) -v q=$((n1 - n0)) -v p="$pg" \
  -v lg="$(field pg-buffer-batch100 cpu_us_per_event)" -v a="$t0" -v l="$tl" -v b="$t1" -v lag="$lag_at_load" 'BEGIN {
    printf "CPU µs per event: logserver %.0f, nats-server %.0f, postgres %.0f, loadgen %.1f; load %.1f s (lag %d at its end), drain %.1f s",
      s * 1e6 / clk / n, q * 1e6 / clk / n, p * 1e6 / clk / n, lg, l - a, lag, b - l }')

# (d2) the same load with the writers elsewhere (INGEST_BUFFER_WRITERS=0): the ingest rate the replicas sustain
# while the database is slow or away; then `logserver consume` drains the stream and we time it.
psql "$buf_url" -qAtc "TRUNCATE analytics_logs" >/dev/null
start_server DATABASE_URL="$buf_url" INGEST_BUFFER="nats://127.0.0.1:$nats_port" INGEST_BUFFER_STREAM=BENCHSPLIT INGEST_BUFFER_WRITERS=0
load pg-buffer-nowriters-batch100 16 100 "$EVENTS"
stop_server
: >"$work/consume.out"
env -i PATH="$PATH" HOME="$HOME" PORT=0 HOST=127.0.0.1 LOG_LEVEL=warn LOG_FORMAT=json DATABASE_URL="$buf_url" \
  INGEST_BUFFER="nats://127.0.0.1:$nats_port" INGEST_BUFFER_STREAM=BENCHSPLIT INGEST_BUFFER_WRITERS=2 "${buf_env[@]}" \
  "$work/logserver" consume >"$work/consume.out" 2>"$work/consume.err" &
consume_pid=$!
c0=$(ticks "$consume_pid"); n0=$(ticks "$nats_pid"); p0=$(pg_snap)
t0=$(date +%s.%N)
curl_url=""
for _ in $(seq 1 300); do
  curl_url=$(grep -o 'http://[^ ]*/metrics' "$work/consume.out" | head -1 || true)
  [ -n "$curl_url" ] && break
  sleep 0.1
done
for _ in $(seq 1 6000); do
  lag=$(curl -fsS "$curl_url" | awk '$1 == "logingest_buffer_lag_events" { print $2 }')
  [ "${lag:-1}" = "0" ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
c1=$(ticks "$consume_pid"); n1=$(ticks "$nats_pid"); pg=$(pg_delta "$p0")
kill "$consume_pid"; wait "$consume_pid" 2>/dev/null || true
kill "$nats_pid"; wait "$nats_pid" 2>/dev/null || true; nats_pid=""
split_acked=$(field pg-buffer-nowriters-batch100 events_acked)
split_drain=$(awk -v n="$split_acked" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
split_stored=$(psql "$buf_url" -qAtc "SELECT count(*) FROM analytics_logs")
split_cpu=$(awk -v n="$split_acked" -v clk="$clk" -v c=$((c1 - c0)) -v q=$((n1 - n0)) -v p="$pg" 'BEGIN {
    printf "CPU µs per event: consume %.0f, nats-server %.0f, postgres %.0f", c * 1e6 / clk / n, q * 1e6 / clk / n, p * 1e6 / clk / n }')
fi

printf '\n%-28s %12s %10s %10s %10s %8s\n' "run" "events/s" "vs (a)" "p50 ms" "p99 ms" "errors"
printf '%-28s %12.0f %9.2fx %10s %10s %8s\n' "(a) COPY ceiling (batch 1000)" "$ceiling" 1 - - -
printf '%-28s %12.0f %9.2fx %10s %10s %8s\n' "    pgstore Append (batch 1000)" "$append" "$(ratio "$append" "$ceiling")" - - -
for r in "${results[@]}"; do
  eps=$(field "$r" events_per_sec)
  printf '%-28s %12.0f %9.2fx %10.1f %10.1f %8s\n' "$r" "$eps" "$(ratio "$eps" "$ceiling")" \
    "$(field "$r" p50_ms)" "$(field "$r" p99_ms)" "$(field "$r" errors)"
done
have() { [ -f "$work/$1.json" ]; }
echo
if have pg-batch100; then
  printf 'PostgreSQL batch 100 over HTTP / COPY: %.2f (target >= 0.8)\n' "$(ratio "$(field pg-batch100 events_per_sec)" "$ceiling")"
fi
if have sqlite-batch100; then
  printf 'SQLite batch 100, 16 clients, realistic, FULL: %.0f events/s (target >= 20000); all-now %.0f (realistic/now %.2f); NORMAL %.0f (FULL/NORMAL %.2f)\n' \
    "$(field sqlite-batch100 events_per_sec)" "$(field sqlite-batch100-now events_per_sec)" \
    "$(ratio "$(field sqlite-batch100 events_per_sec)" "$(field sqlite-batch100-now events_per_sec)")" \
    "$(field sqlite-normal-batch100 events_per_sec)" \
    "$(ratio "$(field sqlite-batch100 events_per_sec)" "$(field sqlite-normal-batch100 events_per_sec)")"
fi
if have sqlite-cgo-batch100; then
  printf 'SQLite batch 100, realistic, FULL, cgo driver (-tags "sqlite_cgo sqlite_fts5"): %.0f events/s (cgo/default %.2f)\n' \
    "$(field sqlite-cgo-batch100 events_per_sec)" \
    "$(ratio "$(field sqlite-cgo-batch100 events_per_sec)" "$(field sqlite-batch100 events_per_sec)")"
fi
if have noop-single; then
  n=$(field noop-single events_per_sec)
  for st in pg sqlite sqlite-cgo; do
    have $st-single && printf '%s single events (64 clients) / no-op net/http server: %.2f (target >= 0.6; no-op %.0f req/s)\n' \
      "$st" "$(ratio "$(field $st-single events_per_sec)" "$n")" "$n"
  done
fi
if [ ${#overloads[@]} -gt 0 ]; then
  # The database grows through the step (one server per store: saturation, 3x, 10x, saturation again), and a
  # bigger database writes slower: the baseline is the mean of the saturation runs before and after the
  # overload runs, both printed.
  echo
  for st in sqlite pg; do
    have $st-saturation-after && printf '%s saturation: %.0f events/s before the overload runs, %.0f after (after/before %.2f)\n' \
      "$st" "$(field $st-saturation events_per_sec)" "$(field $st-saturation-after events_per_sec)" \
      "$(ratio "$(field $st-saturation-after events_per_sec)" "$(field $st-saturation events_per_sec)")"
  done
  printf '%-22s %10s %8s %9s %7s %7s %7s %8s %8s %12s\n' overload "events/s" "vs sat" "answers" "201" "429" "503" "p99 ms" "max ms" "live p99 ms"
  for r in "${overloads[@]}"; do
    st=${r%%-overload-*}
    sat=$(field "$st-saturation" events_per_sec)
    if have "$st-saturation-after"; then
      sat=$(awk -v a="$sat" -v b="$(field "$st-saturation-after" events_per_sec)" 'BEGIN { print (a + b) / 2 }')
    fi
    eps=$(field "$r" events_per_sec)
    printf '%-22s %10.0f %7.2fx %9s %7s %7s %7s %8.0f %8.0f %12.0f\n' "$r" "$eps" "$(ratio "$eps" "$sat")" \
      "$(field "$r" requests)" "$(field "$r" status_201)" "$(field "$r" status_429)" "$(field "$r" status_503)" \
      "$(field "$r" p99_ms)" "$(field "$r" max_ms)" "$(field "$r-live" p99_ms)"
  done
  echo "(target: goodput >= 0.9x saturation (the mean of before and after), every answer p99 < 1000 ms; live single events p99 < 1000 ms)"
fi
if step g; then
  echo
  cat "$work/fleet.txt"
  echo "(target: exactly once; live single events p99 < 1000 ms and none timed out; Retry-After spread, not one value)"
fi
if step d; then
d=$(field pg-batch100 events_per_sec); bi=$(field pg-buffer-batch100 events_per_sec)
printf 'buffer mode vs direct, PostgreSQL, batch 100 (same run): ingest %.2fx (%.0f vs %.0f events/s), end to end %.2fx (%s events/s; %s of %s acknowledged events stored)\n' \
  "$(ratio "$bi" "$d")" "$bi" "$d" "$(ratio "$buf_e2e" "$d")" "$buf_e2e" "$buf_stored" "$buf_acked"
echo "  end to end: $buf_cpu${BENCH_BUFFER_ENV:+ (with $BENCH_BUFFER_ENV)}"
bs=$(field pg-buffer-nowriters-batch100 events_per_sec)
printf 'buffer mode, writers elsewhere: ingest %.2fx direct (%.0f events/s); consume drained the stream at %s events/s (%.2fx direct; %s of %s stored)\n' \
  "$(ratio "$bs" "$d")" "$bs" "$split_drain" "$(ratio "$split_drain" "$d")" "$split_stored" "$split_acked"
echo "  consume: $split_cpu"
fi
