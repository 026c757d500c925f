/* Tests of src/engine/kmerge.c: the merge of consecutive klines (holes at the start, middle and
 * end), the choice of the base interval for a requested time zone, the fold, and the property
 * that matters: folding the service's klines into another zone gives, field by field, what a
 * series aggregating the same trades in that zone gives. The traces are seeded random trades
 * over days to weeks, with ties, hour-long gaps and 8-decimal prices, in ms and in us. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/interval.h"
#include "engine/kline.h"
#include "engine/kmerge.h"
#include "kl/err.h"
#include "kl/types.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define NO_1S (KL_IV_ALL & ~(1u << KL_IV_1S))
#define BIT(iv) (1u << (iv))

/* ---- helpers ------------------------------------------------------------------------------ */

static kl_kline_t
traded(int64_t open_time, int64_t len, kl_dec_t o, kl_dec_t h, kl_dec_t l, kl_dec_t c,
       int64_t first_id, int64_t last_id, kl_sum_t vol)
{
    kl_kline_t k;
    memset(&k, 0, sizeof k);
    k.open_time = open_time;
    k.close_time = open_time + len - 1;
    k.open = o;
    k.high = h;
    k.low = l;
    k.close = c;
    k.volume = vol;
    k.quote = vol * c;
    k.taker_base = vol / 2;
    k.taker_quote = (vol / 2) * c + 7; /* a 1e-16 tail, to see it carried */
    k.trades = last_id - first_id + 1;
    k.first_id = first_id;
    k.last_id = last_id;
    return k;
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

static void
sched_make(kl_sched_t *s, uint32_t mask, int32_t tz, int64_t upm)
{
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.iv_mask = mask;
    cfg.tz_minutes = tz;
    cfg.unit_per_ms = upm;
    assert_int_equal(kl_sched_init(s, &cfg), 0);
}

/* Field-by-field comparison that names the first field that differs. */
static void
kline_expect(const kl_kline_t *want, const kl_kline_t *got, const char *what, size_t idx)
{
#define F(f)                                                                                   \
    if (want->f != got->f)                                                                     \
        fail_msg("%s [%zu] open_time %lld: field " #f " want %lld got %lld", what, idx,       \
                 (long long)want->open_time, (long long)want->f, (long long)got->f);
    F(open_time) F(close_time) F(open) F(high) F(low) F(close) F(volume) F(quote)
    F(taker_base) F(taker_quote) F(trades) F(first_id) F(last_id)
#undef F
}

/* ---- merge -------------------------------------------------------------------------------- */

static void
test_merge_holes_start_middle_end(void **state)
{
    (void)state;
    const int64_t m = MIN_MS;
    kl_kline_t k[5] = {
        hole(0, m, 100),
        traded(m, m, 101, 105, 99, 102, 10, 12, 300),
        hole(2 * m, m, 102),
        traded(3 * m, m, 103, 104, 98, 100, 13, 20, 50),
        hole(4 * m, m, 100),
    };
    kl_kline_t acc = k[0];
    for (int i = 1; i < 5; i++)
        kl_kline_merge(&acc, &k[i]);
    assert_int_equal(acc.open_time, 0);
    assert_int_equal(acc.close_time, 5 * m - 1);
    assert_int_equal(acc.open, 101);
    assert_int_equal(acc.high, 105);
    assert_int_equal(acc.low, 98);
    assert_int_equal(acc.close, 100);
    assert_true(acc.volume == 350);
    assert_true(acc.quote == (kl_sum_t)300 * 102 + (kl_sum_t)50 * 100);
    assert_true(acc.taker_base == 175);
    assert_true(acc.taker_quote == (kl_sum_t)150 * 102 + 7 + (kl_sum_t)25 * 100 + 7);
    assert_int_equal(acc.trades, 3 + 8);
    assert_int_equal(acc.first_id, 10);
    assert_int_equal(acc.last_id, 20);
}

static void
test_merge_all_holes_stays_hole(void **state)
{
    (void)state;
    kl_kline_t acc = hole(0, MIN_MS, 4200);
    kl_kline_t h2 = hole(MIN_MS, MIN_MS, 4200), h3 = hole(2 * MIN_MS, MIN_MS, 4200);
    kl_kline_merge(&acc, &h2);
    kl_kline_merge(&acc, &h3);
    kl_kline_t want = hole(0, 3 * MIN_MS, 4200);
    kline_expect(&want, &acc, "all holes", 0);
}

static void
test_merge_hole_first_then_trades(void **state)
{
    (void)state;
    /* The first kline with trades sets all four prices, even below the hole's price. */
    kl_kline_t acc = hole(0, MIN_MS, 500);
    kl_kline_t t = traded(MIN_MS, MIN_MS, 400, 450, 390, 420, 7, 7, 1);
    kl_kline_merge(&acc, &t);
    kl_kline_t want = t;
    want.open_time = 0;
    kline_expect(&want, &acc, "hole then trades", 0);
}

static void
test_merge_trades_then_holes(void **state)
{
    (void)state;
    kl_kline_t acc = traded(0, MIN_MS, 10, 30, 5, 20, 1, 4, 9);
    kl_kline_t want = acc;
    for (int i = 1; i < 4; i++) {
        kl_kline_t h = hole(i * MIN_MS, MIN_MS, 20);
        kl_kline_merge(&acc, &h);
    }
    want.close_time = 4 * MIN_MS - 1;
    kline_expect(&want, &acc, "trades then holes", 0);
}

/* ---- plan --------------------------------------------------------------------------------- */

static void
plan_expect(const kl_sched_t *svc, int iv, int32_t tz, int direct, int base_iv)
{
    kl_tz_plan_t p;
    memset(&p, 0xa5, sizeof p);
    int rc = kl_tz_plan(svc, iv, tz, &p);
    if (rc != 0)
        fail_msg("plan %s@%d: rc %d", kl_iv_name(iv), tz, rc);
    if (p.direct != direct || p.base_iv != base_iv)
        fail_msg("plan %s@%d: want direct %d base %s, got direct %d base %s", kl_iv_name(iv), tz,
                 direct, kl_iv_name(base_iv), p.direct, kl_iv_name(p.base_iv));
    assert_int_equal(p.iv, iv);
    assert_int_equal(p.tz.iv, iv);
    assert_int_equal(p.tz.tz, (int64_t)tz * MIN_MS * svc->unit_per_ms);
    assert_int_equal(p.tz.len, kl_iv_len_ms(iv) * svc->unit_per_ms);
}

static void
test_plan_utc_service(void **state)
{
    (void)state;
    for (int64_t upm = 1; upm <= 1000; upm *= 1000) {
        kl_sched_t all;
        sched_make(&all, KL_IV_ALL, 0, upm);
        plan_expect(&all, KL_IV_1D, 480, 0, KL_IV_8H);
        plan_expect(&all, KL_IV_1D, 345, 0, KL_IV_15M);
        plan_expect(&all, KL_IV_1D, -210, 0, KL_IV_30M);
        plan_expect(&all, KL_IV_1D, 0, 1, KL_IV_1D);
        plan_expect(&all, KL_IV_1MO, 480, 0, KL_IV_8H);
        plan_expect(&all, KL_IV_1MO, 0, 1, KL_IV_1MO);
        plan_expect(&all, KL_IV_1MO, -720, 0, KL_IV_12H);
        plan_expect(&all, KL_IV_1W, -180, 0, KL_IV_1H);
        plan_expect(&all, KL_IV_1W, 480, 0, KL_IV_8H);
        plan_expect(&all, KL_IV_3D, 480, 0, KL_IV_8H);
        plan_expect(&all, KL_IV_12H, 360, 0, KL_IV_6H);
        plan_expect(&all, KL_IV_30M, 345, 0, KL_IV_15M);
        plan_expect(&all, KL_IV_1H, 330, 0, KL_IV_30M);
        plan_expect(&all, KL_IV_1H, 345, 0, KL_IV_15M);
        /* Whole-hour offsets leave 1s..1h where they are. */
        for (int iv = KL_IV_1S; iv <= KL_IV_1H; iv++) {
            plan_expect(&all, iv, 480, 1, iv);
            plan_expect(&all, iv, -720, 1, iv);
        }
        plan_expect(&all, KL_IV_2H, 480, 1, KL_IV_2H);
        plan_expect(&all, KL_IV_8H, 480, 1, KL_IV_8H);
        plan_expect(&all, KL_IV_2H, 540, 0, KL_IV_1H);
        plan_expect(&all, KL_IV_15M, 345, 1, KL_IV_15M);
        plan_expect(&all, KL_IV_15M, 330, 1, KL_IV_15M);

        kl_sched_t few;
        sched_make(&few, BIT(KL_IV_1M) | BIT(KL_IV_1H) | BIT(KL_IV_1D), 0, upm);
        plan_expect(&few, KL_IV_1D, 480, 0, KL_IV_1H);
        plan_expect(&few, KL_IV_1D, 345, 0, KL_IV_1M);
        plan_expect(&few, KL_IV_4H, 0, 0, KL_IV_1H);     /* not enabled: folded */
        plan_expect(&few, KL_IV_1MO, 0, 0, KL_IV_1D);    /* not enabled, same zone */
        plan_expect(&few, KL_IV_1MO, -60, 0, KL_IV_1H);
        plan_expect(&few, KL_IV_1W, 0, 0, KL_IV_1D);

        kl_tz_plan_t p;
        memset(&p, 0x5a, sizeof p);
        kl_tz_plan_t untouched = p;
        kl_sched_t only1d;
        sched_make(&only1d, BIT(KL_IV_1D), 0, upm);
        assert_int_equal(kl_tz_plan(&only1d, KL_IV_1D, 480, &p), KL_EINTERVAL);
        assert_int_equal(kl_tz_plan(&only1d, KL_IV_1H, 0, &p), KL_EINTERVAL);
        kl_sched_t only1h;
        sched_make(&only1h, BIT(KL_IV_1H), 0, upm);
        assert_int_equal(kl_tz_plan(&only1h, KL_IV_1MO, 345, &p), KL_EINTERVAL);
        assert_int_equal(kl_tz_plan(&only1h, KL_IV_1S, 0, &p), KL_EINTERVAL);
        assert_int_equal(kl_tz_plan(&all, KL_IV_COUNT, 0, &p), KL_EINTERVAL);
        assert_int_equal(kl_tz_plan(&all, -1, 0, &p), KL_EINTERVAL);
        assert_int_equal(kl_tz_plan(&all, KL_IV_1D, 841, &p), KL_ETZ);
        assert_int_equal(kl_tz_plan(&all, KL_IV_1D, -721, &p), KL_ETZ);
        assert_memory_equal(&p, &untouched, sizeof p);
    }
}

static void
test_plan_service_in_plus8(void **state)
{
    (void)state;
    kl_sched_t svc;
    sched_make(&svc, KL_IV_ALL, 480, 1);
    plan_expect(&svc, KL_IV_1D, 0, 0, KL_IV_8H);
    plan_expect(&svc, KL_IV_1MO, 0, 0, KL_IV_8H);
    plan_expect(&svc, KL_IV_1H, 0, 1, KL_IV_1H);
    plan_expect(&svc, KL_IV_4H, 0, 1, KL_IV_4H);
    plan_expect(&svc, KL_IV_8H, 0, 1, KL_IV_8H);
    plan_expect(&svc, KL_IV_12H, 0, 0, KL_IV_4H);
    plan_expect(&svc, KL_IV_1D, 480, 1, KL_IV_1D);
    plan_expect(&svc, KL_IV_1MO, 480, 1, KL_IV_1MO);
    plan_expect(&svc, KL_IV_1W, 480, 1, KL_IV_1W);
    plan_expect(&svc, KL_IV_1W, 0, 0, KL_IV_8H);
    plan_expect(&svc, KL_IV_1D, 345, 0, KL_IV_15M);
}

static void
test_plan_custom_origin(void **state)
{
    (void)state;
    /* A 3d origin of one day moves the 3d grid; the tz kline follows the service's origin. */
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.origin_ms[KL_IV_3D] = DAY_MS;
    kl_sched_t svc;
    assert_int_equal(kl_sched_init(&svc, &cfg), 0);
    kl_tz_plan_t p;
    assert_int_equal(kl_tz_plan(&svc, KL_IV_3D, 0, &p), 0);
    assert_int_equal(p.direct, 1);
    assert_int_equal(p.tz.origin, DAY_MS);
    assert_int_equal(kl_tz_plan(&svc, KL_IV_3D, 120, &p), 0);
    assert_int_equal(p.direct, 0);
    assert_int_equal(p.base_iv, KL_IV_2H);
    assert_int_equal(p.tz.origin, DAY_MS);
    /* Day 1 local 00:00 in +02:00 is 1970-01-01T22:00Z. */
    assert_int_equal(kl_iv_open(&p.tz, DAY_MS), DAY_MS - 2 * HOUR_MS);
}

/* ---- fold --------------------------------------------------------------------------------- */

static void
test_fold_gaps_and_cap(void **state)
{
    (void)state;
    kl_sched_t svc;
    sched_make(&svc, BIT(KL_IV_1H) | BIT(KL_IV_1D), 0, 1);
    kl_tz_plan_t p;
    assert_int_equal(kl_tz_plan(&svc, KL_IV_1D, 480, &p), 0);
    assert_int_equal(p.base_iv, KL_IV_1H);
    /* tz day D (+08:00) opens at D*day - 8h. Hours present: 16:00Z.. of day 0 missing the
     * first two (so tz day 1 starts at its third hour), then nothing on tz day 2, then two
     * hours of tz day 3. */
    const int64_t d1 = DAY_MS - 8 * HOUR_MS, d3 = 3 * DAY_MS - 8 * HOUR_MS;
    kl_kline_t base[8];
    base[0] = traded(d1 + 2 * HOUR_MS, HOUR_MS, 50, 60, 40, 55, 100, 101, 10);
    base[1] = hole(d1 + 3 * HOUR_MS, HOUR_MS, 55);
    base[2] = traded(d1 + 23 * HOUR_MS, HOUR_MS, 56, 70, 56, 61, 102, 102, 5);
    base[3] = hole(d3, HOUR_MS, 61);
    base[4] = traded(d3 + 5 * HOUR_MS, HOUR_MS, 62, 62, 30, 31, 103, 110, 3);
    kl_kline_t out[4];
    memset(out, 0, sizeof out);
    assert_int_equal(kl_tz_fold(&p, base, 5, out, 4), 2);

    kl_kline_t w1 = base[0];
    kl_kline_merge(&w1, &base[1]);
    kl_kline_merge(&w1, &base[2]);
    w1.open_time = d1;
    w1.close_time = d1 + DAY_MS - 1;
    assert_int_equal(w1.open, 50);
    assert_int_equal(w1.high, 70);
    assert_int_equal(w1.close, 61);
    assert_int_equal(w1.trades, 3);
    kline_expect(&w1, &out[0], "fold day 1", 0);

    kl_kline_t w3 = base[3];
    kl_kline_merge(&w3, &base[4]);
    w3.close_time = d3 + DAY_MS - 1;
    assert_int_equal(w3.open, 62);
    assert_int_equal(w3.low, 30);
    assert_int_equal(w3.first_id, 103);
    kline_expect(&w3, &out[1], "fold day 3", 1);

    /* A full out stops before a new tz kline, never in the middle of one. */
    memset(out, 0, sizeof out);
    assert_int_equal(kl_tz_fold(&p, base, 5, out, 1), 1);
    kline_expect(&w1, &out[0], "fold cap 1", 0);
    assert_int_equal(kl_tz_fold(&p, base, 5, out, 0), 0);
    assert_int_equal(kl_tz_fold(&p, base, 0, out, 4), 0);
}

static void
test_fold_direct_copies(void **state)
{
    (void)state;
    kl_sched_t svc;
    sched_make(&svc, KL_IV_ALL, 0, 1000);
    kl_tz_plan_t p;
    assert_int_equal(kl_tz_plan(&svc, KL_IV_1H, 480, &p), 0);
    assert_int_equal(p.direct, 1);
    const int64_t h = HOUR_MS * 1000;
    kl_kline_t base[3] = {traded(1704067200000000LL, h, 1, 2, 1, 2, 5, 6, 1),
                          hole(1704067200000000LL + h, h, 2),
                          traded(1704067200000000LL + 5 * h, h, 3, 3, 3, 3, 7, 7, 1)};
    kl_kline_t out[3];
    assert_int_equal(kl_tz_fold(&p, base, 3, out, 3), 3);
    for (size_t i = 0; i < 3; i++)
        kline_expect(&base[i], &out[i], "direct", i);
}

/* ---- the property: folded service klines == klines aggregated in the zone ----------------- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t
rng_next(rng_t *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t
rng_range(rng_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

typedef struct trace {
    const char *name;
    uint64_t seed;
    int64_t upm;
    int64_t start_ms;
    int64_t span_ms;       /* trades until start + span */
    uint32_t mask;         /* intervals of both series */
    int hour_gap_permille; /* chance of a 1..max_gap_h hour gap before a trade */
    int max_gap_h;
} trace_t;

