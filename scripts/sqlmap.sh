#!/usr/bin/env bash
# SQL injection scan: runs sqlmap (--level 3 --risk 2, signed in) against
# every form, query string, JSON body, path parameter and stored header of
# a running OpenIMI, on a fresh SQLite database and on a fresh PostgreSQL
# one, and fails if any parameter is found injectable.
#
#   scripts/sqlmap.sh                 # both databases
#   scripts/sqlmap.sh sqlite          # one
#   SQLMAP_ONLY='^GET /api/' scripts/sqlmap.sh sqlite   # a quick subset
#
# See scripts/sqlmap/README.md for what it covers, the settings and how
# long it takes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

dbs=("$@")
[ ${#dbs[@]} -gt 0 ] || dbs=(sqlite postgres)
only=${SQLMAP_ONLY:-}                  # regexp over "METHOD pattern"
port=${SQLMAP_PORT:-18431}
level=${SQLMAP_LEVEL:-3}
risk=${SQLMAP_RISK:-2}
jobs=${SQLMAP_JOBS:-1}                 # sqlmap processes at once
pg=${SQLMAP_PG:-postgres://postgres@127.0.0.1:5432}
pgdb=${SQLMAP_PG_DB:-imi_sqlmap}
out=${SQLMAP_OUT:-$(mktemp -d /tmp/imi-sqlmap.XXXXXX)}
mkdir -p "$out"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if ! command -v sqlmap >/dev/null 2>&1; then
  log "installing sqlmap (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq sqlmap >/dev/null
fi
log "sqlmap $(sqlmap --version 2>/dev/null | head -1), output in $out"

# SQLMAP_IMI / SQLMAP_TARGETS: binaries built before (e.g. a release
# build, or to scan the tree as it was while it changes).
if [ -n "${SQLMAP_IMI:-}" ]; then cp "$SQLMAP_IMI" "$out/imi"; else ./scripts/assets.sh >/dev/null; go build -o "$out/imi" ./cmd/imi; fi
if [ -n "${SQLMAP_TARGETS:-}" ]; then cp "$SQLMAP_TARGETS" "$out/targets"; else go build -o "$out/targets" ./scripts/sqlmap/targets; fi

server_pid=""
running=()                             # sqlmap jobs in flight
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
drop_pg() { psql "$pg/postgres?sslmode=disable" -qAtc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true; }
cleanup() { [ ${#running[@]} -eq 0 ] || kill "${running[@]}" 2>/dev/null || true; stop_server; for d in "${dbs[@]}"; do [ "$d" = postgres ] && drop_pg; done; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# requests_total sums the server's request counter; with a code prefix
# (e.g. 5), only the responses of that class.
requests_total() {
  curl -s "http://127.0.0.1:$port/metrics" |
    awk -v c="${1:-}" '/^imi_http_requests_total/ { if (c == "" || $0 ~ "code=\"" c) s += $NF } END { printf "%d\n", s }'
}

# scan_one runs sqlmap on one request file and leaves its log beside it.
scan_one() {
  local dir=$1 dbms=$2 file=$3 tamper=$4 base=${3%.req}
  local args=(-r "$dir/targets/$file" --batch --level "$level" --risk "$risk" --dbms "$dbms"
    --flush-session --ignore-stdin --threads 2 --skip-waf --disable-coloring --timeout 30 --retries 1
    --ignore-code 401
    --output-dir "$dir/sqlmap/$base"
    --answers "follow=N,resend original POST data=N,want to merge=N,want to quit=N")
  [ -n "$tamper" ] && args+=(--tamper "$tamper")
  # exec: the job's pid is sqlmap's, so that stopping the scan stops it.
  TERM=dumb exec sqlmap "${args[@]}" </dev/null >"$dir/logs/$base.log" 2>&1
}

scan_db() {
  local db=$1 dir="$out/$1" url dbms
  mkdir -p "$dir/logs" "$dir/sqlmap"
  case $db in
    sqlite) url="$dir/imi.db"; dbms=SQLite; rm -f "$dir"/imi.db* ;;
    postgres)
      ./scripts/postgres.sh "$pg/postgres?sslmode=disable" >/dev/null
      drop_pg
      psql "$pg/postgres?sslmode=disable" -qAtc "CREATE DATABASE $pgdb" >/dev/null
      # Thousands of writes: durability is not what this scan checks.
      psql "$pg/postgres?sslmode=disable" -qAtc "ALTER DATABASE $pgdb SET synchronous_commit = off" >/dev/null
      url="$pg/$pgdb?sslmode=disable"; dbms=PostgreSQL ;;
    *) echo "unknown database $db (sqlite or postgres)" >&2; return 2 ;;
  esac
  log "$db: starting the server with demonstration data"
  "$out/imi" demo --database "$url" --data-dir "$dir" --attachments-dir "$dir/attachments" \
    --listen "127.0.0.1:$port" --public-rate 100000 --public-burst 100000 --trust-proxy-headers \
    --session-idle-timeout 48h --session-max-age 48h --sqlite-synchronous NORMAL --log-level warn >"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 1; done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "server did not start:"; tail -20 "$dir/server.log"; return 1; }

  "$out/targets" --database "$url" --base "http://127.0.0.1:$port" --openapi "$root/openapi.yaml" \
    --out "$dir/targets" ${only:+--only "$only"} | tee "$dir/targets.txt" | head -1
  local before start
  before=$(requests_total); start=$(date +%s)
  local n
  n=$(awk -F'\t' '$6 > 0' "$dir/targets/targets.tsv" | wc -l)
  log "$db: scanning $n targets with sqlmap (level $level, risk $risk, dbms $dbms, $jobs at once)"
  local f tamper
  running=()
  while IFS=$'\t' read -r f tamper; do
    while [ ${#running[@]} -ge "$jobs" ]; do
      wait -n "${running[@]}" 2>/dev/null || true
      local still=() p
      for p in "${running[@]}"; do kill -0 "$p" 2>/dev/null && still+=("$p"); done
      running=("${still[@]}")
    done
    scan_one "$dir" "$dbms" "$f" "$tamper" &
    running+=($!)
    echo "$(date +%H:%M:%S) $f" >>"$dir/progress.txt"
  # Smallest targets first: a run cut short has covered the most endpoints.
  done < <(awk -F'\t' '$6 > 0 { print $6 "\t" $1 "\t" $5 }' "$dir/targets/targets.tsv" | sort -n -s -k1,1 | cut -f2-)
  [ ${#running[@]} -eq 0 ] || wait "${running[@]}" 2>/dev/null || true
  local seconds=$(( $(date +%s) - start )) made errors5
  made=$(( $(requests_total) - before ))
  errors5=$(requests_total 5)
  stop_server
  [ "$db" = postgres ] && drop_pg
  report "$db" "$dir" "$seconds" "$made" "$errors5"
}

# report counts what sqlmap tested and found, from its logs and results.
report() {
  local db=$1 dir=$2 seconds=$3 made=$4 errors5=$5
  local endpoints params tested notinj injectable critical
  endpoints=$(awk -F'\t' '$6 > 0 { print $2 " " $3 }' "$dir/targets/targets.tsv" | sort -u | wc -l)
  params=$(awk -F'\t' '{ s += $6 } END { print s + 0 }' "$dir/targets/targets.tsv")
  tested=$(cat "$dir"/logs/*.log 2>/dev/null | grep -c "testing for SQL injection on" || true)
  notinj=$(cat "$dir"/logs/*.log 2>/dev/null | grep -c "does not seem to be injectable" || true)
  # With one target (-r), sqlmap writes no --results-file: its log says
  # what it found. A candidate that its false-positive checks reject is
  # reported apart; a confirmed one ends in "identified the following
  # injection point(s)".
  injectable=$(grep -l "identified the following injection point" "$dir"/logs/*.log 2>/dev/null | wc -l || true)
  local candidates rejected
  candidates=$(cat "$dir"/logs/*.log 2>/dev/null | grep -c "appears to be '.*' injectable" || true)
  rejected=$(cat "$dir"/logs/*.log 2>/dev/null | grep -c "false positive or unexploitable injection point detected" || true)
  # sqlmap 1.7 ends a clean run with a CRITICAL "do not appear to be
  # injectable", and calls an original answer of 404 CRITICAL before it goes
  # on (told to, for the pages of unknown tokens); every other CRITICAL
  # (connection lost, …) is counted.
  local expected="do not appear to be injectable|page not found \(404\)"
  critical=$(grep -h "\[CRITICAL\]" "$dir"/logs/*.log 2>/dev/null | grep -Evc "$expected" || true)
  {
    echo "database:            $db"
    echo "endpoints scanned:   $endpoints (METHOD pattern), $(awk -F'\t' '$6 > 0' "$dir/targets/targets.tsv" | wc -l) targets"
    echo "parameters marked:   $params"
    echo "parameters tested:   $tested (not injectable: $notinj)"
    echo "injectable:          $injectable targets (candidates $candidates, rejected by sqlmap as false positives $rejected)"
    echo "requests made:       $made (5xx responses during the run: $errors5)"
    echo "duration:            $((seconds / 60)) min $((seconds % 60)) s"
    echo "sqlmap errors:       $critical [CRITICAL] messages"
    echo "targets not tested:  $(grep -L "testing for SQL injection on" "$dir"/logs/*.log 2>/dev/null | wc -l)"
  } | tee "$dir/summary.txt"
  # A target sqlmap gave up on before testing anything, with its endpoint.
  local f
  for f in $(grep -L "testing for SQL injection on" "$dir"/logs/*.log 2>/dev/null); do
    f=$(basename "$f" .log)
    printf '  not tested: %s %s\n' "$(awk -F'\t' -v f="$f.req" '$1 == f { print $2 " " $3 " (" $7 ")" }' "$dir/targets/targets.tsv")" \
      "$(grep -h "\[CRITICAL\]" "$dir/logs/$f.log" | cut -c23- | head -1)"
  done | tee -a "$dir/summary.txt"
  if [ "$critical" -gt 0 ]; then
    grep -h "\[CRITICAL\]" "$dir"/logs/*.log | grep -Ev "$expected" | cut -c12- | sort | uniq -c | sort -rn | head -10
  fi
  if [ "$injectable" -gt 0 ]; then
    echo "INJECTABLE:"
    for f in $(grep -l "identified the following injection point" "$dir"/logs/*.log); do
      f=$(basename "$f" .log)
      awk -F'\t' -v f="$f.req" '$1 == f { print "  " $2 " " $3 " (" f ")" }' "$dir/targets/targets.tsv"
      sed -n '/identified the following injection point/,/^---$/p' "$dir/logs/$f.log" | sed -n '1,12p'
    done
    return 1
  fi
}

status=0
for db in "${dbs[@]}"; do
  scan_db "$db" || status=1
done
log "logs, request files and results in $out"
exit $status
