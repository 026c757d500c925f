#!/usr/bin/env bash
# lines:tcp with lines-ack (issue 12, M7): klined writes `ack N` back once a connection's first
# N lines are in the WAL. A client (tests/tools/lines_ack_client.py) sends 60,000 aggTrade lines,
# keeps every line until it is acked, and after a lost connection reconnects (to the port in a
# file) and resends from its last ack. klined is killed with SIGKILL mid-feed, once a third is
# acked, and restarted on another port with the same WAL and store. Checks: acks arrive, the
# client reconnects and gets every line acked, and the store, exported, equals klined replay of
# everything sent: nothing lost at the crash, nothing counted twice (the resent lines that were
# already in the WAL are refused as duplicates by trade id).
# Usage: lines_ack.sh KLINED [SHARED_DATA]
set -uo pipefail
K=$1
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-lack.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}" ${KPID:-}; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
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

SYMS=(AAAUSDT BBBUSDT CCCBTC)
PER=20000
TOTAL=$((PER * ${#SYMS[@]}))
seed=21
for s in "${SYMS[@]}"; do
    fx_gen "$s" $seed $PER
    seed=$((seed + 1))
done
# One stream, the symbols interleaved by trade time as a feed would send them.
cat "$T"/in/*.csv | sort -t, -k6,6n -s | awk -F, 'FNR == 1 { }
    { s = ($1 < 22000000 ? "AAAUSDT" : ($1 < 23000000 ? "BBBUSDT" : "CCCBTC"))
      printf "{\"e\":\"aggTrade\",\"E\":%s,\"s\":\"%s\",\"a\":%s,\"p\":\"%s\",\"q\":\"%s\",\"f\":%s,\"l\":%s,\"T\":%s,\"m\":%s,\"M\":true}\n",
             $6, s, $1, $2, $3, $4, $5, $6, ($7 == "True" ? "true" : "false") }' >"$T/lines.json"
[ "$(wc -l <"$T/lines.json")" = $TOTAL ] || { bad "made $(wc -l <"$T/lines.json") lines, want $TOTAL"; finish; }

lines_start "$T" --clock event --lines-ack || { bad "serve did not start: $(tail -3 "$T/k.log")"; finish; }
echo "$PORT" >"$T/port.tmp" && mv "$T/port.tmp" "$T/port"
python3 "$ROOT/tests/tools/lines_ack_client.py" --lines "$T/lines.json" --port-file "$T/port" \
    --ack-file "$T/acked" --chunk 50 --pause-ms 10 --timeout-s 240 >"$T/client.out" 2>&1 &
CPID=$!
PIDS+=($CPID)
acked() { cat "$T/acked" 2>/dev/null || echo 0; }
acked_at_least() { [ "$(acked)" -ge "$1" ]; }
if wait_for 90 acked_at_least $((TOTAL / 3)); then
    ok "acks arrive ($(acked) lines acked)"
else
    bad "no acks: acked=$(acked) $(tail -2 "$T/k.log")"
    finish
fi
kill -9 "$KPID"
wait "$KPID" 2>/dev/null
KPID=
at_kill=$(acked)
[ "$at_kill" -lt $TOTAL ] && ok "klined killed with SIGKILL mid-feed ($at_kill of $TOTAL lines acked)" ||
    bad "the feed was over before the kill ($at_kill acked)"
lines_start "$T" --clock event --lines-ack || { bad "the restart failed: $(tail -3 "$T/k.log")"; finish; }
echo "$PORT" >"$T/port.tmp" && mv "$T/port.tmp" "$T/port"
if wait_for 180 eval '! kill -0 $CPID 2>/dev/null'; then
    wait "$CPID"
    rc=$?
    [ $rc = 0 ] && ok "the client got every line acked: $(tail -1 "$T/client.out")" ||
        bad "client status $rc: $(tail -3 "$T/client.out")"
else
    bad "the client did not finish: acked=$(acked)"
fi
grep -q 'connections=[2-9]' "$T/client.out" && ok "the client reconnected after the crash and resent from its last ack" ||
    bad "no reconnect: $(tail -1 "$T/client.out")"
stop_k TERM && ok "klined stopped with status 0" || bad "klined stop failed: $(tail -3 "$T/k.log")"
mkdir -p "$T/cmp"
fx_same_as_replay "$K" "sqlite:$T/k.db" "$T/cmp" 48 "$T"/in/*.csv
log_lacks "no error logged" "$T/k.log" 'level=error'
finish
