/* Table tests of the kline engine (src/engine/kline.c): each case feeds a handful of hand-made
 * trades and ticks to one series and checks every field of every kline the engine emits or
 * reports live, so that Binance parity (SPEC §1: fields, (time, id) order, holes, finality,
 * late trades, duplicates) is pinned down on cases small enough to verify by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/interval.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "kl/types.h"

/* 2024-01-01T00:00:00Z, a Monday: aligned to every interval in UTC. */
#define T0 1704067200000LL
#define MIN 60000LL
#define HOUR 3600000LL
#define DAY 86400000LL
#define D(x) ((kl_dec_t)((x) * KL_DEC_SCALE))
#define M1 (1u << KL_IV_1M)

typedef struct rec {
    int iv;
    unsigned flags;
    kl_kline_t k;
} rec_t;

typedef struct coll {
    rec_t r[1024];
    int n;
} coll_t;

static void
collect(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    coll_t *c = ctx;
    (void)s;
    assert_true(c->n < (int)(sizeof c->r / sizeof c->r[0]));
    c->r[c->n].iv = iv;
    c->r[c->n].flags = flags;
    c->r[c->n].k = *k;
    c->n++;
}

static kl_sched_t
mksched(uint32_t mask, int32_t tz_minutes, int64_t unit_per_ms, int64_t lateness_ms)
{
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.iv_mask = mask;
    cfg.tz_minutes = tz_minutes;
    cfg.unit_per_ms = unit_per_ms;
    cfg.lateness_ms = lateness_ms;
    kl_sched_t s;
    assert_int_equal(kl_sched_init(&s, &cfg), 0);
    return s;
}

static kl_trade_t
tr(int64_t ts, int64_t id, kl_dec_t price, kl_dec_t qty, int buyer_maker)
{
    kl_trade_t t = {ts, id, id, id, price, qty, (uint8_t)buyer_maker};
    return t;
}

static kl_trade_t
agg(int64_t ts, int64_t id, int64_t first, int64_t last, kl_dec_t price, kl_dec_t qty)
{
    kl_trade_t t = {ts, id, first, last, price, qty, 0};
    return t;
}

static int
apply(kl_series_t *s, kl_trade_t t, coll_t *c)
{
    return kl_series_apply(s, &t, collect, c);
}

static void
print_sum(const char *name, kl_sum_t v)
{
    char buf[64];
    int i = (int)sizeof buf - 1;
    buf[i] = 0;
    int neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        buf[--i] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    if (neg)
        buf[--i] = '-';
    print_error("  %s = %s\n", name, buf + i);
}

static void
expect_sum(kl_sum_t actual, kl_sum_t expected, const char *what)
{
    if (actual != expected) {
        print_error("%s differs\n", what);
        print_sum("actual", actual);
        print_sum("expected", expected);
        fail();
    }
}

/* Every field; a hole is written as such by the caller. */
static void
expect_kline(const kl_kline_t *a, const kl_kline_t *e)
{
    assert_int_equal(a->open_time, e->open_time);
    assert_int_equal(a->close_time, e->close_time);
    assert_int_equal(a->open, e->open);
    assert_int_equal(a->high, e->high);
    assert_int_equal(a->low, e->low);
    assert_int_equal(a->close, e->close);
    expect_sum(a->volume, e->volume, "volume");
    expect_sum(a->quote, e->quote, "quote");
    expect_sum(a->taker_base, e->taker_base, "taker_base");
    expect_sum(a->taker_quote, e->taker_quote, "taker_quote");
    assert_int_equal(a->trades, e->trades);
    assert_int_equal(a->first_id, e->first_id);
    assert_int_equal(a->last_id, e->last_id);
}

static kl_kline_t
hole(int64_t open_time, int64_t len, kl_dec_t price)
{
    kl_kline_t k;
    memset(&k, 0, sizeof k);
    k.open_time = open_time;
    k.close_time = open_time + len - 1;
    k.open = k.high = k.low = k.close = price;
    k.first_id = k.last_id = -1;
    return k;
}

static kl_kline_t
get(const kl_series_t *s, int iv)
{
    kl_kline_t k;
    assert_int_equal(kl_series_get(s, iv, &k), 0);
    return k;
}

/* ---- fields ------------------------------------------------------------------------------ */

