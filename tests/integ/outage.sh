#!/usr/bin/env bash
# A store outage in the middle of a `klined serve` run loses nothing and does not grow memory:
# while the store refuses commits (SQLite: another process holds its write lock; PostgreSQL: the
# server is stopped and started again on the same port), the persister logs its failures, each
# worker stops taking trades at --max-pending-rows (backpressure_on) and the sources wait, the
# process RSS and the retried batches stay bounded, and once the store is back the run ends by
# itself with a store that exports exactly what `klined replay` writes. A SIGTERM during an
# outage must end the service once the store is back. No assertion depends on how fast anything
# runs; a service still alive 120 s after it logged that it is stopping counts as hung.
# The PostgreSQL round runs on a private server (scripts/pg.sh with its own directory), never
# on the shared one of KL_PG_URL, which other tests use at the same time; it runs when
# KL_PG_URL is set (PostgreSQL is installed), is skipped with KL_PG_SKIP=1, and fails otherwise.
# Usage: outage.sh KLINED [SHARED_DATA]; needs bash, awk, coreutils and the sqlite3 CLI.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PGSH=$(cd "$(dirname "$0")/../.." && pwd)/scripts/pg.sh
T=$(mktemp -d /tmp/klined-outage.XXXXXX)
PGDIR= # a private PostgreSQL server's directory, once started
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    exec 3>&- 2>/dev/null
    [ -n "$PGDIR" ] && KL_PG_DIR=$PGDIR "$PGSH" stop >/dev/null 2>&1
    # KL_KEEP_DIR=DIR keeps the logs and samples of the run for a look after a failure.
    [ -n "${KL_KEEP_DIR:-}" ] && rm -rf "$KL_KEEP_DIR" && cp -r "$T" "$KL_KEEP_DIR"
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# RSS growth allowed during an outage, over the RSS when it began. With the bound of 5000 rows
# per worker the backlog is about 1 MB; without one, the 100k+ replay-seconds that the sources
# push during the outage would be held as klines (a 1s kline per symbol per second and more),
# over 100 MB. Generous, since under ASan freed memory stays in its quarantine.
RSS_SLACK_KB=$((48 * 1024))
# Under ASan, freed memory sits in its quarantine (256 MB by default) before it is reused, which
# an RSS bound would count as growth: keep it small, so RSS follows live memory. Ignored by a
# build without ASan.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=64"
# Above what 100 ms of this replay makes (about 6000 rows), so that backpressure means an outage.
MAX_PENDING=20000
# The rows of a batch that failed: the worker's bound, plus what one pass may add past it (a
# trade after a long gap brings a hole kline per second of it); not one more bound per retry.
MAX_BATCH_ROWS=$((MAX_PENDING + 10000))

# Three symbols x eight days of aggTrades (the crash.sh generator, trades until the end of each
# day, so that no gap is longer than 90 s: one trade never brings more than 90 hole klines, and
# the worker's bound is never overshot by much): about 35 s of replay at --pace 20000.
# shellcheck source=lib/aggtrades.sh
. "$(dirname "$0")/lib/aggtrades.sh"
gen() { gen_aggtrades "$T/in" "$1" "$2" "$3" 100000; } # SYMBOL DAY SEED
mkdir -p "$T/in"
seed=1
for s in AAAUSDT BBBUSDT CCCBTC; do
    for d in 1 2 3 4 5 6 7 8; do gen $s $d $seed; seed=$((seed + 1)); done
