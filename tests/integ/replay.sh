#!/usr/bin/env bash
# End-to-end checks of `klined replay` against the issue contract: small data.binance.vision-style
# trade dumps (all four layouts, header or not, ms or µs, plain or zip, split over days) are
# written into a temporary directory, and every kline file is diffed against rows computed by
# hand (quote sums carry more than 8 decimals so that truncation, not rounding, is checked).
# Run as: bash tests/integ/replay.sh <klined-binary> [<shared-data-dir>]; exit 0 = all passed.
# Only bash, coreutils, awk and zip are used, so that it runs on any CI image.
set -u

BIN=${1:?usage: replay.sh <klined-binary> [shared-data-dir]}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-integ-replay.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

pass=0
fail=0
RC=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    if [ -s "$T/err.txt" ]; then sed 's/^/    stderr: /' "$T/err.txt" | head -20; fi
}

# replay ARGS...: runs `klined replay`, keeps stderr in err.txt and the exit code in RC.
replay() {
    "$BIN" replay "$@" >"$T/out.txt" 2>"$T/err.txt"
    RC=$?
}

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

# same NAME EXPECTED GOT: two files are byte-identical.
same() {
    if [ ! -f "$3" ]; then
        bad "$1: $3 was not written"
    elif cmp -s "$2" "$3"; then
        ok "$1"
    else
        bad "$1: $3 differs from $2"
        diff -u "$2" "$3" | sed 's/^/    /' | head -30
    fi
}

rc_zero() { if [ "$RC" -eq 0 ]; then ok "$1: exit 0"; else bad "$1: exit $RC, want 0"; fi; }
rc_nonzero() { if [ "$RC" -ne 0 ]; then ok "$1: exit $RC"; else bad "$1: exit 0, want non-zero"; fi; }

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

crlf() { sed 's/$/\r/' "$1"; }

# ---- the reference trades ------------------------------------------------------------------
# 2024-01-02T00:00:00Z = 1704153600000. Five aggTrades: three in 00:00, none in 00:01 (hole),
# two in 00:02. Σ price*qty per kline ends in ...523|74 (00:00), ...92|74 (1h), ...523|84
# (taker quote 1h): rounding would print ...524 / ...093 / ...524.

cat >spot_agg.body <<'EOF'
100,42000.12345678,0.00012345,1000,1002,1704153601000,False,True
101,42001.5,0.5,1003,1003,1704153630000,True,True
102,41999.99999999,0.33333333,1004,1010,1704153659999,False,True
103,42010.1,1.23456789,1011,1011,1704153720000,True,True
104,42005.00000001,0.1,1012,1015,1704153750500,False,True
EOF

# Expected 1m rows of the five aggTrades; counts are Σ(last-first+1) = 11, 0, 5.
cat >exp_agg_1m.csv <<'EOF'
1704153600000,42000.12345678,42001.50000000,41999.99999999,41999.99999999,0.83345678,1704153659999,35005.93477523,11,0.33345678,14005.18477523,0
1704153660000,41999.99999999,41999.99999999,41999.99999999,41999.99999999,0.00000000,1704153719999,0.00000000,0,0.00000000,0.00000000,0
1704153720000,42010.10000000,42010.10000000,42005.00000001,42005.00000001,1.33456789,1704153779999,56064.82051569,5,0.10000000,4200.50000000,0
EOF
cat >exp_agg_1h.csv <<'EOF'
1704153600000,42000.12345678,42010.10000000,41999.99999999,42005.00000001,2.16802467,1704157199999,91070.75529092,16,0.43345678,18205.68477523,0
EOF
# The same trades read as raw trades: one trade per row, so counts 3, 0, 2 and 5.
sed 's/,11,0.33345678,/,3,0.33345678,/; s/,5,0.10000000,/,2,0.10000000,/' exp_agg_1m.csv >exp_tr_1m.csv
sed 's/,16,0.43345678,/,5,0.43345678,/' exp_agg_1h.csv >exp_tr_1h.csv

