#!/usr/bin/env bash
# The Kafka kline sink never blocks persistence (issue 12, H7). `klined serve` reads aggTrades
# from lines:stdin (a FIFO) with --kline-sink on a librdkafka mock cluster (tests/tools/
# kafka_mock); the cluster is killed with SIGKILL before the trades are sent. The trades make
# far more final klines (1s, one per trade) than the sink's queue holds (kline-sink-queue-bytes,
# and librdkafka's 100,000-message default, on which the old sink waited 5 s per kline). Checks:
# the store still takes every trade (source_trades, then klined export equals klined replay),
# REST serves the replay's klines, the sink counts its drops (stats line and /metrics), and the
# service exits 0 at the end of its input despite the dead broker.
# Usage: kline_sink_down.sh KLINED [SHARED_DATA]
set -uo pipefail
K=$1
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
KM=$(dirname "$K")/tools/kafka_mock
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-ksdown.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KL_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
[ -x "$KM" ] || { echo "skipped: $KM not built"; exit 77; }
# shellcheck source=lib/fx.sh
. "$ROOT/tests/integ/lib/fx.sh"
wait_for() { # wait_for SECONDS CMD...: polls CMD every 0.2 s
    local n=$(($1 * 5)) i
    shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}

# 3 symbols x 40,000 trades, 1.0-2.0 s apart: about one final 1s kline per trade.
SYMS=(AAAUSDT BBBUSDT CCCBTC)
PER=40000
TOTAL=$((PER * ${#SYMS[@]}))
mkdir -p "$T/in"
seed=3
for s in "${SYMS[@]}"; do
    awk -v seed=$seed -v n=$PER 'BEGIN {
        srand(seed); t = 1704067200000; a = seed * 1000000; f = a * 3
        for (i = 0; i < n; i++) {
            t += 1000 + int(rand() * 1000); k = 1 + int(rand() * 3)
            printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, 100 + int(rand() * 50),
                   int(rand() * 99999999), 1 + int(rand() * 5), int(rand() * 99999999), f,
                   f + k - 1, t, (rand() < 0.5 ? "True" : "False")
            a++; f += k
        }
    }' >"$T/in/$s-aggTrades-2024-01-01.csv"
    awk -F, -v s="$s" '{ printf "{\"e\":\"aggTrade\",\"E\":%s,\"s\":\"%s\",\"a\":%s,\"p\":\"%s\",\"q\":\"%s\",\"f\":%s,\"l\":%s,\"T\":%s,\"m\":%s,\"M\":true}\n",
                         $6, s, $1, $2, $3, $4, $5, $6, ($7 == "True" ? "true" : "false") }' \
        "$T/in/$s-aggTrades-2024-01-01.csv" >>"$T/lines.json"
    seed=$((seed + 1))
done

# The mock cluster with the sink's topic (its own tape: one trade, in another topic's place).
mkdir -p "$T/seed"
"$KM" --topic klines --partitions 1 --symbols 1 --trades-per-symbol 1 --out-dir "$T/seed" \
    --hold-seconds 600 >"$T/mock.out" 2>"$T/mock.err" &
MOCK=$!
PIDS+=($MOCK)
wait_for 20 grep -q '^kafka_mock: produced=' "$T/mock.out" || { bad "kafka_mock did not start: $(head -3 "$T/mock.err")"; finish; }
BS=$(sed -n 's/^kafka_mock: bootstrap=//p' "$T/mock.out")

mkfifo "$T/feed"
"$K" serve --listen 127.0.0.1:0 --source lines:stdin --clock event --exit-on-eof \
    --store "sqlite:$T/k.db" --wal-dir "$T/wal" --intervals 1s,1m,1h --persist-ms 200 --stats-s 1 \
    --kline-sink "kafka://$BS/klines" --kline-sink-queue-bytes 1048576 \
    <"$T/feed" >"$T/k.log" 2>&1 &
KPID=$!
PIDS+=($KPID)
exec 8>"$T/feed" # held open: the input ends when the script closes it
wait_for 30 grep -q 'event=started' "$T/k.log" || { bad "serve did not start: $(tail -3 "$T/k.log")"; finish; }
API=$(sed -n 's/.*event=listening address=\([0-9.:]*\) .*/\1/p' "$T/k.log" | head -1)

kill -9 "$MOCK"
wait "$MOCK" 2>/dev/null
ok "the broker is down (kafka_mock killed) before any trade"
cat "$T/lines.json" >&8

# The store takes every trade although the broker is gone.
stat_is() { [ "$(last_stat "$T" "$1")" = "$2" ]; }
stat_pos() { local v; v=$(last_stat "$T" "$1"); [ -n "$v" ] && [ "$v" -gt 0 ]; }
if wait_for 120 stat_is source_trades "$TOTAL" && wait_for 120 stat_is pending_rows 0 &&
    wait_for 60 stat_is dirty 0; then
    ok "every trade taken and committed with the broker down ($TOTAL trades, $(last_stat "$T" commits) commits)"
else
    bad "the store stalled: $(grep 'event=stats' "$T/k.log" | tail -1)"
fi
wait_for 30 stat_pos sink_dropped && ok "the stats line counts dropped klines (sink_dropped=$(last_stat "$T" sink_dropped))" ||
    bad "no drop counted: $(grep 'event=stats' "$T/k.log" | tail -1)"
m=$(curl -s -m 5 "http://$API/metrics" | awk '$1 == "klined_kline_sink_dropped_total" { print $2 }')
[ -n "$m" ] && [ "$m" -gt 0 ] && ok "/metrics: klined_kline_sink_dropped_total $m" ||
    bad "/metrics has no drops: '$m'"

# REST serves what replay computes (1h klines of the first symbol; the last one is open).
"$K" replay --quiet --intervals 1h --out "$T/ref1h" "$T/in/${SYMS[0]}-aggTrades-2024-01-01.csv" 2>/dev/null
want=$(cut -d, -f1-9 "$T/ref1h/${SYMS[0]}-1h.csv" | head -n -1)
n=$(echo "$want" | wc -l)
got=$(curl -s -m 10 "http://$API/api/v3/klines?symbol=${SYMS[0]}&interval=1h&startTime=1704067200000&limit=1000" |
    python3 -c 'import json,sys
for k in json.load(sys.stdin): print(",".join(str(x) for x in k[:9]))' | head -n "$n")
[ -n "$want" ] && [ "$got" = "$want" ] && ok "REST 1h klines of ${SYMS[0]} equal replay ($n closed klines)" ||
    bad "REST differs from replay: $(diff <(echo "$want") <(echo "$got") | head -4)"

exec 8>&- # end of input: exit-on-eof
if wait_for 60 eval '! kill -0 $KPID 2>/dev/null'; then
    wait "$KPID"
    rc=$?
    [ $rc = 0 ] && ok "serve exits 0 at the end of input with the broker down" || bad "serve exit status $rc: $(tail -3 "$T/k.log")"
else
    bad "serve still running 60 s after the end of its input"
fi
grep -q 'comp=ksink event=unflushed' "$T/k.log" && ok "the unsent klines are logged at exit" ||
    bad "no unflushed line at exit"
mkdir -p "$T/cmp"
fx_same_as_replay "$K" "sqlite:$T/k.db" "$T/cmp" 9 --intervals 1s,1m,1h "$T"/in/*.csv
finish
