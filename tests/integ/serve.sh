#!/usr/bin/env bash
# End-to-end checks of `klined serve` and `klined export` against the issue contract: a replay
# source must end by itself and leave in the store exactly the klines that `klined replay` writes
# (diff -r of the two directories), JSON lines from stdin and TCP land as hand-computed klines,
# SIGTERM/SIGINT commit every accepted trade, SIGHUP reloads the symbol list, bad configuration
# is refused before anything starts, and the store keeps the schema's exact decimals. Everything
# runs in a temporary directory; a background service is always stopped before the next check.
# Run as: bash tests/integ/serve.sh <klined-binary> [<shared-data-dir>]; exit 0 = all passed.
# Only bash (with /dev/tcp), coreutils and awk are needed; sqlite3 is used only if present.
set -u

BIN=${1:?usage: serve.sh <klined-binary> [shared-data-dir]}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-integ-serve.XXXXXX")
SPID=
cleanup() {
    if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1

pass=0
fail=0
RC=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    if [ -s "$T/err.txt" ]; then grep -v 'event=stats' "$T/err.txt" | sed 's/^/    stderr: /' | head -20; fi
}

rc_zero() { if [ "$RC" -eq 0 ]; then ok "$1: exit 0"; else bad "$1: exit $RC, want 0"; fi; }

# want NAME FILE <<EOF: FILE must hold exactly the here-document.
want() {
    local name=$1 got=$2
    cat >"$T/want.txt"
    if [ ! -f "$got" ]; then
        bad "$name: $got was not written"
    elif diff -u "$T/want.txt" "$got" >"$T/diff.txt"; then
        ok "$name"
    else
        bad "$name: $got differs from the expected rows"
        sed 's/^/    /' "$T/diff.txt"
    fi
}

# same_tree NAME EXPECTED_DIR GOT_DIR: diff -r finds nothing (and EXPECTED_DIR is not empty).
same_tree() {
    if [ -z "$(ls -A "$2" 2>/dev/null)" ]; then
        bad "$1: $2 is empty"
    elif diff -r "$2" "$3" >"$T/diff.txt" 2>&1; then
        ok "$1"
    else
        bad "$1: $3 differs from $2"
        head -30 "$T/diff.txt" | sed 's/^/    /'
    fi
}

# err_has NAME STRING...: one stderr line contains every STRING.
err_has() {
    local name=$1
    shift
    if awk -v n="$#" 'BEGIN { for (i = 1; i <= n; i++) s[i] = ARGV[i]; ARGC = 1 }
        { m = 1; for (i = 1; i <= n; i++) if (index($0, s[i]) == 0) m = 0; if (m) f = 1 }
        END { exit f ? 0 : 1 }' "$@" <"$T/err.txt"; then
        ok "$name"
    else
        bad "$name: no stderr line contains: $*"
    fi
}
err_lacks() {
    if grep -qF -- "$2" "$T/err.txt"; then bad "$1: stderr mentions '$2'"; else ok "$1"; fi
}

# files_are NAME DIR NAMES...: DIR holds exactly these files.
files_are() {
    local name=$1 dir=$2
    shift 2
    printf '%s\n' "$@" | LC_ALL=C sort >"$T/want_ls.txt"
    (cd "$dir" 2>/dev/null && ls -1 | LC_ALL=C sort) >"$T/got_ls.txt"
    if cmp -s "$T/want_ls.txt" "$T/got_ls.txt"; then
        ok "$name"
    else
        bad "$name: files differ"
        diff -u "$T/want_ls.txt" "$T/got_ls.txt" | sed 's/^/    /'
    fi
}

# is NAME WANT GOT: two strings are equal.
is() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', want '$2'"; fi; }

# last_stat KEY: the value of KEY in the last stats line of err.txt.
last_stat() {
    awk -v k="$1" '/event=stats/ { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) v = substr($i, length(k) + 2) }
        END { print v }' "$T/err.txt"
}

# replay ARGS...: `klined replay`, stderr in err.txt, exit code in RC.
replay() {
    "$BIN" replay "$@" >"$T/out.txt" 2>"$T/err.txt"
    RC=$?
}

