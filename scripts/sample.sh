#!/usr/bin/env bash
# Shows klined working with no network: writes a small synthetic trade tape (3 symbols, one day
# of aggTrades in data.binance.vision's CSV layout) under ./var/sample/ the first time, then
# serves it with the replay source at 60x real time (one day in 24 minutes), into
# ./var/sample.db with its WAL in ./var/sample-wal. Stop it with Ctrl-C; `klined export
# --store sqlite:./var/sample.db --out DIR` then writes what it built. Extra arguments go to
# `klined serve` (e.g. --exit-on-eof, --stats-s 5).
# Usage: scripts/sample.sh [serve flags...]   (env: BUILD=build KL_SAMPLE_PACE=60)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
PACE=${KL_SAMPLE_PACE:-60}
DIR=var/sample
K=$BUILD/klined
if [ ! -x "$K" ]; then
    echo "sample: $K not built: run make first" >&2
    exit 1
fi

# gen SYMBOL SEED PRICE N: N trades over 2024-01-01 UTC, ids contiguous, a random walk around
# PRICE with quiet spells, so some minutes have no trade and show hole klines.
gen() {
    awk -v sym="$1" -v seed="$2" -v px="$3" -v n="$4" 'BEGIN {
        srand(seed); t0 = 1704067200000; day = 86400000; a = seed * 10000000; f = a * 2
        p = px * 1e4
        for (i = 0; i < n; i++) {
            t = t0 + int(day * (i + rand()) / n)
            p += int((rand() - 0.5) * px * 4); if (p < 1e4) p = 1e4
            k = 1 + int(rand() * 3)
            # %.0f, not %d: mawk prints integers through a C int
            printf "%.0f,%d.%04d0000,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, int(p / 1e4),
                   p % 1e4, int(rand() * 3), int(rand() * 99999999), f, f + k - 1, t,
                   (rand() < 0.5 ? "True" : "False")
            a++; f += k
        }
    }' >"$DIR/$1-aggTrades-2024-01-01.csv.tmp"
    mv "$DIR/$1-aggTrades-2024-01-01.csv.tmp" "$DIR/$1-aggTrades-2024-01-01.csv"
}
mkdir -p "$DIR"
[ -s "$DIR/BTCUSDT-aggTrades-2024-01-01.csv" ] || gen BTCUSDT 1 42000 40000
[ -s "$DIR/ETHUSDT-aggTrades-2024-01-01.csv" ] || gen ETHUSDT 2 2300 30000
[ -s "$DIR/SOLUSDT-aggTrades-2024-01-01.csv" ] || gen SOLUSDT 3 100 20000
FILES=$(ls "$DIR"/*-aggTrades-2024-01-01.csv | paste -sd,)

echo "sample: replaying $FILES at ${PACE}x into var/sample.db (Ctrl-C stops; then:" \
    "$K export --store sqlite:./var/sample.db --out var/sample-klines)"
exec "$K" serve --source "replay:$FILES" --pace "$PACE" --store sqlite:./var/sample.db \
    --wal-dir ./var/sample-wal "$@"
