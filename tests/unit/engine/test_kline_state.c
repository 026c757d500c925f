/* State blob tests: a series exported at any point and imported into fresh storage continues
 * exactly like the original (every emitted kline and every live kline equal), with and without
 * a lateness window, in ms and us; malformed or incompatible blobs are refused; the parked mark
 * of a removed symbol's blob is read back and does not change what an import continues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/kline.h"
#include "kl/err.h"

typedef struct rec {
    int iv;
    unsigned flags;
    kl_kline_t k;
} rec_t;

typedef struct log {
    rec_t *r;
    size_t n, cap;
} log_t;

static void
collect(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    (void)s;
    log_t *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->r = realloc(l->r, l->cap * sizeof *l->r);
        assert_non_null(l->r);
    }
    l->r[l->n].iv = iv;
    l->r[l->n].flags = flags;
    l->r[l->n].k = *k;
    l->n++;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void
make_trades(kl_trade_t *t, size_t n, int64_t unit)
{
    int64_t ts = 1704067200000LL * unit, id = 1000;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        ts += (int64_t)(r % 5 == 0 ? (r >> 8) % 200000 : (r >> 8) % 700) * unit;
        int64_t late = (r >> 40) % 10 == 0 ? (int64_t)((r >> 44) % 800) * unit : 0;
        int64_t nraw = 1 + (int64_t)((r >> 20) % 3);
        t[i] = (kl_trade_t){ts - late, id, id * 3, id * 3 + nraw - 1,
                            100000000 + (int64_t)((r >> 24) % 5000000), 1 + (int64_t)((r >> 30) % 99999999),
                            (uint8_t)(r >> 63)};
        id += (r >> 50) % 7 == 0 ? 0 : 1; /* some duplicate ids */
    }
}

static void
check_continuation(int64_t unit, int64_t lateness_ms, int32_t tz)
{
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.unit_per_ms = unit;
    cfg.lateness_ms = lateness_ms;
    cfg.tz_minutes = tz;
    kl_sched_t sch;
    assert_int_equal(kl_sched_init(&sch, &cfg), 0);
    enum { N = 20000 };
    kl_trade_t *t = malloc(N * sizeof *t);
    assert_non_null(t);
    make_trades(t, N, unit);
    static const size_t cuts[] = {1, 2, 17, 999, 5000, 12345, N - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        kl_series_t *a = malloc(kl_series_size(&sch)), *b = malloc(kl_series_size(&sch));
        assert_non_null(a);
        assert_non_null(b);
        log_t la = {0}, lb = {0};
        kl_series_init(a, &sch, NULL);
        for (size_t i = 0; i < cuts[c]; i++)
            kl_series_apply(a, &t[i], collect, &la);
        static uint8_t blob[KL_SERIES_STATE_MAX];
        size_t len = kl_series_export(a, blob, sizeof blob);
        assert_true(len > 0);
        assert_int_equal(kl_series_import(b, &sch, NULL, blob, len), 0);
        size_t mark = la.n;
        for (size_t i = cuts[c]; i < N; i++) {
            int ra = kl_series_apply(a, &t[i], collect, &la);
            int rb = kl_series_apply(b, &t[i], collect, &lb);
            assert_int_equal(ra, rb);
            if (i % 997 == 0) {
                kl_series_tick(a, t[i].ts + 3 * 1000 * unit, collect, &la);
                kl_series_tick(b, t[i].ts + 3 * 1000 * unit, collect, &lb);
            }
        }
        assert_int_equal(la.n - mark, lb.n);
        for (size_t i = 0; i < lb.n; i++) {
            assert_int_equal(la.r[mark + i].iv, lb.r[i].iv);
            assert_int_equal(la.r[mark + i].flags, lb.r[i].flags);
            assert_memory_equal(&la.r[mark + i].k, &lb.r[i].k, sizeof(kl_kline_t));
        }
        for (int iv = 0; iv < KL_IV_COUNT; iv++) {
            kl_kline_t ka, kb;
            assert_int_equal(kl_series_get(a, iv, &ka), 0);
            assert_int_equal(kl_series_get(b, iv, &kb), 0);
            assert_memory_equal(&ka, &kb, sizeof ka);
        }
        free(la.r);
        free(lb.r);
        free(a);
        free(b);
    }
    free(t);
}

static void
continues_ms(void **state)
{
    (void)state;
    check_continuation(1, 0, 0);
}

static void
continues_us_with_lateness_and_offset(void **state)
{
    (void)state;
    check_continuation(1000, 1000, 345);
}