echo "# 1. spot aggTrades, no header, 1m and 1h"
mkdir -p t1
cp spot_agg.body t1/BTCUSDT-aggTrades-2024-01-02.csv
replay --intervals 1m,1h --out o1 t1/BTCUSDT-aggTrades-2024-01-02.csv
rc_zero "1 spot aggTrades"
want "1 spot aggTrades 1m rows (hole, truncated quote, taker, counts)" o1/BTCUSDT-1m.csv <exp_agg_1m.csv
want "1 spot aggTrades 1h row" o1/BTCUSDT-1h.csv <exp_agg_1h.csv
files_are "1 only the asked intervals are written" o1 BTCUSDT-1h.csv BTCUSDT-1m.csv
err_has "1 summary: rows read, rejected" "BTCUSDT" "5 rows read" "0 rejected"
err_has "1 summary: klines written per interval" "klines written" "1m=3" "1h=1"

# An hour-long hole: 00:10, then 02:30 and 02:45. Quote sums 0.152345677626 and 0.018581175,
# taker quote 0.006181175: truncation gives ...567, ...117, ...117.
cat >t1/XRPBTC-aggTrades-2024-01-02.csv <<'EOF'
400,0.00001234,12345.6789,1,1,1704154200000,False,True
401,0.00001240,1000,2,3,1704162600000,True,True
402,0.00001235,500.5,4,4,1704163500000,False,True
EOF
replay --intervals 1h --out o1h t1/XRPBTC-aggTrades-2024-01-02.csv
rc_zero "1 1h hole"
want "1 1h rows with a hole hour in the middle" o1h/XRPBTC-1h.csv <<'EOF'
1704153600000,0.00001234,0.00001234,0.00001234,0.00001234,12345.67890000,1704157199999,0.15234567,1,12345.67890000,0.15234567,0
1704157200000,0.00001234,0.00001234,0.00001234,0.00001234,0.00000000,1704160799999,0.00000000,0,0.00000000,0.00000000,0
1704160800000,0.00001240,0.00001240,0.00001235,0.00001235,1500.50000000,1704164399999,0.01858117,3,500.50000000,0.00618117,0
EOF

echo "# 2. the same trades in the other layouts"
mkdir -p t2
{
    echo "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
    awk -F, -v OFS=, '{ print $1, $2, $3, $4, $5, $6, tolower($7) }' spot_agg.body
} >t2/BTCUSDT-aggTrades-2024-01-02.csv
replay --intervals 1m,1h --out o2a t2/BTCUSDT-aggTrades-2024-01-02.csv
rc_zero "2 futures aggTrades with header"
want "2 futures aggTrades with header, 1m" o2a/BTCUSDT-1m.csv <exp_agg_1m.csv
want "2 futures aggTrades with header, 1h" o2a/BTCUSDT-1h.csv <exp_agg_1h.csv
err_has "2 futures aggTrades: layout and rows in summary" "futures aggTrades" "5 rows read"

mkdir -p t2b
tail -n +2 t2/BTCUSDT-aggTrades-2024-01-02.csv >t2b/BTCUSDT-aggTrades-2024-01-02.csv
replay --intervals 1m,1h --out o2b t2b/BTCUSDT-aggTrades-2024-01-02.csv
rc_zero "2 futures aggTrades without header"
want "2 futures aggTrades without header, 1m" o2b/BTCUSDT-1m.csv <exp_agg_1m.csv
err_has "2 futures aggTrades without header detected" "futures aggTrades" "5 rows read"

# Spot trades: id,price,qty,quote_qty,time,isBuyerMaker,isBestMatch (quote_qty is the
# exchange's rounded value and must not be used).
mkdir -p t2c
awk -F, -v OFS=, '{ q = $2 * $3; print $4 + 0, $2, $3, sprintf("%.8f", q), $6, $7, $8 }' \
    spot_agg.body >t2c/BTCUSDT-trades-2024-01-02.csv
replay --intervals 1m,1h --out o2c t2c/BTCUSDT-trades-2024-01-02.csv
rc_zero "2 spot trades"
want "2 spot trades 1m (count = rows)" o2c/BTCUSDT-1m.csv <exp_tr_1m.csv
want "2 spot trades 1h" o2c/BTCUSDT-1h.csv <exp_tr_1h.csv
err_has "2 spot trades detected" "spot trades" "5 rows read"

mkdir -p t2d
{
    echo "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"
    cat t2c/BTCUSDT-trades-2024-01-02.csv
} >t2d/BTCUSDT-trades-2024-01-02.csv
replay --intervals 1m,1h --out o2d t2d/BTCUSDT-trades-2024-01-02.csv
rc_zero "2 spot trades with header"
want "2 spot trades with header 1m" o2d/BTCUSDT-1m.csv <exp_tr_1m.csv
err_has "2 spot trades with header detected" "spot trades" "5 rows read"

