/* Hole klines filled in on read: the one place that turns "the kline before a gap and the open
 * time after it" into the gap's hole klines, for export, REST and the WS time-zone fold (see
 * kfill.h). Holes are made exactly as the engine makes them (kline.c, iv_roll), so a filled
 * series is byte for byte the series with every hole stored. */
#include "engine/kfill.h"

#include <string.h>

#include "kl/err.h"

static int64_t
floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static void
make_hole(const kl_ivspec_t *spec, kl_dec_t price, int64_t open, kl_kline_t *out)
{
    memset(out, 0, sizeof *out);
    out->open_time = open;
    out->close_time = kl_iv_next(spec, open) - 1;
    out->open = out->high = out->low = out->close = price;
    out->first_id = out->last_id = -1;
}

void
kl_fill_hole(const kl_ivspec_t *spec, const kl_kline_t *prev, int64_t open, kl_kline_t *out)
{
    make_hole(spec, prev->close, open, out);
}

void
kl_fill_gap_init(kl_fill_gap_t *g, const kl_ivspec_t *spec, const kl_kline_t *prev,
                 int64_t next_open)
{
    g->spec = spec;
    g->price = prev->close;
    /* The engine opens the kline after prev at prev's close + 1, not at a recomputed boundary:
     * the same rule here keeps a filled series identical to a stored one. */
    g->open = prev->close_time + 1;
    g->end = next_open;
}

void
kl_fill_gap_seek(kl_fill_gap_t *g, int64_t t)
{
    if (t <= g->open || g->open >= g->end)
        return;
    if (t >= g->end) {
        g->open = g->end;
        return;
    }
    int64_t o = kl_iv_open(g->spec, t);
    if (o < t)
        o = kl_iv_next(g->spec, o);
    if (o > g->open)
        g->open = o;
}

int
kl_fill_gap_next(kl_fill_gap_t *g, kl_kline_t *out)
{
    if (g->open >= g->end)
        return 0;
    make_hole(g->spec, g->price, g->open, out);
    g->open = out->close_time + 1;
    return 1;
}

/* The open time of the gap's last hole that opens at or before t, or INT64_MIN when none
 * does; the walk back from it is kl_iv_open(spec, open - 1). */
static int64_t
gap_last(const kl_fill_gap_t *g, int64_t t)
{
    int64_t x = t < g->end - 1 ? t : g->end - 1;
    if (x < g->open)
        return INT64_MIN;
    int64_t o = kl_iv_open(g->spec, x);
    return o >= g->open ? o : INT64_MIN;
}

/* Ascending: the first cap klines of the window. */
static size_t
window_up(const kl_ivspec_t *spec, const kl_kline_t *prev, const kl_kline_t *k, size_t n,
          int64_t next_open, int64_t lo, int64_t hi, kl_kline_t *out, size_t cap)
{
    size_t o = 0;
    const kl_kline_t *left = prev;
    for (size_t i = 0; i <= n && o < cap; i++) {
        int64_t right = i < n ? k[i].open_time : next_open;
        if (left && right != KL_FILL_NONE) {
            kl_fill_gap_t g;
            kl_fill_gap_init(&g, spec, left, right);
            kl_fill_gap_seek(&g, lo); /* prev may end long before lo: jump, don't walk */
            while (o < cap && kl_fill_gap_next(&g, &out[o]) && out[o].open_time <= hi)
                o++;
        }
        if (i < n && o < cap) {
            out[o++] = k[i];
            left = &k[i];
        }
    }
    return o;
}

/* Descending: the last cap klines of the window, written from out[cap - 1] down, then moved
 * to the front. */
static size_t
window_down(const kl_ivspec_t *spec, const kl_kline_t *prev, const kl_kline_t *k, size_t n,
            int64_t next_open, int64_t lo, int64_t hi, kl_kline_t *out, size_t cap)
{
    size_t o = cap;
    for (size_t i = n;; i--) {
        /* The gap between k[i - 1] (or prev) and k[i] (or the kline after the window). */
        const kl_kline_t *left = i > 0 ? &k[i - 1] : prev;
        int64_t right = i < n ? k[i].open_time : next_open;
        if (left && right != KL_FILL_NONE) {
            kl_fill_gap_t g;
            kl_fill_gap_init(&g, spec, left, right);
            /* The next kline may open long after hi: start at the last hole in the window. */
            for (int64_t h = gap_last(&g, hi); o > 0 && h != INT64_MIN && h >= lo;
                 h = h > g.open ? kl_iv_open(spec, h - 1) : INT64_MIN)
                make_hole(spec, g.price, h, &out[--o]);
        }
        if (i == 0 || o == 0)
            break;
        out[--o] = k[i - 1];
    }
    if (o > 0)
        memmove(out, out + o, (cap - o) * sizeof *out);
    return cap - o;
}

size_t
kl_fill_window(const kl_ivspec_t *spec, const kl_kline_t *prev, const kl_kline_t *k, size_t n,
               int64_t next_open, int64_t lo, int64_t hi, int newest, kl_kline_t *out,
               size_t cap)
{
    if (cap == 0 || lo > hi)
        return 0;
    return newest ? window_down(spec, prev, k, n, next_open, lo, hi, out, cap)
                  : window_up(spec, prev, k, n, next_open, lo, hi, out, cap);
}

size_t
kl_fill_slots(const kl_ivspec_t *spec, int64_t lo, int64_t hi)
{
    /* The difference of two int64 fits a uint64 exactly when hi >= lo; a month is at least
     * 28 days. */
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    uint64_t len = (uint64_t)(spec->len ? spec->len : 28 * spec->day);
    uint64_t slots = span / len + 1;
    return slots > SIZE_MAX ? SIZE_MAX : (size_t)slots;
}

int
kl_fill_spec_of(int iv, int64_t unit_per_ms, const kl_kline_t *k, kl_ivspec_t *out)
{
    if (iv < 0 || iv >= KL_IV_COUNT || (unit_per_ms != 1 && unit_per_ms != 1000))
        return KL_EARG;
    kl_ivspec_t s;
    kl_ivspec_init(&s, iv, unit_per_ms, 0, 0);
    if (s.len) {
        /* The same grid written in UTC: origin - tz, modulo the length. */
        s.origin = floor_mod(k->open_time, s.len);
    } else {
        /* A 1M kline opens at a local midnight: the offset is -open modulo a day, or that
         * minus a day. Both lie in -12:00 .. +14:00 only for offsets from +12:00 to +14:00
         * (and -12:00 to -10:00); then only one puts the open on a first of the month. */
        int64_t minute = 60000 * unit_per_ms;
        int64_t v = (s.day - floor_mod(k->open_time, s.day)) % s.day;
        if (v % minute != 0)
            return KL_EARG;
        int found = 0;
        for (int c = 0; c < 2 && !found; c++) {
            int64_t tz = (v - c * s.day) / minute;
            if (tz < KL_TZ_MIN_MINUTES || tz > KL_TZ_MAX_MINUTES)
                continue;
            kl_ivspec_init(&s, iv, unit_per_ms, (int32_t)tz, 0);
            found = kl_iv_open(&s, k->open_time) == k->open_time;
        }
        if (!found)
            return KL_EARG;
    }
    if (kl_iv_next(&s, k->open_time) - 1 != k->close_time)
        return KL_EARG;
    *out = s;
    return 0;
}