static void
test_single_trade(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1 | (1u << KL_IV_1H), 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    kl_kline_t k;
    assert_int_equal(kl_series_get(&s, KL_IV_1M, &k), KL_EARG); /* no trade yet */

    kl_dec_t p = 12345678901LL; /* 123.45678901 */
    kl_dec_t q = 50000000LL;    /* 0.5 */
    assert_int_equal(apply(&s, tr(T0 + 12345, 7, p, q, 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 0);
    assert_int_equal(kl_series_get(&s, KL_IV_5M, &k), KL_EARG); /* not enabled */

    kl_kline_t e = {.open_time = T0, .close_time = T0 + MIN - 1, .open = p, .high = p, .low = p,
                    .close = p, .volume = q, .quote = (kl_sum_t)617283945050000000LL,
                    .taker_base = q, .taker_quote = (kl_sum_t)617283945050000000LL,
                    .trades = 1, .first_id = 7, .last_id = 7};
    k = get(&s, KL_IV_1M);
    expect_kline(&k, &e);
    k = get(&s, KL_IV_1H);
    e.close_time = T0 + HOUR - 1;
    expect_kline(&k, &e);

    kl_series_tick(&s, T0 + MIN, collect, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].iv, KL_IV_1M);
    assert_int_equal(c.r[0].flags, KL_EMIT_FINAL);
    e.close_time = T0 + MIN - 1;
    expect_kline(&c.r[0].k, &e);
    assert_int_equal(s.stats.applied, 1);
    assert_int_equal(s.stats.finals, 1);
    assert_int_equal(s.stats.holes, 0);
}

static void
test_open_close_order(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    /* Equal times arriving against id order, and an earlier time arriving last. */
    assert_int_equal(apply(&s, tr(T0 + 1000, 11, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 1000, 10, D(90), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 3000, 13, D(110), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 3000, 12, D(105), D(1), 0), &c), KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.open, D(90));   /* (1000, 10) */
    assert_int_equal(k.close, D(110)); /* (3000, 13) */
    assert_int_equal(apply(&s, tr(T0 + 500, 9, D(95), D(1), 0), &c), KL_APPLIED);
    k = get(&s, KL_IV_1M);
    assert_int_equal(k.open, D(95));
    assert_int_equal(k.close, D(110));
    assert_int_equal(k.high, D(110));
    assert_int_equal(k.low, D(90));
    assert_int_equal(k.first_id, 9);
    assert_int_equal(k.last_id, 13);
    assert_int_equal(k.trades, 5);
    assert_int_equal(c.n, 0);
}

/* With every interval enabled the segment is one second, so the same ordering has to survive
 * segment merges and the late path: the 1m kline gets trades from a merged segment, from a late
 * trade added directly, and from the live segment. */
static void
test_open_close_across_segments(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(KL_IV_ALL, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 100, 1, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 1500, 5, D(120), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1); /* the 1s kline at T0 */
    assert_int_equal(c.r[0].iv, KL_IV_1S);
    assert_int_equal(apply(&s, tr(T0 + 800, 4, D(80), D(1), 0), &c), KL_APPLIED_LATE);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.r[1].iv, KL_IV_1S);
    assert_int_equal(c.r[1].flags, KL_EMIT_FINAL | KL_EMIT_CORRECTION);
    assert_int_equal(c.r[1].k.open, D(100));
    assert_int_equal(c.r[1].k.close, D(80));
    assert_int_equal(apply(&s, tr(T0 + 1500, 3, D(130), D(1), 0), &c), KL_APPLIED);
    for (int iv = KL_IV_1M; iv < KL_IV_COUNT; iv++) {
        kl_kline_t k = get(&s, iv);
        assert_int_equal(k.open, D(100));
        assert_int_equal(k.close, D(120)); /* (1500, 5) beats (1500, 3) */
        assert_int_equal(k.high, D(130));
        assert_int_equal(k.low, D(80));
        assert_int_equal(k.trades, 4);
        assert_int_equal(k.first_id, 1);
        assert_int_equal(k.last_id, 5);
        expect_sum(k.volume, D(4), "volume");
    }
    kl_kline_t k = get(&s, KL_IV_1S);
    assert_int_equal(k.open, D(130));
    assert_int_equal(k.close, D(120));
    assert_int_equal(k.trades, 2);
}

static void
test_high_low(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    static const kl_dec_t px[] = {10000000000LL, 12000000001LL, 7999999999LL, 11000000000LL};
    for (int i = 0; i < 4; i++)
        assert_int_equal(apply(&s, tr(T0 + 100 * i, i + 1, px[i], D(1), 0), &c), KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.open, 10000000000LL);
    assert_int_equal(k.high, 12000000001LL);
    assert_int_equal(k.low, 7999999999LL);
    assert_int_equal(k.close, 11000000000LL);
}

static void
test_volume_quote_exact(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    /* 12345.67891234 x 0.00012345, 99999.99999999 x 1234.56789012, 1e6 x 1e6: the last product
     * (1e28 units) does not fit 64 bits, and every digit of the sum must survive. */
    assert_int_equal(apply(&s, tr(T0 + 1, 1, 1234567891234LL, 12345LL, 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 2, 2, 9999999999999LL, 123456789012LL, 1), &c),
                     KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 3, 3, 100000000000000LL, 100000000000000LL, 0), &c),
                     KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1M);
    expect_sum(k.volume, (kl_sum_t)12345 + 123456789012LL + 100000000000000LL, "volume");
    /* 15240740617283730 + 1234567890119876543210988 + 10^28, written out by hand. */
    kl_sum_t e1 = (kl_sum_t)15240740617283730LL;
    kl_sum_t e2 = (kl_sum_t)1234567890119LL * 1000000000000LL + 876543210988LL;
    kl_sum_t e3 = (kl_sum_t)10000000000000000LL * 1000000000000LL;
    expect_sum(e1, (kl_sum_t)1234567891234LL * 12345, "hand-computed product 1");
    expect_sum(e2, (kl_sum_t)9999999999999LL * 123456789012LL, "hand-computed product 2");
    expect_sum(k.quote, e1 + e2 + e3, "quote");
    expect_sum(k.taker_base, (kl_sum_t)12345 + 100000000000000LL, "taker_base");
    expect_sum(k.taker_quote, e1 + e3, "taker_quote");
}

static void
test_taker_buy(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 1, 1, D(10), D(2), 1), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 2, 2, D(11), D(3), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 3, 3, D(12), D(5), 1), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 4, 4, D(13), D(7), 0), &c), KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1M);
    expect_sum(k.volume, D(17), "volume");
    expect_sum(k.taker_base, D(10), "taker_base");
    expect_sum(k.taker_quote, (kl_sum_t)D(11) * D(3) + (kl_sum_t)D(13) * D(7), "taker_quote");
    expect_sum(k.quote,
               (kl_sum_t)D(10) * D(2) + (kl_sum_t)D(11) * D(3) + (kl_sum_t)D(12) * D(5) +
                   (kl_sum_t)D(13) * D(7),
               "quote");

    /* A kline whose only trades had a maker buyer has no taker-buy volume at all. */
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 1, 1, D(10), D(2), 1), &c), KL_APPLIED);
    k = get(&s, KL_IV_1M);
    expect_sum(k.taker_base, 0, "taker_base");
    expect_sum(k.taker_quote, 0, "taker_quote");
}

static void
test_agg_trade_count(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, agg(T0 + 1, 50, 100, 104, D(10), D(1)), &c), KL_APPLIED);
    assert_int_equal(apply(&s, agg(T0 + 2, 51, 105, 105, D(10), D(1)), &c), KL_APPLIED);
    assert_int_equal(apply(&s, agg(T0 + 3, 52, 106, 110, D(10), D(1)), &c), KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.trades, 11);
    assert_int_equal(k.first_id, 100);
    assert_int_equal(k.last_id, 110);
    /* Duplicates are recognised by the aggregate id, not by the raw ids. */
    assert_int_equal(apply(&s, agg(T0 + 2, 51, 105, 105, D(10), D(1)), &c), KL_DUPLICATE);
    assert_int_equal(get(&s, KL_IV_1M).trades, 11);
}