mkdir -p t2e
{
    echo "id,price,qty,quote_qty,time,is_buyer_maker"
    awk -F, -v OFS=, '{ print $1, $2, $3, $4, $5, tolower($6) }' t2c/BTCUSDT-trades-2024-01-02.csv
} >t2e/BTCUSDT-trades-2024-01-02.csv
replay --intervals 1m,1h --out o2e t2e/BTCUSDT-trades-2024-01-02.csv
rc_zero "2 futures trades with header"
want "2 futures trades with header 1m" o2e/BTCUSDT-1m.csv <exp_tr_1m.csv
want "2 futures trades with header 1h" o2e/BTCUSDT-1h.csv <exp_tr_1h.csv
err_has "2 futures trades detected" "futures trades" "5 rows read"

echo "# 3. microsecond timestamps"
mkdir -p t3
awk -F, -v OFS=, '{ $6 = $6 "000"; print }' spot_agg.body >t3/BTCUSDT-aggTrades-2025-01-02.csv
replay --intervals 1m,1h --out o3 t3/BTCUSDT-aggTrades-2025-01-02.csv
rc_zero "3 us"
want "3 us 1m: times in us, close = next open - 1us" o3/BTCUSDT-1m.csv <<'EOF'
1704153600000000,42000.12345678,42001.50000000,41999.99999999,41999.99999999,0.83345678,1704153659999999,35005.93477523,11,0.33345678,14005.18477523,0
1704153660000000,41999.99999999,41999.99999999,41999.99999999,41999.99999999,0.00000000,1704153719999999,0.00000000,0,0.00000000,0.00000000,0
1704153720000000,42010.10000000,42010.10000000,42005.00000001,42005.00000001,1.33456789,1704153779999999,56064.82051569,5,0.10000000,4200.50000000,0
EOF
want "3 us 1h" o3/BTCUSDT-1h.csv <<'EOF'
1704153600000000,42000.12345678,42010.10000000,41999.99999999,42005.00000001,2.16802467,1704157199999999,91070.75529092,16,0.43345678,18205.68477523,0
EOF
# A sub-millisecond step must land in its own second: 00:00:00.999999 vs 00:00:01.000000.
cat >t3/ETHUSDT-aggTrades-2025-01-02.csv <<'EOF'
1,2000,1,1,1,1704153600999999,False,True
2,2001,1,2,2,1704153601000000,True,True
EOF
replay --intervals 1s --out o3b t3/ETHUSDT-aggTrades-2025-01-02.csv
want "3 us 1s boundary at the exact microsecond" o3b/ETHUSDT-1s.csv <<'EOF'
1704153600000000,2000.00000000,2000.00000000,2000.00000000,2000.00000000,1.00000000,1704153600999999,2000.00000000,1,1.00000000,2000.00000000,0
1704153601000000,2001.00000000,2001.00000000,2001.00000000,2001.00000000,1.00000000,1704153601999999,2001.00000000,1,0.00000000,0.00000000,0
EOF

echo "# 4. consecutive daily files = one concatenated file"
# Day 1 ends at 23:58:50, day 2 starts 00:00:05: 23:59 is a hole across the file boundary.
cat >day1.body <<'EOF'
200,100.5,2,5000,5001,1704239890000,False,True
201,100.25,1.5,5002,5002,1704239930000,True,True
EOF
cat >day2.body <<'EOF'
202,100.75,0.25,5003,5005,1704240005000,False,True
203,100.1,3,5006,5006,1704240090000,True,True
EOF
cat >exp_days_1m.csv <<'EOF'
1704239880000,100.50000000,100.50000000,100.25000000,100.25000000,3.50000000,1704239939999,351.37500000,3,2.00000000,201.00000000,0
1704239940000,100.25000000,100.25000000,100.25000000,100.25000000,0.00000000,1704239999999,0.00000000,0,0.00000000,0.00000000,0
1704240000000,100.75000000,100.75000000,100.75000000,100.75000000,0.25000000,1704240059999,25.18750000,3,0.25000000,25.18750000,0
1704240060000,100.10000000,100.10000000,100.10000000,100.10000000,3.00000000,1704240119999,300.30000000,1,0.00000000,0.00000000,0
EOF
cat >exp_days_1d.csv <<'EOF'
1704153600000,100.50000000,100.50000000,100.25000000,100.25000000,3.50000000,1704239999999,351.37500000,3,2.00000000,201.00000000,0
1704240000000,100.75000000,100.75000000,100.10000000,100.10000000,3.25000000,1704326399999,325.48750000,4,0.25000000,25.18750000,0
EOF
mkdir -p t4/cat t4/plain t4/zip t4/mixed
cat day1.body day2.body >t4/cat/BNBUSDT-aggTrades-2024-01.csv
cp day1.body t4/plain/BNBUSDT-aggTrades-2024-01-02.csv
cp day2.body t4/plain/BNBUSDT-aggTrades-2024-01-03.csv
for d in 02 03; do
    zip -q -j t4/zip/BNBUSDT-aggTrades-2024-01-$d.zip t4/plain/BNBUSDT-aggTrades-2024-01-$d.csv
