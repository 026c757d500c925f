/* Kline update, merge and rollover for one symbol (see kline.h for the segment design). Every
 * function here is pure over the series it is given; the only way out is the emit callback. */
#include "engine/kline.h"
#include "engine/kline_int.h"

#include <string.h>

#include "kl/err.h"

#define IDWIN_MASK ((uint64_t)KL_IDWIN_BITS - 1)

size_t
kl_series_size(const kl_sched_t *sched)
{
    size_t per = sched->lateness > 0 ? 2 : 1;
    return offsetof(kl_series_t, st) + per * (size_t)sched->n * sizeof(kl_agg_t);
}

void
kl_sched_cfg_default(kl_sched_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->iv_mask = KL_IV_ALL;
    cfg->unit_per_ms = 1;
    cfg->lateness_ms = 0;
    cfg->hole_limit = -1;
    for (int i = 0; i < KL_IV_COUNT; i++)
        cfg->origin_ms[i] = kl_iv_default_origin_ms(i);
}

int
kl_sched_init(kl_sched_t *sched, const kl_sched_cfg_t *cfg)
{
    if ((cfg->iv_mask & KL_IV_ALL) == 0 || (cfg->iv_mask & ~(uint32_t)KL_IV_ALL) != 0)
        return KL_EINTERVAL;
    if (cfg->tz_minutes < KL_TZ_MIN_MINUTES || cfg->tz_minutes > KL_TZ_MAX_MINUTES)
        return KL_ETZ;
    if (cfg->unit_per_ms != 1 && cfg->unit_per_ms != 1000)
        return KL_EARG;
    int64_t shortest = INT64_MAX;
    kl_sched_t s;
    memset(&s, 0, sizeof s);
    s.unit_per_ms = cfg->unit_per_ms;
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        s.pos[iv] = -1;
        if (!(cfg->iv_mask & (1u << iv)))
            continue;
        int64_t len_ms = kl_iv_len_ms(iv);
        if (len_ms == 0)
            len_ms = 28 * KL_MS_PER_DAY;
        if (len_ms < shortest)
            shortest = len_ms;
        s.pos[iv] = s.n;
        kl_ivspec_init(&s.spec[s.n++], iv, cfg->unit_per_ms, cfg->tz_minutes, cfg->origin_ms[iv]);
    }
    if (cfg->lateness_ms < 0 || cfg->lateness_ms > shortest)
        return KL_EARG;
    s.lateness = cfg->lateness_ms * cfg->unit_per_ms;
    s.hole_limit = cfg->hole_limit < 0 ? -1 : cfg->hole_limit;
    *sched = s;
    return 0;
}

int
kl_trade_validate(const kl_trade_t *t, int64_t unit_per_ms)
{
    if (t->ts < 0 || t->ts > KL_TS_MAX_MS * unit_per_ms + (unit_per_ms - 1))
        return KL_ETIME;
    if (t->price <= 0 || t->qty <= 0 || t->id < 0 || t->first_id < 0 || t->last_id < t->first_id)
        return KL_ETRADE;
    if ((kl_sum_t)t->price * t->qty > KL_NOTIONAL_MAX)
        return KL_ETRADE;
    return 0;
}

/* ---- aggregates ------------------------------------------------------------------------- */

static inline int
key_lt(int64_t ts_a, int64_t id_a, int64_t ts_b, int64_t id_b)
{
    return ts_a < ts_b || (ts_a == ts_b && id_a < id_b);
}

/* Empties a: a kline with no trade shows the previous close on all four prices. */
static void
agg_clear(kl_agg_t *a, kl_dec_t prev_close)
{
    kl_kline_t *k = &a->k;
    k->open = k->high = k->low = k->close = prev_close;
    k->volume = k->quote = k->taker_base = k->taker_quote = 0;
    k->trades = 0;
    k->first_id = k->last_id = -1;
}

