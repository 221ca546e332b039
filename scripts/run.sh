#!/usr/bin/env bash
# The README's run command: builds the assets and the binary, then starts
# OpenIMI on embedded SQLite (./data/imi.db) with demonstration users.
# Extra arguments go to `imi demo`, e.g. --listen 127.0.0.1:9090.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/assets.sh
mkdir -p bin
go build -o bin/imi ./cmd/imi
exec ./bin/imi demo "$@"
