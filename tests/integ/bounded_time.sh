#!/usr/bin/env bash
# Bounded time on the live path (`klined serve --source lines:tcp`, defaults: watermark
# finality), SPEC §1 "Bounded time":
#  1. Far future: a trade a year ahead and one dated 9999-12-31 are refused and counted
#     (too_far_ahead), logged with their symbol; a symbol whose FIRST trade is dated 9999 still
#     takes every real trade afterwards; nothing wedges (no year of hole klines).
#  2. Downtime: 1000 symbols trade once, stamped an hour ago; klined stops; after a restart
#     each trades again now. Every series rolls over an hour at once, which would be 3,600 1s
#     holes per symbol (3.6 M rows) if they were made one by one: the store holds a bounded
#     number of rows, the stats never show more rows pending than max-pending-rows, RSS stays
#     small, and the export (implied holes filled) equals `klined replay` of every trade.
# Checks content (stats lines, store rows, export vs replay); waits poll the stats lines.
# Usage: bounded_time.sh KLINED [SHARED_DATA]; bash, awk, sqlite3.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-btime.XXXXXX)
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

KL_WRAP=()
# agg SYMBOL ID T PRICE: one aggTrade line (qty 1.5, first = last = ID).
agg() {
    printf '{"e":"aggTrade","E":%s,"s":"%s","a":%s,"p":"%s","q":"1.50000000","f":%s,"l":%s,"T":%s,"m":false,"M":true}\n' \
        "$3" "$1" "$2" "$4" "$2" "$2" "$3"
}
# csv SYMBOL ID T PRICE >> the symbol's aggTrades dump (what replay reads).
csv() { printf '%s,%s,1.50000000,%s,%s,%s,False,True\n' "$2" "$4" "$2" "$2" "$3" >>"$T/sent/$1-aggTrades-2026-01-01.csv"; }
send_file() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    cat "$1" >&3
    exec 3>&-
}
max_stat() { grep 'event=stats ' "$1/k.log" | sed -n "s/.* $2=\([0-9]*\).*/\1/p" | sort -n | tail -1; }

mkdir -p "$T/sent"
# ---- 1. far future --------------------------------------------------------------------------
D=$T/a
lines_start "$D" || { bad "klined did not start"; finish; }
now=$(date +%s%3N)
year=$((now + 365 * 86400000))
{
    agg AAAUSDT 1 "$((now - 300))" 100.00000000 && csv AAAUSDT 1 "$((now - 300))" 100.00000000
    agg AAAUSDT 2 "$year" 101.00000000                # a year ahead: refused
    agg AAAUSDT 3 253402300799000 102.00000000        # 9999-12-31: refused
    agg BBBUSDT 1 253402300799000 50.00000000         # a first trade dated 9999: refused
    for i in 2 3 4 5; do
        agg AAAUSDT $((i + 2)) "$((now - 300 + i * 400))" "10$i.00000000"
        csv AAAUSDT $((i + 2)) "$((now - 300 + i * 400))" "10$i.00000000"
        agg BBBUSDT "$i" "$((now - 250 + i * 400))" "5$i.00000000"
        csv BBBUSDT "$i" "$((now - 250 + i * 400))" "5$i.00000000"
    done
} >"$T/a.lines"
send_file "$T/a.lines" || bad "cannot send to the lines port"
wait_taken "$D" 9 || bad "klined took $(taken "$D") of 9 trades"
for _ in $(seq 50); do [ "$(last_stat "$D" too_far_ahead)" = 3 ] && break; sleep 0.1; done
[ "$(last_stat "$D" too_far_ahead)" = 3 ] && ok "3 trades from the future refused and counted" ||
    bad "too_far_ahead=$(last_stat "$D" too_far_ahead), want 3"
[ "$(last_stat "$D" applied)" = 9 ] && [ "$(last_stat "$D" too_late)" = 0 ] &&
    ok "every real trade applied after them (BBBUSDT's first trade was dated 9999)" ||
    bad "applied=$(last_stat "$D" applied) too_late=$(last_stat "$D" too_late), want 9 and 0"
