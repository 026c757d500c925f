/* Connection watermarks and symbol sets; see wmark.h. */
#include "source/wmark.h"

#include <string.h>

#include "core/alloc.h"
#include "core/shard.h"
#include "kl/err.h"

void
kl_wmark_init(kl_wmark_t *w, int64_t disorder_ms)
{
    w->disorder_ms = disorder_ms;
    w->max_t = w->wm = w->announced = w->last_rx_ms = KL_WMARK_NONE;
    w->lat_cur = w->lat_prev = KL_WMARK_NONE;
    w->n_cur = w->n_prev = 0;
    w->lat_win_end = KL_WMARK_NONE;
}

static void
advance(kl_wmark_t *w, int64_t to)
{
    if (to > w->wm)
        w->wm = to;
}

int64_t
kl_wmark_trade(kl_wmark_t *w, int64_t t_ms, int64_t now_ms)
{
    int64_t lat = now_ms - t_ms;
    if (now_ms >= w->lat_win_end) { /* also the first trade: lat_win_end starts at NONE */
        w->lat_prev = w->lat_cur;
        w->lat_cur = lat;
        w->n_prev = w->n_cur;
        w->n_cur = 0;
        w->lat_win_end = now_ms + KL_WMARK_LAT_WINDOW_MS;
    } else if (lat > w->lat_cur) {
        w->lat_cur = lat;
    }
    w->n_cur++;
    w->last_rx_ms = now_ms;
    if (t_ms > w->max_t) {
        w->max_t = t_ms;
        advance(w, t_ms - w->disorder_ms);
    }
    return lat;
}

int64_t
kl_wmark_latency_ms(const kl_wmark_t *w)
{
    return w->lat_cur > w->lat_prev ? w->lat_cur : w->lat_prev;
}

void
kl_wmark_quiet(kl_wmark_t *w, int64_t at_ms, int64_t max_lat_ms)
{
    int64_t lat = kl_wmark_latency_ms(w);
    /* Trades of the last 10-20 s before at_ms: windows that ended without a trade since count
     * nothing, so a busy connection that falls silent for good is quiet after 20 s. */
    uint32_t recent = at_ms >= w->lat_win_end + KL_WMARK_LAT_WINDOW_MS ? 0
                      : at_ms >= w->lat_win_end                         ? w->n_cur
                                                                        : w->n_cur + w->n_prev;
    if (lat == KL_WMARK_NONE || lat > max_lat_ms || recent > KL_WMARK_QUIET_MAX_TRADES)
        return;
    if (lat < 0) /* a clock ahead of the exchange's: never move past what was proven */
        lat = 0;
    advance(w, at_ms - lat - w->disorder_ms);
}

void
kl_wmark_idle(kl_wmark_t *w, int64_t now_ms, int64_t idle_ms)
{
    int64_t lat = kl_wmark_latency_ms(w);
    if (w->last_rx_ms == KL_WMARK_NONE || now_ms - w->last_rx_ms < idle_ms || lat > idle_ms)
        return;
    advance(w, now_ms - idle_ms);
}

int64_t
kl_wmark_due(kl_wmark_t *w)
{
    if (w->wm == KL_WMARK_NONE)
        return KL_WMARK_NONE;
    int64_t sec = w->wm - (w->wm % 1000 + 1000) % 1000; /* floor to a whole second */
    if (w->announced != KL_WMARK_NONE && sec <= w->announced)
        return KL_WMARK_NONE;
    w->announced = sec;
    return sec;
}

/* ---- symbol sets ------------------------------------------------------------------------- */

static int
grow(kl_symset_t *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 16;
    char (*names)[KL_SYM_MAX] = kl_calloc(ncap, sizeof *names);
    uint32_t *slots = kl_calloc(ncap * 2, sizeof *slots);
    if (!names || !slots) {
        kl_free(names);
        kl_free(slots);
        return KL_ENOMEM;
    }
    if (s->n)
        memcpy(names, s->names, s->n * sizeof *names);
    size_t mask = ncap * 2 - 1;
    for (size_t i = 0; i < s->n; i++) {
        size_t j = kl_fnv1a(names[i], strlen(names[i])) & mask;
        while (slots[j])
            j = (j + 1) & mask;
        slots[j] = (uint32_t)i + 1;
    }
    kl_free(s->names);
    kl_free(s->slots);
    s->names = names;
    s->slots = slots;
    s->cap = ncap;
    s->mask = mask;
    return 0;
}

int
kl_symset_add(kl_symset_t *s, const char *name, size_t len)
{
    if (len == 0 || len >= KL_SYM_MAX)
        return KL_EARG;
    if (s->cap) {
        for (size_t j = kl_fnv1a(name, len) & s->mask; s->slots[j]; j = (j + 1) & s->mask) {
            const char *have = s->names[s->slots[j] - 1];
            if (strncmp(have, name, len) == 0 && have[len] == '\0')
                return 0;
        }
    }
    if (s->n == s->cap) {
        int rc = grow(s);
        if (rc != 0)
            return rc;
    }
    memcpy(s->names[s->n], name, len);
    s->names[s->n][len] = '\0';
    size_t j = kl_fnv1a(name, len) & s->mask;
    while (s->slots[j])
        j = (j + 1) & s->mask;
    s->slots[j] = (uint32_t)++s->n;
    return 1;
}

void
kl_symset_fini(kl_symset_t *s)
{
    kl_free(s->names);
    kl_free(s->slots);
    memset(s, 0, sizeof *s);
}
