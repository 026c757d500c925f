#!/usr/bin/env bash
# A blocked stderr blocks no thread but the logger's (issue 12, low). `klined serve`'s stderr is
# a FIFO with a 4 KiB pipe buffer whose reader never reads, so log writes block once it is full.
# Checks: the drops are counted (/metrics klined_log_dropped_total), trades sent afterwards are
# still committed and served by REST equal to replay, /api/v3/ping answers, and SIGTERM still
# stops the process with status 0 (the log drain at exit is bounded).
# Usage: log_blocked.sh KLINED [SHARED_DATA]
set -uo pipefail
K=$1
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-logblk.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$T/in"
awk 'BEGIN { srand(5); t = 1704067200000; a = 5000000; f = a * 3
    for (i = 0; i < 1500; i++) { # 1-2 s apart: about 37 1m klines
        t += 1000 + int(rand() * 1000); k = 1 + int(rand() * 3)
        printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, 100 + int(rand() * 50),
               int(rand() * 99999999), 1 + int(rand() * 5), int(rand() * 99999999), f, f + k - 1, t,
               (rand() < 0.5 ? "True" : "False")
        a++; f += k
    } }' >"$T/in/AAAUSDT-aggTrades-2024-01-01.csv"
awk -F, '{ printf "{\"e\":\"aggTrade\",\"E\":%s,\"s\":\"AAAUSDT\",\"a\":%s,\"p\":\"%s\",\"q\":\"%s\",\"f\":%s,\"l\":%s,\"T\":%s,\"m\":%s,\"M\":true}\n",
           $6, $1, $2, $3, $4, $5, $6, ($7 == "True" ? "true" : "false") }' \
    "$T/in/AAAUSDT-aggTrades-2024-01-01.csv" >"$T/lines.json"

# The reader that never reads: it opens the FIFO, shrinks its buffer to one page, and sleeps.
mkfifo "$T/err"
python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ
open(sys.argv[2], "w").close()
time.sleep(600)' "$T/err" "$T/reader.ready" &
PIDS+=($!)
wait_for 10 test -f "$T/reader.ready" || { bad "the FIFO reader did not start"; finish; }

mkfifo "$T/feed"
P=$(free_port)
"$K" serve --listen "127.0.0.1:$P" --source lines:stdin --clock event --store "sqlite:$T/k.db" \
    --wal-dir "$T/wal" --persist-ms 200 --stats-s 1 --log-buffer-bytes 4096 <"$T/feed" 2>"$T/err" &
KPID=$!
PIDS+=($KPID)
exec 8>"$T/feed"
metric() { curl -s -m 2 "http://127.0.0.1:$P/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
positive() { local v; v=$(metric "$1"); [ -n "$v" ] && [ "$v" -gt "${2:-0}" ]; }
if wait_for 90 positive klined_log_dropped_total; then
    ok "stderr is blocked and log lines are dropped and counted ($(metric klined_log_dropped_total))"
else
    bad "no log drop counted: '$(metric klined_log_dropped_total)'"
fi
rows0=$(metric klined_store_rows_total)
cat "$T/lines.json" >&8
wait_for 60 positive klined_store_rows_total "${rows0:-0}" && ok "trades sent now are still committed" ||
    bad "nothing committed with stderr blocked: rows $(metric klined_store_rows_total)"
curl -s -m 5 "http://127.0.0.1:$P/api/v3/ping" | grep -q '^{}$' && ok "/api/v3/ping answers" || bad "/api/v3/ping does not answer"
"$K" replay --quiet --intervals 1m --out "$T/ref" "$T/in/AAAUSDT-aggTrades-2024-01-01.csv" 2>/dev/null
want=$(cut -d, -f1-9 "$T/ref/AAAUSDT-1m.csv" | head -n -1 | tail -n 100)
rest() { curl -s -m 10 "http://127.0.0.1:$P/api/v3/klines?symbol=AAAUSDT&interval=1m&limit=1000" |
    python3 -c 'import json,sys
for k in json.load(sys.stdin): print(",".join(str(x) for x in k[:9]))' 2>/dev/null | grep -Fx -f <(echo "$want") | wc -l; }
same() { [ "$(rest)" = "$(echo "$want" | wc -l)" ]; }
wait_for 30 same && ok "REST serves the replay's klines ($(echo "$want" | wc -l) closed 1m klines)" ||
    bad "REST differs from replay: $(rest) of $(echo "$want" | wc -l) klines equal"
kill -TERM "$KPID"
if wait_for 60 eval '! kill -0 $KPID 2>/dev/null'; then
    wait "$KPID"
    rc=$?
    [ $rc = 0 ] && ok "SIGTERM stops klined with status 0 although stderr is blocked" || bad "exit status $rc"
else
    bad "klined still running 60 s after SIGTERM with stderr blocked"
fi
exec 8>&-
finish
