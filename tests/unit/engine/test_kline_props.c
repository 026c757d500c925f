/* Property tests of the kline engine (src/engine/kline.c) on thousands of seeded random trades
 * spread over hours to months, with ties, gaps and clock ticks. They check what no table test
 * can cover: that fine klines merge exactly into coarse ones in any time zone, that arrival order
 * of tied trades and the segment optimisation never change a kline, that a brute-force
 * recomputation from the raw trade list agrees field by field, and that late amendments leave
 * the same final state as on-time delivery. Seeds are fixed so a failure always reproduces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/interval.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "kl/types.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
/* 2023-12-20T07:13:00Z: long runs cross a year end, a leap February and many weeks. */
#define START_MS 1703056380000LL
#define NO_1S (KL_IV_ALL & ~(1u << KL_IV_1S))

/* ---- random numbers ----------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t
rng_next(rng_t *r)
{
    /* splitmix64: tiny, and good enough that seeds do not correlate. */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t
rng_range(rng_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static int
rng_pct(rng_t *r, int pct)
{
    return (int)(rng_next(r) % 1000) < pct * 10;
}

/* ---- events ------------------------------------------------------------------------------- */

typedef struct ev {
    int is_tick;
    int64_t now; /* tick time */
    kl_trade_t t;
} ev_t;

typedef struct evlist {
    ev_t *e;
    int n;
} evlist_t;

static int64_t
ev_time(const ev_t *e)
{
    return e->is_tick ? e->now : e->t.ts;
}

/* Gap profile: per mille chances of each gap class; the rest are short gaps. */
typedef struct profile {
    int n_trades;
    int tie_pct;
    int tick_pct;
    int64_t short_ms;                 /* most gaps: 1 .. short_ms */
    int mid_pm, long_pm, huge_pm;     /* per mille */
    int64_t mid_ms, long_ms, huge_ms; /* upper bounds of each class */
} profile_t;

/* ~120-200 days: every interval up to 1M rolls many times, with hole months. */
static const profile_t LONG = {4000, 20, 5, 2000, 100, 10, 1, 3 * HOUR_MS, 3 * DAY_MS,
                               30 * DAY_MS};
/* ~1-2 days: short enough to enable 1s. */
static const profile_t SHORT = {3000, 20, 5, 3000, 180, 15, 0, 2 * MIN_MS, HOUR_MS, 0};

/* In-order trades: ids and raw-id ranges increase, times never decrease, random walk prices
 * in 1e-8 units. A tick, when present, sits between two trades' times (often exactly on the
 * next trade's time, to hit boundary cases). */
static evlist_t
gen_events(uint64_t seed, const profile_t *p)
{
    rng_t r = {seed};
    evlist_t l;
    l.e = calloc((size_t)p->n_trades * 2, sizeof *l.e);
    assert_non_null(l.e);
    l.n = 0;
    int64_t ts = START_MS + rng_range(&r, 0, DAY_MS);
    int64_t id = 1000 + rng_range(&r, 0, 1000), raw = id * 3;
    int64_t price = rng_range(&r, 100000000LL, 5000000000000LL);
    for (int i = 0; i < p->n_trades; i++) {
        if (i > 0 && !rng_pct(&r, p->tie_pct)) {
            int64_t pm = rng_range(&r, 0, 999), gap;
            if (pm < p->huge_pm)
                gap = rng_range(&r, 1, p->huge_ms);
            else if (pm < p->huge_pm + p->long_pm)
                gap = rng_range(&r, 1, p->long_ms);
            else if (pm < p->huge_pm + p->long_pm + p->mid_pm)
                gap = rng_range(&r, 1, p->mid_ms);
            else
                gap = rng_range(&r, 1, p->short_ms);
            int64_t prev = ts;
            ts += gap;
            if (rng_pct(&r, p->tick_pct)) {
                ev_t *e = &l.e[l.n++];
                e->is_tick = 1;
                e->now = rng_pct(&r, 30) ? ts : rng_range(&r, prev, ts);
            }
        }
        int64_t step = rng_range(&r, -price / 200, price / 200);
        if (price + step > 0)
            price += step;
        ev_t *e = &l.e[l.n++];
        e->is_tick = 0;
        e->t.ts = ts;
        e->t.id = id++;
        e->t.first_id = raw;
        e->t.last_id = raw + rng_range(&r, 0, rng_pct(&r, 10) ? 40 : 2);
        raw = e->t.last_id + 1;
        /* A few tiny prices: low must reach them, and the walk goes on from where it was. */
        e->t.price = rng_pct(&r, 1) ? rng_range(&r, 1, 1000) : price;
        e->t.qty = rng_pct(&r, 5) ? rng_range(&r, 1, 100000000000000LL)
                                  : rng_range(&r, 1, 1000000000LL);
        e->t.buyer_maker = (uint8_t)(rng_next(&r) & 1);
        assert_int_equal(kl_trade_validate(&e->t, 1), 0);
    }
    return l;
}

static evlist_t
ev_copy(const evlist_t *src)
{
    evlist_t l = {malloc((size_t)src->n * sizeof *src->e), src->n};
    assert_non_null(l.e);
    memcpy(l.e, src->e, (size_t)src->n * sizeof *src->e);
    return l;
}

/* The same instants in microseconds: a sub-ms offset derived from the ms time keeps ties tied
 * and order ordered. */
static evlist_t
ev_to_us(const evlist_t *src)
{
    evlist_t l = ev_copy(src);
    for (int i = 0; i < l.n; i++) {
        int64_t *t = l.e[i].is_tick ? &l.e[i].now : &l.e[i].t.ts;
        *t = *t * 1000 + (int64_t)((((uint64_t)*t * 0x9e3779b97f4a7c15ULL) >> 32) % 1000);
    }
    return l;
}

/* Reorders trades that share a time stamp (ticks in between keep their places: their time is
 * that same stamp). */
static void
shuffle_ties(evlist_t *l, uint64_t seed)
{
    rng_t r = {seed};
    int idx[4096];
    int i = 0;
    while (i < l->n) {
        if (l->e[i].is_tick) {
            i++;
            continue;
        }
        int k = 0, j = i;
        int64_t ts = l->e[i].t.ts;
        for (; j < l->n && ev_time(&l->e[j]) == ts && k < 4096; j++)
            if (!l->e[j].is_tick)
                idx[k++] = j;
        for (int a = k - 1; a > 0; a--) {
            int b = (int)rng_range(&r, 0, a);
            kl_trade_t tmp = l->e[idx[a]].t;
            l->e[idx[a]].t = l->e[idx[b]].t;
            l->e[idx[b]].t = tmp;
        }
        i = j;
    }
}

/* Delays about pct% of the trades past later events, never by more than lateness, so the
 * engine must take every one of them (on time, or as a late amendment). */
static int
delay_trades(evlist_t *l, uint64_t seed, int pct, int64_t lateness)
{
    rng_t r = {seed};
    char *moved = calloc((size_t)l->n, 1);
    assert_non_null(moved);
    int n_delayed = 0;
    for (int i = 1; i < l->n; i++) {
        if (l->e[i].is_tick || moved[i] || !rng_pct(&r, pct))
            continue;
        int64_t limit = l->e[i].t.ts + lateness;
        int steps = (int)rng_range(&r, 1, 40), j = i;
        while (steps-- > 0 && j + 1 < l->n && ev_time(&l->e[j + 1]) <= limit) {
            ev_t tmp = l->e[j];
            l->e[j] = l->e[j + 1];
            l->e[j + 1] = tmp;
            char m = moved[j];
            moved[j] = moved[j + 1];
            moved[j + 1] = m;
            j++;
        }
        moved[j] = 1;
        n_delayed += j > i;
    }
    free(moved);
    return n_delayed;
}

/* ---- collecting klines -------------------------------------------------------------------- */

typedef struct rec {
    unsigned flags; /* 0: the live kline, appended by finish() */
    kl_kline_t k;
} rec_t;

typedef struct ivlog {
    rec_t *r;
    size_t n, cap;
} ivlog_t;

typedef struct coll {
    ivlog_t iv[KL_IV_COUNT];
    int fold_corrections; /* replace the corrected kline instead of appending */
    uint64_t bad, corrections;
    char why[256];
} coll_t;

static void
coll_fini(coll_t *c)
{
    for (int i = 0; i < KL_IV_COUNT; i++)
        free(c->iv[i].r);
    memset(c, 0, sizeof *c);
}

static void
bad(coll_t *c, int iv, const kl_kline_t *k, const char *what)
{
    if (c->bad++ == 0)
        snprintf(c->why, sizeof c->why, "%s: %s kline open_time %lld", what, kl_iv_name(iv),
                 (long long)k->open_time);
}

/* Property (3), and the shape every kline must have whatever the input. */
static void
check_shape(coll_t *c, int iv, const kl_kline_t *k, unsigned flags)
{
    if (!(k->low <= k->open && k->open <= k->high))
        bad(c, iv, k, "open outside [low, high]");
    if (!(k->low <= k->close && k->close <= k->high))
        bad(c, iv, k, "close outside [low, high]");
    if (k->low <= 0)
        bad(c, iv, k, "non-positive low");
    if (k->close_time <= k->open_time)
        bad(c, iv, k, "close_time <= open_time");
    if (k->taker_base > k->volume || k->taker_quote > k->quote)
        bad(c, iv, k, "taker part exceeds the whole");
    int is_hole = k->trades == 0;
    if (flags != 0 && is_hole != !!(flags & KL_EMIT_HOLE))
        bad(c, iv, k, "KL_EMIT_HOLE disagrees with trades == 0");
    if (is_hole && (k->open != k->high || k->open != k->low || k->open != k->close ||
                    k->volume != 0 || k->quote != 0 || k->taker_base != 0 ||
                    k->taker_quote != 0 || k->first_id != -1 || k->last_id != -1))
        bad(c, iv, k, "malformed hole");
    if (!is_hole && (k->first_id < 0 || k->last_id < k->first_id || k->volume <= 0))
        bad(c, iv, k, "malformed ids or volume");
}

static void
push(ivlog_t *l, const kl_kline_t *k, unsigned flags)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->r = realloc(l->r, l->cap * sizeof *l->r);
        assert_non_null(l->r);
    }
    l->r[l->n].flags = flags;
    l->r[l->n].k = *k;
    l->n++;
}

