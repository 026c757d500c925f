#!/usr/bin/env bash
# Crash recovery end to end: `klined serve` replaying dumps of several symbols on 2 workers is
# killed with SIGKILL at 20 random moments and restarted each time; the final store, exported,
# must equal `klined replay` of the same files byte for byte: no trade lost, none counted twice.
# Then the same with a WAL whose tail is torn by hand. Usage: crash.sh KLINED [SHARED_DATA]
set -uo pipefail
K=$1
T=$(mktemp -d /tmp/klined-crash.XXXXXX)
trap 'pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# Three symbols x two days of aggTrades, with gaps (holes) and bursts, deterministic.
# shellcheck source=lib/aggtrades.sh
. "$(dirname "$0")/lib/aggtrades.sh"
gen() { gen_aggtrades "$T/in" "$1" "$2" "$3" 6000; } # SYMBOL DAY SEED
mkdir -p "$T/in"
seed=1
for s in AAAUSDT BBBUSDT CCCBTC; do
    for d in 1 2; do gen $s $d $seed; seed=$((seed + 1)); done
done
files=$(ls "$T"/in/*.csv | paste -sd,)
"$K" replay --quiet --out "$T/want" "$T"/in/*.csv 2>/dev/null || bad "replay failed"

# serve_run EXTRA...: one serve run in the background; its pid in $pid (a child of this shell,
# so that `wait` works).
serve_run() {
    "$K" serve --listen 127.0.0.1:0 --source "replay:$files" --store "sqlite:$T/db/k.db" --wal-dir "$T/wal" \
        --workers 2 --exit-on-eof --stats-s 0 --persist-ms 100 --log-level warn "$@" \
        >>"$T/serve.log" 2>&1 &
    pid=$!
}

kills=0 finished=0
# The 2 days replay in about 17 s at this pace, so 20 kills (0.1-0.9 s apart) land mid-run.
for _ in $(seq 1 200); do
    serve_run --pace 10000
    if [ $kills -lt 20 ]; then
        sleep "0.$((RANDOM % 9 + 1))"
        if kill -9 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            kills=$((kills + 1))
            continue
        fi
    fi
    if wait "$pid"; then finished=1; fi
    break
done
[ $kills -ge 20 ] && ok "killed $kills times" || bad "only $kills kills before the run ended"
[ $finished = 1 ] && ok "the last run finished by itself" || bad "the last run failed: $(tail -3 "$T/serve.log")"
"$K" export --store "sqlite:$T/db/k.db" --out "$T/got" 2>/dev/null || bad "export failed"
if diff -r "$T/want" "$T/got" >"$T/diff.txt"; then
    ok "after $kills crashes the store equals klined replay ($(ls "$T/got" | wc -l) files)"
else
    bad "store differs from replay: $(head -5 "$T/diff.txt")"
fi
grep -q "level=error" "$T/serve.log" && bad "errors logged: $(grep level=error "$T/serve.log" | head -2)" ||
    ok "no error logged across the restarts"

# A torn WAL tail: run to the end without checkpoints (persist-ms 60000, killed before the final
# snapshot), append garbage to the log, restart: recovery cuts the tail and the result matches.
rm -rf "$T/db" "$T/wal" "$T/got"
serve_run --persist-ms 60000
for _ in $(seq 1 100); do
    sleep 0.1
    sz=$(cat "$T"/wal/w*/*.wal 2>/dev/null | wc -c)
    [ "$sz" -gt 1000000 ] && break
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
seg=$(ls "$T"/wal/w0/*.wal | tail -1)
head -c 37 /dev/urandom >>"$seg"
serve_run --log-level info
if wait "$pid"; then ok "restart after a torn WAL tail"; else bad "restart after a torn tail failed"; fi
grep -q "event=log_replayed.*damaged=1" "$T/serve.log" && ok "the torn tail was detected and cut" ||
    bad "no damage reported: $(grep log_replayed "$T/serve.log" | tail -2)"
"$K" export --store "sqlite:$T/db/k.db" --out "$T/got" 2>/dev/null
diff -r "$T/want" "$T/got" >/dev/null && ok "after the torn tail the store equals klined replay" ||
    bad "store differs from replay after the torn tail"

# PostgreSQL: the same 20 kills with the store on the server of KL_PG_URL (make test starts one),
# in a database of this run's own, dropped at exit; then export must equal klined replay.
if [ -z "${KL_PG_URL:-}" ]; then
    if [ "${KL_PG_SKIP:-}" = 1 ]; then
        echo "skipped: no PostgreSQL"
    else
        bad "KL_PG_URL is not set: scripts/pg.sh start && export KL_PG_URL=\$(scripts/pg.sh url), or KL_PG_SKIP=1 to skip the PostgreSQL round"
    fi
else
    pgdb=klined_crash_$$
    # The URL of that database: KL_PG_URL with its path (the database name) replaced.
    pgbase=${KL_PG_URL%%\?*}
    pgquery=${KL_PG_URL#"$pgbase"}
    case ${pgbase#*://} in
        */*) PGU="${pgbase%/*}/$pgdb$pgquery" ;;
        *) PGU="$pgbase/$pgdb$pgquery" ;;
    esac
    trap 'pkill -9 -f "$T/" 2>/dev/null; psql "$KL_PG_URL" -X -q -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1; rm -rf "$T"' EXIT
    if ! psql "$KL_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $pgdb" >"$T/psql.log" 2>&1; then
        bad "cannot create database $pgdb on KL_PG_URL: $(head -2 "$T/psql.log")"
    else
        rm -rf "$T/db" "$T/wal" "$T/got"
        serve_pg() {
            "$K" serve --listen 127.0.0.1:0 --source "replay:$files" --store "$PGU" --wal-dir "$T/wal" \
                --workers 2 --exit-on-eof --stats-s 0 --persist-ms 100 --log-level warn "$@" \
                >>"$T/serve_pg.log" 2>&1 &
            pid=$!
        }
        kills=0 finished=0
        for _ in $(seq 1 200); do
            serve_pg --pace 10000
            if [ $kills -lt 20 ]; then
                sleep "0.$((RANDOM % 9 + 1))"
                if kill -9 "$pid" 2>/dev/null; then
                    wait "$pid" 2>/dev/null
                    kills=$((kills + 1))
                    continue
                fi
            fi
            if wait "$pid"; then finished=1; fi
            break
        done
        [ $kills -ge 20 ] && ok "postgres: killed $kills times" ||
            bad "postgres: only $kills kills before the run ended"
        [ $finished = 1 ] && ok "postgres: the last run finished by itself" ||
            bad "postgres: the last run failed: $(tail -3 "$T/serve_pg.log")"
        "$K" export --store "$PGU" --out "$T/got" 2>"$T/export_pg.log" ||
            bad "postgres: export failed: $(head -2 "$T/export_pg.log")"
        if diff -r "$T/want" "$T/got" >"$T/diff.txt"; then
            ok "postgres: after $kills crashes the store equals klined replay ($(ls "$T/got" | wc -l) files)"
        else
            bad "postgres: store differs from replay: $(head -5 "$T/diff.txt")"
        fi
        # The checkpoints kept their engine states in PostgreSQL: one per symbol.
        nstates=$(psql "$PGU" -X -A -t -c "SELECT count(*) FROM series_state WHERE length(state) > 0" 2>&1)
        [ "$nstates" = 3 ] && ok "postgres: 3 engine states stored" ||
            bad "postgres: expected 3 engine states, got '$nstates'"
        grep -q "level=error" "$T/serve_pg.log" &&
            bad "postgres: errors logged: $(grep level=error "$T/serve_pg.log" | head -2)" ||
            ok "postgres: no error logged across the restarts"
    fi
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
