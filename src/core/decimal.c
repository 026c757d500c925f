/* Decimal parsing and formatting in 1e-8 fixed point. Parsing is on the replay hot path (three
 * or four numbers per CSV row), so it is one pass with no library calls. */
#include "core/decimal.h"

#include <string.h>

#include "core/numscan.h"
#include "kl/err.h"

int
kl_dec_scan(const char *s, const char *end, kl_dec_t *out, const char **stop)
{
    return kl_dec_scan_inline(s, end, out, stop);
}

int
kl_dec_parse(const char *s, size_t n, kl_dec_t *out)
{
    const char *stop;
    kl_dec_t v;
    int rc = kl_dec_scan(s, s + n, &v, &stop);
    if (stop != s + n)
        return KL_EDEC_SYNTAX; /* a stray character outranks what came before it */
    if (rc == 0)
        *out = v;
    return rc;
}

int
kl_int_scan(const char *s, const char *end, int64_t *out, const char **stop)
{
    return kl_int_scan_inline(s, end, out, stop);
}

int
kl_int_parse(const char *s, size_t n, int64_t *out)
{
    const char *stop;
    int64_t v;
    int rc = kl_int_scan(s, s + n, &v, &stop);
    if (stop != s + n)
        return KL_EINT_SYNTAX;
    if (rc == 0)
        *out = v;
    return rc;
}

/* Writes the decimal digits of u (at least min_digits, zero-padded) ending at end; returns the
 * start. */
static char *
put_u128(char *end, unsigned __int128 u, int min_digits)
{
    char *p = end;
    if (u <= UINT64_MAX) { /* 128-bit division is a libgcc call: avoid it when we can */
        uint64_t v = (uint64_t)u;
        do {
            *--p = (char)('0' + (int)(v % 10));
            v /= 10;
            min_digits--;
        } while (v != 0 || min_digits > 0);
        return p;
    }
    do {
        *--p = (char)('0' + (int)(u % 10));
        u /= 10;
        min_digits--;
    } while (u != 0 || min_digits > 0);
    return p;
}

static size_t
format_scaled(unsigned __int128 mag, int neg, char *buf)
{
    char tmp[KL_NUM_BUFSZ];
    char *end = tmp + sizeof tmp;
    char *p = put_u128(end, mag % (unsigned __int128)KL_DEC_SCALE, KL_DEC_PLACES);
    *--p = '.';
    p = put_u128(p, mag / (unsigned __int128)KL_DEC_SCALE, 1);
    if (neg)
        *--p = '-';
    size_t len = (size_t)(end - p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
}

size_t
kl_dec_format(kl_dec_t v, char *buf)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    return format_scaled(mag, v < 0, buf);
}

size_t
kl_sum_format(kl_sum_t v, int places, char *buf)
{
    unsigned __int128 mag = v < 0 ? 0 - (unsigned __int128)v : (unsigned __int128)v;
    for (int p = places; p > KL_DEC_PLACES; p--)
        mag /= 10; /* truncation toward zero */
    return format_scaled(mag, v < 0 && mag != 0, buf);
}

size_t
kl_sum_format_exact(kl_sum_t v, int places, char *buf)
{
    unsigned __int128 mag = v < 0 ? 0 - (unsigned __int128)v : (unsigned __int128)v;
    unsigned __int128 scale = 1;
    for (int i = 0; i < places; i++)
        scale *= 10;
    char tmp[KL_NUM_BUFSZ + 8];
    char *end = tmp + sizeof tmp;
    char *p = put_u128(end, mag % scale, places);
    *--p = '.';
    p = put_u128(p, mag / scale, 1);
    if (v < 0)
        *--p = '-';
    size_t len = (size_t)(end - p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
}

int
kl_sum_parse(const char *s, size_t n, int places, kl_sum_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    const unsigned __int128 lim = ((unsigned __int128)1 << 127) - 1;
    unsigned __int128 v = 0;
    size_t d0 = i;
    int frac = -1, overflow = 0;
    for (; i < n; i++) {
        if (s[i] == '.' && frac < 0 && i > d0) {
            frac = 0;
            continue;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (d >= 10)
            return KL_EDEC_SYNTAX;
        if (frac >= 0 && ++frac > places) {
            if (d != 0)
                return KL_EDEC_PRECISION;
            frac--;
            continue;
        }
        if (v > (lim - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    if (i == d0 || frac == 0 || s[n - 1] == '.')
        return KL_EDEC_SYNTAX;
    for (int f = frac < 0 ? 0 : frac; f < places; f++) {
        if (v > lim / 10)
            overflow = 1;
        else
            v *= 10;
    }
    if (overflow)
        return KL_EDEC_OVERFLOW;
    *out = neg ? -(kl_sum_t)v : (kl_sum_t)v;
    return 0;
}

size_t
kl_int_format(int64_t v, char *buf)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = put_u128(end, mag, 1);
    if (v < 0)
        *--p = '-';
    size_t len = (size_t)(end - p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
}