/* ---- holes and finality ------------------------------------------------------------------- */

static void
test_hole_klines(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1 | (1u << KL_IV_5M), 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 10000, 1, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 4 * MIN + 30000, 2, D(105), D(2), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 4); /* 1m: T0 final, 3 holes; 5m still open */
    assert_int_equal(c.r[0].flags, KL_EMIT_FINAL);
    assert_int_equal(c.r[0].k.open_time, T0);
    assert_int_equal(c.r[0].k.trades, 1);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(c.r[i].iv, KL_IV_1M);
        assert_int_equal(c.r[i].flags, KL_EMIT_HOLE | KL_EMIT_FINAL);
        kl_kline_t e = hole(T0 + i * MIN, MIN, D(100));
        expect_kline(&c.r[i].k, &e);
        assert_int_equal(c.r[i].k.open_time, c.r[i - 1].k.close_time + 1);
    }
    assert_int_equal(get(&s, KL_IV_1M).open_time, T0 + 4 * MIN);
    assert_int_equal(s.stats.holes, 3);
    assert_int_equal(s.stats.finals, 4);

    /* A tick far ahead makes the holes of both intervals, at the last close. */
    c.n = 0;
    kl_series_tick(&s, T0 + 12 * MIN + 1, collect, &c);
    int n1 = 0, n5 = 0;
    for (int i = 0; i < c.n; i++) {
        const kl_kline_t *k = &c.r[i].k;
        if (c.r[i].iv == KL_IV_1M) {
            int64_t open = T0 + (4 + n1) * MIN;
            if (n1 == 0) {
                assert_int_equal(c.r[i].flags, KL_EMIT_FINAL);
                assert_int_equal(k->open, D(105));
            } else {
                assert_int_equal(c.r[i].flags, KL_EMIT_HOLE | KL_EMIT_FINAL);
                kl_kline_t e = hole(open, MIN, D(105));
                expect_kline(k, &e);
            }
            assert_int_equal(k->open_time, open);
            n1++;
        } else {
            assert_int_equal(c.r[i].iv, KL_IV_5M);
            if (n5 == 0) {
                assert_int_equal(c.r[i].flags, KL_EMIT_FINAL);
                assert_int_equal(k->open_time, T0);
                assert_int_equal(k->open, D(100));
                assert_int_equal(k->close, D(105));
                assert_int_equal(k->trades, 2);
                assert_int_equal(k->close_time, T0 + 5 * MIN - 1);
            } else {
                kl_kline_t e = hole(T0 + 5 * MIN, 5 * MIN, D(105));
                expect_kline(k, &e);
                assert_int_equal(c.r[i].flags, KL_EMIT_HOLE | KL_EMIT_FINAL);
            }
            n5++;
        }
    }
    assert_int_equal(n1, 8); /* 4..11 */
    assert_int_equal(n5, 2); /* 0 and 5 */
    kl_kline_t e = hole(T0 + 12 * MIN, MIN, D(105));
    kl_kline_t live = get(&s, KL_IV_1M);
    expect_kline(&live, &e);
}

static void
test_finality_by_tick(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    kl_series_tick(&s, T0, collect, &c); /* before the first trade: nothing */
    assert_int_equal(c.n, 0);
    assert_int_equal(apply(&s, tr(T0 + 5, 1, D(1), D(1), 0), &c), KL_APPLIED);
    kl_series_tick(&s, T0 + MIN - 1, collect, &c); /* the kline's last ms: still open */
    assert_int_equal(c.n, 0);
    kl_series_tick(&s, T0 + MIN, collect, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].flags, KL_EMIT_FINAL);
    assert_int_equal(c.r[0].k.open_time, T0);
    assert_int_equal(c.r[0].k.close_time, T0 + MIN - 1);
}

static void
test_finality_by_trade(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 5, 1, D(1), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + MIN - 1, 2, D(2), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 0);
    /* A trade exactly on the boundary belongs to the next kline and ends this one. */
    assert_int_equal(apply(&s, tr(T0 + MIN, 3, D(3), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].flags, KL_EMIT_FINAL);
    assert_int_equal(c.r[0].k.close, D(2));
    assert_int_equal(c.r[0].k.trades, 2);
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.open_time, T0 + MIN);
    assert_int_equal(k.open, D(3));
}

static int
count_final(const coll_t *c, int iv, int64_t open_time)
{
    int n = 0;
    for (int i = 0; i < c->n; i++)
        if (c->r[i].iv == iv && c->r[i].k.open_time == open_time &&
            (c->r[i].flags & KL_EMIT_FINAL) && !(c->r[i].flags & KL_EMIT_CORRECTION))
            n++;
    return n;
}

