#!/usr/bin/env bash
# The chaos soak (issue 12): klined serves a live Binance-like feed (tests/tools/fake_exchange,
# frames 30-270 ms after their trade time) into PostgreSQL for SOAK_S seconds (default 1800)
# while a loop attacks it, one attack per round:
#   kill -9            the process dies mid-write; the supervisor below restarts it
#   disk full          (root only) its WAL lives on a small tmpfs that is filled: it must exit
#                      non-zero by itself (fail-stop); the space is freed and it is restarted
#   frozen database    every PostgreSQL process SIGSTOPped for 20 s: /api/v3/ping must answer
#                      meanwhile; then SIGCONT
#   connection flood   1,100 idle sockets on the API for 15 s: /api/v3/ping must answer
#   hostile clients    random bytes, random symbols, huge numbers in queries, WS clients that
#                      subscribe and never read
# and a sampler writes klined's RSS every 5 s (OUT/rss.csv). At the end the fake's whole tape
# is read back through its REST aggTrades and the store must equal `klined replay` of it.
# klined restarted after each death resumes by its WAL and the source's REST backfill, so
# nothing may be missing.
#
# Usage: bench/soak.sh BUILD_DIR [OUT_DIR]; env SOAK_S (seconds, default 1800), SOAK_RATE
# (trades/s of the whole tape, default 1000), SOAK_SYMBOLS (default 20). Needs PostgreSQL 15
# (scripts/install-deps.sh test), curl; prints `N passed, N failed` last. Not part of `make
# test`: it runs for half an hour. docs/BENCHMARKS.md records a run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:?usage: soak.sh BUILD_DIR [OUT_DIR]}" && pwd)
K=$B/klined
FX=$B/tools/fake_exchange
OUT=${2:-$(mktemp -d /tmp/klined-soak.XXXXXX)}
mkdir -p "$OUT"
SOAK_S=${SOAK_S:-1800}
RATE=${SOAK_RATE:-1000}
NSYM=${SOAK_SYMBOLS:-20}
T=$OUT
# shellcheck source=../tests/integ/lib/fx.sh
. "$ROOT/tests/integ/lib/fx.sh"

