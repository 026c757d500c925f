#!/usr/bin/env bash
# The live Binance source end to end, against tests/tools/fake_exchange (a local Binance: WS
# combined aggTrade streams of what it emits while a client is connected, REST aggTrades of
# everything emitted so far, faults on request). Three symbols' aggTrades dumps are played at
# 3000 trades/s (12 s; 1500/s for the faults and kills) to `klined serve --source binance --clock event`; with the event clock the klines
# depend only on the trades, so the exported store must equal `klined replay` of the same dumps
# byte for byte: every trade routed once, none missing, none twice. Three rounds:
#   1. a clean run (and the counters: all trades applied, no gap, no REST backfill needed);
#   2. faults at random moments: drop, stall, garbage, oversize, ping, serverShutdown, refuse
#      (with a drop so that reconnects meet it), pause: the store still equals replay, the bad
#      frames are counted, and every disconnect is healed by REST backfill;
#   3. klined killed with SIGKILL mid-stream and restarted three times: recovery resumes each
#      symbol after its last applied id and REST backfills the trades emitted while it was down;
#   4. 240 symbols on 3 connections (lws caps the request line) with two drops: the symbols
#      whose stream shows a hole are held and backfilled, the others carry on.
# No assertion depends on timing: waits poll the fake's /status and klined's stats lines, with
# generous limits that only bound a hung run. Usage: binance.sh KLINED [SHARED_DATA]; needs bash
# (with /dev/tcp), awk and coreutils; the fake is <dir of KLINED>/tools/fake_exchange.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FX=$(dirname "$K")/tools/fake_exchange
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-binance.XXXXXX)
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

if [ ! -x "$FX" ]; then
    echo "FAIL: $FX not built (tests/tools/fake_exchange.c)"
    exit 1
fi

# Three symbols of aggTrades, ids contiguous per symbol (the exchange's), bursts and quiet spans.
gen() { # SYMBOL SEED N
    awk -v sym="$1" -v seed="$2" -v n="$3" 'BEGIN {
        srand(seed); t = 1704067200000; a = seed * 1000000; f = a * 3
        for (i = 0; i < n; i++) {
            r = rand(); t += (r < 0.3 ? 0 : (r < 0.8 ? int(rand() * 2000) : int(rand() * 30000)))
            k = 1 + int(rand() * 3)
            # %.0f, not %d: mawk prints integers through a C int
            printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, 100 + int(rand() * 50),
                   int(rand() * 99999999), int(rand() * 5), int(rand() * 99999999), f, f + k - 1, t,
                   (rand() < 0.5 ? "True" : "False")
            a++; f += k
        }
    }' >"$T/in/$1-aggTrades-2024-01-01.csv"
}
mkdir -p "$T/in"
gen AAAUSDT 1 12000
gen BBBUSDT 2 12000
gen CCCBTC 3 12000
TOTAL=36000
files=$(ls "$T"/in/*.csv | paste -sd,)
"$K" replay --quiet --out "$T/want" "$T"/in/*.csv 2>"$T/replay.log" || bad "klined replay failed"
[ "$(ls "$T/want" | wc -l)" -eq 48 ] || bad "replay wrote $(ls "$T/want" | wc -l) files, want 48"


# start_fx [FILES RATE CLIENTS]: the fake on a free port, emission starting 1 s after CLIENTS
# (default 1) WS clients are connected (klined connects first, however slow the machine).
start_fx() { fx_start "${1:-$files}" "${2:-3000}" 1000 --start-clients "${3:-1}"; }
stop_fx() { fx_stop; }

# start_k DIR [SYMBOLS]: klined on the fake, store and WAL in DIR, log appended to DIR/k.log.
start_k() {
    "$K" serve --listen 127.0.0.1:0 --source binance --binance-ws "ws://127.0.0.1:$P" \
        --binance-rest "http://127.0.0.1:$P" --symbols "${2:-AAA/USDT,BBBUSDT,CCC/BTC}" --clock event \
        --store "sqlite:$1/k.db" --wal-dir "$1/wal" --stats-s 1 --persist-ms 200 \
        >>"$1/k.log" 2>&1 &
    KPID=$!
}

# wait_connected: the fake has a WS client before it emits anything (else the run cannot be
# exact: a first start begins at the first live trade).
wait_connected() { # [CONNECTIONS]
    for _ in $(seq 1800); do
        local s
        s=$(http GET /status)
        if [ "$(echo "$s" | field connections)" = "${1:-1}" ]; then
            [ "$(echo "$s" | field emitted)" = 0 ] && return 0
            echo "    connected only after emission began: $s"
            return 1
        fi
        sleep 0.1
    done
    return 1
}
# wait_quiet DIR: two consecutive stats lines agree on applied and queues are empty.
wait_quiet() {
    local prev=x cur
    for _ in $(seq 120); do
        sleep 1.1
        cur=$(grep 'event=stats ' "$1/k.log" | tail -1 | sed -n 's/.* \(applied=[0-9]*\).* \(queue_depth=[0-9]*\).*/\1 \2/p')
        [ "$cur" = "$prev" ] && [ "${cur#* }" = "queue_depth=0" ] && return 0
        prev=$cur
    done
    return 1
}
same_as_replay() { # NAME DIR [WANT]
    rm -rf "$2/got"
    "$K" export --store "sqlite:$2/k.db" --out "$2/got" 2>"$2/export.log" || bad "$1: export failed"
    if diff -r "${3:-$T/want}" "$2/got" >"$2/diff.txt" 2>&1; then
        ok "$1: the store equals klined replay ($(ls "$2/got" | wc -l) files)"
    else
        bad "$1: the store differs from klined replay: $(head -4 "$2/diff.txt")"
    fi
}

