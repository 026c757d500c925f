#!/usr/bin/env bash
# The live Binance source behind a realistic network path, with klined's DEFAULT finality (no
# --lateness-ms, default clock): tests/tools/fake_exchange --live-time --latency-ms 30-270 stamps
# each trade with the wall clock at emission and delivers it 30-270 ms later, in order per
# connection, pongs included (a pong comes after every frame queued before its ping). Four
# symbols, one of them quiet (trades only as the tape starts and ends), so its klines can only
# close by what the connection proves, not by its own trades. In the middle, a 2 s outage by a
# drop (refused reconnects for 2 s), and separately a 2 s stall (connection open, nothing
# delivered, pongs held too).
#
# SPEC §1 "When a kline is final: watermarks": a kline is final once its connection has delivered
# everything before its close, so no trade is refused for latency. Checks: too_late = 0, every
# trade taken, and the exported store equals `klined replay` of every trade the fake emitted
# (fetched back through REST aggTrades, whose times are the ones the feed sent), except for hole
# klines after a symbol's last trade. Faults are placed by the tape's progress (/status), and
# every wait polls /status or the stats lines; no assertion depends on timing.
# Usage: binance_latency.sh KLINED [SHARED_DATA]; bash (/dev/tcp), awk.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FX=$(dirname "$K")/tools/fake_exchange
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-binlat.XXXXXX)
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

# Three busy symbols, and a quiet one made from their time span (at 400 trades/s the tape runs
# 15 s, the quiet symbol silent for all but its ends).
fx_gen AAAUSDT 1 2000
fx_gen BBBUSDT 2 2000
fx_gen CCCBTC 3 2000
fx_gen_quiet QQQUSDT 4 5
TOTAL=6010
SYMS="AAAUSDT BBBUSDT CCCBTC QQQUSDT"

fault() {
    local r
    r=$(http POST "/fault?kind=$1")
    echo "    fault $1: $r"
}

TOKEN=binance-latency-admin-0123456789
# admin METHOD PATH [BODY]: klined's admin API (its port from the api listening log line).
admin() {
    local api
    api=$(sed -n 's/.*comp=api event=listening address=127.0.0.1:\([0-9]*\).*/\1/p' "$D/k.log" | head -1)
    curl -s -X "$1" -H "Authorization: Bearer $TOKEN" ${3:+-d "$3"} "http://127.0.0.1:$api$2"
}

fx_start "$(ls "$T"/in/*.csv | paste -sd,)" 400 1000 --start-clients 1 --live-time --latency-ms 30-270 --seed 11 ||
    { bad "fake_exchange did not start"; finish; }

D=$T/k && mkdir -p "$D"
"$K" serve --listen 127.0.0.1:0 --source binance --binance-ws "ws://127.0.0.1:$P" --binance-rest "http://127.0.0.1:$P" \
    --symbols AAA/USDT,BBBUSDT,CCC/BTC,QQQUSDT --store "sqlite:$D/k.db" --admin-token "$TOKEN" \
    --wal-dir "$D/wal" --stats-s 1 --persist-ms 200 >"$D/k.log" 2>&1 &
KPID=$!

connected=
for _ in $(seq 1800); do
    s=$(http GET /status)
    if [ "$(echo "$s" | sed 's/,"clients".*//' | field connections)" = 1 ]; then
        [ "$(echo "$s" | field emitted)" = 0 ] && connected=1
        break
    fi
    sleep 0.1
done
[ -n "$connected" ] && ok "klined connected before the first trade" ||
    bad "no WS client before emission began: $(http GET /status)"

# Outage 1, about a quarter into the tape: reconnects refused for 2 s, then every connection
# dropped. Outage 2, once klined is back and the tape is past half: a 2 s stall.
fx_wait_status emitted 1500 || bad "the tape did not reach 1500 trades"
fault "refuse&ms=2000"
fault drop
fx_wait_status connections 1 || bad "klined did not reconnect after the drop"
# Between the outages, BBBUSDT is removed for about 500 trades of the tape, then added back:
# its series (the day's kline included) resumes, and the trades of the removal come by REST.
fx_wait_status emitted 2300 || bad "the tape did not reach 2300 trades"
r=$(admin DELETE /admin/symbols/BBBUSDT)
grep -q BBBUSDT <<<"$r" && ok "BBBUSDT removed: $r" || bad "DELETE BBBUSDT: $r"
fx_wait_status emitted 2800 || bad "the tape did not reach 2800 trades"
r=$(admin POST /admin/symbols '{"symbol":"BBBUSDT"}')
grep -q BBBUSDT <<<"$r" && ok "BBBUSDT added back: $r" || bad "POST BBBUSDT: $r"
fx_wait_status emitted 3500 || bad "the tape did not reach 3500 trades"
fault "stall&ms=2000"
s=$(http GET /status)
[ "$(echo "$s" | field done)" = false ] && ok "the faults landed mid-tape ($(echo "$s" | field emitted) of $TOTAL)" ||
    bad "the tape ended before the faults were over: $s"

wait_done && ok "the fake emitted all $TOTAL trades" || bad "the fake never finished"
s=$(http GET /status)
dmin=$(sed -n 's/.*"delay_min_ms":\([0-9]*\).*/\1/p' <<<"$s")
[ -n "$dmin" ] && [ "$dmin" -ge 30 ] && ok "klined's frames came 30 ms or more after T ($(grep -o '"clients":.*' <<<"$s"))" ||
    bad "no delay stats for klined's connection: $s"

# Every trade applied, amended into a final kline, or refused as too late; then no refusal.
wait_taken "$D" $TOTAL || bad "klined took $(taken "$D") of $TOTAL trades"
kill -TERM "$KPID" 2>/dev/null
wait "$KPID" && ok "SIGTERM: exit 0" || bad "SIGTERM: exit status non-zero"
KPID=
stats=$(grep 'event=stats ' "$D/k.log" | tail -1 | grep -o 'applied=[0-9]* late=[0-9]* duplicates=[0-9]* too_late=[0-9]*')
[ "$(last_stat "$D" too_late)" = 0 ] && ok "no trade too late: $stats" || bad "trades too late: $stats"
[ "$(($(last_stat "$D" applied) + $(last_stat "$D" late)))" = $TOTAL ] &&
    ok "klined took all $TOTAL trades (applied + late)" ||
    bad "applied + late = $(($(last_stat "$D" applied) + $(last_stat "$D" late))), want $TOTAL"
n=$(grep -c 'event=disconnected' "$D/k.log")
[ "$n" -ge 1 ] && ok "$n disconnects" || bad "no disconnect logged after the drop"

# shellcheck disable=SC2086 # SYMS is a list
fx_fetch_back "$T/back" $SYMS
got=$(cat "$T"/back/*.csv | wc -l)
[ "$got" = $TOTAL ] && ok "REST gave back all $TOTAL trades" || bad "REST gave back $got trades"
# The test is only worth something if the quiet symbol really was quiet across the outages.
gap=$(awk -F, 'NR > 1 && $6 - p > g { g = $6 - p } { p = $6 } END { print g + 0 }' "$T/back/QQQUSDT-aggTrades-2024-01-01.csv")
[ "$gap" -ge 8000 ] && ok "QQQUSDT was silent for $gap ms while the others traded" ||
    bad "QQQUSDT's longest silence is only $gap ms"

fx_same_as_replay "$K" "sqlite:$D/k.db" "$T" 64 "$T"/back/*.csv

kill "$FXPID" 2>/dev/null && wait "$FXPID" 2>/dev/null
FXPID=
finish