static void
test_rollover_idempotent(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1 | (1u << KL_IV_1H), 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};

    /* Tick, then a trade of the same later interval. */
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 5, 1, D(1), D(1), 0), &c), KL_APPLIED);
    kl_series_tick(&s, T0 + MIN + 5, collect, &c);
    assert_int_equal(apply(&s, tr(T0 + MIN + 10, 2, D(2), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1);
    assert_int_equal(count_final(&c, KL_IV_1M, T0), 1);
    assert_int_equal(get(&s, KL_IV_1M).open, D(2));

    /* Tick twice, and at exactly the boundary, then a trade on the boundary. */
    c.n = 0;
    kl_series_tick(&s, T0 + 2 * MIN, collect, &c);
    kl_series_tick(&s, T0 + 2 * MIN, collect, &c);
    kl_series_tick(&s, T0 + 2 * MIN + 1, collect, &c);
    assert_int_equal(apply(&s, tr(T0 + 2 * MIN, 3, D(3), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1);
    assert_int_equal(count_final(&c, KL_IV_1M, T0 + MIN), 1);
    assert_int_equal(c.r[0].k.close, D(2));

    /* A tick that ends the hour, a second one, then the next hour's trade: each kline once. */
    c.n = 0;
    kl_series_tick(&s, T0 + HOUR, collect, &c);
    kl_series_tick(&s, T0 + HOUR + 30, collect, &c);
    assert_int_equal(apply(&s, tr(T0 + HOUR + 40, 4, D(4), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(count_final(&c, KL_IV_1H, T0), 1);
    for (int64_t m = 2; m < 60; m++)
        assert_int_equal(count_final(&c, KL_IV_1M, T0 + m * MIN), 1);
    assert_int_equal(c.n, 1 + 58);
    assert_int_equal(s.stats.finals, 1 + 1 + 1 + 58);
    kl_kline_t h = get(&s, KL_IV_1H);
    assert_int_equal(h.open_time, T0 + HOUR);
    assert_int_equal(h.open, D(4));
    assert_int_equal(h.trades, 1);
}

/* ---- late, duplicate, stale --------------------------------------------------------------- */

static void
test_late_trade_correction(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1 | (1u << KL_IV_5M), 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 50000, 1, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 60500, 3, D(110), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1);
    kl_kline_t before = c.r[0].k;
    assert_int_equal(apply(&s, tr(T0 + 59800, 2, D(90), D(2), 1), &c), KL_APPLIED_LATE);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.r[1].iv, KL_IV_1M);
    assert_int_equal(c.r[1].flags, KL_EMIT_FINAL | KL_EMIT_CORRECTION);
    kl_kline_t e = before;
    e.close = e.low = D(90);
    e.volume = D(3);
    e.quote = (kl_sum_t)D(100) * D(1) + (kl_sum_t)D(90) * D(2);
    e.taker_base = D(1);
    e.taker_quote = (kl_sum_t)D(100) * D(1);
    e.trades = 2;
    e.last_id = 2;
    expect_kline(&c.r[1].k, &e);
    assert_int_equal(s.stats.corrections, 1);
    assert_int_equal(s.stats.late_applied, 1);
    assert_int_equal(s.stats.finals, 1);
    /* The open kline of 1m is untouched; 5m took the trade in its open kline. */
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.open, D(110));
    assert_int_equal(k.trades, 1);
    k = get(&s, KL_IV_5M);
    assert_int_equal(k.open, D(100));
    assert_int_equal(k.close, D(110));
    assert_int_equal(k.low, D(90));
    assert_int_equal(k.trades, 3);
    expect_sum(k.volume, D(4), "5m volume");
    /* The correction is final once more: the next rollover does not re-emit it. */
    c.n = 0;
    kl_series_tick(&s, T0 + 2 * MIN, collect, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].k.open_time, T0 + MIN);
}

/* A late trade that changes the previous kline's close also changes the price a following hole
 * kline shows: both the live one and the one emitted later. */
static void
test_late_trade_updates_hole_template(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 50000, 1, D(100), D(1), 0), &c), KL_APPLIED);
    kl_series_tick(&s, T0 + 60500, collect, &c);
    assert_int_equal(c.n, 1);
    kl_kline_t e = hole(T0 + MIN, MIN, D(100));
    kl_kline_t k = get(&s, KL_IV_1M);
    expect_kline(&k, &e);
    /* The last ms of the final kline: it still belongs there, not to the open one. */
    assert_int_equal(apply(&s, tr(T0 + MIN - 1, 2, D(90), D(1), 0), &c), KL_APPLIED_LATE);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.r[1].flags, KL_EMIT_FINAL | KL_EMIT_CORRECTION);
    assert_int_equal(c.r[1].k.close, D(90));
    e = hole(T0 + MIN, MIN, D(90));
    k = get(&s, KL_IV_1M);
    expect_kline(&k, &e);
    kl_series_tick(&s, T0 + 2 * MIN, collect, &c);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.r[2].flags, KL_EMIT_FINAL | KL_EMIT_HOLE);
    expect_kline(&c.r[2].k, &e);
}

/* The kline a late trade lands in may itself be a hole: it stops being one. */
static void
test_late_trade_into_hole(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 10000, 1, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 3 * MIN + 500, 3, D(110), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 3); /* T0, holes at 1 and 2 */
    assert_int_equal(apply(&s, tr(T0 + 3 * MIN - 100, 2, D(95), D(3), 0), &c), KL_APPLIED_LATE);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.r[3].flags, KL_EMIT_FINAL | KL_EMIT_CORRECTION);
    kl_kline_t e = {.open_time = T0 + 2 * MIN, .close_time = T0 + 3 * MIN - 1, .open = D(95),
                    .high = D(95), .low = D(95), .close = D(95), .volume = D(3),
                    .quote = (kl_sum_t)D(95) * D(3), .taker_base = D(3),
                    .taker_quote = (kl_sum_t)D(95) * D(3), .trades = 1, .first_id = 2,
                    .last_id = 2};
    expect_kline(&c.r[3].k, &e);
    assert_int_equal(s.stats.holes, 2);
    /* The open kline had its own trade, so its prices do not move. */
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.open, D(110));
}

static void
test_too_late(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 50000, 1, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 62000, 3, D(110), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1);
    kl_kline_t before = get(&s, KL_IV_1M);
    /* watermark 62000 - lateness 1000 = 61000 > 59500 */
    assert_int_equal(apply(&s, tr(T0 + 59500, 2, D(1), D(1), 0), &c), KL_TOO_LATE);
    assert_int_equal(c.n, 1);
    assert_int_equal(s.stats.too_late, 1);
    assert_int_equal(s.stats.applied, 2);
    kl_kline_t k = get(&s, KL_IV_1M);
    expect_kline(&k, &before);
    /* Refused, so not remembered: the same id is still "too late", not a duplicate. */
    assert_int_equal(apply(&s, tr(T0 + 59500, 2, D(1), D(1), 0), &c), KL_TOO_LATE);
    assert_int_equal(s.stats.too_late, 2);
    assert_int_equal(s.stats.duplicates, 0);
    /* Exactly at watermark - lateness is still inside the window: the 1m kline at T0+1m. */
    assert_int_equal(apply(&s, tr(T0 + 61000, 2, D(1), D(1), 0), &c), KL_APPLIED);

    /* A tick moves the watermark too. */
    kl_series_init(&s, &sch, NULL);
    c.n = 0;
    assert_int_equal(apply(&s, tr(T0 + 50000, 1, D(100), D(1), 0), &c), KL_APPLIED);
    kl_series_tick(&s, T0 + 65000, collect, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(apply(&s, tr(T0 + 59000, 2, D(1), D(1), 0), &c), KL_TOO_LATE);
    assert_int_equal(c.n, 1);

    /* Before the series' first kline there is nothing to amend. */
    kl_series_init(&s, &sch, NULL);
    c.n = 0;
    assert_int_equal(apply(&s, tr(T0 + 200, 5, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 - 300, 4, D(100), D(1), 0), &c), KL_TOO_LATE);
    assert_int_equal(s.stats.too_late, 1);
    assert_int_equal(c.n, 0);
}