static inline void
agg_add(kl_agg_t *a, const kl_trade_t *t)
{
    kl_kline_t *k = &a->k;
    kl_sum_t pq = (kl_sum_t)t->price * t->qty;
    if (k->trades == 0) {
        k->open = k->high = k->low = k->close = t->price;
        a->open_ts = a->close_ts = t->ts;
        a->open_id = a->close_id = t->id;
        k->first_id = t->first_id;
        k->last_id = t->last_id;
    } else {
        if (key_lt(t->ts, t->id, a->open_ts, a->open_id)) {
            k->open = t->price;
            a->open_ts = t->ts;
            a->open_id = t->id;
        }
        if (!key_lt(t->ts, t->id, a->close_ts, a->close_id)) {
            k->close = t->price;
            a->close_ts = t->ts;
            a->close_id = t->id;
        }
        if (t->price > k->high)
            k->high = t->price;
        if (t->price < k->low)
            k->low = t->price;
        if (t->first_id < k->first_id)
            k->first_id = t->first_id;
        if (t->last_id > k->last_id)
            k->last_id = t->last_id;
    }
    k->volume += t->qty;
    k->quote += pq;
    if (!t->buyer_maker) {
        k->taker_base += t->qty;
        k->taker_quote += pq;
    }
    k->trades += t->last_id - t->first_id + 1;
}

void
kl_agg_merge(kl_agg_t *dst, const kl_agg_t *src)
{
    kl_kline_t *d = &dst->k;
    const kl_kline_t *s = &src->k;
    if (d->trades == 0) {
        d->open = s->open;
        d->high = s->high;
        d->low = s->low;
        d->close = s->close;
        d->first_id = s->first_id;
        d->last_id = s->last_id;
        dst->open_ts = src->open_ts;
        dst->open_id = src->open_id;
        dst->close_ts = src->close_ts;
        dst->close_id = src->close_id;
    } else {
        if (key_lt(src->open_ts, src->open_id, dst->open_ts, dst->open_id)) {
            d->open = s->open;
            dst->open_ts = src->open_ts;
            dst->open_id = src->open_id;
        }
        if (!key_lt(src->close_ts, src->close_id, dst->close_ts, dst->close_id)) {
            d->close = s->close;
            dst->close_ts = src->close_ts;
            dst->close_id = src->close_id;
        }
        if (s->high > d->high)
            d->high = s->high;
        if (s->low < d->low)
            d->low = s->low;
        if (s->first_id < d->first_id)
            d->first_id = s->first_id;
        if (s->last_id > d->last_id)
            d->last_id = s->last_id;
    }
    d->volume += s->volume;
    d->quote += s->quote;
    d->taker_base += s->taker_base;
    d->taker_quote += s->taker_quote;
    d->trades += s->trades;
}

/* ---- rollover --------------------------------------------------------------------------- */

static void
emit_kline(kl_series_t *s, const kl_ivspec_t *spec, const kl_agg_t *a, unsigned flags,
           kl_emit_fn emit, void *ctx)
{
    if (a->k.trades == 0) {
        flags |= KL_EMIT_HOLE;
        s->stats.holes++;
    }
    if (flags & KL_EMIT_CORRECTION)
        s->stats.corrections++;
    else
        s->stats.finals++;
    emit(ctx, s, spec->iv, &a->k, flags);
}

static void
cur_open_at(kl_agg_t *cur, const kl_ivspec_t *spec, int64_t open, kl_dec_t prev_close)
{
    agg_clear(cur, prev_close);
    cur->k.open_time = open;
    cur->k.close_time = kl_iv_next(spec, open) - 1;
}

/* Where the emitted holes of a gap from next to target stop: after hole_limit of them (the
 * rest of the gap is implied, and readers fill it from the previous close: kfill.h). Only
 * called with a limit and a gap, so the usual rollover pays one compare for it. */
static int64_t __attribute__((noinline, cold))
holes_stop(const kl_ivspec_t *spec, int64_t next, int64_t target, int64_t limit)
{
    for (; limit > 0 && next < target; limit--)
        next = kl_iv_next(spec, next);
    return next < target ? next : target;
}

/* Finalizes interval st's current kline and every hole kline up to the one containing t, then
 * opens that one. Precondition: t > st->cur.k.close_time. */
