#!/usr/bin/env bash
# Watermark finality of the Kafka source (`clock = wall`), against a librdkafka mock cluster
# (tests/tools/kafka_mock --live) and the shared PostgreSQL store of KL_PG_URL. The tape is live:
# trades stamped with the wall clock, each delivered 100-1000 ms after its time, in time order on
# every partition; its last symbol trades only at the start and then falls silent. A and B share
# the group, A is killed -9 mid-stream and B takes its partitions over, re-reading from A's last
# checkpoint. Checked: no trade refused as too late or too far ahead; the silent symbol's klines
# close (its last trade's 1s kline is final, and final hole klines follow it) while the others
# trade, and every symbol's last 1s kline closes once the whole topic is silent (idle-ms); the
# export equals `klined replay` of the tape up to each series' last trade, with only hole klines
# after it. Every wait is a poll with a generous limit.
# Usage: kafka_wmark.sh KLINED [SHARED_DATA]; needs KL_PG_URL, psql, curl. KL_KEEP=1 keeps the
# work directory.
set -uo pipefail
K=$1
KM=$(cd "$(dirname "$K")" && pwd)/tools/kafka_mock
T=$(mktemp -d /tmp/klined-kafka-wm.XXXXXX)
PIDS=()
DBS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for d in "${DBS[@]}"; do
        psql "$KL_PG_URL" -X -q -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
    if [ "${KL_KEEP:-}" = 1 ]; then echo "kept: $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
. "$(dirname "$0")/lib/fx.sh" # fx_same_as_replay

if [ -z "${KL_PG_URL:-}" ]; then
    if [ "${KL_PG_SKIP:-}" = 1 ]; then
        echo "skipped: no PostgreSQL"
        exit 0
    fi
    echo "FAIL: KL_PG_URL is not set: scripts/pg.sh start && export KL_PG_URL=\$(scripts/pg.sh url), or KL_PG_SKIP=1 to skip"
    echo "0 passed, 1 failed"
    exit 1
fi
[ -x "$KM" ] || { echo "FAIL: $KM not built"; echo "0 passed, 1 failed"; exit 1; }