static void
test_duplicates(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 1, 10, D(1), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 1, 10, D(1), D(1), 0), &c), KL_DUPLICATE);
    assert_int_equal(apply(&s, tr(T0 + 3, 12, D(3), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 2, 11, D(2), D(1), 0), &c), KL_APPLIED); /* not a dup */
    assert_int_equal(apply(&s, tr(T0 + 2, 11, D(2), D(1), 0), &c), KL_DUPLICATE);
    assert_int_equal(apply(&s, tr(T0 + 1, 10, D(1), D(1), 0), &c), KL_DUPLICATE);
    assert_int_equal(apply(&s, tr(T0 + 3, 12, D(3), D(1), 0), &c), KL_DUPLICATE);
    assert_int_equal(s.stats.duplicates, 4);
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.trades, 3);
    expect_sum(k.volume, D(3), "volume");
    assert_int_equal(k.close, D(3));

    /* Ids far apart but inside the window. hwm 5000: window (5000-4096, 5000]. */
    assert_int_equal(apply(&s, tr(T0 + 10, 5000, D(5), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 4, 905, D(4), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 4, 905, D(4), D(1), 0), &c), KL_DUPLICATE);
    assert_int_equal(apply(&s, tr(T0 + 5, 4999, D(4), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 5, 4999, D(4), D(1), 0), &c), KL_DUPLICATE);
    /* 12 shares its bit with 4108 (mod 4096), but 4108 was never applied. */
    assert_int_equal(apply(&s, tr(T0 + 6, 4108, D(4), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(get(&s, KL_IV_1M).trades, 7);

    /* Below the window: stale, never guessed. */
    assert_int_equal(apply(&s, tr(T0 + 4, 903, D(4), D(1), 0), &c), KL_STALE_ID);
    assert_int_equal(apply(&s, tr(T0 + 4, 1, D(4), D(1), 0), &c), KL_STALE_ID);
    /* Exactly KL_IDWIN_BITS below aliases the highest id's bit, so it is refused too. */
    assert_int_equal(apply(&s, tr(T0 + 4, 5000 - KL_IDWIN_BITS, D(4), D(1), 0), &c),
                     KL_STALE_ID);
    assert_int_equal(s.stats.stale_ids, 3);
    assert_int_equal(get(&s, KL_IV_1M).trades, 7);
    assert_int_equal(c.n, 0);
}

/* The window forgets ids skipped by a jump of the highest id: a bit left over from an id W
 * lower must not make a new id look like a duplicate. */
static void
test_duplicate_window_jump(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 1, 10, D(1), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 1, 20, D(1), D(1), 0), &c), KL_APPLIED);
    /* A jump shorter than the window skips 4106 = 10 + 4096, which shares 10's bit. */
    assert_int_equal(apply(&s, tr(T0 + 3, 4110, D(1), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 2, 4106, D(1), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 2, 4106, D(1), D(1), 0), &c), KL_DUPLICATE);
    /* 20 is still inside the window (4110 - 4096, 4110]. */
    assert_int_equal(apply(&s, tr(T0 + 1, 20, D(1), D(1), 0), &c), KL_DUPLICATE);
    assert_int_equal(apply(&s, tr(T0 + 1, 10, D(1), D(1), 0), &c), KL_STALE_ID);
    /* A jump of several windows forgets everything. */
    assert_int_equal(apply(&s, tr(T0 + 4, 4110 + 3 * KL_IDWIN_BITS, D(1), D(1), 0), &c),
                     KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 4, 4106 + 3 * KL_IDWIN_BITS, D(1), D(1), 0), &c),
                     KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 4, 4110 + 2 * KL_IDWIN_BITS + 1, D(1), D(1), 0), &c),
                     KL_APPLIED);
    assert_int_equal(get(&s, KL_IV_1M).trades, 7);
    assert_int_equal(s.stats.duplicates, 2);
    assert_int_equal(s.stats.stale_ids, 1);
}

/* first_id/last_id are the smallest and largest raw ids of the kline, whichever way its trades
 * reached it: here the segment (merged by kl_series_get) holds a smaller id than a late trade
 * that went straight into the 1m kline. */
static void
test_ids_min_max_across_paths(void **state)
{
    (void)state;
    kl_sched_t sch = mksched((1u << KL_IV_1S) | M1, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, agg(T0 - 500, 1, 100, 100, D(1), D(1)), &c), KL_APPLIED);
    kl_series_tick(&s, T0, collect, &c);        /* 1m opens empty at T0 */
    kl_series_tick(&s, T0 + 1000, collect, &c); /* 1s [T0, T0+1s) ends as a hole */
    assert_int_equal(apply(&s, agg(T0 + 1500, 3, 200, 201, D(2), D(1)), &c), KL_APPLIED);
    assert_int_equal(apply(&s, agg(T0 + 500, 2, 300, 302, D(3), D(1)), &c), KL_APPLIED_LATE);
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.open_time, T0);
    assert_int_equal(k.open, D(3));
    assert_int_equal(k.close, D(2));
    assert_int_equal(k.first_id, 200);
    assert_int_equal(k.last_id, 302);
    assert_int_equal(k.trades, 5);
    /* The hole 1s kline became a real one. */
    assert_int_equal(c.r[c.n - 1].flags, KL_EMIT_FINAL | KL_EMIT_CORRECTION);
    assert_int_equal(c.r[c.n - 1].k.open_time, T0);
    assert_int_equal(c.r[c.n - 1].k.first_id, 300);
    /* Same trades the other way round: late trade first, then the segment one. */
    kl_series_init(&s, &sch, NULL);
    c.n = 0;
    assert_int_equal(apply(&s, agg(T0 - 500, 1, 100, 100, D(1), D(1)), &c), KL_APPLIED);
    kl_series_tick(&s, T0, collect, &c);
    kl_series_tick(&s, T0 + 1000, collect, &c);
    assert_int_equal(apply(&s, agg(T0 + 500, 2, 300, 302, D(3), D(1)), &c), KL_APPLIED_LATE);
    assert_int_equal(apply(&s, agg(T0 + 1500, 3, 200, 201, D(2), D(1)), &c), KL_APPLIED);
    kl_kline_t k2 = get(&s, KL_IV_1M);
    expect_kline(&k2, &k);
}

