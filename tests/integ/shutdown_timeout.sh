#!/usr/bin/env bash
# A graceful stop is bounded (issue 12, M6). `klined serve` on a PostgreSQL store of its own
# (scripts/pg.sh in a private directory) takes trades from lines:stdin; half of them are
# committed, then the database server is frozen (SIGSTOP of its postmaster and backends) and
# the other half is sent, so the final commit of a SIGTERM stop can never finish. Checks: the
# process ends within shutdown-timeout-ms (+ slack for a slow box) with status 3 and a
# shutdown_timeout log line; once the server is thawed, a restart on the same WAL and store
# recovers everything: the store, exported, equals klined replay of every trade sent.
# Usage: shutdown_timeout.sh KLINED [SHARED_DATA]; skips (77) without PostgreSQL 15's binaries.
set -uo pipefail
K=$1
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGBIN=${KL_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || { echo "skipped: no PostgreSQL binaries in $PGBIN"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-stopto.XXXXXX")
chmod 755 "$T" # the server may run as the postgres user
export KL_PG_DIR=$T/pg KL_PG_PORT=$((56000 + RANDOM % 4000))
PIDS=()
FROZEN=()
cleanup() {
    for p in "${FROZEN[@]}"; do kill -CONT "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    "$ROOT/scripts/pg.sh" stop >/dev/null 2>&1
    [ -n "${KL_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
# shellcheck source=lib/fx.sh
. "$ROOT/tests/integ/lib/fx.sh"
wait_for() { # wait_for SECONDS CMD...: polls CMD every 0.2 s
    local n=$(($1 * 5)) i
    shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}

"$ROOT/scripts/pg.sh" start >"$T/pg.log" 2>&1 || { bad "pg.sh start: $(tail -3 "$T/pg.log")"; finish; }
PGU=$("$ROOT/scripts/pg.sh" url)

SYMS=(AAAUSDT BBBUSDT CCCBTC)
PER=6000
mkdir -p "$T/in"
seed=11
for s in "${SYMS[@]}"; do
    fx_gen "$s" $seed $PER
    awk -F, -v s="$s" '{ printf "{\"e\":\"aggTrade\",\"E\":%s,\"s\":\"%s\",\"a\":%s,\"p\":\"%s\",\"q\":\"%s\",\"f\":%s,\"l\":%s,\"T\":%s,\"m\":%s,\"M\":true}\n",
                         $6, s, $1, $2, $3, $4, $5, $6, ($7 == "True" ? "true" : "false") }' \
        "$T/in/$s-aggTrades-2024-01-01.csv" >"$T/$s.json"
    seed=$((seed + 1))
done
TOTAL=$((PER * ${#SYMS[@]}))
HALF=$((PER / 2))
# First half: the first half of every symbol; second half: the rest.
for s in "${SYMS[@]}"; do head -n $HALF "$T/$s.json"; done >"$T/part1.json"
for s in "${SYMS[@]}"; do tail -n +$((HALF + 1)) "$T/$s.json"; done >"$T/part2.json"

serve() { # serve STDIN [ARGS...]: klined serve in the background, pid in KPID, log appended
    local in=$1
    shift
    "$K" serve --listen 127.0.0.1:0 --source lines:stdin --clock event --store "$PGU" \
        --wal-dir "$T/wal" --persist-ms 200 --stats-s 1 "$@" <"$in" >>"$T/k.log" 2>&1 &
    KPID=$!
    PIDS+=($KPID)
}
stat_is() { [ "$(last_stat "$T" "$1")" = "$2" ]; }

mkfifo "$T/feed"
LIMIT_MS=3000
serve "$T/feed" --shutdown-timeout-ms $LIMIT_MS
exec 8>"$T/feed"
wait_for 30 grep -q 'event=started' "$T/k.log" || { bad "serve did not start: $(tail -3 "$T/k.log")"; finish; }
cat "$T/part1.json" >&8
if wait_for 60 stat_is source_trades $((HALF * ${#SYMS[@]})) && wait_for 60 stat_is dirty 0 &&
    wait_for 30 stat_is pending_rows 0; then
    ok "the first half is committed to PostgreSQL"
else
    bad "the first half was not committed: $(grep event=stats "$T/k.log" | tail -1)"
fi

# Freeze the server: the postmaster and every backend (klined's among them).
PM=$(head -1 "$T/pg/data/postmaster.pid")
FROZEN=("$PM" $(pgrep -P "$PM"))
kill -STOP "${FROZEN[@]}"
ok "PostgreSQL frozen (${#FROZEN[@]} processes stopped)"
cat "$T/part2.json" >&8
wait_for 60 stat_is source_trades $TOTAL && ok "the second half was taken (in the WAL, not in the store)" ||
    bad "the second half was not taken: $(grep event=stats "$T/k.log" | tail -1)"
# A commit is now waiting on the frozen server; SIGTERM must still end the process.
t0=$(date +%s%N)
kill -TERM "$KPID"
SLACK_S=20
if wait_for $((LIMIT_MS / 1000 + SLACK_S)) eval '! kill -0 $KPID 2>/dev/null'; then
    wait "$KPID"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    ok "SIGTERM with a frozen store ended the process (after $ms ms; limit $LIMIT_MS)"
    [ $rc = 3 ] && ok "exit status 3: stopped by shutdown-timeout-ms" || bad "exit status $rc, want 3"
else
    bad "still running $((LIMIT_MS / 1000 + SLACK_S)) s after SIGTERM with shutdown-timeout-ms=$LIMIT_MS"
    kill -9 "$KPID"
    wait "$KPID" 2>/dev/null
fi
exec 8>&-
log_has "the timeout is logged with what was left" "$T/k.log" \
    'level=error comp=serve event=shutdown_timeout timeout_ms=3000 .*pending_rows='

kill -CONT "${FROZEN[@]}"
FROZEN=()
# The restart recovers the WAL and commits it; its input is empty, so it stops at once.
serve /dev/null --exit-on-eof
if wait_for 120 eval '! kill -0 $KPID 2>/dev/null'; then
    wait "$KPID"
    rc=$?
    [ $rc = 0 ] && ok "the restart recovered and stopped with status 0" || bad "restart exit status $rc: $(tail -3 "$T/k.log")"
else
    bad "the restart did not stop: $(tail -3 "$T/k.log")"
fi
grep 'comp=recover event=done' "$T/k.log" | tail -1 | grep -q 'trades=[1-9]' &&
    ok "recovery replayed the WAL: $(grep 'comp=recover event=done' "$T/k.log" | tail -1 | grep -o 'records=.*')" ||
    bad "recovery replayed no trade: $(grep 'comp=recover event=done' "$T/k.log" | tail -1)"
mkdir -p "$T/cmp"
fx_same_as_replay "$K" "$PGU" "$T/cmp" 48 "$T"/in/*.csv
finish