# serve_fg ARGS...: `klined serve` in the foreground (stdin from the caller), bounded at 120 s
# so that a service which never ends fails the check instead of hanging CI.
# with_wal ARGS...: WARGS = ARGS plus a --wal-dir beside the sqlite store, since a WAL directory
# belongs to one store (klined refuses another store's logs).
with_wal() {
    WARGS=(--listen 127.0.0.1:0 "$@") # the API on a free port: tests run side by side
    local prev="" a
    for a in "$@"; do
        [ "$a" = --wal-dir ] && return
        if [ "$prev" = --store ] && [[ $a == sqlite:* ]]; then
            WARGS+=(--wal-dir "$(dirname "${a#sqlite:}")/wal")
        fi
        prev=$a
    done
}

serve_fg() {
    with_wal "$@"
    timeout -s KILL 120 "$BIN" serve "${WARGS[@]}" >"$T/out.txt" 2>"$T/err.txt"
    RC=$?
}

# export_to STORE DIR [ARGS...]: `klined export`, stderr in exp_err.txt, exit code in RC.
export_to() {
    local store=$1 dir=$2
    shift 2
    "$BIN" export --store "$store" --out "$dir" "$@" >"$T/out.txt" 2>"$T/exp_err.txt"
    RC=$?
}

# serve_bg ARGS...: starts `klined serve` in the background (stderr in err.txt, pid in SPID)
# and waits until it logs that it started. Returns 1 if it exited instead.
serve_bg() {
    : >"$T/err.txt"
    with_wal "$@"
    "$BIN" serve "${WARGS[@]}" >"$T/out.txt" 2>"$T/err.txt" </dev/null &
    SPID=$!
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q 'event=started' "$T/err.txt" && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    stop_bg KILL
    return 1
}

# serve_tcp PREFIX ARGS...: serve_bg with --source lines:tcp://127.0.0.1:PORT on a free port
# (sets PORT); a port taken by someone else is retried with another.
serve_tcp() {
    local try
    for ((try = 0; try < 10; try++)); do
        PORT=$((20000 + RANDOM % 20000))
        if serve_bg --source "lines:tcp://127.0.0.1:$PORT" "$@"; then return 0; fi
        grep -qF "127.0.0.1:$PORT" "$T/err.txt" || return 1
    done
    return 1
}

# stop_bg SIGNAL: sends SIGNAL to the background service and waits (60 s at most, then
# SIGKILL and RC=124) for it to exit; its exit code goes to RC.
stop_bg() {
    local i
    [ -n "$SPID" ] || return
    kill -"$1" "$SPID" 2>/dev/null
    for ((i = 0; i < 600; i++)); do
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SPID" 2>/dev/null; then
        kill -KILL "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
        RC=124
    else
        wait "$SPID"
        RC=$?
    fi
    SPID=
}

# wait_log ERE: waits (30 s at most) until a line of err.txt matches ERE.
wait_log() {
    local i
    for ((i = 0; i < 300; i++)); do
        grep -qE -- "$1" "$T/err.txt" && return 0
        sleep 0.1
    done
    return 1
}

# send_tcp FILE: one TCP connection to the service's lines port, FILE's bytes, then close.
send_tcp() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    cat "$1" >&3
    exec 3>&-
}

# sum_col N FILE: the sum of integer column N of a kline CSV (0 if FILE is missing).
sum_col() {
    if [ -f "$2" ]; then awk -F, -v c="$1" '{ s += $c } END { printf "%d\n", s }' "$2"; else echo 0; fi
}

# ---- 1. replay parity -------------------------------------------------------------------------
# gen SYMBOL DAY_MS UNIT SEED BASE_PRICE FIRST_AGG FIRST_ID N: one daily spot aggTrades dump.
# N trades spread over the day with a hole of N/8 trades (~3 h) after the first third, ties in
# trade time every 50 rows (id order decides), 8-decimal prices and quantities whose products
# have up to 16 decimals; UNIT 1000 writes µs times (16 digits) with sub-ms parts.
gen() {
    awk -v sym="$1" -v t0="$2" -v u="$3" -v s="$4" -v bp="$5" -v a="$6" -v f="$7" -v n="$8" 'BEGIN {
        step = 86400000 / n
        for (i = 0; i < n; i++) {
            if (i >= n / 3 && i < n / 3 + n / 8) continue
            t = t0 + int(i * step) + (i * 7919 + s) % int(step * 0.9)
            if (u == 1000) t = t * 1000 + (i * 37 + s) % 1000
            if (i % 50 == 1) t = prev
            prev = t
            if (bp > 0) p = sprintf("%d.%08d", bp + (i * 13 + s) % 7, (i * 7919 + s * 31) % 100000000)
            else p = sprintf("0.%08d", 1 + (i * 7919 + s) % 99999)
            q = sprintf("%d.%08d", i % 5, 1 + (i * 31337 + s) % 99999999)
            l = f + (i + s) % 3
            printf "%d,%s,%s,%d,%d,%s,%s,True\n", a, p, q, f, l, sprintf("%.0f", t), ((i * s) % 3 ? "False" : "True")
            a++
            f = l + 1
        } }'
}
D=86400000
mkdir -p p1
gen AAAUSDT 1709164800000 1 3 100 1 1 3000 >p1/AAAUSDT-aggTrades-2024-02-29.csv
gen AAAUSDT $((1709164800000 + D)) 1 5 101 5000 9000 2500 >p1/AAAUSDT-aggTrades-2024-03-01.csv
gen BBBUSDT 1709164800000 1 7 20000 1 1 3000 >p1/BBBUSDT-aggTrades-2024-02-29.csv
gen BBBUSDT $((1709164800000 + 2 * D)) 1 11 20001 4000 9000 2000 >p1/BBBUSDT-aggTrades-2024-03-02.csv
gen CCCBTC $((1709164800000 + D)) 1 13 0 1 1 2200 >p1/CCCBTC-aggTrades-2024-03-01.csv
gen CCCBTC $((1709164800000 + 2 * D)) 1 17 0 3000 9000 2200 >p1/CCCBTC-aggTrades-2024-03-02.csv
gen DDDUSDT 1736035200000 1000 19 3 1 1 3000 >p1/DDDUSDT-aggTrades-2025-01-05.csv
gen DDDUSDT $((1736035200000 + D)) 1000 23 4 4000 9000 2600 >p1/DDDUSDT-aggTrades-2025-01-06.csv
# One bad row (9 decimals) inside a file and one duplicate (an earlier row again at the end):
# both paths must skip them the same way.
awk -F, -v OFS=, 'NR == 1500 { print 99999, "100.123456789", 1, 99999, 99999, $6, "False", "True" } { print }' \
    p1/AAAUSDT-aggTrades-2024-02-29.csv >p1/tmp && mv p1/tmp p1/AAAUSDT-aggTrades-2024-02-29.csv
