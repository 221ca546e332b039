#!/usr/bin/env bash
# Fuzzes every parser of untrusted input, one target after the other
# (go test -fuzz runs one target at a time).
#
#   ./scripts/fuzz.sh              # each target for FUZZTIME (default 10s): what CI runs
#   FUZZTIME=10m ./scripts/fuzz.sh # a longer run
#   MINIMIZETIME=1m ./scripts/fuzz.sh # minimize new inputs longer (default 2s)
#
# The seed corpora are in the tests (f.Add) and run with every `go test`.
# A failure writes the input that broke it under the package's
# testdata/fuzz/<Target>/: commit it with the fix, so that it is replayed
# by every later test run.
#
# Minimizing each new interesting input is capped (MINIMIZETIME): Go's
# default of a minute per input left brief runs stuck minimizing (area
# packs made 4 execs in 25 s); a crash found is still written out whole.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-10s}"
MINIMIZETIME="${MINIMIZETIME:-2s}"
targets=(
  "./internal/authorities FuzzParseImport"   # CSV and JSON import of authorities
  "./internal/authorities FuzzSearchText"    # search text against the real SQLite index
  "./internal/registers FuzzParseRecords"    # CSV and JSON import of registers
  "./internal/search FuzzNormalize"          # normalization and tokens of search text
  "./internal/requests FuzzUploadInspection" # uploaded files: content and name
  "./internal/scan FuzzInspect"              # uploaded files: the whole content (PDF names and streams, PNG chunks, text)
  "./internal/stats FuzzStatisticsQuery"     # statistics filters from URLs and the CLI
  "./internal/areas FuzzLoadPack"            # area packs: area.yaml and texts
  "./internal/web FuzzFormDecoding"          # form bodies, plain and multipart, read into inputs
  "./internal/api FuzzDecodeJSON"            # JSON bodies of every API write
)
for t in "${targets[@]}"; do
  set -- $t
  printf '\n==> %s %s (%s)\n' "$1" "$2" "$FUZZTIME"
  go test "$1" -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZETIME" 2>&1 | grep -E '^(fuzz: elapsed: [0-9]+s, execs|--- FAIL|FAIL|ok|PASS|    )' | tail -4
  test "${PIPESTATUS[0]}" -eq 0
done
