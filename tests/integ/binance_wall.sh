#!/usr/bin/env bash
# The live Binance source with live finality, as in production: tests/tools/fake_exchange
# --live-time stamps each trade with the wall clock at emission, and `klined serve --source
# binance --clock wall` closes klines by each connection's watermark (docs/semantics.md). Faults
# open holes of several seconds (drop; stall 3 s; refuse 2 s then drop); the source holds a
# symbol from the moment it may have a hole until its REST backfill and held live trades are in
# (kl_router_hold), and a busy connection's silence moves nothing (its pongs may overtake its
# stalled frames: lws answers pings first), so no backfilled or stalled trade comes after its
# kline was finalized. Checks: too_late=0, and the exported store equals `klined replay` of every
# trade the fake emitted (fetched back from its REST aggTrades, whose times are the rewritten
# ones), except for the hole klines legitimately added after the last trade. No lateness window:
# the delivery race at a second's boundary that needed one under wall-clock ticks is gone. Waits
# poll /status and the stats lines; no assertion depends on timing. Usage: binance_wall.sh
# KLINED [SHARED_DATA]; bash (/dev/tcp), awk.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FX=$(dirname "$K")/tools/fake_exchange
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-binwall.XXXXXX)
FXPID= KPID= P=
cleanup() {
    [ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
    [ -n "$FXPID" ] && kill -9 "$FXPID" 2>/dev/null
    # KL_KEEP_DIR=DIR keeps the logs of the run for a look after a failure.
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

if [ ! -x "$FX" ]; then
    echo "FAIL: $FX not built (tests/tools/fake_exchange.c)"
    exit 1
fi

# Three symbols of aggTrades (their times only order the tape: --live-time rewrites them).
mkdir -p "$T/back"
fx_gen AAAUSDT 1 2000
fx_gen BBBUSDT 2 2000
fx_gen CCCBTC 3 2000
TOTAL=6000
SYMS="AAAUSDT BBBUSDT CCCBTC"

fault() {
    local r
    r=$(http POST "/fault?kind=$1")
    echo "    fault $1: $r"
}

fx_start "$(ls "$T"/in/*.csv | paste -sd,)" 400 1000 --start-clients 1 --live-time || { bad "fake_exchange did not start"; finish; }

D=$T/k && mkdir -p "$D"
"$K" serve --listen 127.0.0.1:0 --source binance --binance-ws "ws://127.0.0.1:$P" --binance-rest "http://127.0.0.1:$P" \
    --symbols AAA/USDT,BBBUSDT,CCC/BTC --clock wall --store "sqlite:$D/k.db" \
    --wal-dir "$D/wal" --stats-s 1 --persist-ms 200 >"$D/k.log" 2>&1 &
KPID=$!

connected=
for _ in $(seq 1800); do
    s=$(http GET /status)
    if [ "$(echo "$s" | field connections)" = 1 ]; then
        [ "$(echo "$s" | field emitted)" = 0 ] && connected=1
        break
    fi
    sleep 0.1
done
[ -n "$connected" ] && ok "klined connected before the first trade" ||
    bad "no WS client before emission began: $(http GET /status)"

# Each fault opens a hole while the clock ticks, placed by the tape's progress (at 400 trades/s
# the tape runs 15 s): a drop at 1/6, a 3 s stall at 2/6, refused reconnects and a drop at 4/6.
fx_wait_status emitted 1000 || bad "the tape did not reach 1000 trades"
fault drop
fx_wait_status emitted 2000 || bad "the tape did not reach 2000 trades"
fault "stall&ms=3000"
fx_wait_status emitted 4000 || bad "the tape did not reach 4000 trades"
fault "refuse&ms=2000"
fault drop
s=$(http GET /status)
[ "$(echo "$s" | field done)" = false ] && ok "the faults landed mid-tape ($(echo "$s" | field emitted) of $TOTAL)" ||
    bad "the tape ended before the faults were over: $s"

done=
for _ in $(seq 1800); do
    [ "$(http GET /status | field done)" = true ] && done=1 && break
    sleep 0.1
done
[ -n "$done" ] && ok "the fake emitted all $TOTAL trades" || bad "the fake never finished"
# Applied at once or amending a final kline within the lateness window: every trade counts once.
wait_taken "$D" $TOTAL
[ "$(($(last_stat "$D" applied) + $(last_stat "$D" late)))" = $TOTAL ] &&
    ok "klined took all $TOTAL trades (applied + late)" ||
    bad "applied + late = $(($(last_stat "$D" applied) + $(last_stat "$D" late))), want $TOTAL"
sleep 3 # the wall clock finalizes the last klines (and adds hole klines)
kill -TERM "$KPID" 2>/dev/null
wait "$KPID" && ok "SIGTERM: exit 0" || bad "SIGTERM: exit status non-zero"
KPID=
[ "$(last_stat "$D" too_late)" = 0 ] && ok "no trade too late: $(grep 'event=stats ' "$D/k.log" | tail -1 | grep -o 'late=[0-9]* duplicates=[0-9]* too_late=[0-9]*')" ||
    bad "trades too late: $(grep 'event=stats ' "$D/k.log" | tail -1 | grep -o 'too_late=[0-9]*')"
n=$(grep -c 'event=disconnected' "$D/k.log")
[ "$n" -ge 2 ] && ok "$n disconnects" || bad "$n disconnects, want >= 2"
grep -q 'event=disconnected .*clock_held=3' "$D/k.log" && ok "a disconnect held the clock of 3 symbols" ||
    bad "no disconnect held the clock: $(grep 'event=disconnected' "$D/k.log" | head -2)"
grep -Eq 'event=stopped .*gaps=0 .*clock_holds=[1-9]' "$D/k.log" && ok "stopped: no gap, clock held" ||
    bad "stop summary: $(grep 'event=stopped' "$D/k.log")"
if grep -q 'clock_hold_expired' "$D/k.log"; then
    bad "a clock hold expired: $(grep 'clock_hold_expired' "$D/k.log" | head -1)"
else
    ok "no clock hold expired"
fi

# Every trade back from REST, by fromId pages, as a data.binance.vision aggTrades CSV.
# shellcheck disable=SC2086 # SYMS is a list
fx_fetch_back "$T/back" $SYMS
got=$(cat "$T"/back/*.csv | wc -l)
[ "$got" = $TOTAL ] && ok "REST gave back all $TOTAL trades" || bad "REST gave back $got trades"
ids_ok=$(awk -F, 'FNR > 1 && $1 != p + 1 { b++ } { p = $1 } END { print b + 0 }' "$T"/back/*.csv)
[ "$ids_ok" = 0 ] && ok "REST ids contiguous" || bad "REST ids not contiguous ($ids_ok breaks)"
times_live=$(awk -F, '$6 < 1704067200000 + 86400000 { b++ } END { print b + 0 }' "$T"/back/*.csv)
[ "$times_live" = 0 ] && ok "REST times are the live (rewritten) ones" ||
    bad "$times_live REST trades kept the tape time"

fx_same_as_replay "$K" "sqlite:$D/k.db" "$T" 48 "$T"/back/*.csv

kill "$FXPID" 2>/dev/null && wait "$FXPID" 2>/dev/null
FXPID=
finish