done
files=$(ls "$T"/in/*.csv | paste -sd,)
"$K" replay --quiet --out "$T/want" "$T"/in/*.csv 2>/dev/null || bad "replay failed"

# start_serve NAME STORE: one serve run in the background, pid in $pid, log in $T/NAME.log, and
# a sampler writing "PHASE VmRSS_kB" every 0.2 s to $T/NAME.rss (PHASE from $T/phase).
start_serve() {
    rm -rf "$T/wal"
    echo pre >"$T/phase"
    "$K" serve --listen 127.0.0.1:0 --source "replay:$files" --store "$2" --wal-dir "$T/wal" --workers 2 \
        --exit-on-eof --pace 20000 --persist-ms 100 --max-pending-rows $MAX_PENDING --stats-s 1 \
        --log-level info >"$T/$1.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    (
        while [ -e "/proc/$pid/status" ]; do
            rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
            [ -n "$rss" ] && echo "$(cat "$T/phase") $rss"
            sleep 0.2
        done
    ) >"$T/$1.rss" &
    sampler=$!
    pids+=("$sampler")
}

# wait_for FILE PATTERN: until grep finds PATTERN in FILE or the service has exited.
wait_for() {
    while ! grep -q "$2" "$1" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
    done
}

# wait_end LOG: waits for the service; its exit status, or 124 (after a SIGKILL) when it is
# still alive 120 s after logging event=stopping: a hang, not a slow machine.
wait_end() {
    local n=0
    while kill -0 "$pid" 2>/dev/null; do
        if grep -q "event=stopping" "$1"; then
            n=$((n + 1))
            if [ $n -gt 600 ]; then
                kill -9 "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                return 124
            fi
        fi
        sleep 0.2
    done
    wait "$pid"
}

# The lock holder: a sqlite3 shell fed through a FIFO (fd 3), so that its write transaction
# stays open for as long as we keep the FIFO's write end.
lock_db() { # DB
    rm -f "$T/fifo" "$T/locker.out"
    mkfifo "$T/fifo"
    sqlite3 "$1" <"$T/fifo" >"$T/locker.out" 2>&1 &
    locker=$!
    pids+=("$locker")
    exec 3>"$T/fifo"
    echo ".timeout 60000" >&3
    echo "BEGIN EXCLUSIVE; SELECT 'locked';" >&3
    while ! grep -q locked "$T/locker.out"; do
        kill -0 "$locker" 2>/dev/null || break
        sleep 0.1
    done
    grep -q locked "$T/locker.out"
}
unlock_db() {
    echo "COMMIT;" >&3
    exec 3>&-
    wait "$locker"
}

# check NAME STORE: the assertions after a run with an outage.
check() {
    local name=$1 log=$T/$1.log rss=$T/$1.rss rc
    wait_end "$log"
    rc=$?
    if [ $rc = 0 ]; then ok "$name: the run finished by itself after the outage"
    elif [ $rc = 124 ]; then bad "$name: hung at shutdown (alive 120 s after event=stopping): $(grep "event=backpressure" "$log" | tail -1)"
    else bad "$name: the run failed: $(grep -v event=stats "$log" | tail -3)"
    fi
    wait "$sampler" 2>/dev/null
    local nfail
    nfail=$(grep -c "event=commit_failed" "$log")
    [ "$nfail" -gt 0 ] && ok "$name: $nfail commit_failed lines" ||
        bad "$name: no commit_failed logged: $(grep -v event=stats "$log" | tail -3)"
    local cf
    cf=$(grep "event=stats " "$log" | grep -o "commit_failures=[0-9]*" | tail -1)
    [ -n "$cf" ] && [ "${cf#commit_failures=}" -gt 0 ] && ok "$name: stats show $cf" ||
        bad "$name: the stats lines show no commit failure ('$cf')"
    grep -q "event=backpressure_on" "$log" && ok "$name: backpressure_on logged" ||
        bad "$name: no backpressure_on: $(grep -c event=stats "$log") stats lines"
    # Every worker that went into backpressure came out of it, after it went in.
    local w on off bad_order=0
    for w in $(grep "event=backpressure_on" "$log" | grep -o "worker=[0-9]*" | sort -u); do
        on=$(grep -n "event=backpressure_on .*$w " "$log" | tail -1 | cut -d: -f1)
        off=$(grep -n "event=backpressure_off .*$w " "$log" | tail -1 | cut -d: -f1)
        [ -n "$off" ] && [ "$off" -gt "$on" ] || bad_order=1
    done
    [ $bad_order = 0 ] && ok "$name: backpressure_off after each backpressure_on" ||
        bad "$name: a worker never logged backpressure_off after its backpressure_on"
    # The rows held for the store stay bounded across retries: a failed batch, merged back, must
    # not let the worker take another max-pending-rows of trades at each retry.
    local maxrows
    maxrows=$(grep "event=commit_failed" "$log" | grep -o " rows=[0-9]*" | cut -d= -f2 |
        sort -n | tail -1)
    [ -n "$maxrows" ] && [ "$maxrows" -le $MAX_BATCH_ROWS ] &&
        ok "$name: failed batches hold at most $maxrows rows" ||
        bad "$name: a failed batch held ${maxrows:-?} rows (> $MAX_BATCH_ROWS): $(grep "event=commit_failed" "$log" | grep -o "worker=[0-9]* rows=[0-9]*" | paste -sd' ')"
    local base peak n
    base=$(awk '$1 == "outage" {print $2; exit}' "$rss")
    peak=$(awk '$1 == "outage" && $2 > m {m = $2} END {print m + 0}' "$rss")
    n=$(awk '$1 == "outage"' "$rss" | wc -l)
    if [ "$n" -gt 1 ] && [ "$peak" -le $((base + RSS_SLACK_KB)) ]; then
        ok "$name: RSS bounded during the outage ($n samples, ${base} kB at its start, peak ${peak} kB)"
    else
        bad "$name: RSS during the outage: $n samples, ${base:-?} kB at its start, peak ${peak} kB (slack ${RSS_SLACK_KB} kB)"
    fi
    rm -rf "$T/got"
    if "$K" export --store "$2" --out "$T/got" 2>"$T/export.log" &&
        diff -r "$T/want" "$T/got" >"$T/diff.txt"; then
        ok "$name: after the outage the store equals klined replay ($(ls "$T/got" | wc -l) files)"
    else
        bad "$name: store differs from replay: $(head -3 "$T/export.log" "$T/diff.txt")"
    fi
}

# ---- SQLite: another process holds the write lock for 25 s -----------------------------------
# 25 s: each commit waits out the store's 5 s busy timeout, so this lets three batches fail
# (at about 5, 12 and 21 s), enough to see whether the retried batch grows at each retry.
if ! command -v sqlite3 >/dev/null; then
    bad "sqlite3 CLI not found (scripts/install-deps.sh test)"
else
    mkdir -p "$T/db"
    db=$T/db/k.db
    start_serve sqlite "sqlite:$db"
    # Mid-run: after the first stats line that counts a commit.
    wait_for "$T/sqlite.log" "event=stats .*commits=[1-9]"
    lock_db "$db" && ok "sqlite: write lock taken mid-run" ||
        bad "sqlite: could not take the write lock: $(head -2 "$T/locker.out")"
    echo outage >"$T/phase"
    sleep 25
    echo post >"$T/phase"
    unlock_db
    check sqlite "sqlite:$db"

    # SIGTERM during the outage: the workers are in backpressure with trades in their rings;
    # once the store is back, every accepted trade is committed and the service exits 0.
    rm -rf "$T/db"
    mkdir -p "$T/db"
    start_serve sigterm "sqlite:$db"
    wait_for "$T/sigterm.log" "event=stats .*commits=[1-9]"
    lock_db "$db" || bad "sigterm: could not take the write lock"
    if wait_for "$T/sigterm.log" "event=backpressure_on"; then
        kill -TERM "$pid"
        wait_for "$T/sigterm.log" "event=stopping"
        unlock_db
        wait_end "$T/sigterm.log"
        rc=$?
        if [ $rc = 0 ]; then ok "sigterm: SIGTERM in an outage: the service ended after the store came back"
        elif [ $rc = 124 ]; then bad "sigterm: SIGTERM in an outage: hung at shutdown after the store came back (alive 120 s after event=stopping; last: $(grep "event=backpressure" "$T/sigterm.log" | tail -1 | grep -o "event=.*pending_rows=[0-9]*"))"
        else bad "sigterm: SIGTERM in an outage: exit $rc: $(grep -v event=stats "$T/sigterm.log" | tail -2)"
        fi
    else
        unlock_db
        bad "sigterm: no backpressure before the end of the run"
    fi
fi

# ---- PostgreSQL: the server is stopped for 5 s and started again on the same port ---------
if [ -z "${KL_PG_URL:-}" ]; then
    if [ "${KL_PG_SKIP:-}" = 1 ]; then
        echo "skipped: no PostgreSQL"
    else
        bad "KL_PG_URL is not set: scripts/pg.sh start && export KL_PG_URL=\$(scripts/pg.sh url), or KL_PG_SKIP=1 to skip the PostgreSQL round"
    fi
else
    PGDIR=$(mktemp -d -u /tmp/klined-outage-pg.XXXXXX)
    pgbin=${KL_PG_BIN:-/usr/lib/postgresql/15/bin}
    # Ports from 57432 up: clear of the shared server's (55432 up).
    if ! KL_PG_DIR=$PGDIR KL_PG_PORT=${KL_OUTAGE_PG_PORT:-57432} "$PGSH" start >"$T/pg.log" 2>&1; then
        bad "postgres: private server did not start: $(tail -3 "$T/pg.log")"
    else
        url=$(KL_PG_DIR=$PGDIR "$PGSH" url)
        port=$(cat "$PGDIR/port")
        # pg.sh stop would delete the data: stop and start the same cluster with pg_ctl, as
        # its owner (the postgres user when we are root, as in pg.sh).
        pgctl() {
            if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$pgbin/pg_ctl" "$@"; else
                "$pgbin/pg_ctl" "$@"; fi
        }
        start_serve postgres "$url"
        wait_for "$T/postgres.log" "event=stats .*commits=[1-9]"
        echo outage >"$T/phase"
        pgctl -D "$PGDIR/data" -m fast -w stop >>"$T/pg.log" 2>&1 &&
            ok "postgres: server stopped mid-run" || bad "postgres: pg_ctl stop failed"
        sleep 5
        if pgctl -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 30 \
            -o "-p $port -k '$PGDIR' -c listen_addresses=127.0.0.1" start >>"$T/pg.log" 2>&1; then
            ok "postgres: server started again on port $port"
        else
            bad "postgres: restart on port $port failed: $(tail -3 "$PGDIR/server.log")"
        fi
        echo post >"$T/phase"
        check postgres "$url"
    fi
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