static void
iv_roll(kl_series_t *s, int i, int64_t t, kl_emit_fn emit, void *ctx)
{
    const kl_ivspec_t *spec = &s->sched->spec[i];
    const int keep_prev = s->sched->lateness > 0;
    kl_agg_t *cur = CUR(s, i), scratch;
    /* The last final kline (maybe a hole) stays in the previous slot for late amendments. */
    kl_agg_t *last = keep_prev ? PREV(s, i) : &scratch;
    emit_kline(s, spec, cur, KL_EMIT_FINAL, emit, ctx);
    if (keep_prev)
        *last = *cur;
    int64_t target = kl_iv_open(spec, t);
    int64_t next = cur->k.close_time + 1;
    kl_dec_t close = cur->k.close;
    if (__builtin_expect(next < target, 0)) { /* a gap: the usual rollover has none */
        int64_t limit = s->sched->hole_limit;
        int64_t stop = limit >= 0 ? holes_stop(spec, next, target, limit) : target;
        while (next < stop) {
            cur_open_at(last, spec, next, close);
            emit_kline(s, spec, last, KL_EMIT_FINAL, emit, ctx);
            next = last->k.close_time + 1;
        }
        /* The kline just before the new one is still where a late trade would land. */
        if (next < target && keep_prev)
            cur_open_at(last, spec, kl_iv_open(spec, target - 1), close);
    }
    cur_open_at(cur, spec, target, close);
}

/* Bounds of the coarse span: from the latest open of any interval but the shortest to the
 * earliest close of those. Shortest-only series have no coarse span. */
static void
coarse_bounds(kl_series_t *s)
{
    int64_t start = INT64_MIN, end = INT64_MAX;
    for (int i = 1; i < s->sched->n; i++) {
        const kl_agg_t *cur = CUR(s, i);
        if (cur->k.open_time > start)
            start = cur->k.open_time;
        if (cur->k.close_time + 1 < end)
            end = cur->k.close_time + 1;
    }
    s->coarse_start = start;
    s->coarse_end = end;
}

static void
seg_open(kl_series_t *s)
{
    const kl_agg_t *c0 = CUR(s, 0);
    agg_clear(&s->seg, 0);
    s->seg_start = c0->k.open_time > s->coarse_start ? c0->k.open_time : s->coarse_start;
    s->seg_end = c0->k.close_time + 1 < s->coarse_end ? c0->k.close_time + 1 : s->coarse_end;
}

/* Moves the series to time t >= seg_end. The segment goes into the shortest interval and into
 * the coarse accumulator; only when t also reaches the coarse end does the accumulator go into
 * the longer intervals, which then roll. So a second that ends only a 1s kline costs two merges,
 * not sixteen. */
static void
roll_to(kl_series_t *s, int64_t t, kl_emit_fn emit, void *ctx)
{
    const int n = s->sched->n;
    if (s->seg.k.trades != 0) {
        kl_agg_merge(CUR(s, 0), &s->seg);
        if (n > 1)
            kl_agg_merge(&s->acc, &s->seg);
    }
    /* Shortest first: klines leave in ascending interval order within one rollover. */
    if (t > CUR(s, 0)->k.close_time)
        iv_roll(s, 0, t, emit, ctx);
    if (t >= s->coarse_end) {
        for (int i = 1; i < n; i++) {
            kl_agg_t *cur = CUR(s, i);
            if (s->acc.k.trades != 0)
                kl_agg_merge(cur, &s->acc);
            if (t > cur->k.close_time)
                iv_roll(s, i, t, emit, ctx);
        }
        agg_clear(&s->acc, 0);
        coarse_bounds(s);
    }
    seg_open(s);
}

static void
series_start(kl_series_t *s, int64_t t)
{
    const kl_sched_t *sch = s->sched;
    for (int i = 0; i < sch->n; i++) {
        kl_agg_t *cur = CUR(s, i);
        cur_open_at(cur, &sch->spec[i], kl_iv_open(&sch->spec[i], t), 0);
        if (sch->lateness > 0)
            PREV(s, i)->k.open_time = INT64_MAX; /* no previous kline: nothing to amend */
    }
    agg_clear(&s->acc, 0);
    coarse_bounds(s);
    seg_open(s);
    s->started = 1;
}

/* ---- duplicate window ------------------------------------------------------------------- */

static inline int
idwin_test(const kl_series_t *s, int64_t id)
{
    uint64_t b = (uint64_t)id & IDWIN_MASK;
    return (int)((s->idwin[b >> 6] >> (b & 63)) & 1);
}