/* With lateness 0 a series keeps no previous klines (kl_series_size shrinks) and takes no late
 * trade; it must work in storage of exactly that size. */
static void
test_lateness_zero_compact(void **state)
{
    (void)state;
    kl_sched_t late = mksched(KL_IV_ALL, 0, 1, 1000);
    kl_sched_t none = mksched(KL_IV_ALL, 0, 1, 0);
    kl_sched_t one = mksched(M1, 0, 1, 0);
    assert_true(kl_series_size(&late) <= sizeof(kl_series_t));
    assert_int_equal(kl_series_size(&late) - kl_series_size(&none),
                     (size_t)KL_IV_COUNT * sizeof(kl_agg_t));
    assert_int_equal(kl_series_size(&none) - kl_series_size(&one),
                     (size_t)(KL_IV_COUNT - 1) * sizeof(kl_agg_t));

    kl_series_t *s = test_malloc(kl_series_size(&one));
    coll_t c = {.n = 0};
    kl_series_init(s, &one, NULL);
    assert_int_equal(apply(s, tr(T0 + 50000, 1, D(100), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(s, tr(T0 + 60000, 3, D(110), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1);
    assert_int_equal(apply(s, tr(T0 + 59999, 2, D(90), D(1), 0), &c), KL_TOO_LATE);
    assert_int_equal(c.n, 1);
    assert_int_equal(s->stats.too_late, 1);
    /* Still fine inside the open kline, even behind the watermark. */
    assert_int_equal(apply(s, tr(T0 + 65000, 5, D(120), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(s, tr(T0 + 61000, 4, D(80), D(1), 0), &c), KL_APPLIED);
    kl_series_tick(s, T0 + 3 * MIN, collect, &c);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.r[1].k.open, D(110));
    assert_int_equal(c.r[1].k.low, D(80));
    assert_int_equal(c.r[1].k.close, D(120));
    kl_kline_t e = hole(T0 + 2 * MIN, MIN, D(120));
    expect_kline(&c.r[2].k, &e);
    test_free(s);
}

/* ---- live state --------------------------------------------------------------------------- */

static void
test_get_merges_segment(void **state)
{
    (void)state;
    kl_sched_t sch = mksched(KL_IV_ALL, 0, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 100, 1, D(10), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 2100, 2, D(12), D(2), 1), &c), KL_APPLIED);
    assert_int_equal(apply(&s, tr(T0 + 2200, 3, D(11), D(3), 0), &c), KL_APPLIED);
    for (int iv = KL_IV_1M; iv < KL_IV_COUNT; iv++) {
        kl_kline_t k = get(&s, iv);
        /* 3d counts from the epoch: T0 is day 19723 = 3 * 6574 + 1. */
        assert_int_equal(k.open_time, iv == KL_IV_3D ? T0 - DAY : T0);
        assert_int_equal(k.open, D(10));
        assert_int_equal(k.high, D(12));
        assert_int_equal(k.low, D(10));
        assert_int_equal(k.close, D(11));
        expect_sum(k.volume, D(6), "volume");
        expect_sum(k.taker_base, D(4), "taker_base");
        assert_int_equal(k.trades, 3);
        assert_int_equal(k.first_id, 1);
        assert_int_equal(k.last_id, 3);
    }
    kl_kline_t k = get(&s, KL_IV_1S);
    assert_int_equal(k.open_time, T0 + 2000);
    assert_int_equal(k.close_time, T0 + 2999);
    assert_int_equal(k.open, D(12));
    assert_int_equal(k.trades, 2);
    /* 1s T0 is final, 1s T0+1s is a hole at 10. */
    assert_int_equal(c.n, 2);
    assert_int_equal(c.r[1].flags, KL_EMIT_FINAL | KL_EMIT_HOLE);
    assert_int_equal(c.r[1].k.close, D(10));
    assert_int_equal(kl_series_get(&s, KL_IV_COUNT, &k), KL_EARG);
    assert_int_equal(kl_series_get(&s, -1, &k), KL_EARG);
}

/* ---- validation --------------------------------------------------------------------------- */

static void
test_sched_init_rejects(void **state)
{
    (void)state;
    kl_sched_cfg_t cfg;
    kl_sched_t s;
    memset(&s, 0x5a, sizeof s);
    kl_sched_t untouched = s;

    kl_sched_cfg_default(&cfg);
    cfg.iv_mask = 0;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_EINTERVAL);
    cfg.iv_mask = 1u << KL_IV_COUNT;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_EINTERVAL);

    kl_sched_cfg_default(&cfg);
    cfg.tz_minutes = -721;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_ETZ);
    cfg.tz_minutes = 841;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_ETZ);

    kl_sched_cfg_default(&cfg);
    cfg.unit_per_ms = 10;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_EARG);
    cfg.unit_per_ms = 0;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_EARG);

    kl_sched_cfg_default(&cfg); /* shortest is 1s */
    cfg.lateness_ms = 1001;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_EARG);
    cfg.lateness_ms = -1;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_EARG);
    cfg.iv_mask = (1u << KL_IV_5M) | (1u << KL_IV_1H);
    cfg.lateness_ms = 5 * MIN + 1;
    assert_int_equal(kl_sched_init(&s, &cfg), KL_EARG);
    assert_memory_equal(&s, &untouched, sizeof s); /* written only on success */

    cfg.lateness_ms = 5 * MIN;
    assert_int_equal(kl_sched_init(&s, &cfg), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.pos[KL_IV_5M], 0);
    assert_int_equal(s.pos[KL_IV_1H], 1);
    assert_int_equal(s.pos[KL_IV_1M], -1);
    assert_int_equal(s.lateness, 5 * MIN);
    cfg.tz_minutes = -720;
    assert_int_equal(kl_sched_init(&s, &cfg), 0);
    cfg.tz_minutes = 840;
    cfg.unit_per_ms = 1000;
    assert_int_equal(kl_sched_init(&s, &cfg), 0);
    assert_int_equal(s.lateness, 5 * MIN * 1000);
}

