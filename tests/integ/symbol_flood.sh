#!/usr/bin/env bash
# Issue 12, C2: a lines:tcp feed that makes up symbol names must not create symbols without
# bound. klined serves lines:tcp with auto-added symbols (no --symbols), max-symbols 300, at most
# 50 new symbols a second after a burst of 100. One connection sends 20,000 aggTrade lines, each
# of a new random symbol, with 2,000 BTCUSDT trades among them and 20 lines whose symbol is not a
# symbol name; then new names are sent in batches until the cap is reached, and one more batch.
#
# Checks: the live symbols never exceed the cap (/metrics klined_symbols_live, exchangeInfo);
# every random name was either added or refused and counted (cap + rate + added = names sent,
# exactly), the refusals show in /metrics and the stats line and are logged with the name;
# the bad names are rejected by the parser; and BTCUSDT, whose trades came amid the flood, is
# exactly `klined replay` of its trades. Waits poll the stats lines and /metrics; no assertion
# depends on timing. Usage: symbol_flood.sh KLINED [SHARED_DATA]; bash, awk, curl.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
T=$(mktemp -d /tmp/klined-symflood.XXXXXX)
KPID=
cleanup() {
    [ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
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

CAP=300 RATE=50 BURST=100 NRAND=20000 NBAD=20
fx_gen BTCUSDT 7 2000

# The flood: BTCUSDT's trades as aggTrade lines, nine random new names after each, at the
# BTCUSDT trade's time; every 1000th line a name that is not a symbol (lower case).
awk -F, -v nrand="$NRAND" -v nbad="$NBAD" 'BEGIN { srand(12); chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" }
function rnd(  s, i) { s = ""; for (i = 0; i < 8; i++) s = s substr(chars, 1 + int(rand() * 36), 1); return s }
function line(sym, a, p, q, f, l, t, m) {
    printf "{\"e\":\"aggTrade\",\"E\":%s,\"s\":\"%s\",\"a\":%s,\"p\":\"%s\",\"q\":\"%s\",\"f\":%s,\"l\":%s,\"T\":%s,\"m\":%s,\"M\":true}\n",
           t, sym, a, p, q, f, l, t, m
}
{
    line("BTCUSDT", $1, $2, $3, $4, $5, $6, ($7 == "True" ? "true" : "false"))
    for (k = 0; k < 10 && r < nrand; k++) {
        r++
        if (r % 1000 == 0 && bad < nbad) { bad++; line("bad" r, r, "1.5", "2", r, r, $6, "false") }
        line(sprintf("R%05d%s", r, rnd()), r, "1.5", "2", r, r, $6, "false")
    }
}' "$T/in/BTCUSDT-aggTrades-2024-01-01.csv" >"$T/flood.jsonl"
NLINES=$(wc -l <"$T/flood.jsonl")
[ "$(grep -c '"s":"R' "$T/flood.jsonl")" = "$NRAND" ] && [ "$(grep -c '"s":"bad' "$T/flood.jsonl")" = "$NBAD" ] ||
    { bad "the flood file is not what this test is about"; finish; }
LAST_T=$(tail -1 "$T/in/BTCUSDT-aggTrades-2024-01-01.csv" | cut -d, -f6)

D=$T/k
KL_WRAP=()
lines_start "$D" --max-symbols "$CAP" --symbol-create-rate "$RATE" --symbol-create-burst "$BURST" &&
    ok "klined serves lines:tcp://127.0.0.1:$PORT" || { bad "klined did not start: $(tail -3 "$D/k.log")"; finish; }
api() {
    local p
    p=$(sed -n 's/.*comp=api event=listening address=127.0.0.1:\([0-9]*\).*/\1/p' "$D/k.log" | head -1)
    curl -s --max-time 10 "http://127.0.0.1:$p$1"
}
metric() { api /metrics | awk -v m="$1" '$1 == m { print $2 }'; }
send() { # send FILE: one connection, the whole file
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    cat "$1" >&3
    exec 3>&-
}
# settled N: the stats line shows N messages read and every routed trade dealt with.
settled() {
    local m s
    m=$(last_stat "$D" source_messages) s=$(last_stat "$D" source_trades)
    [ "${m:-0}" -ge "$1" ] && [ "$(taken "$D")" = "${s:-x}" ]
}
wait_settled() {
    for _ in $(seq 600); do settled "$1" && return 0; sleep 0.1; done
    return 1
}

send "$T/flood.jsonl" && ok "sent $NLINES lines ($NRAND random names, $NBAD bad ones, 2000 BTCUSDT)" ||
    bad "could not send the flood"
wait_settled "$NLINES" || bad "klined did not deal with the flood: $(grep 'event=stats ' "$D/k.log" | tail -1)"

live=$(metric klined_symbols_live)
cap=$(metric 'klined_source_symbols_refused_total{reason="cap"}')
rate=$(metric 'klined_source_symbols_refused_total{reason="rate"}')
echo "    after the flood: live=$live refused cap=$cap rate=$rate"
[ -n "$live" ] && [ "$live" -le "$CAP" ] && [ "$live" -ge 1 ] && ok "live symbols $live <= max-symbols $CAP" ||
    bad "live symbols '$live', cap $CAP"
[ "${rate:-0}" -gt 0 ] && ok "new symbols beyond the rate refused and counted ($rate)" ||
    bad "no refusal for the rate counted ('$rate')"
[ "$((live - 1 + cap + rate))" = "$NRAND" ] &&
    ok "every random name was added or refused: $((live - 1)) + $cap + $rate = $NRAND" ||
    bad "added $((live - 1)) + cap $cap + rate $rate != $NRAND names sent"

# Then new names until the cap is reached (the bucket refills at RATE/s), and one batch more.
n=$NRAND
for round in $(seq 200); do
    live=$(metric klined_symbols_live)
    awk -v from="$n" -v t="$LAST_T" -v last="$([ "${live:-0}" -ge "$CAP" ] && echo 1 || echo 0)" 'BEGIN {
        for (i = 1; i <= 200; i++)
            printf "{\"e\":\"aggTrade\",\"E\":%s,\"s\":\"C%07d\",\"a\":%d,\"p\":\"1\",\"q\":\"1\",\"f\":%d,\"l\":%d,\"T\":%s,\"m\":false,\"M\":true}\n",
                   t, from + i, i, i, i, t
    }' >"$T/batch.jsonl"
    send "$T/batch.jsonl" || bad "could not send batch $round"
    n=$((n + 200)) NLINES=$((NLINES + 200))
    wait_settled "$NLINES" || { bad "klined did not deal with batch $round"; break; }
    [ "${live:-0}" -ge "$CAP" ] && break
done
live=$(metric klined_symbols_live)
cap=$(metric 'klined_source_symbols_refused_total{reason="cap"}')
rate=$(metric 'klined_source_symbols_refused_total{reason="rate"}')
echo "    after $round batches: live=$live refused cap=$cap rate=$rate"
[ "$live" = "$CAP" ] && ok "the cap is reached and holds: $live live" || bad "live symbols $live, want $CAP"
[ "${cap:-0}" -ge 200 ] && ok "new symbols beyond max-symbols refused and counted ($cap)" ||
    bad "refusals for the cap: '$cap', want >= 200"
[ "$((live - 1 + cap + rate))" = "$((n))" ] && ok "still every name accounted for ($n)" ||
    bad "added $((live - 1)) + cap $cap + rate $rate != $n names sent"
ninfo=$(api /api/v3/exchangeInfo | grep -o '"symbol":"[A-Z0-9]*"' | sort -u | wc -l)
[ "$ninfo" = "$CAP" ] && ok "exchangeInfo lists $ninfo symbols" || bad "exchangeInfo lists $ninfo symbols, want $CAP"
# The stats line after the last refusal (a line may be written between a message's count and
# its refusal's).
for _ in $(seq 50); do
    rej=$(last_stat "$D" source_rejected) sc=$(last_stat "$D" symbols_refused_cap) sr=$(last_stat "$D" symbols_refused_rate)
    [ "$sc" = "$cap" ] && [ "$sr" = "$rate" ] && [ "$rej" = "$((NBAD + cap + rate))" ] && break
    sleep 0.1
done
[ "$sc" = "$cap" ] && [ "$sr" = "$rate" ] && ok "the stats line counts them too (cap=$sc rate=$sr)" ||
    bad "stats line: symbols_refused_cap=$sc symbols_refused_rate=$sr, /metrics: $cap $rate"
[ "$rej" = "$((NBAD + cap + rate))" ] && ok "source_rejected = $NBAD bad names + the refused ($rej)" ||
    bad "source_rejected $rej, want $((NBAD + cap + rate))"
log_has "a cap refusal is logged with the name and the action" "$D" \
    'event=symbol_refused symbol="C[0-9]{7}" reason=cap live=300 max_symbols=300 .*action="not added'
log_has "a rate refusal is logged with the name" "$D" 'event=symbol_refused symbol="R[0-9]{5}[A-Z0-9]{8}" reason=rate'

# BTCUSDT: applied amid the flood, exactly as a replay of its trades.
stop_k TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit status non-zero"
"$K" replay --quiet --out "$T/want" "$T/in/BTCUSDT-aggTrades-2024-01-01.csv" 2>"$T/replay.log" || bad "klined replay failed"
"$K" export --store "sqlite:$D/k.db" --symbols BTCUSDT --out "$T/got" 2>"$T/export.log" || bad "klined export failed"
same=0 differ=0
for f in "$T"/want/*; do
    b=$(basename "$f") nr=$(wc -l <"$f")
    if [ -f "$T/got/$b" ] && head -n "$nr" "$T/got/$b" | cmp -s - "$f" &&
        [ "$(tail -n +"$((nr + 1))" "$T/got/$b" | awk -F, '$9 != 0 { x++ } END { print x + 0 }')" = 0 ]; then
        same=$((same + 1))
    else
        differ=$((differ + 1)) && echo "    $b differs or is missing"
    fi
done
[ "$same" -gt 0 ] && [ "$differ" = 0 ] && ok "BTCUSDT in the store equals klined replay of its trades ($same files)" ||
    bad "BTCUSDT: $differ of $((same + differ)) files differ from klined replay"
finish
