#!/usr/bin/env bash
# The live Binance source with `binance-stream = trade`, against tests/tools/fake_exchange: it
# subscribes `<symbol>@trade` and heals holes from REST `historicalTrades?fromId=`. The fake plays
# three symbols' aggTrades dumps; its @trade events and its historicalTrades carry the aggregate
# id as the raw trade id, so the feed klined sees is the raw-trade tape "one trade per aggregate".
# The expected klines are therefore `klined replay` of spot *trades* CSVs (id,price,qty,quote_qty,
# time,is_buyer_maker,is_best_match) made from the same rows, which count 1 trade per row (the
# aggTrades replay, which counts f..l, must differ: that proves the comparison can fail). Rounds:
#   1. a clean run: every message a raw trade, none rejected, no gap, store == replay;
#   2. one drop mid-stream: the hole is backfilled from historicalTrades, store == replay;
# plus a direct look at the fake's historicalTrades answer. Waits poll the fake's /status and
# klined's stats lines; no assertion depends on timing. Usage: binance_trade.sh KLINED
# [SHARED_DATA]; needs bash (with /dev/tcp), awk and coreutils.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FX=$(dirname "$K")/tools/fake_exchange
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-binance-trade.XXXXXX)
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
    echo "0 passed, 1 failed"
    exit 1
fi