done
cp t4/plain/BNBUSDT-aggTrades-2024-01-02.csv t4/mixed/
cp t4/zip/BNBUSDT-aggTrades-2024-01-03.zip t4/mixed/

replay --intervals 1m,1d --out o4cat t4/cat/BNBUSDT-aggTrades-2024-01.csv
rc_zero "4 concatenated"
want "4 concatenated file 1m" o4cat/BNBUSDT-1m.csv <exp_days_1m.csv
want "4 concatenated file 1d" o4cat/BNBUSDT-1d.csv <exp_days_1d.csv

check_days() { # NAME OUTDIR
    rc_zero "$1"
    same "$1 1m = concatenated" o4cat/BNBUSDT-1m.csv "$2/BNBUSDT-1m.csv"
    same "$1 1d = concatenated" o4cat/BNBUSDT-1d.csv "$2/BNBUSDT-1d.csv"
    err_has "$1 summary: one series, 4 rows" "BNBUSDT: 2 file(s)" "4 rows read"
    err_has "$1 klines written" "1m=4" "1d=2"
}
replay --intervals 1m,1d --out o4p t4/plain/BNBUSDT-aggTrades-2024-01-02.csv t4/plain/BNBUSDT-aggTrades-2024-01-03.csv
check_days "4 two plain files" o4p
replay --intervals 1m,1d --out o4z t4/zip/BNBUSDT-aggTrades-2024-01-02.zip t4/zip/BNBUSDT-aggTrades-2024-01-03.zip
check_days "4 two zip -j files" o4z
replay --intervals 1m,1d --out o4m t4/mixed/BNBUSDT-aggTrades-2024-01-02.csv t4/mixed/BNBUSDT-aggTrades-2024-01-03.zip
check_days "4 plain + zip" o4m
replay --intervals 1m,1d --out o4d t4/plain
check_days "4 directory argument" o4d
replay --intervals 1m,1d --out o4dz t4/mixed
check_days "4 directory of plain + zip" o4dz
replay --intervals 1m,1d --out o4r t4/plain/BNBUSDT-aggTrades-2024-01-03.csv t4/plain/BNBUSDT-aggTrades-2024-01-02.csv
check_days "4 reverse order" o4r
replay --intervals 1m,1d --out o4rz t4/zip/BNBUSDT-aggTrades-2024-01-03.zip t4/zip/BNBUSDT-aggTrades-2024-01-02.zip
check_days "4 reverse order zip" o4rz

# 2024-12-31 in ms, 2025-01-01 in µs (Binance's spot switch): one series, in µs.
mkdir -p t4u
cat >t4u/BNBUSDT-aggTrades-2024-12-31.csv <<'EOF'
1,600,1,1,1,1735689599000,False,True
EOF
cat >t4u/BNBUSDT-aggTrades-2025-01-01.csv <<'EOF'
2,601,2,2,3,1735689600000500,True,True
EOF
replay --intervals 1s --out o4u t4u
rc_zero "4 ms day then us day"
want "4 ms day then us day: one series in us" o4u/BNBUSDT-1s.csv <<'EOF'
1735689599000000,600.00000000,600.00000000,600.00000000,600.00000000,1.00000000,1735689599999999,600.00000000,1,1.00000000,600.00000000,0
1735689600000000,601.00000000,601.00000000,601.00000000,601.00000000,2.00000000,1735689600999999,1202.00000000,2,0.00000000,0.00000000,0
EOF

