#!/usr/bin/env bash
# The lines source as a live feed from another region, with klined's DEFAULT finality (no
# --lateness-ms, default clock): tests/tools/lines_feed sends aggTrade lines for five symbols over
# two TCP connections for 6 s, each line's T being the wall clock minus a latency that sweeps
# 100-1000 ms with +-300 ms of jitter, in order on each connection (T never goes back on one).
# One symbol is quiet: it trades only in the first and last half second, on a connection that
# carries busy symbols too.
#
# SPEC §1 "When a kline is final: watermarks": a connection's watermark (its highest T minus an
# allowed disorder, with an idle timeout) decides when a kline is final, so "no trade is refused
# for latency up to 1 s with +-300 ms jitter". Checks: too_late = 0, every line taken, and the
# exported store equals `klined replay` of the very trades sent (lines_feed writes them as
# aggTrades CSVs), except for hole klines after a symbol's last trade. Waits poll the stats lines;
# no assertion depends on timing. Usage: lines_latency.sh KLINED [SHARED_DATA]; bash, awk.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FEED=$(dirname "$K")/tools/lines_feed
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-linelat.XXXXXX)
KPID=
cleanup() {
    [ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
    # KL_KEEP_DIR=DIR keeps the logs of the run for a look after a failure.
    [ -n "${KL_KEEP_DIR:-}" ] && rm -rf "$KL_KEEP_DIR" && cp -r "$T" "$KL_KEEP_DIR"
    rm -rf "$T"
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

if [ ! -x "$FEED" ]; then
    echo "FAIL: $FEED not built (tests/tools/lines_feed.c)"
    exit 1
fi
SYMS=AAAUSDT,BBBUSDT,CCCBTC,DDDUSDT,QQQUSDT

D=$T/k && mkdir -p "$T/sent"
KL_WRAP=()
lines_start "$D" --symbols "$SYMS" && started=1 || started=
[ -n "$started" ] && ok "klined serves lines:tcp://127.0.0.1:$PORT" || { bad "klined did not start: $(tail -3 "$D/k.log")"; finish; }

# The feed: 6 s at 200 lines/s (lines_feed documents the latency model).
if "$FEED" --port "$PORT" --symbols "$SYMS" --conns 2 --seconds 6 --rate 200 --latency-ms 100-1000 \
    --jitter-ms 300 --quiet QQQUSDT --seed 5 --csv-dir "$T/sent" >"$T/feed.out" 2>"$T/feed.err"; then
    ok "$(cat "$T/feed.out")"
else
    bad "lines_feed failed: $(cat "$T/feed.err")"
    finish
fi
TOTAL=$(cat "$T"/sent/*.csv | wc -l)
# The feed must be what this test is about: trades older than the second they arrive in, and a
# quiet symbol.
gap=$(awk -F, 'NR > 1 && $6 - p > g { g = $6 - p } { p = $6 } END { print g + 0 }' "$T/sent/QQQUSDT-aggTrades-2024-01-01.csv")
[ "$gap" -ge 4000 ] && ok "QQQUSDT was silent for $gap ms while the others traded" ||
    bad "QQQUSDT's longest silence is only $gap ms"

# Every line applied, amended into a final kline, or refused as too late; then no refusal.
wait_taken "$D" "$TOTAL" || bad "klined took $(taken "$D") of $TOTAL trades"
kill -TERM "$KPID" 2>/dev/null
wait "$KPID" && ok "SIGTERM: exit 0" || bad "SIGTERM: exit status non-zero"
KPID=
stats=$(grep 'event=stats ' "$D/k.log" | tail -1 | grep -o 'source_rejected=[0-9]* .*too_late=[0-9]*')
[ "$(last_stat "$D" too_late)" = 0 ] && ok "no trade too late: $stats" || bad "trades too late: $stats"
[ "$(($(last_stat "$D" applied) + $(last_stat "$D" late)))" = "$TOTAL" ] &&
    ok "klined took all $TOTAL trades (applied + late)" ||
    bad "applied + late = $(($(last_stat "$D" applied) + $(last_stat "$D" late))), want $TOTAL"

fx_same_as_replay "$K" "sqlite:$D/k.db" "$T" 80 "$T"/sent/*.csv
finish