typedef struct kvec {
    kl_kline_t *v;
    size_t n, cap;
} kvec_t;

typedef struct collect {
    kvec_t iv[KL_IV_COUNT];
    size_t corrections;
} collect_t;

static void
kvec_push(kvec_t *kv, const kl_kline_t *k)
{
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? 2 * kv->cap : 1024;
        kv->v = realloc(kv->v, kv->cap * sizeof *kv->v);
        assert_non_null(kv->v);
    }
    kv->v[kv->n++] = *k;
}

static void
collect_free(collect_t *c)
{
    for (int i = 0; i < KL_IV_COUNT; i++)
        free(c->iv[i].v);
    memset(c, 0, sizeof *c);
}

static void
on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    (void)s;
    collect_t *c = ctx;
    if (flags & KL_EMIT_CORRECTION) {
        c->corrections++;
        return;
    }
    assert_true(flags & KL_EMIT_FINAL);
    kvec_push(&c->iv[iv], k);
}

static kl_trade_t *
trace_make(const trace_t *tr, size_t *n_out)
{
    rng_t r = {tr->seed};
    size_t cap = 1024, n = 0;
    kl_trade_t *t = malloc(cap * sizeof *t);
    assert_non_null(t);
    int64_t ts = tr->start_ms * tr->upm + rng_range(&r, 0, tr->upm - 1);
    const int64_t end = (tr->start_ms + tr->span_ms) * tr->upm;
    int64_t agg = 1000, raw = 500000;
    kl_dec_t price = 2345678901234LL; /* 23456.78901234: 8-decimal prices give 1e-16 tails */
    while (ts < end) {
        if (n == cap) {
            cap *= 2;
            t = realloc(t, cap * sizeof *t);
            assert_non_null(t);
        }
        kl_trade_t *x = &t[n++];
        x->ts = ts;
        x->id = agg++;
        raw += rng_range(&r, 1, 3); /* aggTrades skip the ids of other aggregates */
        x->first_id = raw;
        raw += rng_range(&r, 0, 3);
        x->last_id = raw;
        price += rng_range(&r, -300000000, 300000000);
        if (price < 100000000)
            price = 100000000 + rng_range(&r, 0, 99999999);
        x->price = price;
        x->qty = rng_range(&r, 1, 5000000000LL);
        x->buyer_maker = (uint8_t)(rng_next(&r) & 1);
        assert_int_equal(kl_trade_validate(x, tr->upm), 0);

        int64_t roll = rng_range(&r, 0, 999);
        if (roll < tr->hour_gap_permille)
            ts += rng_range(&r, HOUR_MS, tr->max_gap_h * HOUR_MS) * tr->upm +
                  rng_range(&r, 0, tr->upm - 1);
        else if (roll < 350)
            ts += 0; /* a tie: same time, higher id */
        else
            ts += rng_range(&r, 1, 90000 * tr->upm);
    }
    *n_out = n;
    return t;
}

