#!/usr/bin/env bash
# The Kafka source end to end, against a librdkafka mock cluster (tests/tools/kafka_mock) and the
# shared PostgreSQL store of KL_PG_URL: instances of one consumer group split the topic's
# partitions, checkpoint klines, states and offsets to the store, and hand partitions over. Two
# scenarios, each in a database of its own: "hand-over" (A and B consume, A is killed -9
# mid-stream, B takes its partitions over and finishes) and "rebalance" (A and B consume, C joins
# mid-stream, all three are stopped with SIGTERM). Each time the store, exported, must equal
# `klined replay` of the tape's aggTrades CSVs byte for byte: nothing lost, nothing counted twice.
# The tape pauses at fixed points (kafka_mock --pause-at) so that a join or a kill happens at a
# known place in the stream, and "done" is read from the store itself: every partition's stored
# offset equals the partition's end. Every wait is a poll with a generous limit.
# Usage: kafka.sh KLINED [SHARED_DATA]; needs KL_PG_URL (scripts/test.sh sets it), psql, curl.
# KL_KEEP=1 keeps the work directory (logs, tape, exports) for a post-mortem.
set -uo pipefail
K=$1
KM=$(cd "$(dirname "$K")" && pwd)/tools/kafka_mock
T=$(mktemp -d /tmp/klined-kafka.XXXXXX)
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
PARTS=6
NSYM=12
PER_SYM=5000
TOTAL=$((NSYM * PER_SYM))

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

# new_db NAME: creates database NAME on KL_PG_URL's server and sets PGU to its URL.
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

# start_mock DIR PAUSES RATE: the mock cluster and its tape (CSV copies in DIR/in); sets MOCK
# (pid) and BOOT (bootstrap list).
start_mock() {
    mkdir -p "$1/in"
    "$KM" --topic $TOPIC --partitions $PARTS --symbols $NSYM --trades-per-symbol $PER_SYM \
        --out-dir "$1/in" --rate "$3" --seed 7 --hold-seconds 900 --pause-at "$2" \
        >"$1/mock.out" 2>"$1/mock.err" &
    MOCK=$!
    PIDS+=("$MOCK")
    wait_until 20 grep -qs '^kafka_mock: bootstrap=' "$1/mock.out" || return 1
    BOOT=$(sed -n 's/^kafka_mock: bootstrap=//p' "$1/mock.out")
}
mock_paused() { grep -qs "^kafka_mock: paused=$2\$" "$1/mock.out"; }
mock_done() { grep -qs '^kafka_mock: produced=' "$1/mock.out"; }

# start_inst DIR NAME: one `klined serve` of group g1; its pid in PID_<NAME>, port in PORT_<NAME>.
start_inst() {
    local port
    port=$(free_port)
    "$K" serve --listen "127.0.0.1:$port" --source "kafka://$BOOT/$TOPIC" --group g1 --store "$PGU" \
        --clock event --persist-ms 200 --stats-s 1 --wal-dir "$1/wal_$2" \
        >"$1/$2.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$2" '%s' "$pid"
    printf -v "PORT_$2" '%s' "$port"
}
pid_of() { local v="PID_$1"; echo "${!v}"; }
port_of() { local v="PORT_$1"; echo "${!v}"; }

# trades DIR NAME: klined_source_trades_total of the instance ("" when it does not answer).
trades() {
    curl -s -m 2 "http://127.0.0.1:$(port_of "$2")/metrics" 2>/dev/null |
        awk '$1 == "klined_source_trades_total" { print $2 }'
}
n_assigned() { grep -c 'event=assigned' "$1/$2.log"; }
has_assigned() { [ "$(n_assigned "$1" "$2")" -gt 0 ]; }
grew() { local n; n=$(trades "$1" "$2"); [ -n "$n" ] && [ "$n" -gt "$3" ]; }