static void
on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    coll_t *c = ctx;
    (void)s;
    check_shape(c, iv, k, flags);
    ivlog_t *l = &c->iv[iv];
    if (!(flags & KL_EMIT_FINAL))
        bad(c, iv, k, "emitted without KL_EMIT_FINAL");
    if (flags & KL_EMIT_CORRECTION) {
        c->corrections++;
        /* A correction amends the last final kline of its interval. */
        if (l->n == 0 || l->r[l->n - 1].k.open_time != k->open_time)
            bad(c, iv, k, "correction of a kline that is not the last final one");
        else if (c->fold_corrections) {
            l->r[l->n - 1].k = *k;
            l->r[l->n - 1].flags = flags & ~(unsigned)KL_EMIT_CORRECTION;
        } else {
            push(l, k, flags);
        }
        return;
    }
    if (l->n > 0 && l->r[l->n - 1].k.close_time + 1 != k->open_time)
        bad(c, iv, k, "final klines not consecutive");
    push(l, k, flags);
}

/* Feeds every event; all trades must be taken. Returns how many came in late. */
static int
feed(kl_series_t *s, const evlist_t *l, coll_t *c)
{
    int late = 0;
    for (int i = 0; i < l->n; i++) {
        if (l->e[i].is_tick) {
            kl_series_tick(s, l->e[i].now, on_emit, c);
            continue;
        }
        int rc = kl_series_apply(s, &l->e[i].t, on_emit, c);
        if (rc != KL_APPLIED && rc != KL_APPLIED_LATE)
            fail_msg("event %d (ts %lld id %lld): apply returned %d", i,
                     (long long)l->e[i].t.ts, (long long)l->e[i].t.id, rc);
        late += rc == KL_APPLIED_LATE;
    }
    return late;
}