static inline void
idwin_mark(kl_series_t *s, int64_t id)
{
    if (id > s->hwm_id) {
        /* Ids skipped between the old and new high-water mark were never seen: clear the bits
         * they inherit from ids W below them. */
        if (s->hwm_id == INT64_MIN || id - s->hwm_id >= KL_IDWIN_BITS) {
            memset(s->idwin, 0, sizeof s->idwin);
        } else {
            for (int64_t i = s->hwm_id + 1; i < id; i++) {
                uint64_t b = (uint64_t)i & IDWIN_MASK;
                s->idwin[b >> 6] &= ~((uint64_t)1 << (b & 63));
            }
        }
        s->hwm_id = id;
    }
    uint64_t b = (uint64_t)id & IDWIN_MASK;
    s->idwin[b >> 6] |= (uint64_t)1 << (b & 63);
}

/* ---- public ----------------------------------------------------------------------------- */

void
kl_series_init(kl_series_t *s, const kl_sched_t *sched, void *user)
{
    memset(s, 0, kl_series_size(sched));
    s->sched = sched;
    s->user = user;
    s->watermark = INT64_MIN;
    s->hwm_id = INT64_MIN;
}

/* A trade older than the segment: it belongs to the current or the previous kline of each
 * interval (lateness <= shortest interval guarantees it, except before the first kline). */
/* Only reached when lateness > 0, so the previous-kline slots exist. */
static int
apply_late(kl_series_t *s, const kl_trade_t *t, kl_emit_fn emit, void *ctx)
{
    const kl_sched_t *sch = s->sched;
    for (int i = 0; i < sch->n; i++) {
        if (t->ts < CUR(s, i)->k.open_time && t->ts < PREV(s, i)->k.open_time)
            return KL_TOO_LATE;
    }
    for (int i = 0; i < sch->n; i++) {
        kl_agg_t *cur = CUR(s, i), *prev = PREV(s, i);
        if (t->ts >= cur->k.open_time) {
            agg_add(cur, t);
            continue;
        }
        agg_add(prev, t);
        /* The kline after prev may be a hole showing prev's old close. */
        if (cur->k.trades == 0) {
            kl_kline_t *c = &cur->k;
            c->open = c->high = c->low = c->close = prev->k.close;
        }
        emit_kline(s, &sch->spec[i], prev, KL_EMIT_FINAL | KL_EMIT_CORRECTION, emit, ctx);
    }
    return KL_APPLIED_LATE;
}

int
kl_series_apply(kl_series_t *s, const kl_trade_t *t, kl_emit_fn emit, void *ctx)
{
    if (t->id <= s->hwm_id) {
        if (s->hwm_id - t->id >= KL_IDWIN_BITS) {
            s->stats.stale_ids++;
            return KL_STALE_ID;
        }
        if (idwin_test(s, t->id)) {
            s->stats.duplicates++;
            return KL_DUPLICATE;
        }
    }
    int rc = KL_APPLIED;
    if (__builtin_expect(!s->started, 0)) {
        series_start(s, t->ts);
    } else if (t->ts < s->seg_start) {
        if (t->ts < s->watermark - s->sched->lateness ||
            (rc = apply_late(s, t, emit, ctx)) == KL_TOO_LATE) {
            s->stats.too_late++;
            return KL_TOO_LATE;
        }
    } else if (t->ts >= s->seg_end) {
        roll_to(s, t->ts, emit, ctx);
    }
    if (rc == KL_APPLIED) {
        agg_add(&s->seg, t);
        s->stats.applied++;
    } else {
        s->stats.late_applied++;
    }
    if (t->ts > s->watermark)
        s->watermark = t->ts;
    idwin_mark(s, t->id);
    return rc;
}

void
kl_series_tick(kl_series_t *s, int64_t now, kl_emit_fn emit, void *ctx)
{
    if (!s->started)
        return;
    if (now >= s->seg_end)
        roll_to(s, now, emit, ctx);
    if (now > s->watermark)
        s->watermark = now;
}

int
kl_series_get(const kl_series_t *s, int iv, kl_kline_t *out)
{
    if (iv < 0 || iv >= KL_IV_COUNT || s->sched->pos[iv] < 0 || !s->started)
        return KL_EARG;
    int p = s->sched->pos[iv];
    kl_agg_t a = *CUR(s, p);
    if (p > 0 && s->acc.k.trades != 0)
        kl_agg_merge(&a, &s->acc);
    if (s->seg.k.trades != 0)
        kl_agg_merge(&a, &s->seg);
    *out = a.k;
    return 0;
}
