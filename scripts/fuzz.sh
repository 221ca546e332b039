#!/usr/bin/env bash
# Fuzzes every parser of untrusted input, one target after the other
# (go test -fuzz runs one target at a time).
#
#   ./scripts/fuzz.sh              # each target for its own number of inputs: what CI runs
#   FUZZTIME=10m ./scripts/fuzz.sh # a longer run, by the clock
#   FUZZTIME=200000x ./scripts/fuzz.sh # a longer run, by inputs
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
#
# CI counts inputs rather than seconds: Go 1.26's fuzzing coordinator can
# report its own deadline as a failure, "context deadline exceeded" with no
# crasher, when a loaded machine slows the workers at the end of a timed run
# (golang/go#75804, fixed in Go 1.27). A count sets no deadline. Each
# target's count below is a few seconds of work on an idle 2-core machine:
# the targets that search a real database run about a hundred times slower
# than the pure parsers.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-}"
MINIMIZETIME="${MINIMIZETIME:-2s}"
targets=(
  "./internal/authorities FuzzParseImport 5000x"     # CSV and JSON import of authorities (a real SQLite database)
  "./internal/authorities FuzzSearchText 500x"       # search text against the real SQLite index
  "./internal/registers FuzzParseRecords 20000x"     # CSV and JSON import of registers
  "./internal/search FuzzNormalize 20000x"           # normalization and tokens of search text
  "./internal/requests FuzzUploadInspection 10000x"  # uploaded files: content and name
  "./internal/scan FuzzInspect 20000x"               # uploaded files: the whole content (PDF names and streams, PNG chunks, text)
  "./internal/stats FuzzStatisticsQuery 10000x"      # statistics filters from URLs and the CLI
  "./internal/areas FuzzLoadPack 10000x"             # area packs: area.yaml and texts
  "./internal/web FuzzFormDecoding 20000x"           # form bodies, plain and multipart, read into inputs
  "./internal/api FuzzDecodeJSON 20000x"             # JSON bodies of every API write
)
for t in "${targets[@]}"; do
  set -- $t
  budget="${FUZZTIME:-$3}"
  printf '\n==> %s %s (%s)\n' "$1" "$2" "$budget"
  go test "$1" -run '^$' -fuzz "^$2\$" -fuzztime "$budget" -fuzzminimizetime "$MINIMIZETIME" 2>&1 | grep -E '^(fuzz: elapsed: [0-9]+s, execs|--- FAIL|FAIL|ok|PASS|    )' | tail -4
  test "${PIPESTATUS[0]}" -eq 0
done
