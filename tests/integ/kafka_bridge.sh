#!/usr/bin/env bash
# `klined bridge` end to end: the fake Binance exchange serves generated aggTrades of four
# symbols over WS (with a dropped connection, so the REST gap backfill runs too, and a bridge
# restart, which resumes after the last ids already in the topic); the bridge
# publishes them to a topic of a librdkafka mock cluster (tests/tools/kafka_mock); one
# `klined serve --source kafka://…` consumes the topic into a SQLite store. Checks: every trade
# was published once (the bridge's counters), every message sits in its symbol's partition
# (kafka_mock --consume checks key, partition and id order), and the store's klines equal
# `klined replay` of the dumps, byte for byte.
# Run as: bash tests/integ/kafka_bridge.sh <klined-binary> [<shared-data-dir>]
set -u
BIN=${1:?usage: kafka_bridge.sh <klined-binary> [shared-data-dir]}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
TOOLS=$(dirname "$BIN")/tools
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=lib/aggtrades.sh
. "$ROOT/tests/integ/lib/aggtrades.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-kbridge.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KL_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS CMD...: polls CMD every 0.2 s
    local n=$(($1 * 5))
    shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}

mkdir -p "$T/in" "$T/seed"
SYMS=(AAAUSDT BBBUSDT CCCBTC DDDETH)
i=0
for s in "${SYMS[@]}"; do
    i=$((i + 1))
    gen_aggtrades "$T/in" "$s" 1 $((40 + i)) 1500