# ---- 1. clean run ---------------------------------------------------------------------------
echo "# 1. clean run"
D=$T/r1 && mkdir -p "$D"
start_fx || bad "1 fake_exchange did not start"
start_k "$D"
wait_connected && ok "1 klined connected before the first trade" || bad "1 no WS client in time"
wait_done && ok "1 the fake emitted all $TOTAL trades" || bad "1 the fake never finished"
wait_applied "$D" $TOTAL && ok "1 klined applied $TOTAL trades" ||
    bad "1 applied $(last_stat "$D" applied), want $TOTAL"
stop_k TERM && ok "1 SIGTERM: exit 0" || bad "1 SIGTERM: exit status non-zero"
stop_fx
same_as_replay "1" "$D"
log_has "1 one connection with 3 streams" "$D" "event=connected conn=0 streams=3"
log_has "1 stopped: no gap, nothing rejected" "$D" "event=stopped .*gaps=0 gap_ids=0"
log_has "1 every message was a trade" "$D" "event=stats .*source_messages=$TOTAL source_trades=$TOTAL source_rejected=0"
log_lacks "1 no error logged" "$D" "level=error"

# ---- 2. faults --------------------------------------------------------------------------------
echo "# 2. faults at random moments"
D=$T/r2 && mkdir -p "$D"
start_fx "$files" 1500 || bad "2 fake_exchange did not start"
start_k "$D"
wait_connected || bad "2 no WS client in time"
# The bad frames and serverShutdown first, while the one connection is surely up (so each is
# received), then the faults that break connections; refuse is followed by a drop so that
# reconnects meet it. Each lands at a random point of its own stretch of the tape (every 2,800
# trades from 2,000 on), so all of them land mid-stream however slow the machine.
at=2000
for f in garbage oversize ping garbage shutdown drop "stall&ms=1500" "refuse&ms=1200" drop \
    "pause&ms=700" drop; do
    fx_wait_status emitted $((at + RANDOM % 1500)) || bad "2 the tape did not reach $at trades"
    at=$((at + 2800))
    r=$(http POST "/fault?kind=$f")
    echo "    fault $f: $r"
done
emitted=$(http GET /status | field emitted)
[ "${emitted:-0}" -lt $TOTAL ] && ok "2 the faults landed mid-stream ($emitted of $TOTAL emitted)" ||
    bad "2 the stream ended before the faults were over"
wait_done || bad "2 the fake never finished"
refused=$(http GET /status | field refused)
wait_applied "$D" $TOTAL && ok "2 klined applied all $TOTAL trades despite the faults" ||
    bad "2 applied $(last_stat "$D" applied), want $TOTAL"
stop_k TERM || bad "2 SIGTERM: exit status non-zero"
stop_fx
same_as_replay "2" "$D"
log_has "2 garbage and oversize frames were counted, the rest routed" "$D" \
    "event=stats .*source_trades=$TOTAL source_rejected=3 "
log_has "2 garbage was logged as malformed" "$D" "event=message_rejected what=stream error=\"malformed JSON"
log_has "2 the oversize frame was logged with its size" "$D" "event=message_rejected what=oversize .*bytes=10485[0-9][0-9]"
log_has "2 serverShutdown made it reconnect" "$D" "event=reconnecting conn=0 reason=\"serverShutdown event\""
log_has "2 drops were healed by REST backfill" "$D" "event=backfill_done symbol=[A-Z]+ .*from_rest=[1-9]"
log_has "2 summary: reconnects, backfill, no gap" "$D" \
    "event=stopped .*disconnects=([3-9]|[1-9][0-9]+) server_shutdowns=1 .*rest_failures=0 backfilled=[1-9][0-9]* .*gaps=0 gap_ids=0"
if [ "${refused:-0}" -gt 0 ]; then
    ok "2 the fake refused $refused connection attempts and klined retried"
    log_has "2 a refused connect was retried with backoff" "$D" "event=cannot_reach_exchange .*retry_in_ms=[0-9]+"
else
    echo "    (no reconnect met the refuse window this time)"
fi
log_lacks "2 no error logged" "$D" "level=error"

