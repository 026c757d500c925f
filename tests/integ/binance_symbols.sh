#!/usr/bin/env bash
# Symbols that come and go while the live Binance source runs, against tests/tools/fake_exchange
# (4 symbols: AAAUSDT, BBBUSDT, CCCUSDT, DDDBTC). Round 1: klined follows the config file's
# `symbols = AAAUSDT,BBBUSDT`; mid-run the file becomes AAAUSDT,BBBUSDT,CCCUSDT and SIGHUP adds C
# (a SUBSCRIBE on the open connection), later AAAUSDT,CCCUSDT and SIGHUP removes B (an
# UNSUBSCRIBE). Each change is made while the fake's tape is paused, so what C and B must hold
# is exact: with the event clock, the store's C equals `klined replay` of C's trades after the
# last one emitted before the add (its first live trade on), A equals replay of all of A, and B
# gets no trade after its removal. Round 2: no symbols and `quote-assets = USDT`: the source reads
# exchangeInfo and follows exactly the three USDT symbols (the export's file list), whose store
# equals replay. Round 3: 150 USDT symbols (and 5 BTC ones) in quote-asset mode: more than one
# connection (the path budget), all 150 followed. No assertion depends on timing: waits poll the fake and klined's log.
# Usage: binance_symbols.sh KLINED; prints `N passed, N failed`.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FX=$(dirname "$K")/tools/fake_exchange
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/klined-binsym.XXXXXX)
FXPID= KPID= P=
cleanup() {
    [ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
    [ -n "$FXPID" ] && kill -9 "$FXPID" 2>/dev/null
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
    exit
}
if [ ! -x "$FX" ]; then
    echo "FAIL: $FX not built"
    echo "0 passed, 1 failed"
    exit 1
fi
. "$HERE/lib/aggtrades.sh"

mkdir -p "$T/in"
gen_aggtrades "$T/in" AAAUSDT 2 11 3000
gen_aggtrades "$T/in" BBBUSDT 2 12 3000
gen_aggtrades "$T/in" CCCUSDT 2 13 3000
gen_aggtrades "$T/in" DDDBTC 2 14 3000
files=$(ls "$T"/in/*.csv | paste -sd,)
TOTAL=$(cat "$T"/in/*.csv | wc -l)

# start_fx [FILES RATE CLIENTS]: emission starts 1 s after CLIENTS (default 1) WS clients are
# connected, so a slow start cannot miss the first trades.
start_fx() { fx_start "${1:-$files}" "${2:-800}" 1000 --start-clients "${3:-1}"; }
stop_fx() { fx_stop; }
start_k() { # DIR: config in DIR/k.conf
    "$K" serve --listen 127.0.0.1:0 --config "$1/k.conf" --source binance --binance-ws "ws://127.0.0.1:$P" \
        --binance-rest "http://127.0.0.1:$P" --clock event --store "sqlite:$1/k.db" \
        --wal-dir "$1/wal" --stats-s 1 --persist-ms 200 >>"$1/k.log" 2>&1 &
    KPID=$!
}
# last_id SYMBOL: the id of the symbol's latest emitted trade (REST, no fromId: the latest ones)
last_id() { http GET "/api/v3/aggTrades?symbol=$1&limit=1" | sed -n 's/.*"a":\([0-9]*\).*/\1/p'; }
last_t() { http GET "/api/v3/aggTrades?symbol=$1&limit=1" | sed -n 's/.*"T":\([0-9]*\).*/\1/p'; }
pause() { http POST "/fault?kind=pause&ms=${1:-120000}" >/dev/null; }
# replay_of NAME OUT FILTER...: klined replay of the rows kept by awk FILTER (on $1 = id)
replay_of() {
    local dir=$T/sub-$1 && mkdir -p "$dir"
    awk -F, "$3" "$T/in/$1-aggTrades-2024-01-02.csv" >"$dir/$1-aggTrades-2024-01-02.csv"
    "$K" replay --quiet --out "$2" "$dir/$1-aggTrades-2024-01-02.csv" 2>>"$T/replay.log"
}
export_of() { # DIR
    rm -rf "$1/got"
    "$K" export --store "sqlite:$1/k.db" --out "$1/got" 2>"$1/export.log" || bad "export failed"
}
same() { # NAME WANT_DIR GOT_DIR SYMBOL
    mkdir -p "$T/cmp-want" "$T/cmp-got"
    rm -f "$T"/cmp-want/* "$T"/cmp-got/*
    cp "$2"/*"$4"* "$T/cmp-want/" 2>/dev/null
    cp "$3"/*"$4"* "$T/cmp-got/" 2>/dev/null
    local n
    n=$(ls "$T/cmp-want" | wc -l)
    if [ "$n" -gt 0 ] && diff -r "$T/cmp-want" "$T/cmp-got" >"$T/diff.txt" 2>&1; then
        ok "$1 ($n files)"
    else
        bad "$1: $n files wanted; $(head -4 "$T/diff.txt")"
    fi
}

# ---- 1. symbols added and removed by SIGHUP ---------------------------------------------------
echo "# 1. SIGHUP adds CCCUSDT, then removes BBBUSDT"
D=$T/r1 && mkdir -p "$D"
echo "symbols = AAAUSDT,BBBUSDT" >"$D/k.conf"
start_fx || bad "1 fake_exchange did not start"
start_k "$D"
wait_log "$D" "event=connected conn=0 streams=2" && ok "1 one connection with 2 streams" ||
    bad "1 not connected"
fx_wait_status emitted $((TOTAL / 4)) || bad "1 emission did not begin"
pause
cid=$(last_id CCCUSDT)
echo "symbols = AAAUSDT,BBBUSDT,CCCUSDT" >"$D/k.conf"
kill -HUP "$KPID"
wait_log "$D" 'event=control_sent conn=0 msg=.*SUBSCRIBE.*cccusdt@aggTrade' &&
    ok "1 SUBSCRIBE cccusdt@aggTrade on the open connection" || bad "1 no SUBSCRIBE of C"
# the reply is handled once the tape runs again; the stream is live before the first trade
sleep 0.5
pause 0
fx_wait_status emitted $((TOTAL / 2)) || bad "1 emission stalled"
pause
bid=$(last_id BBBUSDT)
bt=$(last_t BBBUSDT)
echo "symbols = AAAUSDT,CCCUSDT" >"$D/k.conf"
kill -HUP "$KPID"
wait_log "$D" 'event=control_sent conn=0 msg=.*UNSUBSCRIBE.*bbbusdt@aggTrade' &&
    ok "1 UNSUBSCRIBE bbbusdt@aggTrade" || bad "1 no UNSUBSCRIBE of B"
sleep 0.5
pause 0
wait_done 900 || bad "1 the fake never finished"
n_a=$(wc -l <"$T/in/AAAUSDT-aggTrades-2024-01-02.csv")
n_b=$(awk -F, -v m="$bid" '$1 <= m' "$T/in/BBBUSDT-aggTrades-2024-01-02.csv" | wc -l)
n_c=$(awk -F, -v m="$cid" '$1 > m' "$T/in/CCCUSDT-aggTrades-2024-01-02.csv" | wc -l)
want=$((n_a + n_b + n_c))
wait_applied "$D" "$want" && ok "1 applied A all + B up to its removal + C from its add = $want" ||
    bad "1 applied $(last_stat "$D" applied), want $want (A $n_a, B $n_b, C $n_c after id $cid)"
stop_k && ok "1 SIGTERM: exit 0" || bad "1 exit status non-zero"
stop_fx
export_of "$D"
replay_of AAAUSDT "$T/want-a" '1'
replay_of CCCUSDT "$T/want-c" "\$1 > $cid"
same "1 AAAUSDT equals replay" "$T/want-a" "$D/got" AAAUSDT
same "1 CCCUSDT equals replay of its trades after id $cid (from the add on)" "$T/want-c" "$D/got" CCCUSDT
# B: nothing after its removal (no kline opens after its last trade then)
late=$(cat "$D"/got/*BBBUSDT* 2>/dev/null | awk -F, -v t="$bt" '$1 ~ /^[0-9]+$/ && $1 > t' | wc -l)
nb=$(ls "$D"/got | grep -c BBBUSDT)
[ "$nb" -gt 0 ] && [ "$late" -eq 0 ] && ok "1 BBBUSDT has klines, none opening after its removal" ||
    bad "1 BBBUSDT: $nb files, $late klines after $bt"
ls "$D"/got | grep -q DDDBTC && bad "1 DDDBTC was never configured but has klines" ||
    ok "1 DDDBTC not followed"
grep -q 'event=control_error' "$D/k.log" && bad "1 $(grep 'event=control_error' "$D/k.log" | head -1)" ||
    ok "1 every control reply was a success"
grep -q 'level=error' "$D/k.log" && bad "1 error logged: $(grep level=error "$D/k.log" | head -1)" ||
    ok "1 no error logged"

# ---- 2. quote-asset mode ----------------------------------------------------------------------
echo "# 2. quote-assets = USDT"
D=$T/r2 && mkdir -p "$D"
printf 'symbols =\nquote-assets = USDT\n' >"$D/k.conf"
start_fx || bad "2 fake_exchange did not start"
start_k "$D"
wait_log "$D" "event=exchange_info quote_assets=,USDT, trading=3 new=3" &&
    ok "2 exchangeInfo: 3 TRADING USDT symbols" || bad "2 no exchange_info line"
wait_log "$D" "event=connected conn=0 streams=3" && ok "2 one connection with 3 streams" ||
    bad "2 not connected with 3 streams"
[ "$(http GET /status | field emitted)" = 0 ] || bad "2 connected only after emission began"
wait_done 900 || bad "2 the fake never finished"
n_usdt=$(cat "$T"/in/*USDT-*.csv | wc -l)
wait_applied "$D" "$n_usdt" && ok "2 applied all $n_usdt USDT trades" ||
    bad "2 applied $(last_stat "$D" applied), want $n_usdt"
stop_k && ok "2 SIGTERM: exit 0" || bad "2 exit status non-zero"
stop_fx
export_of "$D"
syms=$(ls "$D/got" | sed 's/[-_.].*//' | sort -u | paste -sd,)
[ "$syms" = "AAAUSDT,BBBUSDT,CCCUSDT" ] && ok "2 the store holds exactly the USDT symbols" ||
    bad "2 the store holds $syms"
replay_of BBBUSDT "$T/want-b" '1'
same "2 BBBUSDT equals replay" "$T/want-b" "$D/got" BBBUSDT

# ---- 3. a wide quote set ----------------------------------------------------------------------
echo "# 3. quote-assets = USDT over 150 symbols"
D=$T/r3 && mkdir -p "$D" "$T/wide"
for i in $(seq 100 249); do gen_aggtrades "$T/wide" "Q${i}USDT" 2 "$i" 20; done
for i in $(seq 1 5); do gen_aggtrades "$T/wide" "Q${i}BTC" 2 "$i" 20; done
n_wide=$(cat "$T"/wide/*USDT-*.csv | wc -l)
printf 'symbols =\nquote-assets = USDT\n' >"$D/k.conf"
start_fx "$(ls "$T"/wide/*.csv | paste -sd,)" 1000 2 || bad "3 fake_exchange did not start"
start_k "$D"
wait_log "$D" "event=exchange_info quote_assets=,USDT, trading=150 new=150" &&
    ok "3 exchangeInfo: 150 TRADING USDT symbols" || bad "3 no exchange_info line"
wait_done 900 || bad "3 the fake never finished"
wait_applied "$D" "$n_wide" && ok "3 applied all $n_wide USDT trades" ||
    bad "3 applied $(last_stat "$D" applied), want $n_wide"
streams=$(grep 'event=connected ' "$D/k.log" | sed -n 's/.* conn=\([0-9]*\) streams=\([0-9]*\).*/\1 \2/p' |
    sort -u | awk '{ s += $2; c++ } END { print c, s }')
[ "${streams% *}" -ge 2 ] && [ "${streams#* }" = 150 ] &&
    ok "3 150 streams over ${streams% *} connections" || bad "3 connections/streams: $streams"
stop_k && ok "3 SIGTERM: exit 0" || bad "3 exit status non-zero"
stop_fx
export_of "$D"
nsym=$(ls "$D/got" | sed 's/-.*//' | sort -u | grep -c USDT)
nbtc=$(ls "$D/got" | grep -c BTC)
[ "$nsym" = 150 ] && [ "$nbtc" = 0 ] && ok "3 the store holds the 150 USDT symbols, no BTC one" ||
    bad "3 the store holds $nsym USDT and $nbtc BTC files"
finish