# Three symbols of aggTrades (ids contiguous per symbol, aggregates of 1..3 raw trades, bursts
# and quiet spans), and from each the trades CSV of the same rows with id = the aggregate id.
gen() { # SYMBOL SEED N
    awk -v sym="$1" -v seed="$2" -v n="$3" -v tr="$T/tr/$1-trades-2024-01-01.csv" 'BEGIN {
        srand(seed); t = 1704067200000; a = seed * 1000000; f = a * 3
        for (i = 0; i < n; i++) {
            r = rand(); t += (r < 0.3 ? 0 : (r < 0.8 ? int(rand() * 2000) : int(rand() * 30000)))
            k = 1 + int(rand() * 3)
            pi = 100 + int(rand() * 50); pf = int(rand() * 99999999)
            qi = int(rand() * 5); qf = int(rand() * 99999999)
            m = (rand() < 0.5 ? "True" : "False")
            # %.0f, not %d: mawk prints integers through a C int
            printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, pi, pf, qi, qf, f, f + k - 1,
                   t, m
            # quote_qty is only checked for shape by the reader: an approximation will do
            printf "%.0f,%d.%08d,%d.%08d,%.8f,%.0f,%s,True\n", a, pi, pf, qi, qf,
                   (pi + pf / 1e8) * (qi + qf / 1e8), t, m >tr
            a++; f += k
        }
    }' >"$T/in/$1-aggTrades-2024-01-01.csv"
}
mkdir -p "$T/in" "$T/tr"
gen AAAUSDT 1 12000
gen BBBUSDT 2 12000
gen CCCBTC 3 12000
TOTAL=36000
files=$(ls "$T"/in/*.csv | paste -sd,)
"$K" replay --quiet --out "$T/want" "$T"/tr/*.csv 2>"$T/replay.log" || bad "klined replay (trades) failed"
[ "$(ls "$T/want" | wc -l)" -eq 48 ] || bad "replay wrote $(ls "$T/want" | wc -l) files, want 48"
"$K" replay --quiet --out "$T/want_agg" "$T"/in/*.csv 2>>"$T/replay.log" || bad "klined replay (aggTrades) failed"
if diff -rq "$T/want" "$T/want_agg" >/dev/null 2>&1; then
    bad "the trades and aggTrades replays are equal: the comparison below could not fail"
else
    ok "the raw-trade klines differ from the aggTrade ones (trade counts, first/last ids)"
fi


start_fx() { fx_start "$files" 3000 1000 --start-clients 1; }
stop_fx() { fx_stop; }
start_k() { # DIR
    "$K" serve --listen 127.0.0.1:0 --source binance --binance-stream trade --binance-ws "ws://127.0.0.1:$P" \
        --binance-rest "http://127.0.0.1:$P" --symbols "AAA/USDT,BBBUSDT,CCC/BTC" --clock event \
        --store "sqlite:$1/k.db" --wal-dir "$1/wal" --stats-s 1 --persist-ms 200 \
        >>"$1/k.log" 2>&1 &
    KPID=$!
}
# wait_connected: the fake has a WS client before it emits anything.
wait_connected() {
    for _ in $(seq 1800); do
        local s
        s=$(http GET /status)
        if [ "$(echo "$s" | field connections)" = 1 ]; then
            [ "$(echo "$s" | field emitted)" = 0 ] && return 0
            echo "    connected only after emission began: $s"
            return 1
        fi
        sleep 0.1
    done
    return 1
}
same_as_replay() { # NAME DIR
    rm -rf "$2/got"
    "$K" export --store "sqlite:$2/k.db" --out "$2/got" 2>"$2/export.log" || bad "$1: export failed"
    if diff -r "$T/want" "$2/got" >"$2/diff.txt" 2>&1; then
        ok "$1: the store equals klined replay of the trades CSVs ($(ls "$2/got" | wc -l) files)"
    else
        bad "$1: the store differs from klined replay of the trades CSVs: $(head -4 "$2/diff.txt")"
    fi
}

# ---- 1. clean run ---------------------------------------------------------------------------
echo "# 1. clean run on @trade streams"
D=$T/r1 && mkdir -p "$D"
start_fx || bad "1 fake_exchange did not start"
start_k "$D"
wait_connected && ok "1 klined connected before the first trade" || bad "1 no WS client in time"
wait_done && ok "1 the fake emitted all $TOTAL trades" || bad "1 the fake never finished"
wait_applied "$D" $TOTAL && ok "1 klined applied $TOTAL trades" ||
    bad "1 applied $(last_stat "$D" applied), want $TOTAL"

# historicalTrades of the fake: the rows with id >= fromId, raw-trade shape, id = aggregate id.
row=$(sed -n 6p "$T/in/AAAUSDT-aggTrades-2024-01-01.csv")
IFS=, read -r a p q _ _ t m _ <<<"$row"
m=$([ "$m" = True ] && echo true || echo false)
h=$(http GET "/api/v3/historicalTrades?symbol=AAAUSDT&fromId=$a&limit=2")
want="^\[\{\"id\":$a,\"price\":\"$p\",\"qty\":\"$q\",\"quoteQty\":\"[0-9]+\.[0-9]{8}\",\"time\":$t,\"isBuyerMaker\":$m,\"isBestMatch\":true\},\{\"id\":$((a + 1)),[^{}]*\}\]$"
if echo "$h" | grep -Eq "$want"; then
    ok "1 historicalTrades?fromId=$a&limit=2 answers rows $a and $((a + 1)) as raw trades"
else
    bad "1 historicalTrades answered: $(echo "$h" | head -c 300)"
fi
n=$(http GET "/api/v3/historicalTrades?symbol=AAAUSDT" | grep -o '"id":' | wc -l)
[ "$n" -eq 500 ] && ok "1 historicalTrades without fromId: the latest 500" || bad "1 historicalTrades without fromId: $n rows, want 500"
last=$(http GET "/api/v3/historicalTrades?symbol=AAAUSDT&limit=1" | sed -n 's/^\[{"id":\([0-9]*\),.*/\1/p')
[ "$last" = 1011999 ] && ok "1 historicalTrades limit=1 is the last trade" || bad "1 historicalTrades limit=1 gave id '$last', want 1011999"

stop_k TERM && ok "1 SIGTERM: exit 0" || bad "1 SIGTERM: exit status non-zero"
stop_fx
same_as_replay "1" "$D"
log_has "1 one connection with 3 @trade streams" "$D" "event=connected conn=0 streams=3 .*stream_type=trade"
log_has "1 stopped: no gap" "$D" "event=stopped .*gaps=0 gap_ids=0"
log_has "1 every message was a raw trade, none rejected" "$D" "event=stats .*source_messages=$TOTAL source_trades=$TOTAL source_rejected=0"
log_lacks "1 no error logged" "$D" "level=error"

# ---- 2. one drop ------------------------------------------------------------------------------
echo "# 2. one drop mid-stream, healed from historicalTrades"
D=$T/r2 && mkdir -p "$D"
start_fx || bad "2 fake_exchange did not start"
start_k "$D"
wait_connected || bad "2 no WS client in time"
fx_wait_status emitted $((TOTAL / 3)) || bad "2 the tape did not reach a third"
r=$(http POST "/fault?kind=drop") && echo "    fault drop: $r"
emitted=$(http GET /status | field emitted)
[ "${emitted:-0}" -gt 0 ] && [ "${emitted:-0}" -lt $TOTAL ] &&
    ok "2 the drop landed mid-stream ($emitted of $TOTAL emitted)" ||
    bad "2 the drop did not land mid-stream (emitted ${emitted:-?})"
wait_done || bad "2 the fake never finished"
wait_applied "$D" $TOTAL && ok "2 klined applied all $TOTAL trades despite the drop" ||
    bad "2 applied $(last_stat "$D" applied), want $TOTAL"
stop_k TERM || bad "2 SIGTERM: exit status non-zero"
stop_fx
same_as_replay "2" "$D"
log_has "2 the drop was healed by REST backfill" "$D" "event=backfill_done symbol=[A-Z]+ .*from_rest=[1-9]"
log_has "2 summary: a reconnect, backfill, no REST failure, no gap" "$D" \
    "event=stopped .*disconnects=[1-9][0-9]* .*rest_failures=0 backfilled=[1-9][0-9]* .*gaps=0 gap_ids=0"
log_lacks "2 nothing rejected" "$D" "event=message_rejected"
log_lacks "2 no error logged" "$D" "level=error"

# 3. The stream kind is fixed per store: aggTrade ids and raw trade ids never mix in one store.
out=$(timeout -s KILL 20 "$K" serve --listen 127.0.0.1:0 --source binance --binance-stream aggTrade --symbols AAAUSDT \
    --binance-ws ws://127.0.0.1:1 --binance-rest http://127.0.0.1:1 \
    --store "sqlite:$D/k.db" --wal-dir "$D/wal" 2>&1 </dev/null)
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 137 ] && grep -q 'binance-stream = "aggTrade": this store was built from trade streams' <<<"$out"; then
    ok "3 switching the stream kind on a trade store is refused at start"
else
    bad "3 switching the stream kind: rc=$rc, $(tail -1 <<<"$out")"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
