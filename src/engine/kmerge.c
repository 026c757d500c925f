/* Time-zone klines from the service's klines: the merge of consecutive klines, the choice of
 * the interval to fold from, and the fold. A kline boundary in one zone is a boundary in
 * another only when the grids line up, so everything here reduces to "is every boundary of the
 * requested grid on the base grid", checked with modular arithmetic in the service's unit. */
#include "engine/kmerge.h"

#include "kl/err.h"

void
kl_kline_merge(kl_kline_t *acc, const kl_kline_t *k)
{
    acc->close_time = k->close_time;
    /* A hole shows the previous close, which acc already holds (its close, or its own hole
     * price): it adds nothing. */
    if (k->trades == 0)
        return;
    if (acc->trades == 0) {
        acc->open = k->open;
        acc->high = k->high;
        acc->low = k->low;
        acc->first_id = k->first_id;
    } else {
        if (k->high > acc->high)
            acc->high = k->high;
        if (k->low < acc->low)
            acc->low = k->low;
    }
    acc->close = k->close;
    acc->last_id = k->last_id;
    acc->volume += k->volume;
    acc->quote += k->quote;
    acc->taker_base += k->taker_base;
    acc->taker_quote += k->taker_quote;
    acc->trades += k->trades;
}

static int64_t
floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* Where the grid of a fixed-length spec sits: its boundaries are phase + k*len, in UTC. */
static int64_t
grid_phase(const kl_ivspec_t *s)
{
    return floor_mod(s->origin - s->tz, s->len);
}

/* 1 when every boundary of want is a boundary of base (base fixed-length). A month opens at
 * a local midnight, and the days between month starts (28..31) have gcd 1, so the base must
 * hold every local midnight of want's zone: its length divides a day. */
static int
tiles(const kl_ivspec_t *base, const kl_ivspec_t *want)
{
    if (base->len == 0)
        return 0;
    if (want->len == 0)
        return base->day % base->len == 0 &&
               floor_mod(-want->tz - (base->origin - base->tz), base->len) == 0;
    return want->len % base->len == 0 &&
           floor_mod((want->origin - want->tz) - (base->origin - base->tz), base->len) == 0;
}

int
kl_tz_plan(const kl_sched_t *svc, int iv, int32_t tz_minutes, kl_tz_plan_t *out)
{
    if (iv < 0 || iv >= KL_IV_COUNT)
        return KL_EINTERVAL;
    if (tz_minutes < KL_TZ_MIN_MINUTES || tz_minutes > KL_TZ_MAX_MINUTES)
        return KL_ETZ;
    const int64_t upm = svc->unit_per_ms;
    const int pos = svc->pos[iv];
    /* The requested kline follows the service's rules for iv: its origin when configured. */
    int64_t origin_ms = pos >= 0 ? svc->spec[pos].origin / upm : kl_iv_default_origin_ms(iv);
    kl_tz_plan_t p;
    p.iv = iv;
    kl_ivspec_init(&p.tz, iv, upm, tz_minutes, origin_ms);
    if (pos >= 0) {
        const kl_ivspec_t *own = &svc->spec[pos];
        int same = own->len == 0 ? own->tz == p.tz.tz : grid_phase(own) == grid_phase(&p.tz);
        if (same) {
            p.direct = 1;
            p.base_iv = iv;
            *out = p;
            return 0;
        }
    }
    p.direct = 0;
    for (int i = svc->n - 1; i >= 0; i--) {
        if (tiles(&svc->spec[i], &p.tz)) {
            p.base_iv = svc->spec[i].iv;
            *out = p;
            return 0;
        }
    }
    return KL_EINTERVAL;
}

size_t
kl_tz_fold(const kl_tz_plan_t *p, const kl_kline_t *base, size_t n, kl_kline_t *out, size_t cap)
{
    size_t j = 0;
    int64_t open = 0, close = 0;
    for (size_t i = 0; i < n; i++) {
        const kl_kline_t *k = &base[i];
        if (j > 0 && k->open_time <= close) {
            kl_kline_merge(&out[j - 1], k);
            out[j - 1].close_time = close;
            continue;
        }
        if (j == cap)
            break;
        open = kl_iv_open(&p->tz, k->open_time);
        close = kl_iv_next(&p->tz, open) - 1;
        out[j] = *k;
        out[j].open_time = open;
        out[j].close_time = close;
        j++;
    }
    return j;
}
