/* Decimal parsing and formatting in 1e-8 fixed point. Parsing is on the replay hot path (three
 * or four numbers per CSV row), so it is one pass with no library calls. */
#include "core/decimal.h"

#include <string.h>

#include "kl/err.h"

static const int64_t pow10_tab[9] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
};

int
kl_dec_parse(const char *s, size_t n, kl_dec_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    /* Integer part: at most 11 significant digits fit (INT64_MAX / 1e8 = 92233720368). */
    uint64_t ip = 0;
    size_t int_start = i;
    while (i < n && s[i] == '0')
        i++;
    size_t sig_start = i;
    while (i < n && (unsigned)(s[i] - '0') < 10) {
        ip = ip * 10 + (uint64_t)(s[i] - '0');
        i++;
        if (i - sig_start > 11)
            goto digits_overflow;
    }
    if (i == int_start)
        return KL_EDEC_SYNTAX;
    uint64_t frac = 0;
    if (i < n) {
        if (s[i] != '.')
            return KL_EDEC_SYNTAX;
        i++;
        size_t frac_start = i;
        while (i < n && i - frac_start < KL_DEC_PLACES && (unsigned)(s[i] - '0') < 10) {
            frac = frac * 10 + (uint64_t)(s[i] - '0');
            i++;
        }
        size_t nfrac = i - frac_start;
        if (nfrac == 0)
            return KL_EDEC_SYNTAX;
        int precise = 1;
        for (; i < n; i++) {
            if ((unsigned)(s[i] - '0') >= 10)
                return KL_EDEC_SYNTAX;
            if (s[i] != '0')
                precise = 0;
        }
        if (!precise)
            return KL_EDEC_PRECISION;
        frac *= (uint64_t)pow10_tab[KL_DEC_PLACES - nfrac];
    }
    /* ip <= 99999999999 here, so ip * 1e8 + frac < 2^64: the check below is exact. */
    uint64_t mag = ip * (uint64_t)KL_DEC_SCALE + frac;
    if (mag > (uint64_t)INT64_MAX + (uint64_t)neg)
        return KL_EDEC_OVERFLOW;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;

digits_overflow:
    /* Still classify a malformed tail as syntax, so the error names the real problem. */
    while (i < n && (unsigned)(s[i] - '0') < 10)
        i++;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && (unsigned)(s[i] - '0') < 10)
            i++;
        if (i == f0)
            return KL_EDEC_SYNTAX;
    }
    return i == n ? KL_EDEC_OVERFLOW : KL_EDEC_SYNTAX;
}

int
kl_int_parse(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i == n)
        return KL_EINT_SYNTAX;
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d >= 10)
            return KL_EINT_SYNTAX;
        if (v > (UINT64_MAX - d) / 10)
            return KL_EINT_OVERFLOW;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return KL_EINT_OVERFLOW;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Writes the decimal digits of u (at least min_digits, zero-padded) ending at end; returns the
 * start. */
static char *
put_u128(char *end, unsigned __int128 u, int min_digits)
{
    char *p = end;
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