echo "# 5. symbol naming"
replay --intervals 1m --symbol ETHBTC --out o5 t1/BTCUSDT-aggTrades-2024-01-02.csv
rc_zero "5 --symbol"
files_are "5 --symbol names the output" o5 ETHBTC-1m.csv
want "5 --symbol output rows" o5/ETHBTC-1m.csv <exp_agg_1m.csv
mkdir -p t5
cp spot_agg.body t5/trades.csv
replay --intervals 1m --out o5b t5/trades.csv
rc_nonzero "5 no '-' in the name, no --symbol"
err_has "5 message names the file and --symbol" "t5/trades.csv" "--symbol"
if compgen -G "o5b/*.csv" >/dev/null; then bad "5 no output for a nameless symbol"; else ok "5 no output for a nameless symbol"; fi
replay --intervals 1m --symbol XYZ --out o5c t5/trades.csv
rc_zero "5 no '-' in the name, with --symbol"
want "5 no '-' in the name, with --symbol: rows" o5c/XYZ-1m.csv <exp_agg_1m.csv

echo "# 6. time zone and interval lists"
# 15:59:59.999Z and 16:00:00.000Z on 2024-01-02: with +08:00 they are two local days.
mkdir -p t6
cat >t6/SOLUSDT-aggTrades-2024-01-02.csv <<'EOF'
300,50,1,1,1,1704211199999,False,True
301,51,1,2,2,1704211200000,True,True
EOF
replay --intervals 1d --tz +08:00 --out o6 t6/SOLUSDT-aggTrades-2024-01-02.csv
rc_zero "6 --tz +08:00"
want "6 --tz +08:00 1d opens at 16:00Z" o6/SOLUSDT-1d.csv <<'EOF'
1704124800000,50.00000000,50.00000000,50.00000000,50.00000000,1.00000000,1704211199999,50.00000000,1,1.00000000,50.00000000,0
1704211200000,51.00000000,51.00000000,51.00000000,51.00000000,1.00000000,1704297599999,51.00000000,1,0.00000000,0.00000000,0
EOF
replay --intervals 1d --out o6u t6/SOLUSDT-aggTrades-2024-01-02.csv
want "6 UTC 1d (control)" o6u/SOLUSDT-1d.csv <<'EOF'
1704153600000,50.00000000,51.00000000,50.00000000,51.00000000,2.00000000,1704239999999,101.00000000,2,1.00000000,50.00000000,0
EOF
replay --intervals all --out o6a t6/SOLUSDT-aggTrades-2024-01-02.csv
rc_zero "6 --intervals all"
files_are "6 --intervals all writes exactly 16 files" o6a \
    SOLUSDT-1s.csv SOLUSDT-1m.csv SOLUSDT-3m.csv SOLUSDT-5m.csv SOLUSDT-15m.csv SOLUSDT-30m.csv \
    SOLUSDT-1h.csv SOLUSDT-2h.csv SOLUSDT-4h.csv SOLUSDT-6h.csv SOLUSDT-8h.csv SOLUSDT-12h.csv \
    SOLUSDT-1d.csv SOLUSDT-3d.csv SOLUSDT-1w.csv SOLUSDT-1M.csv
