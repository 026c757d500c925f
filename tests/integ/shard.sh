#!/usr/bin/env bash
# Static sharding (--shard i/N) of the live Binance source, end to end against
# tests/tools/fake_exchange. Twelve symbols' aggTrades dumps (3 + 4 + 5 of shards 0, 1, 2 of 3)
# are one exchange tape, played with `--clock event` to three klined instances side by side, each
# given all 12 symbols and its own --shard i/3: each must log its share, keep exactly its shard's
# symbols (the shard is computed here independently: FNV-1a 32 of the name, mod 3), and the
# three stores together must equal `klined replay` of the 12 dumps byte for byte, every symbol
# in exactly one store. Then: the admin API refuses to add another shard's symbol (and still adds
# a new one of its own shard); two shards run one after the other on one shared sqlite store
# (own wal-dirs) and the store equals replay of their symbols; and a shard killed before its
# first checkpoint in a store that another shard already wrote must recover its own WAL (the WAL
# checkpoint positions must not be shared between instances). No assertion depends on timing:
# waits poll the fake's /status and klined's stats lines, with limits that only bound a hung
# run. Usage: shard.sh KLINED [SHARED_DATA]; needs bash (with /dev/tcp), awk, python3, curl.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FX=$(dirname "$K")/tools/fake_exchange
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/klined-shard.XXXXXX)
FXPID= KPIDS=()
cleanup() {
    for p in "${KPIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -n "$FXPID" ] && kill -9 "$FXPID" 2>/dev/null
    # KL_KEEP_DIR=DIR keeps the logs of the run for a look after a failure.
    [ -n "${KL_KEEP_DIR:-}" ] && rm -rf "$KL_KEEP_DIR" && cp -r "$T" "$KL_KEEP_DIR"
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
is() { # NAME WANT GOT
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', want '$2'"; fi
}

if [ ! -x "$FX" ]; then
    echo "FAIL: $FX not built (tests/tools/fake_exchange.c)"
    exit 1
fi
# shellcheck source=lib/aggtrades.sh
. "$HERE/lib/aggtrades.sh"

# shard_of NAME N: FNV-1a (32 bit) of the name, mod N, written out here rather than asked of
# klined, so that a change of its hash shows.
shard_of() {
    python3 -c 'import sys
h = 0x811C9DC5
for c in sys.argv[1].encode():
    h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
print(h % int(sys.argv[2]))' "$1" "$2"
}
is "FNV-1a reference: BTCUSDT hashes to 0xe82cd26c" e82cd26c \
    "$(python3 -c 'h = 0x811C9DC5
for c in b"BTCUSDT": h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
print("%08x" % h)')"

SYMS="BTCUSDT TRXUSDT XLMUSDT BNBUSDT SOLUSDT XRPUSDT LTCUSDT ETHUSDT ADAUSDT DOGEUSDT DOTUSDT ETHBTC"
ALL=$(echo $SYMS | tr ' ' ,)
mkdir -p "$T/in"
seed=11
for s in $SYMS; do
    gen_aggtrades "$T/in" "$s" 1 "$seed" $((1500 + seed * 37))
    seed=$((seed + 1))
done
files=$(ls "$T"/in/*.csv | paste -sd,)
TOTAL=$(cat "$T"/in/*.csv | wc -l)
# Per shard: its symbols (sorted, comma-separated), their trade count, their replay.
declare -a SH_SYMS SH_N
for i in 0 1 2; do SH_SYMS[i]= SH_N[i]=0; done
for s in $SYMS; do
    i=$(shard_of "$s" 3)
    SH_SYMS[i]="${SH_SYMS[i]:+${SH_SYMS[i]},}$s"
    SH_N[i]=$((SH_N[i] + $(wc -l <"$T/in/$s-aggTrades-2024-01-01.csv")))
done
for i in 0 1 2; do SH_SYMS[i]=$(echo "${SH_SYMS[i]}" | tr , '\n' | sort | paste -sd,); done
is "the 12 symbols split 3/4/5 over the shards" "3 4 5" \
    "$(for i in 0 1 2; do echo "${SH_SYMS[i]}" | tr , '\n' | grep -c .; done | paste -sd' ')"
is "BTCUSDT is in shard 0 of 3" 0 "$(shard_of BTCUSDT 3)"
"$K" replay --quiet --out "$T/want" "$T"/in/*.csv 2>"$T/replay.log" || bad "klined replay failed"
is "replay wrote 16 files for each of the 12 symbols" 192 "$(ls "$T/want" | wc -l)"
for i in 0 1 2; do
    mkdir -p "$T/want$i"
    for s in $(echo "${SH_SYMS[i]}" | tr , ' '); do cp "$T/want/$s"-*.csv "$T/want$i/"; done
done

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_fx [CLIENTS]: the fake on a free port, emission starting 1 s after CLIENTS (default 1) WS
# clients are connected (the instances connect first, however slow the machine).
start_fx() { fx_start "$files" 3000 1000 --start-clients "${1:-1}"; }
stop_fx() { fx_stop; }

# start_k DIR SHARD STORE WALDIR [ARGS...]: klined on the fake with all 12 symbols and
# --shard SHARD/3; log appended to DIR/k.log, pid in KPID (and KPIDS for the cleanup).
start_k() {
    local d=$1 i=$2 st=$3 w=$4
    shift 4
    mkdir -p "$d"
    "$K" serve --source binance --binance-ws "ws://127.0.0.1:$P" \
        --binance-rest "http://127.0.0.1:$P" --symbols "$ALL" --shard "$i/3" --clock event \
        --store "sqlite:$st" --wal-dir "$w" --stats-s 1 "$@" >>"$d/k.log" 2>&1 &
    KPID=$!
    KPIDS+=("$KPID")
}
stop_pid() { # PID SIGNAL: the exit status of klined
    kill "-$2" "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
wait_connected() { # CONNECTIONS
    for _ in $(seq 1800); do
        local s
        s=$(http GET /status)
        if [ "$(echo "$s" | field connections)" = "$1" ]; then
            [ "$(echo "$s" | field emitted)" = 0 ] && return 0
            echo "    connected only after emission began: $s"
            return 1
        fi
        sleep 0.1
    done
    return 1
}
# wait_quiet DIR: two consecutive stats lines agree on applied and the queues are empty.
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
# export_is NAME STORE WANT_DIR OUT: the exported store equals WANT_DIR byte for byte.
export_is() {
    rm -rf "$4"
    "$K" export --store "sqlite:$2" --out "$4" 2>"$4.log" || bad "$1: export failed: $(head -2 "$4.log")"
    if diff -r "$3" "$4" >"$4.diff" 2>&1; then
        ok "$1: the store equals klined replay of its symbols ($(ls "$4" | wc -l) files)"
    else
        bad "$1: the store differs from klined replay: $(head -4 "$4.diff")"
    fi
}
syms_of() { ls "$1" 2>/dev/null | sed 's/-[^-]*\.csv$//' | sort -u | paste -sd,; }

# ---- 1. three shards side by side -------------------------------------------------------------
echo "# 1. three instances, --shard 0/3, 1/3, 2/3, on one tape of $TOTAL trades"
start_fx 3 || bad "1 fake_exchange did not start"
declare -a PIDS
for i in 0 1 2; do
    start_k "$T/r$i" "$i" "$T/s$i.db" "$T/w$i" --listen 127.0.0.1:0 --persist-ms 200
    PIDS[i]=$KPID
done
wait_connected 3 && ok "1 three WS clients before the first trade" || bad "1 not 3 WS clients in time"
wait_done && ok "1 the fake emitted all $TOTAL trades" || bad "1 the fake never finished"
sum=0
for i in 0 1 2; do
    n=${SH_N[i]}
    wait_applied "$T/r$i" "$n" && ok "1 shard $i applied its $n trades" ||
        bad "1 shard $i applied $(last_stat "$T/r$i" applied), want $n"
done
for i in 0 1 2; do
    stop_pid "${PIDS[i]}" TERM && ok "1 shard $i SIGTERM: exit 0" || bad "1 shard $i SIGTERM: exit status non-zero"
done
stop_fx
for i in 0 1 2; do
    L=$T/r$i/k.log
    k=$(sed -n "s/.*event=shard shard=$i\/3 symbols=\([0-9]*\) other_shards=\([0-9]*\).*/\1 \2/p" "$L" | head -1)
    want=$(echo "${SH_SYMS[i]}" | tr , '\n' | grep -c .)
    is "1 shard $i logs event=shard shard=$i/3 symbols=$want other_shards=$((12 - want))" \
        "$want $((12 - want))" "$k"
    sum=$((sum + ${k% *}))
    export_is "1 shard $i" "$T/s$i.db" "$T/want$i" "$T/got$i"
    is "1 shard $i's store holds exactly its shard's symbols" "${SH_SYMS[i]}" "$(syms_of "$T/got$i")"
    log_has "1 shard $i stopped with no gap" "$L" "event=stopped .*gaps=0 gap_ids=0"
    log_lacks "1 shard $i logged no error" "$L" "level=error"
done
is "1 the shards' symbol counts sum to 12" 12 "$sum"
is "1 every symbol is in exactly one store" "$(echo $SYMS | tr ' ' '\n' | sort | paste -sd,)" \
    "$(for i in 0 1 2; do syms_of "$T/got$i" | tr , '\n'; done | sort | uniq -c | awk '$1 == 1 { print $2 }' | paste -sd,)"
mkdir -p "$T/union"
for i in 0 1 2; do cp "$T/got$i"/*.csv "$T/union/" 2>/dev/null; done
if diff -r "$T/want" "$T/union" >"$T/union.diff" 2>&1; then
    ok "1 the union of the three stores equals klined replay of all 12 dumps ($(ls "$T/union" | wc -l) files)"
else
    bad "1 the union differs from klined replay: $(head -4 "$T/union.diff")"
fi

# ---- 2. admin: another shard's symbol is refused ---------------------------------------------
echo "# 2. POST /admin/symbols of another shard's symbol"
TOKEN=shard-admin-token-0123456789
start_fx || bad "2 fake_exchange did not start"
started=
for _ in 1 2 3 4 5; do
    AP=$(free_port)
    D=$T/ra && rm -rf "$D" "$T/wa" "$T/sa.db"
    start_k "$D" 0 "$T/sa.db" "$T/wa" --listen "127.0.0.1:$AP" --admin-token "$TOKEN"
    for _ in $(seq 300); do
        grep -q 'event=started' "$D/k.log" && started=1 && break
        kill -0 "$KPID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$started" ] && break
    stop_pid "$KPID" KILL
done
[ -n "$started" ] && ok "2 klined --shard 0/3 --admin-token listens on $AP" || bad "2 klined did not start"
U=http://127.0.0.1:$AP
AUTH="Authorization: Bearer $TOKEN"
other=$(echo "${SH_SYMS[1]}" | cut -d, -f1)
st=$(curl -s -o "$T/b" -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' \
    --data "{\"symbol\":\"$other\"}" "$U/admin/symbols")
is "2 adding $other (shard 1) to shard 0: HTTP 400" 400 "$st"
msg=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["msg"])' "$T/b" 2>/dev/null)
if [[ $msg == *"another shard"* ]]; then ok "2 the refusal says why: $msg"; else bad "2 msg '$(cat "$T/b")' does not mention another shard"; fi
other=$(echo "${SH_SYMS[2]}" | cut -d, -f1)
st=$(curl -s -o "$T/b" -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' \
    --data "{\"symbol\":\"$other\"}" "$U/admin/symbols")
is "2 adding $other (shard 2) to shard 0: HTTP 400" 400 "$st"
mine=OPUSDT # not on the tape; FNV-1a mod 3 = 0
is "2 OPUSDT is in shard 0 of 3" 0 "$(shard_of $mine 3)"
st=$(curl -s -o "$T/b" -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' \
    --data "{\"symbol\":\"$mine\"}" "$U/admin/symbols")
is "2 adding $mine (shard 0) to shard 0: HTTP 200 {\"added\":\"$mine\"}" "200 {\"added\":\"$mine\"}" "$st $(cat "$T/b")"
is "2 /admin/symbols lists shard 0's symbols and $mine, nothing else" \
    "$(echo "${SH_SYMS[0]},$mine" | tr , '\n' | sort | paste -sd,)" \
    "$(curl -s -H "$AUTH" "$U/admin/symbols" | python3 -c 'import json,sys; print(",".join(sorted(s["symbol"] for s in json.load(sys.stdin)["symbols"])))' 2>/dev/null)"
stop_pid "$KPID" TERM && ok "2 SIGTERM: exit 0" || bad "2 SIGTERM: exit status non-zero"
stop_fx

# ---- 3. one shared store, shards one after the other -----------------------------------------
echo "# 3. shard 0 then shard 1 on one sqlite store, each with its own wal-dir"
mkdir -p "$T/want01"
cp "$T/want0"/*.csv "$T/want1"/*.csv "$T/want01/"
for i in 0 1; do
    start_fx || bad "3 fake_exchange did not start"
    D=$T/sh$i
    start_k "$D" "$i" "$T/shared.db" "$T/sw$i" --listen 127.0.0.1:0 --persist-ms 200
    wait_connected 1 || bad "3 shard $i: no WS client in time"
    wait_done || bad "3 shard $i: the fake never finished"
    wait_applied "$D" "${SH_N[i]}" && ok "3 shard $i applied its ${SH_N[i]} trades" ||
        bad "3 shard $i applied $(last_stat "$D" applied), want ${SH_N[i]}"
    stop_pid "$KPID" TERM && ok "3 shard $i SIGTERM: exit 0" || bad "3 shard $i SIGTERM: exit status non-zero"
    stop_fx
    log_lacks "3 shard $i logged no error" "$D/k.log" "level=error"
done
log_has "3 shard 1 resumed none of shard 0's symbols from the shared store" "$T/sh1/k.log" \
    "event=created .*resumed=0"
export_is "3 shared store" "$T/shared.db" "$T/want01" "$T/got01"
is "3 the shared store holds shard 0's and shard 1's symbols" \
    "$(echo "${SH_SYMS[0]},${SH_SYMS[1]}" | tr , '\n' | sort | paste -sd,)" "$(syms_of "$T/got01")"

# ---- 4. a crash in a shared store ------------------------------------------------------------
# Shard 1 fills a shared store first (its WAL checkpoint positions go into it). Shard 0 then
# starts on it with a fresh wal-dir, is killed before its first checkpoint (persist-ms 60000), and
# restarts while the tape goes on: recovery must replay shard 0's own WAL from shard 0's own
# checkpoint, else the trades applied before the kill are lost (nothing resumes them: no state
# was ever stored, so the restart begins at the next live trade).
echo "# 4. shard 0 killed before its first checkpoint in a store shard 1 already wrote"
start_fx || bad "4 fake_exchange did not start"
D=$T/c1
start_k "$D" 1 "$T/crash.db" "$T/cw1" --listen 127.0.0.1:0 --persist-ms 200
wait_connected 1 || bad "4 shard 1: no WS client in time"
wait_done || bad "4 shard 1: the fake never finished"
wait_applied "$D" "${SH_N[1]}" || bad "4 shard 1 applied $(last_stat "$D" applied), want ${SH_N[1]}"
stop_pid "$KPID" TERM || bad "4 shard 1 SIGTERM: exit status non-zero"
stop_fx
start_fx || bad "4 fake_exchange did not start"
D=$T/c0
start_k "$D" 0 "$T/crash.db" "$T/cw0" --listen 127.0.0.1:0 --persist-ms 60000
wait_connected 1 || bad "4 shard 0: no WS client in time"
half=$((SH_N[0] / 3))
for _ in $(seq 300); do
    [ "$(last_stat "$D" applied)" -ge "$half" ] 2>/dev/null && break
    sleep 0.1
done
a=$(last_stat "$D" applied)
stop_pid "$KPID" KILL
[ "${a:-0}" -ge "$half" ] && [ "$(http GET /status | field done)" = false ] &&
    ok "4 shard 0 killed mid-stream after $a trades applied" || bad "4 the kill did not land mid-stream (applied ${a:-none})"
start_k "$D" 0 "$T/crash.db" "$T/cw0" --listen 127.0.0.1:0 --persist-ms 200
wait_done || bad "4 shard 0: the fake never finished"
wait_quiet "$D" || bad "4 the restarted shard 0 never settled"
stop_pid "$KPID" TERM || bad "4 shard 0 SIGTERM: exit status non-zero"
stop_fx
sed -n 's/.*\(event=log_replayed .*\)/    \1/p' "$D/k.log"
log_has "4 the restart resumed shard 0's 3 symbols from its own WAL" "$D/k.log" \
    "event=created symbols=[0-9]+ connections=1 resumed=3"
export_is "4 shared store after the crash" "$T/crash.db" "$T/want01" "$T/gotc"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
