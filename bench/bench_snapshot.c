/* Snapshot cost against the number of dirty slots, with the total number of symbols fixed and
 * large: shows that taking a snapshot is O(dirty), not O(symbols). Each symbol is a kl_series_t
 * with all 16 intervals and one trade; a "take" copies the 16 live klines of each dirty slot into
 * the active buffer, freezes it and acks. Prints ns per dirty slot and per row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kline.h"
#include "runtime/snapshot.h"

#define N_SYM 100000

static char *base;
static size_t stride;
static const kl_sched_t *gsched;

static kl_series_t *
ser(uint32_t i)
{
    return (kl_series_t *)(void *)(base + (size_t)i * stride);
}

static void
no_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    (void)ctx, (void)s, (void)iv, (void)k, (void)flags;
}

static int
fill(void *ctx, kl_snap_t *snap, uint32_t slot)
{
    (void)ctx;
    const kl_series_t *s = ser(slot);
    for (int i = 0; i < gsched->n; i++) {
        kl_store_row_t row;
        memcpy(row.symbol, "BENCHUSDT", 10);
        row.iv = (uint8_t)gsched->spec[i].iv;
        row.is_final = 0;
        row.unit_per_ms = 1;
        if (kl_series_get(s, row.iv, &row.k) != 0)
            return 0;
        if (kl_snap_add_row(snap, &row) != 0)
            return -1;
    }
    return 0;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
main(void)
{
    kl_sched_cfg_t cfg;
    kl_sched_t sch;
    kl_sched_cfg_default(&cfg);
    if (kl_sched_init(&sch, &cfg) != 0)
        return 1;
    gsched = &sch;
    stride = (kl_series_size(&sch) + 15) / 16 * 16;
    base = aligned_alloc(64, (stride * N_SYM + 63) & ~(size_t)63);
    kl_snap_t *snap = kl_snap_create(N_SYM);
    if (!base || !snap)
        return 1;
    for (uint32_t i = 0; i < N_SYM; i++) {
        kl_series_init(ser(i), &sch, NULL);
        kl_trade_t t = {1704067200000LL + i, i + 1, i + 1, i + 1, 4200000000000LL, 100000000, 0};
        kl_series_apply(ser(i), &t, no_emit, NULL);
    }
    printf("snapshot cost, %d symbols x %d intervals in total (series %zu B)\n", N_SYM, sch.n,
           stride);
    static const uint32_t dirty[] = {100, 1000, 5000, 20000, 100000};
    for (size_t d = 0; d < sizeof dirty / sizeof dirty[0]; d++) {
        double best = 1e9;
        size_t rows = 0;
        for (int run = 0; run < 5; run++) {
            /* Spread the dirty slots across the whole array, as real trades would. */
            uint32_t step = N_SYM / dirty[d];
            for (uint32_t k = 0; k < dirty[d]; k++)
                kl_snap_mark(snap, k * step);
            kl_snap_batch_t b;
            double t0 = now_s();
            if (kl_snap_take(snap, fill, NULL, &b) != 0)
                return 1;
            double dt = now_s() - t0;
            rows = b.n;
            kl_snap_ack(snap);
            if (dt < best)
                best = dt;
        }
        printf("dirty %6u symbols: %7zu rows, take %8.3f ms = %6.1f ns per dirty symbol, "
               "%5.1f ns per row\n",
               dirty[d], rows, best * 1e3, best * 1e9 / dirty[d], best * 1e9 / (double)rows);
    }
    kl_snap_destroy(snap);
    free(base);
    return 0;
}