want "6 1w opens Monday 2024-01-01" o6a/SOLUSDT-1w.csv <<'EOF'
1704067200000,50.00000000,51.00000000,50.00000000,51.00000000,2.00000000,1704671999999,101.00000000,2,1.00000000,50.00000000,0
EOF
want "6 1s: two adjacent seconds, no hole" o6a/SOLUSDT-1s.csv <<'EOF'
1704211199000,50.00000000,50.00000000,50.00000000,50.00000000,1.00000000,1704211199999,50.00000000,1,1.00000000,50.00000000,0
1704211200000,51.00000000,51.00000000,51.00000000,51.00000000,1.00000000,1704211200999,51.00000000,1,0.00000000,0.00000000,0
EOF
replay --intervals 1m,1M --out o6b t6/SOLUSDT-aggTrades-2024-01-02.csv
rc_zero "6 --intervals 1m,1M"
files_are "6 --intervals 1m,1M writes only those two" o6b SOLUSDT-1m.csv SOLUSDT-1M.csv
want "6 1M is the calendar month" o6b/SOLUSDT-1M.csv <<'EOF'
1704067200000,50.00000000,51.00000000,50.00000000,51.00000000,2.00000000,1706745599999,101.00000000,2,1.00000000,50.00000000,0
EOF
want "6 1m next to 1M" o6b/SOLUSDT-1m.csv <<'EOF'
1704211140000,50.00000000,50.00000000,50.00000000,50.00000000,1.00000000,1704211199999,50.00000000,1,1.00000000,50.00000000,0
1704211200000,51.00000000,51.00000000,51.00000000,51.00000000,1.00000000,1704211259999,51.00000000,1,0.00000000,0.00000000,0
EOF
replay --intervals 1m,2m --out o6c t6/SOLUSDT-aggTrades-2024-01-02.csv
rc_nonzero "6 bad --intervals"
err_has "6 bad --intervals named" "1m,2m" "interval"
replay --intervals 1min --out o6c t6/SOLUSDT-aggTrades-2024-01-02.csv
rc_nonzero "6 bad --intervals 1min"
err_has "6 bad --intervals 1min named" "1min"
replay --tz +15:00 --out o6c t6/SOLUSDT-aggTrades-2024-01-02.csv
rc_nonzero "6 bad --tz +15:00"
err_has "6 bad --tz +15:00 named" "+15:00"
replay --tz 8:xx --out o6c t6/SOLUSDT-aggTrades-2024-01-02.csv
rc_nonzero "6 bad --tz 8:xx"
err_has "6 bad --tz 8:xx named" "8:xx"
if [ -e o6c ]; then bad "6 a bad option writes nothing"; else ok "6 a bad option writes nothing"; fi

echo "# 7. bad rows"
mkdir -p t7
F7=t7/BTCUSDT-aggTrades-2024-01-02.csv
{
    sed -n 1p spot_agg.body
    echo "900,42001.123456789,0.5,2000,2000,1704153630000,True,True"
    sed -n 2p spot_agg.body
    echo "901,42010.1,1.23456789,2001,2001,1704153640000,True"
    sed -n 3p spot_agg.body
    echo "902,42000,1,2002,2002,1704153700000,Maybe,True"
    sed -n 4p spot_agg.body
    echo "abc,42000,1,2003,2003,1704153710000,False,True"
    sed -n 5p spot_agg.body
} >$F7
replay --intervals 1m,1h --out o7 $F7
rc_zero "7 bad rows, not strict"
err_has "7 9 decimals reported at $F7:2" "$F7:2:" "decimal"
err_has "7 wrong column count reported at $F7:4" "$F7:4:" "column"
err_has "7 bad bool reported at $F7:6" "$F7:6:" "bool"
err_has "7 non-numeric id reported at $F7:8" "$F7:8:" "integer"
err_has "7 summary counts the rejects" "BTCUSDT" "9 rows read" "4 rejected"
err_has "7 summary klines written" "1m=3" "1h=1"
want "7 good rows still aggregated, 1m" o7/BTCUSDT-1m.csv <exp_agg_1m.csv
want "7 good rows still aggregated, 1h" o7/BTCUSDT-1h.csv <exp_agg_1h.csv
mkdir -p t7z
zip -q -j t7z/BTCUSDT-aggTrades-2024-01-02.zip $F7
replay --intervals 1m --out o7z t7z/BTCUSDT-aggTrades-2024-01-02.zip
err_has "7 zip: bad row reported with the zip's name and line" "t7z/BTCUSDT-aggTrades-2024-01-02.zip:6:" "bool"
want "7 zip: good rows still aggregated" o7z/BTCUSDT-1m.csv <exp_agg_1m.csv
replay --strict --intervals 1m --out o7s $F7
rc_nonzero "7 --strict"
err_has "7 --strict reports the first bad row" "$F7:2:" "decimal"
err_lacks "7 --strict stops at the first bad row" "$F7:4:"

# A bad first row is still a bad row: counted and skipped, not a reason to drop the whole file
# (layout detection must not need the first row to parse).
mkdir -p t7b
F7B=t7b/BTCUSDT-aggTrades-2024-01-02.csv
{ echo "99,42000.123456789,1,999,999,1704153600000,False,True"; cat spot_agg.body; } >$F7B
replay --intervals 1m,1h --out o7b $F7B
rc_zero "7 bad first row, not strict"
err_has "7 bad first row reported at $F7B:1" "$F7B:1:" "decimal"
err_has "7 bad first row counted" "6 rows read" "1 rejected"
want "7 bad first row: the other rows still aggregated" o7b/BTCUSDT-1m.csv <exp_agg_1m.csv