TOPIC=trades
PARTS=4
NSYM=8
PER_SYM=300
QUIET=5     # trades of the silent symbol (the tape's last)
PAUSE=500   # A is killed after this many messages and a little more
# B re-reads A's partitions seconds late; their latency window (10-20 s, wmark.h) must see live
# trades again before the idle rule may close them at the end, so the tape goes on long enough.
SPAN_MS=60000

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_until SECONDS CMD...: polls CMD every 0.2 s; 0 once it succeeds, 1 after SECONDS.
wait_until() {
    local limit=$(($1 * 5)) i
    shift
    for ((i = 0; i < limit; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

new_db() {
    local base=${KL_PG_URL%%\?*} query
    query=${KL_PG_URL#"$base"}
    case ${base#*://} in
        */*) PGU="${base%/*}/$1$query" ;;
        *) PGU="$base/$1$query" ;;
    esac
    DBS+=("$1")
    psql "$KL_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1" >"$T/psql.log" 2>&1
}
q() { psql "$PGU" -X -A -t -c "$1" 2>/dev/null; }

mock_paused() { grep -qs "^kafka_mock: paused=$PAUSE\$" "$T/mock.out"; }
mock_done() { grep -qs '^kafka_mock: produced=' "$T/mock.out"; }

start_inst() {
    local port
    port=$(free_port)
    "$K" serve --listen "127.0.0.1:$port" --source "kafka://$BOOT/$TOPIC" --group g1 --store "$PGU" \
        --clock wall --persist-ms 200 --stats-s 1 --wal-dir "$T/wal_$1" >"$T/$1.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$1" '%s' "$pid"
    printf -v "PORT_$1" '%s' "$port"
}
port_of() { local v="PORT_$1"; echo "${!v}"; }
# metric NAME METRIC: the sum of METRIC's samples on the instance ("" when it does not answer).
metric() {
    curl -s -m 2 "http://127.0.0.1:$(port_of "$1")/metrics" 2>/dev/null |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2; n++ } END { if (n) printf "%.0f\n", s }'
}
n_assigned() { grep -c 'event=assigned' "$T/$1.log"; }
has_assigned() { [ "$(n_assigned "$1")" -gt 0 ]; }
grew() { local n; n=$(metric "$1" klined_source_trades_total); [ -n "$n" ] && [ "$n" -gt "$2" ]; }

all_checkpointed() {
    mock_done || return 1
    local vals n
    vals=$(sed -n "s/^kafka_mock: partition=\([0-9]*\) end=\([0-9]*\)\$/('kafka.$TOPIC.\1',\2)/p" \
        "$T/mock.out" | paste -sd,)
    n=$(q "SELECT count(*) FROM meta m JOIN (VALUES $vals) e(k, v) ON m.key = e.k AND m.value = e.v")
    [ "$n" = "$PARTS" ]
}

# last_t SYMBOL: the time of SYMBOL's last trade on the tape.
last_t() { tail -1 "$T/in/$1-aggTrades-2024-01-01.csv" | cut -d, -f6; }
# final_at SYMBOL MS: the 1s kline holding MS is stored final.
final_at() {
    [ "$(q "SELECT count(*) FROM klines WHERE symbol = '$1' AND interval = '1s'
            AND open_time = $(($2 - $2 % 1000)) AND is_final")" = 1 ]
}
# finals_after SYMBOL MS N: at least N final 1s klines open after MS.
finals_after() {
    [ "$(q "SELECT count(*) FROM klines WHERE symbol = '$1' AND interval = '1s'
            AND open_time > $2 AND is_final")" -ge "$3" ]
}
all_last_final() {
    local s
    for s in $SYMS; do final_at "$s" "$(last_t "$s")" || return 1; done
}

sc=watermarks
mkdir -p "$T/in"
if ! new_db "kt_wm_$$"; then
    bad "$sc: cannot create a database on KL_PG_URL: $(head -2 "$T/psql.log")"
    echo "$pass passed, $fail failed"
    exit 1
fi
"$KM" --topic $TOPIC --partitions $PARTS --symbols $NSYM --trades-per-symbol $PER_SYM \
    --out-dir "$T/in" --seed 11 --hold-seconds 900 --pause-at $PAUSE \
    --live 100,1000 --span-ms $SPAN_MS --quiet $QUIET >"$T/mock.out" 2>"$T/mock.err" &
MOCK=$!
PIDS+=("$MOCK")
if ! wait_until 20 grep -qs '^kafka_mock: bootstrap=' "$T/mock.out"; then
    bad "$sc: kafka_mock printed no bootstrap: $(head -3 "$T/mock.err")"
    echo "$pass passed, $fail failed"
    exit 1
fi
BOOT=$(sed -n 's/^kafka_mock: bootstrap=//p' "$T/mock.out")
SYMS=$(sed -n 's/^kafka_mock: symbol \([A-Z0-9]*\) partition .*/\1/p' "$T/mock.err")
QSYM=$(echo "$SYMS" | tail -1)

start_inst A
wait_until 60 has_assigned A || bad "$sc: A got no partition: $(grep -v event=stats "$T/A.log" | tail -3)"
grep -q 'event=started .*clock=watermark' "$T/A.log" && ok "$sc: clock = wall is watermark finality for Kafka" ||
    bad "$sc: A did not start with clock=watermark: $(grep event=started "$T/A.log")"
start_inst B
if ! wait_until 60 has_assigned B || ! wait_until 90 mock_paused; then
    bad "$sc: B got no partition or the tape never paused: $(grep -v event=stats "$T/B.log" | tail -3)"
    echo "$pass passed, $fail failed"
    exit 1
fi
ok "$sc: A and B both hold partitions of the group"

# The silent symbol made its few trades at the tape's start; the others went on, so its
# partition's watermark has closed its last trade's 1s kline and the seconds after it.
qt=$(last_t "$QSYM")
if wait_until 30 final_at "$QSYM" "$qt" && wait_until 30 finals_after "$QSYM" "$qt" 2; then
    ok "$sc: the silent $QSYM's klines closed without a trade of its own (1s at $qt final, holes after)"
else
    bad "$sc: $QSYM's 1s kline of its last trade ($qt) is not final, or no final kline follows it"
fi

a0=$(metric A klined_source_trades_total)
kill -USR1 "$MOCK"
if wait_until 30 grew A "${a0:-0}"; then
    a_late=$(metric A klined_trades_too_late_total)
    kill -9 "$PID_A"
    wait "$PID_A" 2>/dev/null
    nb=$(n_assigned B)
    ok "$sc: A killed with SIGKILL while consuming (its too_late: ${a_late:-?})"
    [ "${a_late:-x}" = 0 ] && ok "$sc: A refused no trade as too late" || bad "$sc: A's too_late = '${a_late}'"
    wait_until 60 eval '[ "$(n_assigned B)" -gt "$nb" ]' && ok "$sc: B was assigned A's partitions" ||
        bad "$sc: B got no partition after A's death"
else
    bad "$sc: A never consumed after the resume: $(grep -v event=stats "$T/A.log" | tail -3)"
fi
if wait_until 120 all_checkpointed; then
    ok "$sc: B checkpointed every partition to its end offset"
else
    bad "$sc: the store's offsets never reached the ends"
fi
# Once the whole topic is silent, idle-ms (2 s) closes every symbol's last second.
if wait_until 30 all_last_final; then
    ok "$sc: every symbol's last 1s kline is final once the topic fell silent (idle-ms)"
else
    for s in $SYMS; do final_at "$s" "$(last_t "$s")" || echo "    $s: 1s kline of $(last_t "$s") not final"; done
    bad "$sc: the idle rule did not close the last klines"
fi
b_late=$(metric B klined_trades_too_late_total)
b_ahead=$(metric B klined_source_too_far_ahead_total)
[ "${b_late:-x}" = 0 ] && ok "$sc: B refused no trade as too late" || bad "$sc: B's too_late = '$b_late'"
[ "${b_ahead:-x}" = 0 ] && ok "$sc: no trade too far ahead" || bad "$sc: B's too_far_ahead = '$b_ahead'"
fd=$(metric B klined_feed_delay_seconds_count)
[ -n "$fd" ] && [ "$fd" -gt 0 ] && ok "$sc: the delivery delay is recorded ($fd trades)" ||
    bad "$sc: klined_feed_delay_seconds_count = '$fd'"

kill -TERM "$PID_B"
if wait_until 60 eval "! kill -0 $PID_B 2>/dev/null"; then
    wait "$PID_B"
    rc=$?
    [ $rc = 0 ] && ok "$sc: B stopped by SIGTERM with status 0" || bad "$sc: B exited with $rc"
else
    bad "$sc: B still running 60 s after SIGTERM"
fi
fx_same_as_replay "$K" "$PGU" "$T" $((NSYM * 16)) "$T"/in/*.csv
if grep -q 'level=error' "$T/B.log"; then
    bad "$sc: errors logged by B: $(grep level=error "$T/B.log" | head -2)"
else
    ok "$sc: no error logged by B"
fi
kill -TERM "$MOCK" 2>/dev/null
wait "$MOCK" 2>/dev/null

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