sed -n 100p p1/AAAUSDT-aggTrades-2024-03-01.csv >>p1/AAAUSDT-aggTrades-2024-03-01.csv
P1_FILES=$(ls -1 p1/*.csv | paste -sd, -)
P1_ROWS=$(cat p1/*.csv | wc -l)

echo "# 1. replay parity: serve --source replay + export = klined replay"
replay --intervals all --out R1 p1
rc_zero "1 klined replay"
err_has "1 replay skipped the bad row and the duplicate too" "AAAUSDT" "1 rejected" "1 duplicates"
IV="1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M"
ALL=()
for s in AAAUSDT BBBUSDT CCCBTC DDDUSDT; do for i in $IV; do ALL+=("$s-$i.csv"); done; done
files_are "1 replay wrote 4 symbols x 16 intervals" R1 "${ALL[@]}"
# The fixture must exercise what the parity is about: hole klines, µs times, a day-long gap.
if grep -q ',0.00000000,[0-9]*,0.00000000,0,0.00000000,0.00000000,0$' R1/AAAUSDT-1h.csv &&
    grep -q ',0.00000000,[0-9]*,0.00000000,0,0.00000000,0.00000000,0$' R1/BBBUSDT-1d.csv &&
    head -1 R1/DDDUSDT-1m.csv | grep -qE '^[0-9]{16},' && [ "$(wc -l <R1/AAAUSDT-1M.csv)" -eq 2 ]; then
    ok "1 fixture has 1h and 1d hole klines, µs times, two months"
else
    bad "1 fixture has 1h and 1d hole klines, µs times, two months"
fi

serve_fg --source "replay:$P1_FILES" --store sqlite:d1/k.db --workers 2 --exit-on-eof --stats-s 0 </dev/null
rc_zero "1 serve --source replay --exit-on-eof ends by itself"
is "1 serve routed every good row" "$((P1_ROWS - 1))" "$(last_stat worker_trades)"
is "1 serve rejected the bad row" "1" "$(last_stat source_rejected)"
is "1 serve ignored the duplicate" "1" "$(last_stat duplicates)"
err_has "1 the bad row is reported with its file and line" "row_rejected" "AAAUSDT-aggTrades-2024-02-29.csv" "line=1500"
export_to sqlite:d1/k.db E1
rc_zero "1 export"
same_tree "1 export = replay, 4 symbols, 16 intervals" R1 E1

replay --intervals 1m,1h,1M --tz +05:45 --out R1b p1
rc_zero "1 replay --intervals 1m,1h,1M --tz +05:45"
serve_fg --source "replay:$P1_FILES" --store sqlite:d1b/k.db --workers 2 --exit-on-eof --stats-s 0 \
    --intervals 1m,1h,1M --tz +05:45 </dev/null
rc_zero "1 serve --intervals 1m,1h,1M --tz +05:45"
export_to sqlite:d1b/k.db E1b
rc_zero "1 export (1m,1h,1M)"
files_are "1 --intervals 1m,1h,1M: only those are stored" E1b AAAUSDT-1m.csv AAAUSDT-1h.csv \
    AAAUSDT-1M.csv BBBUSDT-1m.csv BBBUSDT-1h.csv BBBUSDT-1M.csv CCCBTC-1m.csv CCCBTC-1h.csv \
    CCCBTC-1M.csv DDDUSDT-1m.csv DDDUSDT-1h.csv DDDUSDT-1M.csv
same_tree "1 export = replay with --tz +05:45" R1b E1b
# `serve` stores at most 2 hole klines per gap (the rest implied); the same stores with every
# hole kline deleted too: export writes them all back, byte for byte what replay writes.
if command -v sqlite3 >/dev/null; then
    for d in 1 1b; do
        mkdir -p "d${d}h"
        sqlite3 "d$d/k.db" ".backup d${d}h/k.db"
        n=$(sqlite3 "d${d}h/k.db" "delete from klines where trades = 0; select changes()")
        if [ "${n:-0}" -gt 0 ]; then ok "1 d${d}h: $n hole klines deleted"; else bad "1 d${d}h: no hole kline to delete ('$n')"; fi
        export_to "sqlite:d${d}h/k.db" "E${d}h"
        rc_zero "1 export of d${d}h"
    done
    same_tree "1 export fills implied holes = replay" R1 E1h
    same_tree "1 export fills implied holes = replay with --tz +05:45" R1b E1bh
fi
# +05:45 must move the 1h boundaries by 45 minutes: opens are hh:15:00 UTC.
if awk -F, '{ if ($1 % 3600000 != 900000) bad = 1 } END { exit bad || NR == 0 }' E1b/AAAUSDT-1h.csv; then
    ok "1 --tz +05:45 1h klines open at hh:15 UTC"
else
    bad "1 --tz +05:45 1h klines open at hh:15 UTC"
fi

# A small dump (the same 5 minutes of trades for two symbols, one in µs) paced at 1000x real
# time (0.3 s) still ends and matches.
mkdir -p p1p
gen EEEUSDT 1709164800000 1 29 7 1 1 30000 | awk -F, '$6 < 1709165100000' >p1p/EEEUSDT-aggTrades-2024-02-29.csv
gen FFFUSDT 1709164800000 1000 31 9 1 1 30000 | awk -F, '$6 < 1709165100000000' >p1p/FFFUSDT-aggTrades-2024-02-29.csv
replay --intervals all --out R1p p1p
serve_fg --source "replay:$(ls -1 p1p/*.csv | paste -sd, -)" --pace 1000 --store sqlite:d1p/k.db \
    --exit-on-eof --stats-s 0 </dev/null
rc_zero "1 serve --pace 1000 ends"
export_to sqlite:d1p/k.db E1p
same_tree "1 --pace 1000: export = replay" R1p E1p

# Binance spot dumps switch from ms to µs on 2025-01-01: one series, produced in µs by both paths.
mkdir -p p1u
printf '1,600,1,1,1,1735689500000,False,True\n2,600.5,1,2,2,1735689599000,False,True\n' >p1u/GGGUSDT-aggTrades-2024-12-31.csv
printf '3,601,2,3,4,1735689600000500,True,True\n4,602,1,5,5,1735689720000000,True,True\n' >p1u/GGGUSDT-aggTrades-2025-01-01.csv
replay --intervals all --out R1u p1u
serve_fg --source "replay:p1u/GGGUSDT-aggTrades-2024-12-31.csv,p1u/GGGUSDT-aggTrades-2025-01-01.csv" \
    --store sqlite:d1u/k.db --exit-on-eof --stats-s 0 </dev/null
rc_zero "1 serve, ms day then µs day"
export_to sqlite:d1u/k.db E1u
same_tree "1 ms day then µs day: export = replay" R1u E1u
want "1 ms day then µs day: 1m in µs across the switch" E1u/GGGUSDT-1m.csv <<'EOF'
1735689480000000,600.00000000,600.00000000,600.00000000,600.00000000,1.00000000,1735689539999999,600.00000000,1,1.00000000,600.00000000,0
1735689540000000,600.50000000,600.50000000,600.50000000,600.50000000,1.00000000,1735689599999999,600.50000000,1,1.00000000,600.50000000,0
1735689600000000,601.00000000,601.00000000,601.00000000,601.00000000,2.00000000,1735689659999999,1202.00000000,2,0.00000000,0.00000000,0
1735689660000000,601.00000000,601.00000000,601.00000000,601.00000000,0.00000000,1735689719999999,0.00000000,0,0.00000000,0.00000000,0
1735689720000000,602.00000000,602.00000000,602.00000000,602.00000000,1.00000000,1735689779999999,602.00000000,1,0.00000000,0.00000000,0
EOF

# ---- 2. lines:stdin ---------------------------------------------------------------------------
echo "# 2. lines:stdin with aggTrade and trade events, and bad lines"
# AUSDT (aggTrade): minute 0 has three trades, minute 1 none (hole), minute 2 one. The quote sum
# of minute 0 is 4.7524157763907942: truncation prints ...577, rounding would print ...578.
# BUSDT (trade): a tie at 00:00:10 is ordered by trade id (close = id 9).
{
    echo '{"e":"aggTrade","E":1,"s":"AUSDT","a":1,"p":"1.5","q":"2","f":1,"l":1,"T":1704067200000,"m":false}'
    echo 'garbage'
    echo '{"e":"trade","E":1,"s":"BUSDT","t":7,"p":"2","q":"1","T":1704067200000,"m":true}'
    echo '{"e":"aggTrade","E":1,"s":"AUSDT","a":2,"p":"1.23456789","q":"0.12345678","f":2,"l":4,"T":1704067230000,"m":true}'
    echo '{"e":"aggTrade","E":1,"s":"AUSDT","a":9,"p":"9.123456789","q":"1","f":9,"l":9,"T":1704067240000,"m":false}'
    echo '{"e":"trade","E":1,"s":"BUSDT","t":8,"p":"2.5","q":"0.3","T":1704067210000,"m":false}'
    echo '{"e":"depthUpdate","E":1704067240000,"s":"AUSDT","U":1,"u":2,"b":[],"a":[]}'
    echo '{"e":"trade","E":1,"s":"BUSDT","t":9,"p":"1.9","q":"2","T":1704067210000,"m":false}'
    echo '{"e":"aggTrade","E":1,"s":"AUSDT","a":3,"p":"1.6","q":"1","f":5,"l":5,"T":1704067259999,"m":false}'
    echo '{"e":"aggTrade","E":1,"s":"AUSDT","a":4,"p":"1.4","q":"3","f":6,"l":7,"T":1704067320000,"m":true}'
} >lines2.txt
mkdir -p p2
cat >p2/AUSDT-aggTrades-2024-01-01.csv <<'EOF'
1,1.5,2,1,1,1704067200000,False,True
2,1.23456789,0.12345678,2,4,1704067230000,True,True
3,1.6,1,5,5,1704067259999,False,True
4,1.4,3,6,7,1704067320000,True,True
EOF
cat >p2/BUSDT-trades-2024-01-01.csv <<'EOF'
7,2,1,2.00000000,1704067200000,True,True
8,2.5,0.3,0.75000000,1704067210000,False,True
9,1.9,2,3.80000000,1704067210000,False,True
EOF
serve_fg --source lines:stdin --clock event --exit-on-eof --store sqlite:d2/k.db --stats-s 0 <lines2.txt
rc_zero "2 lines:stdin --exit-on-eof"
is "2 every line is a message" 10 "$(last_stat source_messages)"
is "2 seven trades accepted" 7 "$(last_stat source_trades)"
is "2 garbage and a 9-decimal price are rejected" 2 "$(last_stat source_rejected)"
is "2 seven trades applied" 7 "$(last_stat worker_trades)"
err_has "2 the garbage line is reported with its line number" "line_rejected" "line=2" "garbage"
export_to sqlite:d2/k.db E2
rc_zero "2 export"
want "2 AUSDT 1m rows (hole, truncated quote, taker sums, counts)" E2/AUSDT-1m.csv <<'EOF'
1704067200000,1.50000000,1.60000000,1.23456789,1.60000000,3.12345678,1704067259999,4.75241577,5,3.00000000,4.60000000,0
1704067260000,1.60000000,1.60000000,1.60000000,1.60000000,0.00000000,1704067319999,0.00000000,0,0.00000000,0.00000000,0
1704067320000,1.40000000,1.40000000,1.40000000,1.40000000,3.00000000,1704067379999,4.20000000,2,0.00000000,0.00000000,0
EOF
want "2 BUSDT 1m row (trade events, tie ordered by id)" E2/BUSDT-1m.csv <<'EOF'
1704067200000,2.00000000,2.50000000,1.90000000,1.90000000,3.30000000,1704067259999,6.55000000,3,2.30000000,4.55000000,0
EOF
want "2 AUSDT 1h row" E2/AUSDT-1h.csv <<'EOF'
1704067200000,1.50000000,1.60000000,1.23456789,1.40000000,6.12345678,1704070799999,8.95241577,7,3.00000000,4.60000000,0
EOF
replay --intervals all --out R2 p2
rc_zero "2 replay of the equivalent CSV dumps"
same_tree "2 lines:stdin export = replay of the same trades" R2 E2

# ---- 3. graceful shutdown ---------------------------------------------------------------------
# 600 trades over 3 symbols and 10 minutes, sent over TCP on two connections. persist-ms 60000
# means no periodic snapshot runs during the test: what the store holds after the signal is the
# final snapshot of the ordered shutdown, and it must hold every trade.
awk 'BEGIN { for (i = 0; i < 600; i++) {
        s = substr("XAAUSDT XBBUSDT XCCUSDT", 1 + 8 * (i % 3), 7)
        printf "{\"e\":\"trade\",\"E\":1,\"s\":\"%s\",\"t\":%d,\"p\":\"%d.%02d\",\"q\":\"1\",\"T\":%.0f,\"m\":%s}\n",
            s, 100 + i, 10 + i % 4, i % 100, 1704067200000 + i * 1000, (i % 2 ? "true" : "false") } }' >lines3.txt
head -n 350 lines3.txt >lines3a.txt
tail -n +351 lines3.txt >lines3b.txt
for sig in TERM INT; do
    echo "# 3. SIG$sig commits every accepted trade"
    if serve_tcp --clock event --persist-ms 60000 --stats-s 1 --workers 2 --store "sqlite:d3$sig/k.db"; then
        ok "3 SIG$sig: serve listens on 127.0.0.1:$PORT"
        send_tcp lines3a.txt && send_tcp lines3b.txt
        if wait_log 'source_trades=600 .*worker_trades=600 '; then
            ok "3 SIG$sig: 600 trades applied (stats line)"
        else
            bad "3 SIG$sig: no stats line shows 600 trades applied"
        fi
        export_to "sqlite:d3$sig/k.db" E3pre$sig
        if grep -q 'export: 0 rows' "$T/exp_err.txt"; then
            ok "3 SIG$sig: nothing persisted before the signal (persist-ms 60000)"
        else
            bad "3 SIG$sig: the store had rows before the signal: $(cat "$T/exp_err.txt")"
        fi
        stop_bg "$sig"
        rc_zero "3 SIG$sig: serve"
        err_has "3 SIG$sig: the stop reason is logged" "event=stopping" "SIG$sig"
        export_to "sqlite:d3$sig/k.db" E3$sig
        n=0
        for s in XAAUSDT XBBUSDT XCCUSDT; do n=$((n + $(sum_col 9 "E3$sig/$s-1m.csv"))); done
        is "3 SIG$sig: the 1m trade counts sum to 600" 600 "$n"
        is "3 SIG$sig: 1m volume of XAAUSDT" 200 "$(sum_col 6 "E3$sig/XAAUSDT-1m.csv")"
        want "3 SIG$sig: XBBUSDT 5m klines (two 5-minute klines, hand-computed)" "E3$sig/XBBUSDT-5m.csv" <<'EOF'
1704067200000,11.01000000,13.99000000,10.00000000,12.98000000,100.00000000,1704067499999,1199.50000000,100,50.00000000,574.50000000,0
1704067500000,11.01000000,13.99000000,10.00000000,12.98000000,100.00000000,1704067799999,1199.50000000,100,50.00000000,574.50000000,0
EOF
    else
        bad "3 SIG$sig: serve did not start on a free port"
    fi
done

# ---- 4. SIGHUP reloads the symbol list ----------------------------------------------------------
echo "# 4. SIGHUP: symbols = AUSDT,BUSDT, then AUSDT,CUSDT"
line4() { # SYMBOL ID PRICE TIME_MS
    printf '{"e":"trade","E":1,"s":"%s","t":%d,"p":"%s","q":"1","T":%s,"m":false}\n' "$@"
}
{ line4 AUSDT 1 10 1704067200000; line4 BUSDT 1 20 1704067201000; line4 CUSDT 1 30 1704067202000; } >lines4a.txt
{ line4 AUSDT 2 11 1704067260000; line4 BUSDT 2 21 1704067261000; line4 CUSDT 2 31 1704067262000; } >lines4b.txt
printf '# klined test config\nsymbols = AUSDT,BUSDT\n' >k4.ini
if serve_tcp --config k4.ini --clock event --stats-s 1 --store sqlite:d4/k.db; then
    send_tcp lines4a.txt
    if wait_log 'source_rejected=1 .*worker_trades=2 '; then
        ok "4 before the reload: A and B applied, C rejected"
    else
        bad "4 before the reload: no stats line with 2 applied and 1 rejected"
    fi
    err_has "4 C is reported as rejected" "line_rejected" "CUSDT"
    printf '# klined test config\nsymbols = AUSDT,CUSDT\n' >k4.ini
    kill -HUP "$SPID"
    if wait_log 'event=reload '; then ok "4 SIGHUP logs a reload"; else bad "4 SIGHUP logs a reload"; fi
    err_has "4 the reload added C and removed B" "event=reload" "added=1" "removed=1"
    send_tcp lines4b.txt
    if wait_log 'source_rejected=2 .*worker_trades=4 '; then
        ok "4 after the reload: A and C applied, B rejected"
    else
        bad "4 after the reload: no stats line with 4 applied and 2 rejected"
    fi
    stop_bg TERM
    rc_zero "4 serve stops"
    export_to sqlite:d4/k.db E4 --intervals 1m
    files_are "4 A, B and C have klines" E4 AUSDT-1m.csv BUSDT-1m.csv CUSDT-1m.csv
    want "4 A: both minutes" E4/AUSDT-1m.csv <<'EOF'
1704067200000,10.00000000,10.00000000,10.00000000,10.00000000,1.00000000,1704067259999,10.00000000,1,1.00000000,10.00000000,0
1704067260000,11.00000000,11.00000000,11.00000000,11.00000000,1.00000000,1704067319999,11.00000000,1,1.00000000,11.00000000,0
EOF
    want "4 B: only the minute before its removal" E4/BUSDT-1m.csv <<'EOF'
1704067200000,20.00000000,20.00000000,20.00000000,20.00000000,1.00000000,1704067259999,20.00000000,1,1.00000000,20.00000000,0
EOF
    want "4 C: only the trade after the reload" E4/CUSDT-1m.csv <<'EOF'
1704067260000,31.00000000,31.00000000,31.00000000,31.00000000,1.00000000,1704067319999,31.00000000,1,1.00000000,31.00000000,0
EOF
    if command -v sqlite3 >/dev/null; then
        is "4 B's klines stay open after its removal (is_final 0: removal finalizes nothing)" "0" \
            "$(sqlite3 d4/k.db "select group_concat(distinct is_final) from klines where symbol='BUSDT'")"
    else
        echo "skip 4 is_final check: no sqlite3"
    fi
else
    bad "4 serve did not start"
fi

echo "# 4b. SIGHUP with a bad config file keeps the running symbol list"
printf 'symbols = AUSDT\n' >k4b.ini
if serve_tcp --config k4b.ini --clock event --stats-s 1 --store sqlite:d4b/k.db; then
    printf 'symbols = AUSDT\nworkers = many\n' >k4b.ini
    kill -HUP "$SPID"
    if wait_log 'event=reload_failed'; then ok "4b a bad reload is logged"; else bad "4b a bad reload is logged"; fi
    err_has "4b the failed reload names FILE:LINE, key and value" "reload_failed" "k4b.ini:2" "workers" "many"
    { line4 AUSDT 1 10 1704067200000; } >lines4c.txt
    send_tcp lines4c.txt
    if wait_log 'worker_trades=1 '; then ok "4b still serving AUSDT"; else bad "4b still serving AUSDT"; fi
    stop_bg TERM
    rc_zero "4b serve stops"
else
    bad "4b serve did not start"
fi

# ---- 5. configuration is validated before anything starts ------------------------------------
echo "# 5. bad configuration values"
mkdir -p p5
printf '1,1,1,1,1,1704067200000,False,True\n' >p5/ZUSDT-aggTrades-2024-01-01.csv
# bad_cfg NAME KEY VALUE ARGS...: serve must exit non-zero at once, start nothing, create no
# store, and name KEY and VALUE on one stderr line.
bad_cfg() {
    local name=$1 key=$2 val=$3
    shift 3
    rm -rf d5
    timeout -s KILL 20 "$BIN" serve --listen 127.0.0.1:0 --source lines:stdin --store sqlite:d5/k.db "$@" \
        </dev/null >"$T/out.txt" 2>"$T/err.txt"
    RC=$?
    if [ "$RC" -ne 0 ] && [ "$RC" -ne 137 ]; then
        ok "5 $name: exit $RC"
    else
        bad "5 $name: exit $RC, want non-zero at once"
    fi
    err_has "5 $name: stderr names $key and $val" "$key" "$val"
    if grep -q 'event=started' "$T/err.txt" || [ -e d5 ]; then
        bad "5 $name: the service started"
    else
        ok "5 $name: nothing started"
    fi
}
bad_cfg "--workers 0" workers 0 --workers 0
bad_cfg "--workers 65" workers 65 --workers 65
bad_cfg "--workers abc" workers abc --workers abc
bad_cfg "--tz +15:00" tz +15:00 --tz +15:00
bad_cfg "--tz 8:xx" tz 8:xx --tz 8:xx
bad_cfg "--intervals 2m" intervals 2m --intervals 2m
bad_cfg "--intervals 1m,1min" intervals 1min --intervals 1m,1min
bad_cfg "--store mysql://x" store mysql://x --store mysql://x
bad_cfg "--listen 127.0.0.1:99999" listen 127.0.0.1:99999 --listen 127.0.0.1:99999
bad_cfg "--queue-capacity 1000" queue-capacity 1000 --queue-capacity 1000
bad_cfg "--persist-ms 10" persist-ms 10 --persist-ms 10
bad_cfg "--pace -1" pace -1 --source "replay:p5/ZUSDT-aggTrades-2024-01-01.csv" --pace -1
bad_cfg "--source foo" source foo --source foo
bad_cfg "--source lines:tcp://10.1.2.3:9000" source 10.1.2.3 --source lines:tcp://10.1.2.3:9000
bad_cfg "--lateness-ms 5000" lateness-ms 5000 --lateness-ms 5000
bad_cfg "--clock sometimes" clock sometimes --clock sometimes
bad_cfg "--exit-on-eof=maybe" exit-on-eof maybe --exit-on-eof=maybe
bad_cfg "--symbols BTC-USDT" symbols BTC-USDT --symbols BTC-USDT
bad_cfg "--shard 3/2" shard 3/2 --shard 3/2
bad_cfg "unknown flag --nope" --nope nope --nope 1
printf '# comment\nworkers = 2\nfrobnicate = 1\n' >bad_key.ini
bad_cfg "config file, unknown key" frobnicate "bad_key.ini:3" --config bad_key.ini
printf 'workers = 2\n\ntz = +14:30\n' >bad_val.ini
bad_cfg "config file, bad value" tz "+14:30" --config bad_val.ini
err_has "5 config file, bad value: FILE:LINE" "bad_val.ini:3" "tz" "+14:30"
bad_cfg "missing config file" config nope.ini --config nope.ini
# A flag overrides the file; the file's bad value is still refused (the whole config is checked).
bad_cfg "flag over a bad file value" "bad_val.ini:3" "+14:30" --config bad_val.ini --tz +01:00

# ---- 6. `make run` defaults ---------------------------------------------------------------------
echo "# 6. klined serve with no flags: the live Binance source needs a symbol list"
mkdir -p p6
(cd p6 && timeout -s KILL 10 "$BIN" serve </dev/null >"$T/out.txt" 2>"$T/err.txt")
RC=$?
if [ "$RC" -ne 0 ] && [ "$RC" -ne 137 ]; then ok "6 exits non-zero at once ($RC)"; else bad "6 exit $RC, want non-zero at once"; fi
err_has "6 the message names the binance source and --symbols" "binance" "--symbols"
err_lacks "6 nothing started" "event=started"

# ---- 7. exact decimals in the store -------------------------------------------------------------
echo "# 7. the store keeps the schema's exact decimals"
if command -v sqlite3 >/dev/null; then
    is "7 quote_volume and taker_quote keep all 16 decimals" \
        "1.50000000|1.60000000|1.23456789|1.60000000|3.12345678|4.7524157763907942|5|3.00000000|4.6000000000000000|1|5|1" \
        "$(sqlite3 d2/k.db "select open,high,low,close,volume,quote_volume,trades,taker_base,taker_quote,first_id,last_id,is_final from klines where symbol='AUSDT' and interval='1m' and open_time=1704067200000")"
    is "7 a hole kline: ids -1, zero sums with their decimals" \
        "0.00000000|0.0000000000000000|0|-1|-1|1" \
        "$(sqlite3 d2/k.db "select volume,quote_volume,trades,first_id,last_id,is_final from klines where symbol='AUSDT' and interval='1m' and open_time=1704067260000")"
    is "7 the last kline is live (not final)" "0" \
        "$(sqlite3 d2/k.db "select is_final from klines where symbol='AUSDT' and interval='1m' and open_time=1704067320000")"
    is "7 every 8-place column has 8 places, every quote column 16" "0" \
        "$(sqlite3 d1/k.db "select count(*) from klines where open not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
            or high not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' or low not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
            or close not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' or volume not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
            or taker_base not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
            or quote_volume not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
            or taker_quote not glob '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
            or typeof(quote_volume) != 'text'")"
    is "7 µs series are stored with unit 1000 and 16-digit times" "1000|16" \
        "$(sqlite3 d1/k.db "select distinct unit, length(open_time) from klines where symbol='DDDUSDT' and interval='1m'")"
    is "7 µs close_time = next open - 1 µs" "59999999" \
        "$(sqlite3 d1/k.db "select distinct close_time - open_time from klines where symbol='DDDUSDT' and interval='1m'")"
else
    echo "skip 7: no sqlite3 CLI"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