/* Appends each enabled interval's live kline, which must follow the last final one. */
static void
finish(kl_series_t *s, coll_t *c)
{
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        if (s->sched->pos[iv] < 0)
            continue;
        kl_kline_t k;
        assert_int_equal(kl_series_get(s, iv, &k), 0);
        check_shape(c, iv, &k, 0);
        ivlog_t *l = &c->iv[iv];
        if (l->n > 0 && l->r[l->n - 1].k.close_time + 1 != k.open_time)
            bad(c, iv, &k, "live kline does not follow the last final one");
        push(l, &k, 0);
    }
}

static void
assert_clean(const coll_t *c, const char *label)
{
    if (c->bad != 0)
        fail_msg("%s: %llu shape violations, first: %s", label, (unsigned long long)c->bad,
                 c->why);
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

/* One series over the events; the collected klines (finals then live) land in *c. The series
 * gets exactly kl_series_size() bytes, so ASan sees any access past them. */
static int
run(const evlist_t *l, const kl_sched_t *sch, coll_t *c)
{
    kl_series_t *s = malloc(kl_series_size(sch));
    assert_non_null(s);
    kl_series_init(s, sch, NULL);
    int late = feed(s, l, c);
    finish(s, c);
    free(s);
    return late;
}

/* ---- comparing klines --------------------------------------------------------------------- */

static int
kline_eq(const kl_kline_t *a, const kl_kline_t *b)
{
    return a->open_time == b->open_time && a->close_time == b->close_time &&
           a->open == b->open && a->high == b->high && a->low == b->low && a->close == b->close &&
           a->volume == b->volume && a->quote == b->quote && a->taker_base == b->taker_base &&
           a->taker_quote == b->taker_quote && a->trades == b->trades &&
           a->first_id == b->first_id && a->last_id == b->last_id;
}

static void
print_kline(const char *name, const kl_kline_t *k)
{
    print_error("  %s: open_time %lld close_time %lld O %lld H %lld L %lld C %lld vol %.0f "
                "quote %.0f tb %.0f tq %.0f trades %lld ids %lld..%lld\n",
                name, (long long)k->open_time, (long long)k->close_time, (long long)k->open,
                (long long)k->high, (long long)k->low, (long long)k->close, (double)k->volume,
                (double)k->quote, (double)k->taker_base, (double)k->taker_quote,
                (long long)k->trades, (long long)k->first_id, (long long)k->last_id);
}

static void
expect_same(const kl_kline_t *actual, const kl_kline_t *expected, const char *label, int iv,
            size_t i)
{
    if (kline_eq(actual, expected))
        return;
    print_error("%s: %s kline #%zu differs\n", label, kl_iv_name(iv), i);
    print_kline("actual  ", actual);
    print_kline("expected", expected);
    fail();
}

static void
expect_same_logs(const coll_t *a, const coll_t *b, int iv, const char *label)
{
    const ivlog_t *x = &a->iv[iv], *y = &b->iv[iv];
    if (x->n != y->n)
        fail_msg("%s: %s: %zu klines vs %zu", label, kl_iv_name(iv), x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        if (x->r[i].flags != y->r[i].flags)
            fail_msg("%s: %s kline #%zu: flags %u vs %u", label, kl_iv_name(iv), i,
                     x->r[i].flags, y->r[i].flags);
        expect_same(&x->r[i].k, &y->r[i].k, label, iv, i);
    }
}

/* ---- independent interval boundaries ------------------------------------------------------ */

static const int64_t LEN_MS[KL_IV_COUNT] = {
    1000, MIN_MS, 3 * MIN_MS, 5 * MIN_MS, 15 * MIN_MS, 30 * MIN_MS, HOUR_MS, 2 * HOUR_MS,
    4 * HOUR_MS, 6 * HOUR_MS, 8 * HOUR_MS, 12 * HOUR_MS, DAY_MS, 3 * DAY_MS, 7 * DAY_MS, 0};

static int64_t
fdiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Open time (UTC ms) of interval iv's kline containing t_ms, or of the one after it. Months come
 * from libc's gmtime_r/timegm, fixed lengths from plain division: nothing shared with
 * src/core/interval.c but the configurable origin. */
static int64_t
iv_open_ms(int iv, int32_t tz_min, int64_t t_ms, int after)
{
    int64_t tz = (int64_t)tz_min * MIN_MS;
    if (LEN_MS[iv] != 0) {
        int64_t len = LEN_MS[iv], org = kl_iv_default_origin_ms(iv);
        return (fdiv(t_ms + tz - org, len) + after) * len + org - tz;
    }
    time_t secs = (time_t)fdiv(t_ms + tz, 1000);
    struct tm tm;
    assert_non_null(gmtime_r(&secs, &tm));
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon += after;
    return (int64_t)timegm(&tm) * 1000 - tz;
}

/* ---- merging fine klines ------------------------------------------------------------------ */

typedef struct merger {
    kl_kline_t m;
    int have_trade;
    int empty;
} merger_t;

static void
merge_start(merger_t *g, int64_t open_time, int64_t close_time)
{
    memset(g, 0, sizeof *g);
    g->empty = 1;
    g->m.open_time = open_time;
    g->m.close_time = close_time;
    g->m.first_id = g->m.last_id = -1;
}

static void
merge_add(merger_t *g, const kl_kline_t *f)
{
    if (g->empty) /* an all-hole group shows the price its first hole shows */
        g->m.open = g->m.high = g->m.low = g->m.close = f->close;
    g->empty = 0;
    if (f->trades == 0)
        return;
    kl_kline_t *m = &g->m;
    if (!g->have_trade) {
        m->open = f->open;
        m->high = f->high;
        m->low = f->low;
        m->first_id = f->first_id;
        g->have_trade = 1;
    }
    if (f->high > m->high)
        m->high = f->high;
    if (f->low < m->low)
        m->low = f->low;
    m->close = f->close;
    m->last_id = f->last_id;
    m->volume += f->volume;
    m->quote += f->quote;
    m->taker_base += f->taker_base;
    m->taker_quote += f->taker_quote;
    m->trades += f->trades;
}

/* Property (1): merging fine's klines (finals + live) by coarse interval civ gives exactly the
 * engine's civ klines. */
static void
check_merge(const coll_t *c, int fine, int civ, int32_t tz_min, int64_t upm, const char *label)
{
    const ivlog_t *f = &c->iv[fine], *g = &c->iv[civ];
    assert_true(f->n > 0);
    size_t gi = 0;
    merger_t mg;
    int64_t cur_open = INT64_MIN;
    char lbl[160];
    snprintf(lbl, sizeof lbl, "%s: %s merged into %s", label, kl_iv_name(fine), kl_iv_name(civ));
    for (size_t i = 0; i <= f->n; i++) {
        int64_t open = INT64_MAX;
        if (i < f->n) {
            int64_t ms = fdiv(f->r[i].k.open_time, upm);
            open = iv_open_ms(civ, tz_min, ms, 0) * upm;
        }
        if (open != cur_open && cur_open != INT64_MIN) {
            if (gi >= g->n)
                fail_msg("%s: more groups than %zu %s klines", lbl, g->n, kl_iv_name(civ));
            unsigned want = gi + 1 == g->n ? 0u
                                           : (unsigned)KL_EMIT_FINAL |
                                                 (mg.have_trade ? 0u : (unsigned)KL_EMIT_HOLE);
            if (g->r[gi].flags != want)
                fail_msg("%s: #%zu flags %u, want %u", lbl, gi, g->r[gi].flags, want);
            expect_same(&g->r[gi].k, &mg.m, lbl, civ, gi);
            gi++;
        }
        if (i == f->n)
            break;
        if (open != cur_open) {
            int64_t ms = fdiv(f->r[i].k.open_time, upm);
            merge_start(&mg, open, iv_open_ms(civ, tz_min, ms, 1) * upm - 1);
            cur_open = open;
        }
        merge_add(&mg, &f->r[i].k);
    }
    if (gi != g->n)
        fail_msg("%s: %zu groups but %zu %s klines", lbl, gi, g->n, kl_iv_name(civ));
}

/* ---- brute force -------------------------------------------------------------------------- */

static int
trade_cmp(const void *a, const void *b)
{
    const kl_trade_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Property (5): every kline of a fixed-length interval recomputed from the trade list alone, in
 * (time, id) order, holes at the previous close. */
static void
check_naive(const evlist_t *l, const coll_t *c, int iv, int32_t tz_min, int64_t upm,
            const char *label)
{
    kl_trade_t *t = malloc((size_t)l->n * sizeof *t);
    assert_non_null(t);
    int n = 0;
    for (int i = 0; i < l->n; i++)
        if (!l->e[i].is_tick)
            t[n++] = l->e[i].t;
    qsort(t, (size_t)n, sizeof *t, trade_cmp);
    const int64_t len = LEN_MS[iv] * upm, tz = (int64_t)tz_min * MIN_MS * upm;
    const int64_t org = kl_iv_default_origin_ms(iv) * upm;
    const ivlog_t *lg = &c->iv[iv];
    char lbl[160];
    snprintf(lbl, sizeof lbl, "%s: brute-force %s", label, kl_iv_name(iv));
    int64_t b = fdiv(t[0].ts + tz - org, len) * len + org - tz;
    const int64_t last = fdiv(t[n - 1].ts + tz - org, len) * len + org - tz;
    kl_dec_t prev_close = 0;
    size_t ki = 0;
    for (int j = 0; b <= last; b += len, ki++) {
        kl_kline_t e;
        memset(&e, 0, sizeof e);
        e.open_time = b;
        e.close_time = b + len - 1;
        e.open = e.high = e.low = e.close = prev_close;
        e.first_id = e.last_id = -1;
        for (int first = 1; j < n && t[j].ts < b + len; j++, first = 0) {
            kl_sum_t pq = (kl_sum_t)t[j].price * t[j].qty;
            if (first) {
                e.open = e.high = e.low = t[j].price;
                e.first_id = t[j].first_id;
            }
            e.close = t[j].price;
            if (t[j].price > e.high)
                e.high = t[j].price;
            if (t[j].price < e.low)
                e.low = t[j].price;
            if (t[j].first_id < e.first_id)
                e.first_id = t[j].first_id;
            if (t[j].last_id > e.last_id)
                e.last_id = t[j].last_id;
            e.volume += t[j].qty;
            e.quote += pq;
            if (!t[j].buyer_maker) {
                e.taker_base += t[j].qty;
                e.taker_quote += pq;
            }
            e.trades += t[j].last_id - t[j].first_id + 1;
        }
        prev_close = e.close;
        if (ki >= lg->n)
            fail_msg("%s: engine has only %zu klines", lbl, lg->n);
        unsigned want = ki + 1 == lg->n ? 0u
                                        : (unsigned)KL_EMIT_FINAL |
                                              (e.trades ? 0u : (unsigned)KL_EMIT_HOLE);
        if (lg->r[ki].flags != want)
            fail_msg("%s: #%zu flags %u, want %u", lbl, ki, lg->r[ki].flags, want);
        expect_same(&lg->r[ki].k, &e, lbl, iv, ki);
    }
    if (ki != lg->n)
        fail_msg("%s: %zu expected klines, engine has %zu", lbl, ki, lg->n);
    free(t);
}

/* ---- the properties ----------------------------------------------------------------------- */

static const int32_t TZS[] = {0, 345, -210};

/* (1) 1m klines merge into every longer interval, in UTC, +05:45 and -03:30. */
static void
test_merge_1m_long(void **state)
{
    (void)state;
    for (int seed = 1; seed <= 2; seed++) {
        evlist_t l = gen_events(0x1000u + (uint64_t)seed, &LONG);
        for (size_t z = 0; z < sizeof TZS / sizeof TZS[0]; z++) {
            kl_sched_t sch = mksched(NO_1S, TZS[z], 1, 1000);
            coll_t c;
            memset(&c, 0, sizeof c);
            run(&l, &sch, &c);
            char label[64];
            snprintf(label, sizeof label, "seed %d tz %d", seed, (int)TZS[z]);
            assert_clean(&c, label);
            /* The data must actually reach months and holes for the property to mean much. */
            assert_true(c.iv[KL_IV_1MO].n >= 3);
            assert_true(c.iv[KL_IV_1W].n >= 12);
            for (int civ = KL_IV_3M; civ < KL_IV_COUNT; civ++)
                check_merge(&c, KL_IV_1M, civ, TZS[z], 1, label);
            coll_fini(&c);
        }
        free(l.e);
    }
}

/* (1) with 1s enabled (a one-second segment): 1s merges into every longer interval, in ms and
 * in us. */
static void
test_merge_1s_short(void **state)
{
    (void)state;
    evlist_t ms = gen_events(0x2001u, &SHORT);
    evlist_t us = ev_to_us(&ms);
    for (int u = 0; u < 2; u++) {
        for (size_t z = 0; z < sizeof TZS / sizeof TZS[0]; z++) {
            int64_t upm = u ? 1000 : 1;
            kl_sched_t sch = mksched(KL_IV_ALL, TZS[z], upm, 1000);
            coll_t c;
            memset(&c, 0, sizeof c);
            run(u ? &us : &ms, &sch, &c);
            char label[64];
            snprintf(label, sizeof label, "%s tz %d", u ? "us" : "ms", (int)TZS[z]);
            assert_clean(&c, label);
            for (int civ = KL_IV_1M; civ < KL_IV_COUNT; civ++)
                check_merge(&c, KL_IV_1S, civ, TZS[z], upm, label);
            coll_fini(&c);
        }
    }
    free(ms.e);
    free(us.e);
}

/* (2) Trades sharing a time stamp may arrive in any order. */
static void
test_shuffled_ties(void **state)
{
    (void)state;
    static const struct {
        const profile_t *p;
        uint32_t mask;
        int32_t tz;
    } cases[] = {{&LONG, NO_1S, 0}, {&LONG, NO_1S, 345}, {&SHORT, KL_IV_ALL, -210}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        evlist_t l = gen_events(0x3000u + ci, cases[ci].p);
        kl_sched_t sch = mksched(cases[ci].mask, cases[ci].tz, 1, 1000);
        coll_t base;
        memset(&base, 0, sizeof base);
        run(&l, &sch, &base);
        assert_clean(&base, "in order");
        for (uint64_t sh = 1; sh <= 3; sh++) {
            evlist_t x = ev_copy(&l);
            shuffle_ties(&x, sh);
            int moved = 0;
            for (int i = 0; i < l.n; i++)
                moved += !l.e[i].is_tick && l.e[i].t.id != x.e[i].t.id;
            assert_true(moved > 50); /* the shuffle did reorder ties */
            coll_t c;
            memset(&c, 0, sizeof c);
            run(&x, &sch, &c);
            char label[64];
            snprintf(label, sizeof label, "case %zu shuffle %llu", ci, (unsigned long long)sh);
            assert_clean(&c, label);
            for (int iv = 0; iv < KL_IV_COUNT; iv++)
                expect_same_logs(&c, &base, iv, label);
            coll_fini(&c);
            free(x.e);
        }
        coll_fini(&base);
        free(l.e);
    }
}

/* (4) One series with every interval (segment = the shortest) vs one series per interval
 * (segment = the interval itself). */
static void
test_segment_equivalence(void **state)
{
    (void)state;
    static const struct {
        const profile_t *p;
        uint32_t mask;
        int32_t tz;
    } cases[] = {{&SHORT, KL_IV_ALL, 0}, {&SHORT, KL_IV_ALL, 345}, {&LONG, NO_1S, -210}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        evlist_t l = gen_events(0x4000u + ci, cases[ci].p);
        kl_sched_t all = mksched(cases[ci].mask, cases[ci].tz, 1, 1000);
        coll_t ca;
        memset(&ca, 0, sizeof ca);
        run(&l, &all, &ca);
        assert_clean(&ca, "all intervals");
        for (int iv = 0; iv < KL_IV_COUNT; iv++) {
            if (!(cases[ci].mask & (1u << iv)))
                continue;
            kl_sched_t one = mksched(1u << iv, cases[ci].tz, 1, 1000);
            coll_t c1;
            memset(&c1, 0, sizeof c1);
            run(&l, &one, &c1);
            char label[64];
            snprintf(label, sizeof label, "case %zu single %s", ci, kl_iv_name(iv));
            assert_clean(&c1, label);
            assert_true(c1.iv[iv].n > 0);
            expect_same_logs(&c1, &ca, iv, label);
            coll_fini(&c1);
        }
        coll_fini(&ca);
        free(l.e);
    }
}

/* (5) Brute force from the trade list: every 1m and 1h kline, ms and us, three offsets. */
static void
test_naive_reference(void **state)
{
    (void)state;
    for (int seed = 1; seed <= 2; seed++) {
        evlist_t ms = gen_events(0x5000u + (uint64_t)seed, seed == 1 ? &LONG : &SHORT);
        evlist_t us = ev_to_us(&ms);
        for (int u = 0; u < 2; u++) {
            for (size_t z = 0; z < sizeof TZS / sizeof TZS[0]; z++) {
                int64_t upm = u ? 1000 : 1;
                uint32_t mask = seed == 1 ? NO_1S : KL_IV_ALL;
                kl_sched_t sch = mksched(mask, TZS[z], upm, 1000);
                coll_t c;
                memset(&c, 0, sizeof c);
                run(u ? &us : &ms, &sch, &c);
                char label[64];
                snprintf(label, sizeof label, "seed %d %s tz %d", seed, u ? "us" : "ms",
                         (int)TZS[z]);
                assert_clean(&c, label);
                check_naive(u ? &us : &ms, &c, KL_IV_1M, TZS[z], upm, label);
                check_naive(u ? &us : &ms, &c, KL_IV_1H, TZS[z], upm, label);
                if (seed == 2)
                    check_naive(u ? &us : &ms, &c, KL_IV_1S, TZS[z], upm, label);
                coll_fini(&c);
            }
        }
        free(ms.e);
        free(us.e);
    }
}

/* Late trades inside the lateness window: once every correction has replaced the kline it
 * amends, the klines are those of on-time delivery, and still merge and match brute force. */
static void
test_late_trades_converge(void **state)
{
    (void)state;
    static const struct {
        const profile_t *p;
        uint32_t mask;
        int32_t tz;
        int64_t lateness;
    } cases[] = {{&SHORT, NO_1S, 0, 30000},
                 {&SHORT, KL_IV_ALL, 345, 1000},
                 {&LONG, NO_1S, -210, 60000},
                 {&SHORT, (1u << KL_IV_1M) | (1u << KL_IV_1H), 0, 60000}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        evlist_t l = gen_events(0x6000u + ci, cases[ci].p);
        kl_sched_t sch = mksched(cases[ci].mask, cases[ci].tz, 1, cases[ci].lateness);
        coll_t base;
        memset(&base, 0, sizeof base);
        run(&l, &sch, &base);
        evlist_t x = ev_copy(&l);
        int delayed = delay_trades(&x, 0x60u + ci, 8, cases[ci].lateness);
        assert_true(delayed > 100);
        coll_t c;
        memset(&c, 0, sizeof c);
        c.fold_corrections = 1;
        int late = run(&x, &sch, &c);
        char label[64];
        snprintf(label, sizeof label, "late case %zu", ci);
        assert_clean(&c, label);
        assert_true(late > 20);
        assert_true(c.corrections > 20);
        for (int iv = 0; iv < KL_IV_COUNT; iv++)
            expect_same_logs(&c, &base, iv, label);
        check_naive(&x, &c, KL_IV_1M, cases[ci].tz, 1, label);
        check_naive(&x, &c, KL_IV_1H, cases[ci].tz, 1, label);
        coll_fini(&c);
        coll_fini(&base);
        free(x.e);
        free(l.e);
    }
}

/* Lateness 0 keeps no previous klines: in-order data gives the same klines as with a lateness
 * window, and out-of-order data gives exactly the klines of the trades the engine accepted. */
static void
test_lateness_zero(void **state)
{
    (void)state;
    for (int ci = 0; ci < 2; ci++) {
        uint32_t mask = ci ? NO_1S : KL_IV_ALL;
        evlist_t l = gen_events(0x7000u + (uint64_t)ci, ci ? &LONG : &SHORT);
        kl_sched_t s0 = mksched(mask, 345, 1, 0), s1 = mksched(mask, 345, 1, 1000);
        coll_t a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        run(&l, &s0, &a);
        run(&l, &s1, &b);
        assert_clean(&a, "lateness 0");
        for (int iv = 0; iv < KL_IV_COUNT; iv++)
            expect_same_logs(&a, &b, iv, "lateness 0 vs 1000");
        coll_fini(&a);
        coll_fini(&b);

        evlist_t x = ev_copy(&l);
        assert_true(delay_trades(&x, 0x70u + (uint64_t)ci, 8, ci ? 60000 : 5000) > 100);
        kl_series_t *s = malloc(kl_series_size(&s0));
        assert_non_null(s);
        kl_series_init(s, &s0, NULL);
        coll_t c;
        memset(&c, 0, sizeof c);
        evlist_t taken = {malloc((size_t)x.n * sizeof *x.e), 0};
        assert_non_null(taken.e);
        int refused = 0;
        for (int i = 0; i < x.n; i++) {
            if (x.e[i].is_tick) {
                kl_series_tick(s, x.e[i].now, on_emit, &c);
                continue;
            }
            int rc = kl_series_apply(s, &x.e[i].t, on_emit, &c);
            if (rc == KL_APPLIED)
                taken.e[taken.n++] = x.e[i];
            else if (rc == KL_TOO_LATE)
                refused++;
            else
                fail_msg("event %d: apply returned %d with lateness 0", i, rc);
        }
        finish(s, &c);
        assert_true(refused > 20);
        assert_int_equal(s->stats.too_late, (uint64_t)refused);
        assert_int_equal(c.corrections, 0);
        assert_clean(&c, "lateness 0, delayed");
        check_naive(&taken, &c, KL_IV_1M, 345, 1, "lateness 0, delayed");
        check_naive(&taken, &c, KL_IV_1H, 345, 1, "lateness 0, delayed");
        for (int civ = KL_IV_3M; civ < KL_IV_COUNT; civ++)
            check_merge(&c, KL_IV_1M, civ, 345, 1, "lateness 0, delayed");
        coll_fini(&c);
        free(s);
        free(taken.e);
        free(x.e);
        free(l.e);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_1m_long),     cmocka_unit_test(test_merge_1s_short),
        cmocka_unit_test(test_shuffled_ties),     cmocka_unit_test(test_segment_equivalence),
        cmocka_unit_test(test_naive_reference),   cmocka_unit_test(test_late_trades_converge),
        cmocka_unit_test(test_lateness_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