echo "# 8. duplicates"
mkdir -p t8
{
    sed -n 1,2p spot_agg.body
    sed -n 2p spot_agg.body
    sed -n 3,4p spot_agg.body
    sed -n 1p spot_agg.body
    sed -n 5p spot_agg.body
} >t8/BTCUSDT-aggTrades-2024-01-02.csv
replay --intervals 1m,1h --out o8 t8/BTCUSDT-aggTrades-2024-01-02.csv
rc_zero "8 duplicates"
want "8 duplicates ignored, 1m" o8/BTCUSDT-1m.csv <exp_agg_1m.csv
want "8 duplicates ignored, 1h" o8/BTCUSDT-1h.csv <exp_agg_1h.csv
err_has "8 summary counts duplicates, not rejects" "7 rows read" "0 rejected" "2 duplicates"
# Overlapping daily files: day 2 repeats day 1's last row.
mkdir -p t8b
cp day1.body t8b/BNBUSDT-aggTrades-2024-01-02.csv
{ tail -n 1 day1.body; cat day2.body; } >t8b/BNBUSDT-aggTrades-2024-01-03.csv
replay --intervals 1m,1d --out o8b t8b
rc_zero "8 overlapping files"
same "8 overlapping files 1m = concatenated" o4cat/BNBUSDT-1m.csv o8b/BNBUSDT-1m.csv
same "8 overlapping files 1d = concatenated" o4cat/BNBUSDT-1d.csv o8b/BNBUSDT-1d.csv
err_has "8 overlapping files: 1 duplicate" "5 rows read" "1 duplicates"

echo "# 9. line endings"
mkdir -p t9a t9b t9c t9d t9e
{ cat spot_agg.body; echo; } >t9a/BTCUSDT-aggTrades-2024-01-02.csv
crlf spot_agg.body >t9b/BTCUSDT-aggTrades-2024-01-02.csv
{ crlf spot_agg.body; printf '\r\n'; } >t9c/BTCUSDT-aggTrades-2024-01-02.csv
crlf t2/BTCUSDT-aggTrades-2024-01-02.csv >t9d/BTCUSDT-aggTrades-2024-01-02.csv
head -c -1 spot_agg.body >t9e/BTCUSDT-aggTrades-2024-01-02.csv
for v in a b c d e; do
    replay --intervals 1m,1h --out o9$v t9$v/BTCUSDT-aggTrades-2024-01-02.csv
    case $v in
    a) what="empty trailing line" ;;
    b) what="CRLF" ;;
    c) what="CRLF and an empty trailing CRLF line" ;;
    d) what="CRLF with a header (futures)" ;;
    e) what="no newline at the end" ;;
    esac
    rc_zero "9 $what"
    want "9 $what, 1m" o9$v/BTCUSDT-1m.csv <exp_agg_1m.csv
    want "9 $what, 1h" o9$v/BTCUSDT-1h.csv <exp_agg_1h.csv
    err_has "9 $what: nothing rejected" "5 rows read" "0 rejected"
done
zip -q -j t9b/BTCUSDT-aggTrades-2024-01-02.zip t9c/BTCUSDT-aggTrades-2024-01-02.csv
replay --intervals 1m --out o9z t9b/BTCUSDT-aggTrades-2024-01-02.zip
rc_zero "9 zipped CRLF"
want "9 zipped CRLF with trailing empty line, 1m" o9z/BTCUSDT-1m.csv <exp_agg_1m.csv

echo "# 10. a dump larger than one zip read chunk (8 MiB), and several symbols in one directory"
# 200000 integer-valued trades every 100 ms, with a 120 s gap (a hole minute) and one bad row
# past the 8 MiB mark; awk computes the expected 1m klines exactly (all sums are integers).
mkdir -p t10
awk -v t0=1704153600000 'BEGIN {
    for (i = 1; i <= 200000; i++) {
        if (i >= 100000 && i < 101200) continue
        if (i == 180000) { print i ",100,1," 2 * i "," 2 * i + 1 "," sprintf("%.0f", t0 + i * 100) ",Maybe,True"; continue }
        print i "," 100 + i % 7 "," 1 + i % 3 "," 2 * i "," 2 * i + 1 "," sprintf("%.0f", t0 + i * 100) "," (i % 2 ? "True" : "False") ",True"
    } }' >t10/ADAUSDT-aggTrades-2024-01-02.csv
