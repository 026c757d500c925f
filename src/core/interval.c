/* Kline boundaries. Fixed-length intervals are floor divisions on local time (UTC + offset)
 * from a per-interval origin; 1M walks the proleptic Gregorian calendar with Howard Hinnant's
 * days<->civil algorithms, so leap years need no table. */
#include "core/interval.h"

#include <string.h>

#include "kl/err.h"

static const struct {
    const char *name;
    int64_t len_ms;
} iv_tab[KL_IV_COUNT] = {
    {"1s", 1000LL},           {"1m", 60000LL},          {"3m", 180000LL},
    {"5m", 300000LL},         {"15m", 900000LL},        {"30m", 1800000LL},
    {"1h", 3600000LL},        {"2h", 7200000LL},        {"4h", 14400000LL},
    {"6h", 21600000LL},       {"8h", 28800000LL},       {"12h", 43200000LL},
    {"1d", KL_MS_PER_DAY},    {"3d", 3 * KL_MS_PER_DAY}, {"1w", 7 * KL_MS_PER_DAY},
    {"1M", 0},
};

const char *
kl_iv_name(int iv)
{
    return iv_tab[iv].name;
}

int64_t
kl_iv_len_ms(int iv)
{
    return iv_tab[iv].len_ms;
}

int64_t
kl_iv_default_origin_ms(int iv)
{
    /* 1970-01-01 was a Thursday; Binance weeks open on Monday. */
    return iv == KL_IV_1W ? 4 * KL_MS_PER_DAY : 0;
}

int
kl_iv_parse(const char *s, size_t n)
{
    for (int i = 0; i < KL_IV_COUNT; i++)
        if (strlen(iv_tab[i].name) == n && memcmp(iv_tab[i].name, s, n) == 0)
            return i;
    return KL_EINTERVAL;
}

int
kl_iv_parse_list(const char *s, uint32_t *mask_out)
{
    if (strcmp(s, "all") == 0) {
        *mask_out = KL_IV_ALL;
        return 0;
    }
    uint32_t mask = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        int iv = kl_iv_parse(s, n);
        if (iv < 0)
            return KL_EINTERVAL;
        mask |= 1u << iv;
        if (!comma)
            break;
        s = comma + 1;
    }
    *mask_out = mask;
    return 0;
}

static int
parse_2digits(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 2)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)(s[i] - '0') >= 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int
kl_tz_parse(const char *s, int32_t *minutes_out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    const char *colon = strchr(s, ':');
    int h, m = 0;
    if (colon) {
        if (parse_2digits(s, (size_t)(colon - s), &h) != 0 ||
            strlen(colon + 1) != 2 || parse_2digits(colon + 1, 2, &m) != 0 || m > 59)
            return KL_ETZ;
    } else if (parse_2digits(s, strlen(s), &h) != 0) {
        return KL_ETZ;
    }
    int32_t total = sign * (h * 60 + m);
    if (total < KL_TZ_MIN_MINUTES || total > KL_TZ_MAX_MINUTES)
        return KL_ETZ;
    *minutes_out = total;
    return 0;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t
kl_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
kl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void
kl_ivspec_init(kl_ivspec_t *spec, int iv, int64_t unit_per_ms, int32_t tz_minutes,
               int64_t origin_ms)
{
    spec->iv = iv;
    spec->len = iv_tab[iv].len_ms * unit_per_ms;
    spec->origin = origin_ms * unit_per_ms;
    spec->tz = (int64_t)tz_minutes * 60000 * unit_per_ms;
    spec->day = KL_MS_PER_DAY * unit_per_ms;
}

static int64_t
month_start(const kl_ivspec_t *spec, int64_t t, int months_ahead)
{
    int64_t y;
    unsigned m, d;
    kl_civil_from_days(floor_div(t + spec->tz, spec->day), &y, &m, &d);
    int64_t mi = y * 12 + (m - 1) + months_ahead;
    int64_t days = kl_days_from_civil(floor_div(mi, 12), (unsigned)(mi - floor_div(mi, 12) * 12) + 1, 1);
    return days * spec->day - spec->tz;
}

/* No arithmetic below can overflow on |t| <= 1.25 * 2^62: offsets and origins are below 2^47
 * (a week of us, 14 h of us) and a month walk moves by at most 2^52. kl_iv_next clamps wider
 * than kl_iv_open so that an open below -KL_IV_T_LIMIT still steps along its grid. */
static int64_t
clamp_t(int64_t t, int64_t lim)
{
    return t > lim ? lim : t < -lim ? -lim : t;
}

int64_t
kl_iv_open(const kl_ivspec_t *spec, int64_t t)
{
    t = clamp_t(t, KL_IV_T_LIMIT);
    if (spec->len == 0)
        return month_start(spec, t, 0);
    int64_t local = t + spec->tz - spec->origin;
    return floor_div(local, spec->len) * spec->len + spec->origin - spec->tz;
}

int64_t
kl_iv_next(const kl_ivspec_t *spec, int64_t open)
{
    open = clamp_t(open, KL_IV_T_LIMIT + (KL_IV_T_LIMIT >> 2));
    if (spec->len == 0)
        return month_start(spec, open, 1);
    return open + spec->len;
}
