#!/usr/bin/env bash
# STORE_ID (issue 12, M8): written atomically (no temporary left, the whole id); an empty
# STORE_ID next to logs stops the start with a message that says so (not "another store");
# an empty one with no log is rewritten. Usage: store_id.sh KLINED [SHARED_DATA]
set -uo pipefail
K=$1
T=$(mktemp -d /tmp/klined-storeid.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# shellcheck source=lib/aggtrades.sh
. "$(dirname "$0")/lib/aggtrades.sh"
mkdir -p "$T/in"
gen_aggtrades "$T/in" AAAUSDT 1 3 500
serve() {
    timeout 60 "$K" serve --listen 127.0.0.1:0 --source "replay:$T/in/AAAUSDT-aggTrades-2024-01-01.csv" \
        --store "sqlite:$T/db/k.db" --wal-dir "$T/wal" --workers 1 --exit-on-eof --stats-s 0 >"$1" 2>&1
}
serve "$T/r1.log" && ok "first run" || bad "first run failed: $(tail -2 "$T/r1.log")"
id=$(cat "$T/wal/STORE_ID")
[[ "$id" =~ ^[0-9]+$ ]] && ok "STORE_ID holds an id ($id)" || bad "STORE_ID holds '$id'"
[ ! -e "$T/wal/STORE_ID.tmp" ] && ok "no temporary left" || bad "STORE_ID.tmp left behind"
ls "$T"/wal/w0/*.wal >/dev/null 2>&1 && ok "a log is there" || bad "no log after the run"

: >"$T/wal/STORE_ID"
serve "$T/r2.log"
st=$?
[ $st != 0 ] && ok "an empty STORE_ID next to logs stops the start" || bad "started over an empty STORE_ID"
grep -q "STORE_ID file is empty" "$T/r2.log" && ! grep -q "belongs to another store" "$T/r2.log" &&
    ok "the message says it is empty and what to do" || bad "misleading message: $(tail -1 "$T/r2.log")"
grep -q "write its id $id into" "$T/r2.log" && ok "the message gives the store's id" || bad "no id in the message"

rm -rf "$T"/wal/w0
serve "$T/r3.log" && ok "an empty STORE_ID with no log: started" || bad "failed: $(tail -2 "$T/r3.log")"
[ "$(cat "$T/wal/STORE_ID")" = "$id" ] && ok "STORE_ID rewritten with the store's id" || bad "STORE_ID now '$(cat "$T/wal/STORE_ID")'"
echo "pass=$pass fail=$fail"
[ $fail = 0 ]
