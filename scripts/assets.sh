#!/usr/bin/env bash
# Installs the npm packages (from package-lock.json) when they are missing or
# the lock file changed, then builds the front-end assets into
# internal/web/static/dist, which the binary embeds. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.imi-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
node web/build.mjs
