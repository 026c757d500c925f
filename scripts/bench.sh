#!/usr/bin/env bash
# Prints klined's speed figures next to peers doing the same job: the kline engine alone
# (bench_kline), `klined replay` on a generated 20M-row aggTrades dump (CSV and zip), and the
# same replay in DuckDB and pandas on a slice of that dump, with a check that all three write
# byte-identical kline files. Figures only: nothing here passes or fails on speed.
# Usage: scripts/bench.sh   (env: KL_BENCH_TRADES=20000000 KL_BENCH_SLICE=2000000 KL_BENCH_RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${KL_BENCH_TRADES:-20000000}
SLICE=${KL_BENCH_SLICE:-2000000}
RUNS=${KL_BENCH_RUNS:-3}
B=build-bench
PY=/usr/bin/python3 # Debian's python3-pandas lives there, whatever python3 is first in PATH
[ -x "$PY" ] || PY=python3
NAME=BTCUSDT-aggTrades-2024-01

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu:   $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (other users share the CPU: figures are noisy)"
echo "kernel $(uname -r), $(gcc --version | head -1), node $(node --version), pandas $("$PY" -c 'import pandas; print(pandas.__version__)')"
echo "klined $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%M:%SZ)"

echo "== build (Release, $B)"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DKL_BENCH=ON >/dev/null
cmake --build "$B" -j2 --target klined bench_kline gen_dump bench_snapshot >/dev/null
for t in bench_store bench_trade_json; do # optional: built when their sources exist
    cmake --build "$B" -j2 --target "$t" >/dev/null 2>&1 || true
done
if [ ! -d bench/peers/node_modules/@duckdb/node-api ]; then
    npm ci --prefix bench/peers --no-audit --no-fund >/dev/null
fi