static void
run_series(const kl_sched_t *sched, const kl_trade_t *t, size_t n, collect_t *c)
{
    memset(c, 0, sizeof *c);
    kl_series_t *s = malloc(kl_series_size(sched));
    assert_non_null(s);
    kl_series_init(s, sched, NULL);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(kl_series_apply(s, &t[i], on_emit, c), KL_APPLIED);
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        if (sched->pos[iv] < 0)
            continue;
        kl_kline_t live;
        assert_int_equal(kl_series_get(s, iv, &live), 0);
        kvec_push(&c->iv[iv], &live);
    }
    assert_int_equal(c->corrections, 0);
    free(s);
}

static const int32_t prop_zones[] = {-720, -600, -570, -210, -180, -60, 0,  60,
                                     330,  345,  480,  525,  765,  840};

/* Checks every interval of every zone; returns how many tz klines were compared. */
static size_t
prop_check(const trace_t *tr, int32_t svc_tz, uint32_t svc_mask)
{
    size_t n = 0, compared = 0;
    kl_trade_t *t = trace_make(tr, &n);
    assert_true(n > 500);
    kl_sched_t svc;
    sched_make(&svc, svc_mask, svc_tz, tr->upm);
    collect_t base;
    run_series(&svc, t, n, &base);
    int saw_fold = 0, saw_direct = 0;
    for (size_t zi = 0; zi < sizeof prop_zones / sizeof prop_zones[0]; zi++) {
        const int32_t z = prop_zones[zi];
        kl_sched_t zs;
        sched_make(&zs, tr->mask, z, tr->upm);
        collect_t want;
        run_series(&zs, t, n, &want);
        for (int iv = 0; iv < KL_IV_COUNT; iv++) {
            if (zs.pos[iv] < 0)
                continue;
            kl_tz_plan_t p;
            int rc = kl_tz_plan(&svc, iv, z, &p);
            /* Every offset is whole minutes, so 1m tiles anything but 1s. */
            if (rc == KL_EINTERVAL && iv == KL_IV_1S && svc.pos[KL_IV_1S] < 0)
                continue;
            if (rc != 0)
                fail_msg("%s: plan %s@%d failed: %d", tr->name, kl_iv_name(iv), z, rc);
            if (z == svc_tz && svc.pos[iv] >= 0)
                assert_int_equal(p.direct, 1);
            saw_fold |= !p.direct;
            saw_direct |= p.direct;
            const kvec_t *b = &base.iv[p.base_iv], *w = &want.iv[iv];
            assert_true(w->n > 0);
            kl_kline_t *out = malloc((w->n + 1) * sizeof *out);
            assert_non_null(out);
            size_t got = kl_tz_fold(&p, b->v, b->n, out, w->n + 1);
            char what[96];
            snprintf(what, sizeof what, "%s svc %d: %s@%d from %s", tr->name, svc_tz,
                     kl_iv_name(iv), z, kl_iv_name(p.base_iv));
            if (got != w->n)
                fail_msg("%s: folded %zu klines, the zone series has %zu", what, got, w->n);
            for (size_t j = 0; j < got; j++)
                kline_expect(&w->v[j], &out[j], what, j);
            compared += got;
            free(out);
        }
        collect_free(&want);
    }
    assert_true(saw_fold && saw_direct);
    collect_free(&base);
    free(t);
    return compared;
}

