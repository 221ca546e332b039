#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at the URL given (default: the local
# test database), starting the local cluster, or installing Debian's
# PostgreSQL, when it does not. Idempotent.
set -euo pipefail
url="${1:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
if ! ready; then
  for v in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  done
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
# The test database must exist; create it if the cluster is new.
if ! psql "$url" -qAtc 'SELECT 1' >/dev/null 2>&1; then
  db=$(sed -E 's#.*/([^/?]+)(\?.*)?$#\1#' <<<"$url")
  su postgres -c "createdb $db" 2>/dev/null || createdb -h 127.0.0.1 -U postgres "$db"
fi
psql "$url" -qAtc 'SELECT version()'