TMP=$(mktemp -d /tmp/klined-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/full" "$TMP/slice" "$TMP/zip"
FULL=$TMP/full/$NAME.csv
SL=$TMP/slice/$NAME.csv
ZIP=$TMP/zip/$NAME.zip

echo "== inputs"
"$B/bench/gen_dump" "$FULL" "$N"
head -n "$SLICE" "$FULL" >"$SL"
(cd "$TMP/full" && zip -q "$ZIP" "$NAME.csv")
ls -l "$FULL" "$SL" "$ZIP" | awk '{printf "%12d bytes  %s\n", $5, $NF}'

echo "== bench_kline (engine only, binary trades in memory; then parse and apply of the dump)"
"$B/bench/bench_kline" "$N" "$FULL" | tee "$TMP/bench_kline.txt"

# best_of LABEL CMD...: runs CMD $RUNS times; each run prints "<rows> <seconds>" as its last
# stdout line; records the best rate in $TMP/rate.LABEL as "<rows> <seconds> <rows/s>".
best_of() {
    local label=$1
    shift
    local best="" line
    for ((i = 1; i <= RUNS; i++)); do
        line=$("$@" | tail -1)
        best=$(printf '%s\n%s\n' "$best" "$line" |
            awk 'NF == 2 && $2 > 0 { r = $1 / $2; if (r > br) { br = r; b = $1 " " $2 " " r } }
                 END { print b }')
    done
    echo "$best" >"$TMP/rate.$label"
    awk -v l="$label" '{ printf "%-22s best of '"$RUNS"': %d rows in %.3f s = %.2f M trades/s\n",
                         l, $1, $2, $3 / 1e6 }' "$TMP/rate.$label"
}

# klined prints "replay: N rows (R rejected) in T s: ..." on stderr.
klined_replay() {
    local out=$1
    shift
    rm -rf "$out"
    "$B/klined" replay --quiet --out "$out" "$@" 2>&1 >/dev/null |
        awk '/^replay: [0-9]+ rows/ { print $2, $7 }'
}
duckdb_replay() {
    rm -rf "$TMP/out-duckdb"
    node bench/peers/duckdb_replay.mjs --out "$TMP/out-duckdb" "$SL" | tee -a "$TMP/duckdb.txt" |
        awk '/^duckdb:/ { print $2, $5 }'
}
pandas_replay() {
    rm -rf "$TMP/out-pandas"
    "$PY" bench/peers/pandas_replay.py --out "$TMP/out-pandas" "$SL" |
        awk '/^pandas:/ { print $2, $5 }'
}

echo "== klined replay ($RUNS runs each, best kept)"
best_of klined_csv_all klined_replay "$TMP/out-k" --intervals all "$FULL"
best_of klined_zip_all klined_replay "$TMP/out-k" --intervals all "$ZIP"
best_of klined_csv_1M klined_replay "$TMP/out-k" --intervals 1M "$FULL"
best_of klined_slice_all klined_replay "$TMP/out-klined" --intervals all "$SL"

echo "== peers on the first $SLICE rows ($RUNS runs each, best kept)"
best_of duckdb duckdb_replay
DUCK_THREADS=$(sed -n 's/.*(threads=\([0-9]*\)).*/\1/p' "$TMP/duckdb.txt" | head -1)
best_of pandas pandas_replay

echo "== klined serve end to end (replay source, 2 workers, SQLite persistence on, 16 intervals)"
# serve_once: one run over the slice; prints "<rows> <seconds>" (wall time of the whole process,
# start-up and the final commit included).
serve_once() {
    rm -rf "$TMP/serve"
    local t0 t1
    t0=$(date +%s.%N)
    "$B/klined" serve --listen 127.0.0.1:0 --source "replay:$SL" --store "sqlite:$TMP/serve/k.db" --workers 2 \
        --exit-on-eof --stats-s 0 --log-level warn >/dev/null 2>&1
    t1=$(date +%s.%N)
    awk -v n="$SLICE" -v a="$t0" -v b="$t1" 'BEGIN { print n, b - a }'
}
best_of serve serve_once
echo "== snapshot cost against dirty symbols (O(dirty))"
"$B/bench/bench_snapshot"
if [ -x "$B/bench/bench_store" ]; then
    echo "== SQLite: persisting 80,000 dirty klines (5,000 symbols x 16 intervals)"
    "$B/bench/bench_store"
fi
if [ -x "$B/bench/bench_trade_json" ]; then
    echo "== exchange JSON parsing (one I/O thread)"
    "$B/bench/bench_trade_json"
fi

echo "== output check (peers vs klined on the slice, all 16 files byte for byte)"
for peer in duckdb pandas; do
    same=0 diff=0
    for f in "$TMP"/out-klined/*.csv; do
        if cmp -s "$f" "$TMP/out-$peer/$(basename "$f")"; then same=$((same + 1)); else
            diff=$((diff + 1)); echo "  $peer differs: $(basename "$f")"; fi
    done
    echo "$peer: $same identical, $diff different"
done

echo "== live feed: exchange JSON -> worker rings, frame -> kline latency (bench_feed)"
# Then the live source end to end over loopback: tests/tools/fake_exchange plays 4 symbols at a
# fixed tape rate to `klined serve --source binance`, and the stats lines' source_messages give
# what klined's source received per second, over plain ws:// and over TLS (wss://, with a
# throwaway CA given to klined as binance-ca-file). The rate
# is swept, not --rate 0: the fake drops a client that falls 16384 frames behind, and at
# --rate 0 (819k trades/s) it cannot even write that fast itself, so every client is dropped.
# The highest rate kept with dropped_slow=0 is the figure; both processes share this machine.
if cmake --build "$B" -j2 --target bench_feed fake_exchange >/dev/null 2>&1; then
    "$B/bench/bench_feed"
    FEED=$TMP/feed
    mkdir -p "$FEED/in"
    "$B/bench/gen_dump" "$FEED/in/BTCUSDT-aggTrades-2024-01.csv" 500000 >/dev/null 2>&1
    for s in ETHUSDT BNBUSDT SOLUSDT; do
        cp "$FEED/in/BTCUSDT-aggTrades-2024-01.csv" "$FEED/in/$s-aggTrades-2024-01.csv"
    done
    FEED_FILES=$(ls "$FEED"/in/*.csv | paste -sd,)
    # A throwaway CA and a certificate for 127.0.0.1, for the TLS rounds.
    TLS_OK=0
    if command -v openssl >/dev/null 2>&1 &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca \
            -keyout "$FEED/ca.key" -out "$FEED/ca.pem" >/dev/null 2>&1 &&
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$FEED/srv.key" \
            -out "$FEED/srv.csr" >/dev/null 2>&1 &&
        printf 'subjectAltName=IP:127.0.0.1\n' >"$FEED/ext.cnf" &&
        openssl x509 -req -in "$FEED/srv.csr" -CA "$FEED/ca.pem" -CAkey "$FEED/ca.key" \
            -CAcreateserial -days 1 -extfile "$FEED/ext.cnf" -out "$FEED/srv.pem" >/dev/null 2>&1; then
        TLS_OK=1
    fi
    # feed_once RATE [tls]: prints "RATE <msgs/s received> <dropped_slow> <reconnects>".
    feed_once() {
        local p fx k ws=ws http=http fxtls=() ktls=()
        if [ "${2:-}" = tls ]; then
            ws=wss http=https
            fxtls=(--tls-cert "$FEED/srv.pem" --tls-key "$FEED/srv.key")
            ktls=(--binance-ca-file "$FEED/ca.pem")
        fi
        rm -rf "$FEED/k.db" "$FEED/wal"
        p=$((20000 + RANDOM % 30000))
        "$B/tools/fake_exchange" --port "$p" --trades "$FEED_FILES" --rate "$1" --start-ms 3000 \
            "${fxtls[@]}" >"$FEED/fx.log" 2>&1 &
        fx=$!
        sleep 0.5
        "$B/klined" serve --listen 127.0.0.1:0 --source binance --binance-ws "$ws://127.0.0.1:$p" "${ktls[@]}" \
            --binance-rest "$http://127.0.0.1:$p" --symbols BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT \
            --clock event --stats-s 1 --store "sqlite:$FEED/k.db" --wal-dir "$FEED/wal" \
            >"$FEED/k.log" 2>&1 &
        k=$!
        sleep 10
        kill "$k" 2>/dev/null; wait "$k" 2>/dev/null || true
        kill "$fx" 2>/dev/null; wait "$fx" 2>/dev/null || true
        # Mean over the stats lines after the first one that saw traffic (a partial second).
        grep 'event=stats ' "$FEED/k.log" | sed -n 's/.*source_messages=\([0-9]*\).*/\1/p' |
            awk -v r="$1" -v d="$(sed -n 's/.*dropped_slow \([0-9]*\).*/\1/p' "$FEED/fx.log")" \
                -v c="$(grep -c 'event=disconnected' "$FEED/k.log" || true)" '
                $1 > 0 && first == "" { first = $1; n0 = NR }
                { last = $1; nl = NR }
                END { printf "%d %.0f %d %d\n", r, (nl > n0) ? (last - first) / (nl - n0) : 0, d, c }'
    }
    for mode in plain tls; do
        [ $mode = tls ] && [ $TLS_OK = 0 ] && { echo "tls: openssl missing, skipped"; continue; }
        echo "-- $mode"
        printf "%-12s %16s %12s %10s\n" "tape rate/s" "received msgs/s" "dropped_slow" "reconnects"
        for r in 100000 125000 150000 200000 300000; do
            feed_once "$r" $mode | awk '{ printf "%-12d %16d %12d %10d\n", $1, $2, $3, $4 }'
        done
    done