/* 2024-02-20T05:07:00Z: five weeks over a leap February's end and a month end, hours-long gaps.
 * Without 1s, whose five weeks of klines would be half a gigabyte; 1s is always direct anyway
 * and the short traces cover it. */
static const trace_t trace_long = {"long-ms", 11, 1, 1708405620000LL, 36 * DAY_MS, NO_1S, 8, 20};
/* 2023-12-30T18:00:00Z: two days over a Monday that opens a month and a year, in us. */
static const trace_t trace_us = {"short-us", 22, 1000, 1703959200000LL, 2 * DAY_MS, KL_IV_ALL,
                                 3, 6};
/* 2024-03-30T21:30:00Z: two days over a month end and a Monday, in ms. */
static const trace_t trace_ms = {"short-ms", 33, 1, 1711834200000LL, 2 * DAY_MS, KL_IV_ALL, 3,
                                 6};

static void
test_prop_long_utc(void **state)
{
    (void)state;
    assert_true(prop_check(&trace_long, 0, trace_long.mask) > 100000);
}

static void
test_prop_long_plus8_service(void **state)
{
    (void)state;
    assert_true(prop_check(&trace_long, 480, trace_long.mask) > 100000);
}

static void
test_prop_short_us(void **state)
{
    (void)state;
    assert_true(prop_check(&trace_us, 0, KL_IV_ALL) > 100000);
}

