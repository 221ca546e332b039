#!/usr/bin/env bash
# Fuzzes every parser of untrusted input, one target after the other
# (go test -fuzz runs one target at a time).
#
#   ./scripts/fuzz.sh              # each target for FUZZTIME (default 10s): what CI runs
#   FUZZTIME=10m ./scripts/fuzz.sh # a longer run
#
# The seed corpora are in the tests (f.Add) and run with every `go test`.
# A failure writes the input that broke it under the package's
# testdata/fuzz/<Target>/: commit it with the fix, so that it is replayed
# by every later test run.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-10s}"
targets=(
  "./internal/authorities FuzzParseImport"   # CSV and JSON import of authorities
  "./internal/authorities FuzzSearchText"    # search text against the real SQLite index
  "./internal/registers FuzzParseRecords"    # CSV and JSON import of registers
  "./internal/search FuzzNormalize"          # normalization and tokens of search text
  "./internal/requests FuzzUploadInspection" # uploaded files: content and name
  "./internal/stats FuzzStatisticsQuery"     # statistics filters from URLs and the CLI
)
for t in "${targets[@]}"; do
  set -- $t
  printf '\n==> %s %s (%s)\n' "$1" "$2" "$FUZZTIME"
  go test "$1" -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" 2>&1 | grep -E '^(fuzz: elapsed: [0-9]+s, execs|--- FAIL|FAIL|ok|PASS|    )' | tail -4
  test "${PIPESTATUS[0]}" -eq 0
done