done
TOTAL=$(cat "$T"/in/*.csv | wc -l)
FILES=$(ls "$T"/in/*.csv | paste -sd,)

# The mock cluster: its own tape is one trade of a symbol the exchange does not list, in a
# topic of 4 partitions (the tool needs at least one).
"$TOOLS/kafka_mock" --topic trades --partitions 4 --symbols 1 --trades-per-symbol 1 \
    --out-dir "$T/seed" --hold-seconds 600 >"$T/mock.out" 2>"$T/mock.err" &
PIDS+=($!)
wait_for 20 grep -q '^kafka_mock: produced=' "$T/mock.out" || { bad "kafka_mock did not start"; cat "$T/mock.err"; finish; }
BS=$(sed -n 's/^kafka_mock: bootstrap=//p' "$T/mock.out")
SEED_SYM=$(ls "$T/seed" | sed 's/-aggTrades.*//')

# The fake exchange, dropping the connection once mid-tape (the bridge backfills by REST).
P=$(free_port)
"$TOOLS/fake_exchange" --port "$P" --trades "$FILES" --rate 2000 --start-ms 3000 \
    >"$T/fx.log" 2>&1 &
FX=$!
PIDS+=($FX)
wait_for 10 grep -q "listening on 127.0.0.1:$P" "$T/fx.log" || { bad "fake exchange did not start"; cat "$T/fx.log"; finish; }

start_bridge() { # start_bridge N
    "$BIN" bridge --bridge-to "kafka://$BS/trades" --binance-ws "ws://127.0.0.1:$P" \
        --binance-rest "http://127.0.0.1:$P" --symbols "$(IFS=,; echo "${SYMS[*]}")" \
        >"$T/bridge$1.out" 2>"$T/bridge$1.err" &
    BR=$!
    PIDS+=($BR)
}
start_bridge 1
status() { curl -s "http://127.0.0.1:$P/status"; }
emitted() { status | sed -n 's/.*"emitted":\([0-9]*\).*/\1/p'; }
# Drop every connection once, mid-tape: the bridge reconnects and backfills the gap by REST.
wait_for 30 bash -c "[ \"\$(curl -s http://127.0.0.1:$P/status | sed -n 's/.*\"emitted\":\([0-9]*\).*/\1/p')\" -gt $((TOTAL / 3)) ]"
curl -s -X POST "http://127.0.0.1:$P/fault?kind=drop" >/dev/null
# Then stop the bridge at two thirds and start another: it resumes after the topic's last ids.
wait_for 30 bash -c "[ \"\$(curl -s http://127.0.0.1:$P/status | sed -n 's/.*\"emitted\":\([0-9]*\).*/\1/p')\" -gt $((TOTAL * 2 / 3)) ]"
kill -TERM "$BR"
wait "$BR"
RC=$?
[ "$RC" -eq 0 ] && ok "bridge 1 exits 0 on SIGTERM" || bad "bridge 1 exit $RC"
start_bridge 2
done_tape() { status | grep -q '"done":true'; }
if wait_for 60 done_tape; then ok "the fake exchange sent the whole tape ($(emitted))"; else bad "the tape did not finish: $(status)"; fi
# Bridge 2 is stopped once the topic holds every message (its backfill may still be running).
topic_full() {
    timeout 120 "$TOOLS/kafka_mock" --consume "$BS" trades --expect $((TOTAL + 1)) >"$T/cons0.out" 2>&1
    grep -q "consumed=$((TOTAL + 1)) " "$T/cons0.out"
}
wait_for 20 topic_full || bad "the topic never held all $((TOTAL + 1)) messages: $(tail -1 "$T/cons0.out")"
kill -TERM "$BR"
wait "$BR"
RC=$?
[ "$RC" -eq 0 ] && ok "bridge 2 exits 0 on SIGTERM" || bad "bridge 2 exit $RC"
count() { grep 'comp=bridge event=stopped' "$T/bridge$1.err" | sed -n "s/.* $2=\([0-9]*\).*/\1/p"; }
PROD=$(($(count 1 produced) + $(count 2 produced)))
DELIV=$(($(count 1 delivered) + $(count 2 delivered)))
[ "$PROD" = "$TOTAL" ] && ok "the two bridges produced every trade once ($(count 1 produced) + $(count 2 produced))" ||
    bad "produced $PROD of $TOTAL"
[ "$DELIV" = "$TOTAL" ] && ok "every message delivered ($DELIV)" || bad "delivered $DELIV of $TOTAL"
grep -q "comp=bridge event=resume .*symbols=$((${#SYMS[@]} + 1)) partitions_unfinished=0" "$T/bridge2.err" &&
    ok "bridge 2 read the last ids of every symbol from the topic" ||
    bad "bridge 2 resume: $(grep 'event=resume' "$T/bridge2.err")"
grep -q 'comp=binance event=stopped.*backfilled=[1-9]' "$T/bridge1.err" && ok "the dropped connection was backfilled by REST" ||
    bad "no backfill after the drop: $(grep 'comp=binance event=stopped' "$T/bridge1.err")"
grep -q 'comp=binance event=stopped.*backfilled=[1-9]' "$T/bridge2.err" && ok "bridge 2 backfilled the gap while no bridge ran" ||
    bad "bridge 2 backfilled nothing: $(grep 'comp=binance event=stopped' "$T/bridge2.err")"

# Key, partition (= the symbol's shard) and id order of every message.
# (The checker expects each symbol's ids to start at 1; these tapes start at 1000000, so it flags
# exactly the first message of each of our symbols for id order, and nothing else.)
timeout 60 "$TOOLS/kafka_mock" --consume "$BS" trades --expect $((TOTAL + 1)) >"$T/cons.out" 2>&1
CONS=$(tail -1 "$T/cons.out")
if grep -q "consumed=$((TOTAL + 1)) .*bad=${#SYMS[@]}\$" <<<"$CONS" &&
    [ "$(grep -c '(id order)$' "$T/cons.out")" -eq "${#SYMS[@]}" ] &&
    ! grep -q '(partition)\|(value)' "$T/cons.out"; then
    ok "every message keyed by symbol, in its symbol's partition, ids in order: $CONS"
else
    bad "topic check: $(cat "$T/cons.out")"
fi

# A consumer of the topic builds the same klines as replay.
# (It also publishes its final klines to a second topic, the kline sink. Without 1s klines: the
# mock cluster keeps only the last 5 MB of a partition, and 1s klines would be 50,000 messages.)
IVS=1m,3m,5m,15m,30m,1h,2h,4h,6h,8h,12h,1d,3d,1w,1M
"$BIN" serve --listen 127.0.0.1:0 --source "kafka://$BS/trades" --group g --store "sqlite:$T/k.db" \
    --intervals "$IVS" \
    --wal-dir "$T/wal" --persist-ms 200 --stats-s 1 --kline-sink "kafka://$BS/klines" \
    >"$T/serve.out" 2>"$T/serve.err" &
SV=$!
PIDS+=($SV)
applied() { grep 'event=stats' "$T/serve.err" | tail -1 | grep -q "source_trades=$((TOTAL + 1)) "; }
wait_for 60 applied && ok "serve consumed the whole topic" || bad "serve consumed: $(grep 'event=stats' "$T/serve.err" | tail -1)"
API=$(sed -n 's/.*event=listening address=\([0-9.:]*\) .*/\1/p' "$T/serve.err")
sink_done() { curl -s "http://$API/metrics" | grep -q '^klined_kline_sink_delivered_total [1-9]'; }
wait_for 20 sink_done && ok "/metrics counts the kline sink's deliveries" ||
    bad "kline sink metrics: $(curl -s "http://$API/metrics" | grep kline_sink)"
kill -TERM "$SV"
wait "$SV"
RC=$?
[ "$RC" -eq 0 ] && ok "serve exits 0" || bad "serve exit $RC"
"$BIN" export --store "sqlite:$T/k.db" --out "$T/exp" --symbols "$(IFS=,; echo "${SYMS[*]}")" >/dev/null 2>&1
"$BIN" replay --intervals "$IVS" --out "$T/ref" "$T"/in/*.csv >/dev/null 2>&1
if diff -rq "$T/exp" "$T/ref" >"$T/diff.txt"; then
    ok "store == replay ($(ls "$T/ref" | wc -l) files, $SEED_SYM of the seed left out)"
else
    bad "store != replay: $(head -3 "$T/diff.txt")"
fi

# The kline sink: every final kline of the store, once, in Binance's payload, keyed by symbol.
if "$TOOLS/kafka_dump" "$BS" klines >"$T/klines.txt" 2>"$T/dump.err"; then
    CHECK=$(python3 - "$T/klines.txt" "$T/ref" <<'PY'
import json, os, sys
from decimal import Decimal
msgs, ref = sys.argv[1], sys.argv[2]
got = {}
bad = 0
for line in open(msgs):
    part, key, val = line.rstrip("\n").split(" ", 2)
    ev = json.loads(val)
    k = ev["k"]
    if ev["e"] != "kline" or ev["s"] != key or k["s"] != key or not k["x"]:
        bad += 1
        continue
    row = ",".join(str(x) for x in [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"],
                                     k["q"], k["n"], k["V"], k["Q"], "0"])
    got.setdefault(f"{key}-{k['i']}.csv", []).append(row)
want = total = 0
for f in sorted(os.listdir(ref)):
    rows = open(os.path.join(ref, f)).read().splitlines()[:-1]  # the last kline is still open
    total += len(rows)
    if got.get(f, []) != rows:
        bad += 1
        print(f"differs: {f} got {len(got.get(f, []))} want {len(rows)}", file=sys.stderr)
finals = sum(len(v) for v in got.values())
bad += finals != total
print(f"finals={finals} expected={total} bad={bad}")
PY
)
    [[ $CHECK == *" bad=0" ]] &&
        ok "kline sink: every final kline once, equal to replay's ($CHECK)" || bad "kline sink: $CHECK"
else
    bad "kafka_dump klines: $(cat "$T/dump.err")"
fi
finish