# mawk prints %d as int32 and keys arrays by %.6g: big numbers go through %.0f strings only.
awk -F, '$7 != "Maybe" {
    m = sprintf("%.0f", $6 - $6 % 60000)
    if (!(m in n)) { o[m] = $2; h[m] = $2; l[m] = $2; ord[++k] = m }
    n[m]++; c[m] = $2; v[m] += $3; q[m] += $2 * $3
    if ($2 + 0 > h[m] + 0) h[m] = $2
    if ($2 + 0 < l[m] + 0) l[m] = $2
    if ($7 == "False") { tb[m] += $3; tq[m] += $2 * $3 }
    } END {
    d = ".00000000"
    for (t = ord[1] + 0; t <= ord[k] + 0; t += 60000) {
        m = sprintf("%.0f", t)
        e = sprintf("%.0f", t + 59999)
        if (m in n) {
            last = c[m]
            printf "%s,%s%s,%s%s,%s%s,%s%s,%.0f%s,%s,%.0f%s,%.0f,%.0f%s,%.0f%s,0\n", m, o[m], d, h[m], d, l[m], d, c[m], d, v[m], d, e, q[m], d, 2 * n[m], tb[m], d, tq[m], d
        } else
            printf "%s,%s%s,%s%s,%s%s,%s%s,0%s,%s,0%s,0,0%s,0%s,0\n", m, last, d, last, d, last, d, last, d, d, e, d, d, d
    } }' t10/ADAUSDT-aggTrades-2024-01-02.csv >exp_big_1m.csv
BADLINE=$(grep -n Maybe t10/ADAUSDT-aggTrades-2024-01-02.csv | cut -d: -f1)
if [ "$(stat -c %s t10/ADAUSDT-aggTrades-2024-01-02.csv)" -gt $((8 << 20)) ] &&
    [ "$(head -c $((8 << 20)) t10/ADAUSDT-aggTrades-2024-01-02.csv | wc -l)" -lt "$BADLINE" ] &&
    grep -q ',0.00000000,' exp_big_1m.csv; then
    ok "10 fixture spans two chunks, bad row in the second, has a hole"
else
    bad "10 fixture spans two chunks, bad row in the second, has a hole"
fi
replay --intervals 1m --out o10 t10/ADAUSDT-aggTrades-2024-01-02.csv
rc_zero "10 big plain"
same "10 big plain 1m = awk aggregate" exp_big_1m.csv o10/ADAUSDT-1m.csv
err_has "10 big plain: bad row at its line" "t10/ADAUSDT-aggTrades-2024-01-02.csv:$BADLINE:" "bool"
mkdir -p t10z
zip -q -j t10z/ADAUSDT-aggTrades-2024-01-02.zip t10/ADAUSDT-aggTrades-2024-01-02.csv
replay --intervals 1m --out o10z t10z/ADAUSDT-aggTrades-2024-01-02.zip
rc_zero "10 big zip"
same "10 big zip 1m = awk aggregate" exp_big_1m.csv o10z/ADAUSDT-1m.csv
err_has "10 big zip: bad row at its line across the chunk boundary" "t10z/ADAUSDT-aggTrades-2024-01-02.zip:$BADLINE:" "bool"
err_has "10 big zip: summary" "198800 rows read" "1 rejected"

# Two symbols in one directory are two independent series.
mkdir -p t10m
cp t4/plain/*.csv t6/SOLUSDT-aggTrades-2024-01-02.csv t10m/
replay --intervals 1m --out o10m t10m
rc_zero "10 two symbols"
files_are "10 two symbols: one file each" o10m BNBUSDT-1m.csv SOLUSDT-1m.csv
same "10 two symbols: BNBUSDT unchanged" o4cat/BNBUSDT-1m.csv o10m/BNBUSDT-1m.csv
same "10 two symbols: SOLUSDT unchanged" o6b/SOLUSDT-1m.csv o10m/SOLUSDT-1m.csv

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