else
    echo "bench_feed / fake_exchange did not build: skipped"
fi

echo
echo "== API: trade -> WS push latency at 100k trades/s on loopback, REST klines requests/s (bench_api)"
if cmake --build "$B" -j2 --target bench_api >/dev/null 2>&1; then
    "$B/bench/bench_api" "$B/klined"
else
    echo "bench_api did not build: skipped"
fi

rate() { awk '{ print $3 }' "$TMP/rate.$1"; }
KL=$(rate klined_csv_all)
cat <<EOF

== summary (trades/s; peers ran on a $SLICE-row slice: compare rates, not times)
EOF
{
    printf "%-40s %12s %10s\n" "job (16 intervals unless noted)" "rows" "M trades/s"
    for l in klined_csv_all klined_zip_all klined_csv_1M klined_slice_all duckdb pandas; do
        case $l in
            klined_csv_all) d="klined replay, CSV" ;;
            klined_zip_all) d="klined replay, zip" ;;
            klined_csv_1M) d="klined replay, CSV, 1M only" ;;
            klined_slice_all) d="klined replay, CSV slice" ;;
            duckdb) d="DuckDB (@duckdb/node-api, threads=$DUCK_THREADS)" ;;
            pandas) d="pandas (int64 / Python int)" ;;
        esac
        awk -v d="$d" '{ printf "%-40s %12d %10.2f\n", d, $1, $3 / 1e6 }' "$TMP/rate.$l"
    done
    awk -v k="$KL" -v d="$(rate duckdb)" -v p="$(rate pandas)" 'BEGIN {
        printf "ratio klined/DuckDB: %.1fx   ratio klined/pandas: %.1fx   (klined: full CSV)\n",
               k / d, k / p }'
}

# Where replay's time goes, per row: bench_kline's dump figures are the parser alone and the
# engine alone on the very same rows; the rest is reading, line splitting and writing.
PARSE=$(awk '/^dump parse: best/ { print $4 }' "$TMP/bench_kline.txt")
APPLY=$(awk '/^dump apply.*best/ { for (i = 1; i <= NF; i++) if ($i == "best") print $(i + 1) }' \
    "$TMP/bench_kline.txt")
awk -v all="$KL" -v zip="$(rate klined_zip_all)" -v m1="$(rate klined_csv_1M)" \
    -v parse="$PARSE" -v apply="$APPLY" 'BEGIN {
    a = 1e9 / all; z = 1e9 / zip; o = 1e9 / m1; p = 1e3 / parse; e = 1e3 / apply
    printf "\n== replay split, ns per row\n"
    printf "replay CSV, 16 intervals      %6.1f ns\n", a
    printf "replay CSV, 1M only           %6.1f ns  (mostly input: read + split + parse)\n", o
    printf "  extra for 15 more intervals %6.1f ns  (engine + kline CSV writing)\n", a - o
    printf "  parser alone (bench_kline)  %6.1f ns  (%.0f%% of replay)\n", p, 100 * p / a
    printf "  engine alone (bench_kline)  %6.1f ns  (%.0f%% of replay)\n", e, 100 * e / a
    printf "  rest (I/O, split, writing)  %6.1f ns  (%.0f%% of replay)\n", a - p - e, 100 * (a - p - e) / a
    printf "replay zip, 16 intervals      %6.1f ns  (inflate adds %.1f ns)\n", z, z - a
    printf "dominant: %s\n", (p > e) ? "CSV parsing" : "kline updating"
}'
