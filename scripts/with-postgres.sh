#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]
#
# Runs CMD with a reachable PostgreSQL in TEST_DATABASE_URL:
#   1. if TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) answers
#      pg_isready, CMD runs against it;
#   2. otherwise, if initdb and pg_ctl are installed, a throwaway cluster (trust auth) is created in a temporary
#      directory on a free port, TEST_DATABASE_URL points at it while CMD runs, and it is stopped and deleted
#      on exit;
#   3. otherwise it fails loudly.
# The exit status is CMD's.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}

if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$url" -t 3; then
  export TEST_DATABASE_URL=$url
  exec "$@"
fi

echo "with-postgres: no PostgreSQL answers at $url; starting a throwaway cluster" >&2

find_bin() {
  command -v "$1" 2>/dev/null && return 0
  ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}
initdb=$(find_bin initdb || true)
pg_ctl=$(find_bin pg_ctl || true)
if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
  cat >&2 <<MSG
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
with-postgres: PostgreSQL is not reachable at $url
with-postgres: and initdb/pg_ctl are not installed, so no throwaway cluster
with-postgres: can be started. Set TEST_DATABASE_URL or install PostgreSQL.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
MSG
  exit 1
fi

# initdb refuses to run as root: run the cluster as the postgres user then.
as=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "with-postgres: running as root and there is no postgres user to own the cluster" >&2
    exit 1
  fi
  as=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/with-postgres.XXXXXX")
[ ${#as[@]} -gt 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)))

cleanup() {
  "${as[@]}" "$pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

"${as[@]}" "$initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
"${as[@]}" "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "with-postgres: throwaway cluster at $TEST_DATABASE_URL" >&2
set +e
"$@"
status=$?
set -e
exit $status
