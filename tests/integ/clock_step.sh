#!/usr/bin/env bash
# The host's wall clock steps while klined serves a live feed (an NTP step, a VM pause): klined
# runs under libfaketime (Debian package faketime) with a timestamp file it re-reads, the
# monotonic clock left real, and the wall clock is stepped back one hour after the start and
# then forward two hours in the middle of the feed. tests/tools/lines_feed stamps its trades with
# the real wall clock minus 100-1000 ms of latency (+-300 ms jitter), in order per connection.
# Exchange time (src/core/evtime.h) is the wall clock read once at start plus CLOCK_MONOTONIC, so
# neither step may refuse a trade (too_late, too_far_ahead) or close a kline early: too_late =
# 0, too_far_ahead = 0, and the exported store equals `klined replay` of the very trades sent.
# The steps are seen to happen (GET /api/v3/time follows the faked wall clock). Usage:
# clock_step.sh KLINED [SHARED_DATA]; bash, awk, curl.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FEED=$(dirname "$K")/tools/lines_feed
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-clockstep.XXXXXX)
KPID=
cleanup() {
    [ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
    [ -n "${KL_KEEP_DIR:-}" ] && rm -rf "$KL_KEEP_DIR" && cp -r "$T" "$KL_KEEP_DIR"
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
if [ -z "$LIB" ]; then
    echo "SKIP: libfaketime not installed (Debian package faketime; scripts/install-deps.sh test)"
    echo "0 passed, 0 failed (skipped)"
    exit 77
fi
[ -x "$FEED" ] || { echo "FAIL: $FEED not built"; exit 1; }
SYMS=AAAUSDT,BBBUSDT,CCCBTC

# api_time_offset: the served /api/v3/time minus the real wall clock, in whole hours.
api_hours() {
    local st now
    st=$(curl -s "http://127.0.0.1:$API/api/v3/time" | sed -n 's/.*"serverTime":\([0-9]*\).*/\1/p')
    now=$(date +%s%3N)
    [ -n "$st" ] && echo $(((st - now + 1800000 * (st > now ? 1 : -1)) / 3600000))
}

D=$T/k && mkdir -p "$T/sent"
echo "+0" >"$T/ft"
# An ASan build wants its runtime first in the preload list; libfaketime goes first here.
# Only the wall clock steps, as settimeofday or NTP would step it: CLOCK_MONOTONIC stays real
# (FAKETIME_DONT_FAKE_MONOTONIC; libfaketime 0.9.10 ignores the older DONT_FAKE_MONOTONIC).
# Faked, it also moved the deadline of the stop watchdog's timed wait, which then fired at once.
KL_WRAP=(env LD_PRELOAD="$LIB" FAKETIME_TIMESTAMP_FILE="$T/ft" FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
started=
if lines_start "$D" --symbols "$SYMS"; then
    for _ in $(seq 300); do grep -q 'comp=api event=listening' "$D/k.log" && started=1 && break; sleep 0.1; done
fi
[ -n "$started" ] || { bad "klined did not start: $(tail -3 "$D/k.log")"; finish; }
API=$(sed -n 's/.*comp=api event=listening address=127.0.0.1:\([0-9]*\).*/\1/p' "$D/k.log" | head -1)
[ "$(api_hours)" = 0 ] && ok "klined started on the real wall clock (api $API)" || bad "api time off by $(api_hours) h at start"

echo "-3600" >"$T/ft" # the wall clock steps back one hour
for _ in $(seq 50); do [ "$(api_hours)" = -1 ] && break; sleep 0.1; done
[ "$(api_hours)" = -1 ] && ok "wall clock stepped back 1 h while running" || bad "step back not seen: $(api_hours) h"

"$FEED" --port "$PORT" --symbols "$SYMS" --conns 2 --seconds 6 --rate 150 --latency-ms 100-1000 \
    --jitter-ms 300 --seed 11 --csv-dir "$T/sent" >"$T/feed.out" 2>"$T/feed.err" &
FEEDPID=$!
# Forward two hours once the feed is under way (its first trades are in).
for _ in $(seq 300); do [ "$(taken "$D")" -gt 200 ] && break; sleep 0.1; done
echo "+3600" >"$T/ft"
for _ in $(seq 50); do [ "$(api_hours)" = 1 ] && break; sleep 0.1; done
[ "$(api_hours)" = 1 ] && ok "wall clock stepped forward 2 h during the feed ($(taken "$D") trades in)" ||
    bad "step forward not seen: $(api_hours) h"
wait "$FEEDPID" && ok "$(cat "$T/feed.out")" || { bad "lines_feed failed: $(cat "$T/feed.err")"; finish; }
TOTAL=$(cat "$T"/sent/*.csv | wc -l)
wait_taken "$D" "$TOTAL" || bad "klined took $(taken "$D") of $TOTAL trades"
kill -TERM "$KPID" 2>/dev/null
wait "$KPID" && ok "SIGTERM: exit 0" || bad "SIGTERM: exit status non-zero"
KPID=
[ "$(last_stat "$D" too_late)" = 0 ] && ok "no trade too late" || bad "too_late=$(last_stat "$D" too_late)"
[ "$(last_stat "$D" too_far_ahead)" = 0 ] && ok "no trade refused as from the future" ||
    bad "too_far_ahead=$(last_stat "$D" too_far_ahead)"
fx_same_as_replay "$K" "sqlite:$D/k.db" "$T" 48 "$T"/sent/*.csv
finish