static void
test_trade_validate(void **state)
{
    (void)state;
    kl_trade_t ok = tr(T0, 1, D(1), D(1), 0);
    assert_int_equal(kl_trade_validate(&ok, 1), 0);
    kl_trade_t t;
    t = ok, t.price = 0;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
    t = ok, t.price = -1;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
    t = ok, t.qty = 0;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
    t = ok, t.qty = -5;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
    t = ok, t.first_id = 5, t.last_id = 4;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
    t = ok, t.first_id = 5, t.last_id = 5;
    assert_int_equal(kl_trade_validate(&t, 1), 0);
    t = ok, t.first_id = -1;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
    t = ok, t.id = -1;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);

    t = ok, t.ts = -1;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETIME);
    t = ok, t.ts = 0;
    assert_int_equal(kl_trade_validate(&t, 1), 0);
    t = ok, t.ts = KL_TS_MAX_MS;
    assert_int_equal(kl_trade_validate(&t, 1), 0);
    t = ok, t.ts = KL_TS_MAX_MS + 1;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETIME);
    t = ok, t.ts = KL_TS_MAX_MS * 1000 + 999;
    assert_int_equal(kl_trade_validate(&t, 1000), 0);
    t = ok, t.ts = KL_TS_MAX_MS * 1000 + 1000;
    assert_int_equal(kl_trade_validate(&t, 1000), KL_ETIME);

    /* 2^48 * 2^48 = 2^96 = KL_NOTIONAL_MAX exactly; one more unit of qty is over. */
    t = ok, t.price = (kl_dec_t)1 << 48, t.qty = (kl_dec_t)1 << 48;
    assert_int_equal(kl_trade_validate(&t, 1), 0);
    t.qty += 1;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
    t = ok, t.price = INT64_MAX, t.qty = INT64_MAX;
    assert_int_equal(kl_trade_validate(&t, 1), KL_ETRADE);
}

/* ---- units and time zones ----------------------------------------------------------------- */

static void
test_microseconds(void **state)
{
    (void)state;
    const int64_t U = 1000, T = T0 * U;
    kl_sched_t sch = mksched(M1, 0, U, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T + 59999999, 1, D(7), D(1), 0), &c), KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1M);
    assert_int_equal(k.open_time, T);
    assert_int_equal(k.close_time, T + 59999999);
    assert_int_equal(apply(&s, tr(T + 60000000, 2, D(8), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].k.open_time, T);
    assert_int_equal(c.r[0].k.close_time, T + 59999999);
    assert_int_equal(c.r[0].k.close, D(7));
    /* Lateness 1000 ms is 10^6 us. */
    assert_int_equal(apply(&s, tr(T + 59000000, 3, D(6), D(1), 0), &c), KL_APPLIED_LATE);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.r[1].flags, KL_EMIT_FINAL | KL_EMIT_CORRECTION);
    assert_int_equal(c.r[1].k.open, D(6));
    assert_int_equal(apply(&s, tr(T + 58999999, 4, D(6), D(1), 0), &c), KL_TOO_LATE);
    /* Holes are one microsecond-unit minute apart. */
    kl_series_tick(&s, T + 3 * 60000000LL, collect, &c);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.r[3].flags, KL_EMIT_FINAL | KL_EMIT_HOLE);
    kl_kline_t e = hole(T + 2 * 60000000LL, 60000000LL, D(8));
    expect_kline(&c.r[3].k, &e);
}

static void
test_tz_moves_hour(void **state)
{
    (void)state;
    /* +05:45: local hours start at HH:15 UTC. */
    kl_sched_t sch = mksched(M1 | (1u << KL_IV_1H) | (1u << KL_IV_1D), 345, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 10 * MIN, 1, D(1), D(1), 0), &c), KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1H);
    assert_int_equal(k.open_time, T0 - 45 * MIN);
    assert_int_equal(k.close_time, T0 + 15 * MIN - 1);
    k = get(&s, KL_IV_1D); /* local midnight is 18:15 UTC the day before */
    assert_int_equal(k.open_time, T0 - 5 * HOUR - 45 * MIN);
    assert_int_equal(k.close_time, T0 + 18 * HOUR + 15 * MIN - 1);
    k = get(&s, KL_IV_1M); /* minutes do not move */
    assert_int_equal(k.open_time, T0 + 10 * MIN);
    assert_int_equal(apply(&s, tr(T0 + 15 * MIN - 1, 2, D(2), D(1), 0), &c), KL_APPLIED);
    int n = c.n;
    assert_int_equal(apply(&s, tr(T0 + 15 * MIN, 3, D(3), D(1), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, n + 2); /* 1m T0+14m, then 1h */
    assert_int_equal(c.r[n].iv, KL_IV_1M);
    assert_int_equal(c.r[n].k.open_time, T0 + 14 * MIN);
    assert_int_equal(c.r[n + 1].iv, KL_IV_1H);
    assert_int_equal(c.r[n + 1].k.open_time, T0 - 45 * MIN);
    assert_int_equal(c.r[n + 1].k.close_time, T0 + 15 * MIN - 1);
    assert_int_equal(c.r[n + 1].k.close, D(2));
    assert_int_equal(c.r[n + 1].k.trades, 2);
    assert_int_equal(get(&s, KL_IV_1H).open_time, T0 + 15 * MIN);

    /* -03:30: hours start at HH:30 UTC. */
    kl_sched_t sch2 = mksched(1u << KL_IV_1H, -210, 1, 1000);
    kl_series_init(&s, &sch2, NULL);
    assert_int_equal(apply(&s, tr(T0 + 10 * MIN, 1, D(1), D(1), 0), &c), KL_APPLIED);
    k = get(&s, KL_IV_1H);
    assert_int_equal(k.open_time, T0 - 30 * MIN);
    assert_int_equal(k.close_time, T0 + 30 * MIN - 1);
}

static void
test_tz_month(void **state)
{
    (void)state;
    /* 2024-02-29T23:00Z is 2024-03-01T04:45 at +05:45: the March kline, which opened at
     * 2024-02-29T18:15Z. */
    const int64_t feb29 = T0 + 59 * DAY;
    kl_sched_t sch = mksched(1u << KL_IV_1MO, 345, 1, 1000);
    kl_series_t s;
    coll_t c = {.n = 0};
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(feb29 + 23 * HOUR, 1, D(1), D(1), 0), &c), KL_APPLIED);
    kl_kline_t k = get(&s, KL_IV_1MO);
    assert_int_equal(k.open_time, feb29 + 18 * HOUR + 15 * MIN);
    assert_int_equal(k.close_time, feb29 + 31 * DAY + 18 * HOUR + 15 * MIN - 1);
    /* UTC: the February kline, 29 days long. */
    kl_sched_t utc = mksched(1u << KL_IV_1MO, 0, 1, 1000);
    kl_series_init(&s, &utc, NULL);
    assert_int_equal(apply(&s, tr(feb29 + 23 * HOUR, 1, D(1), D(1), 0), &c), KL_APPLIED);
    k = get(&s, KL_IV_1MO);
    assert_int_equal(k.open_time, T0 + 31 * DAY);
    assert_int_equal(k.close_time, feb29 + DAY - 1);
}