static void
test_prop_short_ms_minus0330_service(void **state)
{
    (void)state;
    assert_true(prop_check(&trace_ms, -210, KL_IV_ALL) > 100000);
}

static void
test_prop_long_sparse_service(void **state)
{
    (void)state;
    /* A service keeping only 1m, 1h, 1d and 1M: every other interval, and every zone of those,
     * comes from folds (1d@+05:45 from 1m, 1M@+08:00 from 1h, 4h from 1h...). */
    uint32_t mask = BIT(KL_IV_1M) | BIT(KL_IV_1H) | BIT(KL_IV_1D) | BIT(KL_IV_1MO);
    assert_true(prop_check(&trace_long, 0, mask) > 100000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_holes_start_middle_end),
        cmocka_unit_test(test_merge_all_holes_stays_hole),
        cmocka_unit_test(test_merge_hole_first_then_trades),
        cmocka_unit_test(test_merge_trades_then_holes),
        cmocka_unit_test(test_plan_utc_service),
        cmocka_unit_test(test_plan_service_in_plus8),
        cmocka_unit_test(test_plan_custom_origin),
        cmocka_unit_test(test_fold_gaps_and_cap),
        cmocka_unit_test(test_fold_direct_copies),
        cmocka_unit_test(test_prop_long_utc),
        cmocka_unit_test(test_prop_long_plus8_service),
        cmocka_unit_test(test_prop_long_sparse_service),
        cmocka_unit_test(test_prop_short_us),
        cmocka_unit_test(test_prop_short_ms_minus0330_service),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
