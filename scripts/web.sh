#!/usr/bin/env bash
# Builds the chart page into web/dist (what `klined serve` serves at /, --web-root) when it is
# missing or older than its sources: `npm ci` from the lockfile, then `npm run build` (esbuild).
# Needs node and npm (scripts/install-deps.sh installs them). Called by `make`.
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ -f dist/index.html ] && [ -z "$(find src package.json package-lock.json build.mjs -newer dist/index.html 2>/dev/null)" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "web: npm not found; the chart page is not built (scripts/install-deps.sh installs it)" >&2
    exit 1
fi
echo "web: building the chart page (npm ci, npm run build)" >&2
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npm run --silent build >/dev/null