static void
refuses_bad_blobs(void **state)
{
    (void)state;
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    kl_sched_t sch, other;
    assert_int_equal(kl_sched_init(&sch, &cfg), 0);
    cfg.iv_mask = (1u << KL_IV_1M) | (1u << KL_IV_1H);
    assert_int_equal(kl_sched_init(&other, &cfg), 0);
    kl_series_t a, b;
    kl_series_init(&a, &sch, NULL);
    static uint8_t blob[KL_SERIES_STATE_MAX];
    assert_int_equal(kl_series_export(&a, blob, sizeof blob), 0); /* no trade yet */
    kl_trade_t t = {1704067200000LL, 1, 1, 1, 100000000, 100000000, 0};
    kl_series_apply(&a, &t, collect, &(log_t){0});
    size_t len = kl_series_export(&a, blob, sizeof blob);
    assert_true(len > 0);
    assert_int_equal(kl_series_export(&a, blob, len - 1), 0); /* too small a buffer */
    assert_int_equal(kl_series_import(&b, &sch, NULL, blob, len - 1), KL_EIO); /* truncated */
    assert_int_equal(kl_series_import(&b, &other, NULL, blob, len), KL_EARG); /* foreign */
    blob[0] ^= 1;
    assert_int_equal(kl_series_import(&b, &sch, NULL, blob, len), KL_EIO);
    blob[0] ^= 1;
    assert_int_equal(kl_series_import(&b, &sch, NULL, blob, len), 0);
    kl_kline_t k;
    assert_int_equal(kl_series_get(&b, KL_IV_1M, &k), 0);
    assert_int_equal(k.trades, 1);
    assert_int_equal(k.open, 100000000);
}

static void
parked_mark(void **state)
{
    (void)state;
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.lateness_ms = 500; /* flags bit 0 set too: the mark must leave it alone */
    kl_sched_t sch;
    assert_int_equal(kl_sched_init(&sch, &cfg), 0);
    kl_series_t *a = malloc(kl_series_size(&sch)), *b = malloc(kl_series_size(&sch));
    assert_non_null(a);
    assert_non_null(b);
    kl_series_init(a, &sch, NULL);
    kl_trade_t t = {1704067200000LL, 1, 1, 1, 100000000, 100000000, 0};
    kl_series_apply(a, &t, collect, &(log_t){0});
    static uint8_t blob[KL_SERIES_STATE_MAX], plain[KL_SERIES_STATE_MAX];
    size_t len = kl_series_export(a, blob, sizeof blob);
    assert_true(len > 0);
    memcpy(plain, blob, len);
    assert_int_equal(kl_series_state_parked(blob, len), 0);
    kl_series_state_set_parked(blob, len, 1);
    assert_int_equal(kl_series_state_parked(blob, len), 1);
    assert_int_equal(kl_series_state_parked(blob, 100), 0); /* too short to be a state */
    /* A parked blob imports as the plain one: the same series. */
    assert_int_equal(kl_series_import(b, &sch, NULL, blob, len), 0);
    static uint8_t again[KL_SERIES_STATE_MAX];
    assert_int_equal(kl_series_export(b, again, sizeof again), len);
    assert_memory_equal(again, plain, len);
    kl_series_state_set_parked(blob, len, 0);
    assert_memory_equal(blob, plain, len);
    /* Unknown flag bits are still refused (here by the CRC first). */
    blob[10] |= 4;
    assert_int_equal(kl_series_import(b, &sch, NULL, blob, len), KL_EIO);
    free(a);
    free(b);
}

/* M4 (issue 12): a state damaged in the store is told apart from a foreign one. A flipped bit
 * in any byte of a version-2 blob fails import with KL_EIO (the caller then refuses to start
 * instead of restarting the series over its open klines); a version-1 blob (no CRC, written
 * before) still imports, to the same series. */
static void
corrupt_blob_detected(void **state)
{
    (void)state;
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.lateness_ms = 500;
    kl_sched_t sch;
    assert_int_equal(kl_sched_init(&sch, &cfg), 0);
    kl_series_t *a = malloc(kl_series_size(&sch)), *b = malloc(kl_series_size(&sch));
    assert_non_null(a);
    assert_non_null(b);
    kl_series_init(a, &sch, NULL);
    log_t lg = {0};
    for (int i = 0; i < 50; i++) {
        kl_trade_t t = {1704067200000LL + i * 7000, 1 + i, 1 + i, 1 + i, 100000000 + i,
                        100000000, 0};
        kl_series_apply(a, &t, collect, &lg);
    }
    free(lg.r);
    static uint8_t blob[KL_SERIES_STATE_MAX], again[KL_SERIES_STATE_MAX];
    size_t len = kl_series_export(a, blob, sizeof blob);
    assert_true(len > 4);
    assert_int_equal(blob[4], 2);
    for (size_t i = 0; i < len; i++) { /* one bit per byte, cycling through the 8 */
        int bit = (int)(i % 8);
        blob[i] ^= (uint8_t)(1u << bit);
        int rc = kl_series_import(b, &sch, NULL, blob, len);
        blob[i] ^= (uint8_t)(1u << bit);
        if (rc != KL_EIO)
            fail_msg("bit %d of byte %zu flipped: import returned %d, not KL_EIO", bit, i, rc);
    }
    assert_int_equal(kl_series_import(b, &sch, NULL, blob, len), 0);
    /* version 1: the same bytes without the CRC */
    memcpy(again, blob, len - 4);
    again[4] = 1;
    assert_int_equal(kl_series_import(b, &sch, NULL, again, len - 4), 0);
    static uint8_t out[KL_SERIES_STATE_MAX];
    assert_int_equal(kl_series_export(b, out, sizeof out), len);
    assert_memory_equal(out, blob, len);
    free(a);
    free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parked_mark),
        cmocka_unit_test(continues_ms),
        cmocka_unit_test(continues_us_with_lateness_and_offset),
        cmocka_unit_test(refuses_bad_blobs),
        cmocka_unit_test(corrupt_blob_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