# ---- 3. kill -9 and restart -------------------------------------------------------------------
echo "# 3. SIGKILL mid-stream, restart: recovery, then backfill from the resume ids"
D=$T/r3 && mkdir -p "$D"
start_fx "$files" 1500 || bad "3 fake_exchange did not start"
start_k "$D"
wait_connected || bad "3 no WS client in time"
# Each kill lands once the run has connected and 3,000-4,500 more trades have gone by; then
# 1,000-2,000 trades go by while klined is down.
kills=0
for i in 1 2 3; do
    wait_log "$D" "event=connected conn=0" "$i" || bad "3 run $i never connected"
    e=$(http GET /status | field emitted)
    fx_wait_status emitted $((e + 3000 + RANDOM % 1500)) || bad "3 the tape stopped before kill $i"
    stop_k KILL
    kills=$((kills + 1))
    e=$(http GET /status | field emitted)
    fx_wait_status emitted $((e + 1000 + RANDOM % 1000)) || bad "3 the tape stopped after kill $i"
    start_k "$D"
done
emitted=$(http GET /status | field emitted)
[ "${emitted:-0}" -lt $TOTAL ] && ok "3 $kills SIGKILLs landed mid-stream ($emitted of $TOTAL emitted)" ||
    bad "3 the stream ended before the last restart"
wait_done || bad "3 the fake never finished"
wait_quiet "$D" && ok "3 the last run caught up and went quiet" || bad "3 the last run never settled"
stop_k TERM || bad "3 SIGTERM: exit status non-zero"
stop_fx
same_as_replay "3" "$D"
n=$(grep -c "event=created symbols=3 connections=1 resumed=3" "$D/k.log")
[ "$n" -eq $kills ] && ok "3 every restart resumed all 3 symbols" || bad "3 $n of $kills restarts resumed 3 symbols"
log_has "3 a restart backfilled from REST" "$D" "event=backfill_done .*from_rest=[1-9]"
log_lacks "3 no gap reported" "$D" "event=gap_unfilled"
log_lacks "3 no error logged" "$D" "level=error"

# ---- 4. many symbols, several connections ----------------------------------------------------
echo "# 4. 240 symbols on 3 connections, two drops"
mkdir -p "$T/in4"
awk -v dir="$T/in4" 'BEGIN {
    srand(7)
    for (s = 1; s <= 240; s++) {
        f = sprintf("%s/S%03dUSDT-aggTrades-2024-01-01.csv", dir, s)
        t = 1704067200000 + int(rand() * 300)
        for (i = 0; i < 20; i++) {
            t += 1 + int(rand() * 600)
            printf "%d,%d.%08d,1.50000000,%d,%d,%.0f,%s,True\n", s * 1000 + i, 10 + s,
                   int(rand() * 99999999), s * 1000 + i, s * 1000 + i, t,
                   (rand() < 0.5 ? "True" : "False") >f
        }
        close(f)
    }
}'
files4=$(ls "$T"/in4/*.csv | paste -sd,)
syms4=$(ls "$T/in4" | sed 's/-aggTrades.*//' | paste -sd,)
"$K" replay --quiet --out "$T/want4" "$T"/in4/*.csv 2>>"$T/replay.log" || bad "4 klined replay failed"
D=$T/r4 && mkdir -p "$D"
start_fx "$files4" 800 3 || bad "4 fake_exchange did not start"
start_k "$D" "$syms4"
wait_connected 3 && ok "4 three WS connections before the first trade" || bad "4 not 3 WS clients in time"
# The drops land a quarter and a half into the tape, the second once all 3 are back.
fx_wait_status emitted 1200 || bad "4 the tape did not reach 1200 trades"
r=$(http POST "/fault?kind=drop") && echo "    fault drop: $r"
fx_wait_status emitted 2400 || bad "4 the tape did not reach 2400 trades"
fx_wait_status connections 3 || bad "4 not 3 connections again after the first drop"
r=$(http POST "/fault?kind=drop") && echo "    fault drop: $r"
wait_done || bad "4 the fake never finished"
wait_applied "$D" 4800 900 && ok "4 klined applied all 4800 trades" ||
    bad "4 applied $(last_stat "$D" applied), want 4800"
stop_k TERM || bad "4 SIGTERM: exit status non-zero"
stop_fx
same_as_replay "4" "$D" "$T/want4"
log_has "4 symbols split over 3 connections" "$D" "event=created symbols=240 connections=3 "
log_has "4 110 streams on a full connection" "$D" "event=connected conn=[0-2] streams=110 "
log_has "4 both drops reconnected all 3 and REST filled the holes" "$D" \
    "event=stopped connections=3 connects=[89] disconnects=[5-9] .*rest_failures=0 backfilled=[1-9]"
log_lacks "4 no gap reported" "$D" "event=gap_unfilled"
log_lacks "4 no error logged" "$D" "level=error"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
