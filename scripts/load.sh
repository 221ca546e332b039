#!/usr/bin/env bash
# Measures OpenIMI under load, as docs/PERFORMANCE.md describes: builds imi
# and the load program (bench/load), generates the data sets it lacks
# (kept in data/load/ for the next runs, until their journeys have grown a
# set by more than --grown percent), starts imi serve and the ceiling
# server, runs every journey and ceiling in turn and prints the table.
#
#   scripts/load.sh --write docs/PERFORMANCE.md          # the documented table
#   scripts/load.sh --databases sqlite --scales 10k --rounds 1
#   scripts/load.sh --only 'open a request,inbox' --profile data/load/profiles
#
# PostgreSQL: the database of --postgres (default: the local test
# database), started here if it is not running. Arguments go to the load
# program (bin/load --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/assets.sh
./scripts/postgres.sh >/dev/null
mkdir -p bin
go build -buildvcs=auto -o bin/imi ./cmd/imi # stamps the commit the report names
go build -o bin/load ./bench/load
exec ./bin/load --imi bin/imi "$@"
