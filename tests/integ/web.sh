#!/usr/bin/env bash
# End-to-end checks of what a browser and stock client libraries see: klined serves the built
# chart page (web/dist) and its Binance-compatible REST/WS API while a lines:tcp feed trades two
# symbols; tests/web/chart.test.mjs drives Debian's Chromium (headless) over the page, and
# tests/web/ccxt.test.mjs runs ccxt's binance class and the `ws` package against the same service.
# The page is built (npm ci && npm run build) when web/dist is missing or older than its sources,
# and the test packages are installed from their lockfiles. Nothing is skipped: a missing
# Chromium, node or npm is a failure with a message. Everything else runs in a temporary directory
# and the service is always stopped. Screenshots go to $KL_ARTIFACTS (default tests/web/out/).
# Run as: bash tests/integ/web.sh <klined-binary> [<shared-data-dir>]; exit 0 = all passed.
set -u

BIN=${1:?usage: web.sh <klined-binary> [shared-data-dir]}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHROMIUM=${KL_CHROMIUM:-/usr/bin/chromium}
export KL_ARTIFACTS=${KL_ARTIFACTS:-$ROOT/tests/web/out}
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-integ-web.XXXXXX")
SPID=
cleanup() {
    if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}
# show_log: klined's stderr, for a failure's context (stats lines left out).
show_log() { grep -v 'event=stats' "$T/err.txt" 2>/dev/null | tail -30 | sed 's/^/    klined: /'; }

# ---- 1. tools: fail loudly, never skip ------------------------------------------------------
for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        bad "$tool not found: install Node.js 20+ with npm (scripts/install-deps.sh)"
        finish
    fi
done
if [ ! -x "$CHROMIUM" ]; then
    bad "Chromium not found at $CHROMIUM: apt-get install chromium (or set KL_CHROMIUM)"
    finish
fi
ok "tools: node $(node --version), npm $(npm --version), $("$CHROMIUM" --version 2>/dev/null | head -1)"

# ---- 2. the page and the test packages -----------------------------------------------------
# npm_ci DIR: installs DIR's packages from its lockfile unless node_modules already matches it.
npm_ci() {
    if [ ! -f "$1/node_modules/.package-lock.json" ] ||
        [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
        (cd "$1" && npm ci --no-audit --no-fund) >"$T/npm.txt" 2>&1 || {
            sed 's/^/    npm: /' "$T/npm.txt" | tail -20
            return 1
        }
    fi
}
W=$ROOT/web
if [ ! -f "$W/dist/index.html" ] ||
    [ -n "$(find "$W/src" "$W/build.mjs" "$W/package-lock.json" -newer "$W/dist/index.html" 2>/dev/null)" ]; then
    if npm_ci "$W" && (cd "$W" && npm run build) >"$T/build.txt" 2>&1; then
        ok "web: npm ci && npm run build"
    else
        sed 's/^/    build: /' "$T/build.txt" 2>/dev/null | tail -20
        bad "web: the page did not build"
        finish
    fi
fi
for f in index.html main.js style.css; do
    [ -s "$W/dist/$f" ] || bad "web/dist/$f is missing after the build"
done
if npm_ci "$ROOT/tests/web"; then ok "tests/web: npm ci"; else bad "tests/web: npm ci failed"; finish; fi

# ---- 3. klined with a lines:tcp feed, on free ports ----------------------------------------
# klined LISTENS on the lines port (src/source/lines.c): the tests connect to it as clients.
# --lateness-ms 1000: a trade stamped "now" that reaches the worker just after a 1 s boundary
# ticked is still applied (as a correction), so no check depends on where in a second it runs.
start() {
    HPORT=$((20000 + RANDOM % 20000))
    LPORT=$((HPORT + 1))
    : >"$T/err.txt"
    "$BIN" serve --listen "127.0.0.1:$HPORT" --source "lines:tcp://127.0.0.1:$LPORT" \
        --store "sqlite:$T/klined.db" --wal-dir "$T/wal" --symbols BTC/USDT,ETH/USDT \
        --web-root "$W/dist" --admin-token web-test-token-0123456789 --lateness-ms 1000 \
        --stats-s 0 >"$T/out.txt" 2>"$T/err.txt" </dev/null &
    SPID=$!
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q 'event=started' "$T/err.txt" && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    SPID=
    return 1
}
started=
for ((try = 0; try < 10; try++)); do
    if start; then
        started=1
        break
    fi
    # Another port only when one of ours was taken; any other failure is the service's.
    grep -qE "127\.0\.0\.1:($HPORT|$LPORT)|in use" "$T/err.txt" || break
done
if [ -z "$started" ]; then
    bad "klined serve did not start"
    show_log
    finish
fi
ok "klined serves on 127.0.0.1:$HPORT, lines feed on 127.0.0.1:$LPORT"
export KL_BASE="http://127.0.0.1:$HPORT" KL_FEED_PORT=$LPORT KL_CHROMIUM=$CHROMIUM

if node "$ROOT/tests/web/feed.mjs" seed >"$T/seed.txt" 2>&1; then
    ok "seed: $(tail -1 "$T/seed.txt")"
else
    bad "seed: half an hour of trades through the lines feed"
    sed 's/^/    /' "$T/seed.txt"
    show_log
    finish
fi

# ---- 4. the JavaScript tests ----------------------------------------------------------------
# run_js FILE: runs one test (bounded at 180 s so a hung browser fails instead of hanging CI)
# and adds its "N passed, N failed" line to ours.
run_js() {
    local name=$1 line
    echo "---- $name"
    timeout -s KILL 180 node "$ROOT/tests/web/$name" 2>&1 | tee "$T/js.txt"
    local rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$T/js.txt" | tail -1)
    if [ -n "$line" ]; then
        pass=$((pass + ${line%% passed*}))
        local f=${line#*, }
        fail=$((fail + ${f%% failed}))
    fi
    if [ "$rc" -ne 0 ] && { [ -z "$line" ] || [ "${line#*, }" = "0 failed" ]; }; then
        bad "$name exited $rc"
    fi
    [ "$rc" -eq 0 ] || show_log
}
run_js chart.test.mjs
run_js ccxt.test.mjs

# ---- 5. the service is still healthy and stops cleanly --------------------------------------
if kill -0 "$SPID" 2>/dev/null; then ok "klined still running after the tests"; else bad "klined died during the tests"; show_log; fi
kill -TERM "$SPID" 2>/dev/null
for ((i = 0; i < 600; i++)); do
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$SPID" 2>/dev/null; then
    bad "klined did not stop within 60 s of SIGTERM"
    kill -KILL "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
else
    wait "$SPID"
    rc=$?
    if [ "$rc" -eq 0 ]; then ok "SIGTERM: klined exits 0"; else bad "SIGTERM: klined exits $rc"; show_log; fi
fi
SPID=
echo "screenshots: $KL_ARTIFACTS"
finish