log_has "the refusal names the symbol" "$D" 'event=trade_from_future .*symbol=AAAUSDT .*ahead_ms=.*action=refused'
stop_k TERM
rows=$(sqlite3 "$D/k.db" 'select count(*) from klines')
[ "$rows" -lt 200 ] && ok "the store holds $rows rows: no year of hole klines" || bad "the store holds $rows rows"
fx_same_as_replay "$K" "sqlite:$D/k.db" "$T/a" 32 "$T"/sent/*.csv

# ---- 2. a restart after an hour down, 1000 symbols ------------------------------------------
rm -rf "$T/sent" && mkdir -p "$T/sent"
D=$T/b
N=${KL_BT_SYMBOLS:-1000}
# A long idle-ms: the client's ghost must not close the new klines before the stop (a slow,
# sanitized build takes seconds here), so that the export ends where replay does.
lines_start "$D" --idle-ms 600000 || { bad "klined did not start"; finish; }
hour_ago=$(($(date +%s%3N) - 3600000))
awk -v n=$N -v t="$hour_ago" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"e\":\"aggTrade\",\"E\":%.0f,\"s\":\"S%04dUSDT\",\"a\":1,\"p\":\"10.00000000\",\"q\":\"1.50000000\",\"f\":1,\"l\":1,\"T\":%.0f,\"m\":false,\"M\":true}\n", t + i, i, t + i }' >"$T/b1.lines"
awk -v n=$N -v t="$hour_ago" 'BEGIN { for (i = 0; i < n; i++)
    printf "1,10.00000000,1.50000000,1,1,%.0f,False,True\n", t + i > sprintf("'"$T"'/sent/S%04dUSDT-aggTrades-2026-01-01.csv", i) }'
send_file "$T/b1.lines"
wait_taken "$D" "$N" 600 || bad "klined took $(taken "$D") of $N trades before the stop"
stop_k TERM && ok "stopped with $N symbols an hour behind"
lines_start "$D" --idle-ms 600000 || { bad "klined did not restart"; finish; }
now=$(date +%s%3N)
awk -v n=$N -v t="$((now - 200))" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"e\":\"aggTrade\",\"E\":%.0f,\"s\":\"S%04dUSDT\",\"a\":2,\"p\":\"11.00000000\",\"q\":\"1.50000000\",\"f\":2,\"l\":2,\"T\":%.0f,\"m\":false,\"M\":true}\n", t, i, t }' >"$T/b2.lines"
awk -v n=$N -v t="$((now - 200))" 'BEGIN { for (i = 0; i < n; i++)
    printf "2,11.00000000,1.50000000,2,2,%.0f,False,True\n", t >> sprintf("'"$T"'/sent/S%04dUSDT-aggTrades-2026-01-01.csv", i) }'
send_file "$T/b2.lines"
# The restarted process's own stats lines: after its 'started' line.
restarted_applied() { awk '/event=started/ { a = 0 } / event=stats / { sub(/.* applied=/, ""); sub(/ .*/, ""); a = $0 } END { print a + 0 }' "$D/k.log"; }
for _ in $(seq 600); do [ "$(restarted_applied)" -ge "$N" ] && break; sleep 0.1; done
[ "$(restarted_applied)" = "$N" ] && ok "after the restart all $N trades applied" ||
    bad "after the restart $(restarted_applied) of $N trades applied"
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$KPID/status")
sleep 1.5 # two persist periods: the stats lines show what the rollover left pending
stop_k TERM
peak=$(max_stat "$D" pending_rows)
[ "${peak:-0}" -le 1000000 ] && ok "pending rows peaked at $peak (max-pending-rows 1000000)" ||
    bad "pending rows peaked at $peak"
rows=$(sqlite3 "$D/k.db" 'select count(*) from klines')
# Per symbol and interval: the first kline, its final, at most 2 holes, the new kline.
[ "$rows" -le $((N * 16 * 5)) ] && ok "the store holds $rows rows for $N symbols x 16 intervals (3.6 M if every 1s hole were stored)" ||
    bad "the store holds $rows rows"
[ "${rss:-0}" -lt 400000 ] && ok "RSS after the rollover: $rss kB" || bad "RSS after the rollover: $rss kB"
[ "$(last_stat "$D" too_late)" = 0 ] && ok "no trade too late" || bad "too_late=$(last_stat "$D" too_late)"
# One diff over all the files (fx_same_as_replay's per-file loop is too slow for 16,000).
"$K" replay --quiet --out "$T/b/want" "$T"/sent/*.csv 2>"$T/b/replay.log" || bad "klined replay failed"
"$K" export --store "sqlite:$D/k.db" --out "$T/b/got" 2>"$T/b/export.log" || bad "klined export failed"
nf=$(ls "$T/b/want" | wc -l)
ndiff=$(diff -rq "$T/b/want" "$T/b/got" | wc -l)
[ "$nf" = $((N * 16)) ] && [ "$ndiff" = 0 ] &&
    ok "the export (implied holes filled) equals klined replay: $nf files, $(cat "$T"/b/got/S0000USDT-1s.csv | wc -l) 1s klines for S0000USDT" ||
    bad "$ndiff of $nf files differ from klined replay: $(diff -rq "$T/b/want" "$T/b/got" | head -2)"
finish
