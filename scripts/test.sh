#!/usr/bin/env bash
# The whole test suite: the README's test command, and what .ci/run calls.
#
#   ./scripts/test.sh
#
# It installs or starts what the tests need when it is missing (npm packages,
# the front-end build, PostgreSQL, Debian's Chromium), then runs go vet,
# staticcheck and every Go test twice: on SQLite and on PostgreSQL. Browser
# tests (e2e/) run in headless Chromium. Every step is idempotent.
#
# Settings (environment):
#   IMI_TEST_POSTGRES  PostgreSQL URL for the second run
#                      (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
#   IMI_TEST_SKIP_LINT=1   skip staticcheck (quicker local runs)
#   IMI_FUZZTIME       how long to fuzz each parser of untrusted input (default 5s;
#                      0 skips; longer runs: FUZZTIME=10m ./scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${IMI_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
STATICCHECK_VERSION=v0.8.2

step() { printf '\n==> %s\n' "$*"; }

step "front-end packages and assets"
./scripts/assets.sh

step "PostgreSQL"
./scripts/postgres.sh "$PG_URL"

step "Chromium for the browser tests"
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
chromium --version

step "go vet"
go vet ./...

if [ "${IMI_TEST_SKIP_LINT:-}" != 1 ]; then
  step "staticcheck"
  go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ./...
fi

status=0
step "tests on SQLite"
go test -json -count=1 ./... | go run ./internal/testreport -label sqlite || status=1

step "tests on PostgreSQL"
IMI_TEST_DATABASE="$PG_URL" go test -json -count=1 ./... | go run ./internal/testreport -label postgres || status=1

if [ "${IMI_FUZZTIME:-5s}" != 0 ]; then
  step "fuzzing each parser of untrusted input briefly"
  FUZZTIME="${IMI_FUZZTIME:-5s}" ./scripts/fuzz.sh || status=1
fi

exit $status