export KL_PG_DIR=${KL_PG_DIR:-/tmp/klined-pg-soak} KL_PG_PORT=${KL_PG_PORT:-57432}
FXPID= KPID= SAMPLER= P= TMPFS=
cleanup() {
    [ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
    [ -n "$FXPID" ] && kill -9 "$FXPID" 2>/dev/null
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
    pg_signal CONT
    [ -n "$TMPFS" ] && umount "$TMPFS" 2>/dev/null
    "$ROOT/scripts/pg.sh" stop >/dev/null 2>&1
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
log() { echo "[$(date -u +%H:%M:%S)] $*"; }

for x in "$K" "$FX"; do [ -x "$x" ] || { bad "$x not built"; finish; }; done
"$ROOT/scripts/pg.sh" start >/dev/null || { bad "PostgreSQL did not start"; finish; }
STORE=$("$ROOT/scripts/pg.sh" url)
psql "$STORE" -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public' >/dev/null 2>&1

# The tape: NSYM symbols sharing RATE trades/s for SOAK_S seconds (+10%, so the tape outlives
# the attacks).
per=$((RATE * SOAK_S * 11 / 10 / NSYM))
SYMS=()
for i in $(seq "$NSYM"); do
    s=$(printf 'S%03dUSDT' "$i")
    SYMS+=("$s")
    fx_gen "$s" "$i" "$per"
done
TOTAL=$((per * NSYM))
log "tape: $TOTAL trades of $NSYM symbols at $RATE/s"
fx_start "$(ls "$T"/in/*.csv | paste -sd,)" "$RATE" 3000 --live-time --latency-ms 30-270 --seed 3 ||
    { bad "fake_exchange did not start"; finish; }

# The WAL on a 64 MB tmpfs when root, so that the disk can be filled.
D=$T/k && mkdir -p "$D/wal"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64m tmpfs "$D/wal" 2>/dev/null; then
    TMPFS=$D/wal
else
    log "not root (or no tmpfs): the disk-full attack is skipped"
fi

incarnation=0
start_k() {
    incarnation=$((incarnation + 1))
    "$K" serve --listen 127.0.0.1:0 --source binance --binance-ws "ws://127.0.0.1:$P" \
        --binance-rest "http://127.0.0.1:$P" --symbols "$(IFS=,; echo "${SYMS[*]}")" \
        --store "$STORE" --wal-dir "$D/wal" --stats-s 5 --persist-ms 500 >>"$D/k.log" 2>&1 &
    KPID=$!
    echo "$KPID" >"$D/pid"
    API=
    for _ in $(seq 300); do
        if [ "$(grep -c 'comp=api event=listening' "$D/k.log")" -ge "$incarnation" ]; then
            API=$(grep 'comp=api event=listening' "$D/k.log" | tail -1 |
                sed -n 's/.*address=127.0.0.1:\([0-9]*\).*/\1/p')
            return 0
        fi
        kill -0 "$KPID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}
ping_ok() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$API/api/v3/ping" | grep -q 200; }

# RSS of the current klined every 5 s: seconds since start, pid, RSS in KB.
t0=$(date +%s)
(
    while :; do
        pid=$(cat "$D/pid" 2>/dev/null)
        rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        [ -n "$rss" ] && echo "$(($(date +%s) - t0)),$pid,$rss" >>"$OUT/rss.csv"
        sleep 5
    done
) &
SAMPLER=$!

start_k || { bad "klined did not start: $(tail -3 "$D/k.log")"; finish; }
log "klined up (api :$API)"

attack_kill() {
    kill -9 "$KPID"; wait "$KPID" 2>/dev/null
    start_k && ok "kill -9: restarted" || bad "kill -9: no restart: $(tail -3 "$D/k.log")"
}

attack_disk() {
    [ -n "$TMPFS" ] || return 0
    fallocate -l 200m "$TMPFS/fill" 2>/dev/null || dd if=/dev/zero of="$TMPFS/fill" bs=1M 2>/dev/null
    local rc=
    for _ in $(seq 300); do
        kill -0 "$KPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$KPID" 2>/dev/null; then
        bad "disk full: klined still running 30 s later"
        kill -9 "$KPID"
    fi
    wait "$KPID"; rc=$?
    [ "$rc" -ne 0 ] && ok "disk full: klined stopped itself with status $rc" ||
        bad "disk full: exit status 0"
    rm -f "$TMPFS/fill"
    start_k && ok "disk full: restarted once space came back" || bad "disk full: no restart: $(tail -3 "$D/k.log")"
}

# pg_signal SIG: the postmaster and every backend of the throwaway server.
pg_signal() {
    local pm
    pm=$(head -1 "$KL_PG_DIR/data/postmaster.pid" 2>/dev/null) || return 0
    kill "-$1" "$pm" $(pgrep -P "$pm") 2>/dev/null
}

attack_freeze() {
    pg_signal STOP
    local good=0
    for _ in 1 2 3 4; do
        sleep 5
        ping_ok && good=$((good + 1))
    done
    pg_signal CONT
    [ "$good" = 4 ] && ok "frozen database: /api/v3/ping answered 4 of 4" ||
        bad "frozen database: /api/v3/ping answered $good of 4"
}

attack_flood() {
    (
        ulimit -n 4096 2>/dev/null
        for _ in $(seq 1100); do exec {fd}<>"/dev/tcp/127.0.0.1/$API" || break; done
        sleep 15
    ) 2>/dev/null &
    local fl=$!
    sleep 5
    local good=0
    for _ in 1 2 3; do ping_ok && good=$((good + 1)); sleep 2; done
    wait "$fl"
    [ "$good" = 3 ] && ok "connection flood: /api/v3/ping answered 3 of 3" ||
        bad "connection flood: /api/v3/ping answered $good of 3"
}

attack_hostile() {
    local i u
    for i in $(seq 40); do
        head -c $((RANDOM % 2000)) /dev/urandom | timeout 2 bash -c "cat >/dev/tcp/127.0.0.1/$API" 2>/dev/null
        u=$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Z0-9' | head -c 10)
        curl -s -m 2 -o /dev/null "http://127.0.0.1:$API/api/v3/klines?symbol=$u&interval=1m"
    done
    for u in "startTime=-9223372036854775808&endTime=9223372036854775807" \
        "startTime=99999999999999999999" "limit=99999999999" "timeZone=%2B14:00&startTime=0&endTime=9223372036854775807"; do
        curl -s -m 5 -o /dev/null "http://127.0.0.1:$API/api/v3/klines?symbol=${SYMS[0]}&interval=1m&$u"
    done
    # WS clients that subscribe to every symbol's 1s and 1m klines and never read.
    local streams
    streams=$(for s in "${SYMS[@]}"; do printf '%s@kline_1s/%s@kline_1m/' "${s,,}" "${s,,}"; done)
    for i in $(seq 10); do
        (
            exec 3<>"/dev/tcp/127.0.0.1/$API" || exit 0
            printf 'GET /stream?streams=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' "${streams%/}" >&3
            sleep 60
        ) &
    done
    ping_ok && ok "hostile clients: /api/v3/ping answers" || bad "hostile clients: /api/v3/ping does not answer"
    kill -0 "$KPID" 2>/dev/null && ok "hostile clients: klined is alive" || bad "hostile clients: klined died"
}

attacks=(attack_kill attack_freeze attack_flood attack_hostile attack_disk)
round=0
while [ $(($(date +%s) - t0)) -lt "$SOAK_S" ]; do
    sleep 40
    a=${attacks[$((round % ${#attacks[@]}))]}
    round=$((round + 1))
    log "round $round: $a (klined pid $KPID, RSS $(awk '/VmRSS/ { print $2 }' "/proc/$KPID/status" 2>/dev/null) KB)"
    "$a"
    if ! kill -0 "$KPID" 2>/dev/null; then
        wait "$KPID"
        bad "klined died outside an attack (status $?): $(tail -3 "$D/k.log")"
        start_k || { bad "no restart"; finish; }
    fi
done

log "attacks over; waiting for the tape to end"
wait_done 36000 || bad "the fake never finished"
# Everything the fake emitted, then klined's store once it has taken all of it.
fx_fetch_back "$T/back" "${SYMS[@]}"
got=$(cat "$T"/back/*.csv | wc -l)
log "the fake emitted $got trades"
# Taken all: two stats lines in a row with the same worker_trades, nothing queued or pending.
prev=
for _ in $(seq 240); do
    cur=$(grep 'event=stats ' "$D/k.log" | tail -1 | grep -o 'worker_trades=[0-9]*.*queue_depth=0 .*pending_rows=0 ' |
        grep -o 'worker_trades=[0-9]*')
    [ -n "$cur" ] && [ "$cur" = "$prev" ] && break
    [ -n "$cur" ] && prev=$cur
    sleep 5
done
kill -TERM "$KPID"; wait "$KPID" && ok "SIGTERM: exit 0" || bad "SIGTERM: exit status non-zero"
KPID=
kill "$SAMPLER" 2>/dev/null; SAMPLER=
n=$(grep -c 'too_late=[1-9]' "$D/k.log")
[ "$n" = 0 ] && ok "no stats line shows a trade too late" || bad "$n stats lines show trades too late"
fx_same_as_replay "$K" "$STORE" "$T" $((NSYM * 16)) "$T"/back/*.csv

awk -F, 'NR == 1 || $3 > max { max = $3 } { last = $3; n++ }
         END { printf "RSS over %d samples: last %d KB, max %d KB\n", n, last, max }' "$OUT/rss.csv"
log "klined ran as $incarnation processes; logs and rss.csv in $OUT"
finish