# all_checkpointed DIR: every partition's offset in the store equals its end in the mock.
all_checkpointed() {
    mock_done "$1" || return 1
    local vals n
    vals=$(sed -n "s/^kafka_mock: partition=\([0-9]*\) end=\([0-9]*\)\$/('kafka.$TOPIC.\1',\2)/p" \
        "$1/mock.out" | paste -sd,)
    n=$(psql "$PGU" -X -A -t -c "SELECT count(*) FROM meta m JOIN (VALUES $vals) e(k, v)
                                 ON m.key = e.k AND m.value = e.v" 2>/dev/null)
    [ "$n" = "$PARTS" ]
}
stored_offsets() { psql "$PGU" -X -A -t -c "SELECT key || '=' || value FROM meta WHERE key LIKE 'kafka.%' ORDER BY key" 2>&1 | paste -sd' '; }

# stop_inst DIR NAME: SIGTERM, then its exit status must be 0 within 60 s.
stop_inst() {
    local pid
    pid=$(pid_of "$2")
    kill -TERM "$pid" 2>/dev/null
    if ! wait_until 60 eval "! kill -0 $pid 2>/dev/null"; then
        bad "$3: $2 still running 60 s after SIGTERM"
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid"
    local rc=$?
    [ $rc = 0 ] && ok "$3: $2 stopped by SIGTERM with status 0" ||
        bad "$3: $2 exited with $rc after SIGTERM: $(grep -v event=stats "$1/$2.log" | tail -3)"
}

# compare DIR SCENARIO: export of the store == klined replay of the tape, file by file.
compare() {
    "$K" replay --quiet --out "$1/ref" "$1"/in/*.csv 2>"$1/replay.log" ||
        bad "$2: replay failed: $(head -2 "$1/replay.log")"
    "$K" export --store "$PGU" --out "$1/exp" 2>"$1/export.log" ||
        bad "$2: export failed: $(head -2 "$1/export.log")"
    local nref nexp
    nref=$(ls "$1/ref" | wc -l)
    nexp=$(ls "$1/exp" 2>/dev/null | wc -l)
    if [ "$nref" -gt 0 ] && diff -r "$1/ref" "$1/exp" >"$1/diff.txt"; then
        ok "$2: the exported store equals klined replay ($nexp files, $NSYM symbols)"
    else
        bad "$2: store differs from replay ($nexp files vs $nref): $(head -c 600 "$1/diff.txt")"
    fi
}

no_errors() {
    local f
    for f in "$@"; do
        if grep -q 'level=error' "$f"; then
            bad "errors logged in $(basename "$f"): $(grep level=error "$f" | head -2)"
            return
        fi
    done
    ok "no error logged by $(for f in "$@"; do basename "$f" .log; done | paste -sd' ')"
}

# ---- hand-over: A and B share the group, A dies with SIGKILL mid-stream, B finishes ----------
S=$T/handover
mkdir -p "$S"
sc=hand-over
if ! new_db "kt_ho_$$"; then
    bad "$sc: cannot create a database on KL_PG_URL: $(head -2 "$T/psql.log")"
elif ! start_mock "$S" 20000 10000; then
    bad "$sc: kafka_mock printed no bootstrap: $(head -3 "$S/mock.err")"
else
    start_inst "$S" A
    wait_until 60 has_assigned "$S" A || bad "$sc: A got no partition: $(grep -v event=stats "$S/A.log" | tail -3)"
    start_inst "$S" B
    if wait_until 60 has_assigned "$S" B && wait_until 60 mock_paused "$S" 20000; then
        ok "$sc: A and B both hold partitions of the group"
        # Both read the first 20000 messages to the end before the stream goes on.
        a0=$(trades "$S" A)
        kill -USR1 "$MOCK"
        if wait_until 30 grew "$S" A "${a0:-0}"; then
            kill -9 "$PID_A"
            wait "$PID_A" 2>/dev/null
            a1=$(trades "$S" B) # B's, for the record
            nb=$(n_assigned "$S" B)
            mock_done "$S" && killed="after the tape ended" || killed="mid-stream"
            ok "$sc: A killed with SIGKILL while consuming ($killed)"
            if wait_until 120 all_checkpointed "$S"; then
                ok "$sc: B checkpointed every partition to its end offset"
            else
                bad "$sc: the store's offsets never reached the ends: $(stored_offsets)" \
                    "(ends: $(grep -o 'partition=.*' "$S/mock.out" | paste -sd' '))"
            fi
            [ "$(n_assigned "$S" B)" -gt "$nb" ] && ok "$sc: B was assigned A's partitions" ||
                bad "$sc: B got no partition after A's death"
            b=$(trades "$S" B)
            [ -n "$b" ] && [ "$b" -gt 0 ] && ok "$sc: B routed $b trades (at the kill: ${a1:-?})" ||
                bad "$sc: B's metrics show no trade: '$b'"
            stop_inst "$S" B "$sc"
            compare "$S" "$sc"
            no_errors "$S/B.log"
        else
            bad "$sc: A never consumed after the resume: $(grep -v event=stats "$S/A.log" | tail -3)"
        fi
    else
        mock_paused "$S" 20000 && why="B got no partition in 60 s" || why="the tape never paused"
        bad "$sc: $why: $(grep -v event=stats "$S/B.log" | tail -3)"
    fi
    kill -TERM "$MOCK" 2>/dev/null
    wait "$MOCK" 2>/dev/null
    for p in "$PID_A" "$PID_B"; do kill -9 "$p" 2>/dev/null; done
fi

# ---- rebalance: A and B consume, C joins mid-stream, all three stop with SIGTERM ---------------
S=$T/rebalance
mkdir -p "$S"
sc=rebalance
if ! new_db "kt_rb_$$"; then
    bad "$sc: cannot create a database on KL_PG_URL: $(head -2 "$T/psql.log")"
elif ! start_mock "$S" 20000,40000 10000; then
    bad "$sc: kafka_mock printed no bootstrap: $(head -3 "$S/mock.err")"
else
    start_inst "$S" A
    wait_until 60 has_assigned "$S" A || bad "$sc: A got no partition"
    start_inst "$S" B
    if wait_until 60 has_assigned "$S" B && wait_until 60 mock_paused "$S" 20000; then
        ok "$sc: A and B both hold partitions of the group"
        a0=$(trades "$S" A)
        b0=$(trades "$S" B)
        kill -USR1 "$MOCK"
        # C joins while the second third of the tape is flowing.
        wait_until 30 grew "$S" A "${a0:-0}" || wait_until 30 grew "$S" B "${b0:-0}"
        nrev=$(cat "$S/A.log" "$S/B.log" | grep -c 'event=revoked')
        start_inst "$S" C
        if wait_until 60 has_assigned "$S" C; then
            ok "$sc: C joined mid-stream and was assigned partitions"
        else
            bad "$sc: C got no partition: $(grep -v event=stats "$S/C.log" | tail -3)"
        fi
        [ "$(cat "$S/A.log" "$S/B.log" | grep -c 'event=revoked')" -gt "$nrev" ] &&
            ok "$sc: A and B handed partitions over" || bad "$sc: no revocation logged by A or B"
        # The last third flows once C holds its partitions: C must consume part of it.
        wait_until 60 mock_paused "$S" 40000 || bad "$sc: the tape never reached its second pause"
        kill -USR1 "$MOCK"
        if wait_until 120 all_checkpointed "$S"; then
            ok "$sc: every partition checkpointed to its end offset"
        else
            bad "$sc: the store's offsets never reached the ends: $(stored_offsets)"
        fi
        c=$(trades "$S" C)
        [ -n "$c" ] && [ "$c" -gt 0 ] && ok "$sc: C routed $c trades" ||
            bad "$sc: C's metrics show no trade: '$c'"
        for n in A B C; do stop_inst "$S" $n "$sc"; done
        compare "$S" "$sc"
        no_errors "$S/A.log" "$S/B.log" "$S/C.log"
    else
        mock_paused "$S" 20000 && why="B got no partition in 60 s" || why="the tape never paused"
        bad "$sc: $why: $(grep -v event=stats "$S/B.log" | tail -3)"
    fi
    kill -TERM "$MOCK" 2>/dev/null
    wait "$MOCK" 2>/dev/null
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
