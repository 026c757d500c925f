# Shared by the integration scripts (sourced, not run): a deterministic generator of spot
# aggTrades dump files in the data.binance.vision layout, with gaps (hole klines) and bursts.

# gen_aggtrades DIR SYMBOL DAY SEED [MAX_ROWS]: writes DIR/SYMBOL-aggTrades-2024-01-0DAY.csv,
# trades of that January 2024 day at most MAX_ROWS (default 6000), no gap longer than 90 s.
gen_aggtrades() {
    awk -v sym="$2" -v day="$3" -v seed="$4" -v max="${5:-6000}" 'BEGIN {
        srand(seed); t = 1704067200000 + (day - 1) * 86400000; a = day * 1000000; f = a * 3
        for (i = 0; i < max; i++) {
            r = rand(); t += (r < 0.3 ? 0 : (r < 0.8 ? int(rand() * 2000) : int(rand() * 90000)))
            if (t >= 1704067200000 + day * 86400000) break
            n = 1 + int(rand() * 3)
            # %.0f, not %d: mawk prints integers through a C int
            printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, 100 + int(rand() * 50),
                   int(rand() * 99999999), int(rand() * 5), int(rand() * 99999999), f, f + n - 1, t,
                   (rand() < 0.5 ? "True" : "False")
            a++; f += n
        }
    }' >"$1/$2-aggTrades-2024-01-0$3.csv"
}