/* A rollover across a long gap emits at most hole_limit hole klines per interval and implies
 * the rest: a year of silence costs O(1), and the series continues exactly at its new kline,
 * at the previous close. With a lateness window the kline just before the new one is still the
 * one a late trade amends. */
static void
test_hole_limit_bounds_a_long_gap(void **state)
{
    (void)state;
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.hole_limit = 2;
    kl_sched_t sch;
    assert_int_equal(kl_sched_init(&sch, &cfg), 0);
    kl_series_t s;
    static coll_t c;
    c.n = 0;
    kl_series_init(&s, &sch, NULL);
    assert_int_equal(apply(&s, tr(T0 + 500, 1, D(100), D(1), 0), &c), KL_APPLIED);
    kl_series_tick(&s, T0 + 365 * DAY, collect, &c); /* a year later */
    /* each of the 16 intervals: its final + at most 2 holes */
    assert_true(c.n <= 16 * 3);
    int per_iv[KL_IV_COUNT] = {0};
    for (int i = 0; i < c.n; i++) {
        per_iv[c.r[i].iv]++;
        if (c.r[i].flags & KL_EMIT_HOLE)
            assert_int_equal(c.r[i].k.close, D(100));
    }
    assert_int_equal(per_iv[KL_IV_1S], 3); /* T0 final, T0+1s and T0+2s holes */
    assert_int_equal(c.r[2].k.open_time, T0 + 2000);
    kl_kline_t k = get(&s, KL_IV_1S);
    assert_int_equal(k.open_time, T0 + 365 * DAY);
    assert_int_equal(k.open, D(100));
    assert_int_equal(k.trades, 0);
    c.n = 0;
    assert_int_equal(apply(&s, tr(T0 + 365 * DAY + 10, 2, D(101), D(2), 0), &c), KL_APPLIED);
    assert_int_equal(c.n, 0);
    k = get(&s, KL_IV_1S);
    assert_int_equal(k.open, D(101));
    assert_int_equal(k.trades, 1);

    /* Lateness: a late trade just before the new kline amends the kline it belongs to. */
    cfg.lateness_ms = 1000;
    assert_int_equal(kl_sched_init(&sch, &cfg), 0);
    kl_series_init(&s, &sch, NULL);
    c.n = 0;
    assert_int_equal(apply(&s, tr(T0 + 500, 1, D(100), D(1), 0), &c), KL_APPLIED);
    kl_series_tick(&s, T0 + DAY, collect, &c);
    c.n = 0;
    assert_int_equal(apply(&s, tr(T0 + DAY - 300, 2, D(99), D(3), 0), &c), KL_APPLIED_LATE);
    int found = 0;
    for (int i = 0; i < c.n; i++)
        if (c.r[i].iv == KL_IV_1S) {
            assert_int_equal(c.r[i].flags, KL_EMIT_FINAL | KL_EMIT_CORRECTION);
            assert_int_equal(c.r[i].k.open_time, T0 + DAY - 1000);
            assert_int_equal(c.r[i].k.trades, 1);
            assert_int_equal(c.r[i].k.close, D(99));
            found = 1;
        }
    assert_true(found);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_trade),
        cmocka_unit_test(test_open_close_order),
        cmocka_unit_test(test_open_close_across_segments),
        cmocka_unit_test(test_high_low),
        cmocka_unit_test(test_volume_quote_exact),
        cmocka_unit_test(test_taker_buy),
        cmocka_unit_test(test_agg_trade_count),
        cmocka_unit_test(test_hole_klines),
        cmocka_unit_test(test_hole_limit_bounds_a_long_gap),
        cmocka_unit_test(test_finality_by_tick),
        cmocka_unit_test(test_finality_by_trade),
        cmocka_unit_test(test_rollover_idempotent),
        cmocka_unit_test(test_late_trade_correction),
        cmocka_unit_test(test_late_trade_updates_hole_template),
        cmocka_unit_test(test_late_trade_into_hole),
        cmocka_unit_test(test_too_late),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_duplicate_window_jump),
        cmocka_unit_test(test_ids_min_max_across_paths),
        cmocka_unit_test(test_lateness_zero_compact),
        cmocka_unit_test(test_get_merges_segment),
        cmocka_unit_test(test_sched_init_rejects),
        cmocka_unit_test(test_trade_validate),
        cmocka_unit_test(test_microseconds),
        cmocka_unit_test(test_tz_moves_hour),
        cmocka_unit_test(test_tz_month),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
