/* Decimal parsing and formatting in 1e-8 fixed point. Parsing is on the replay hot path (three
 * or four numbers per CSV row), so it is one pass with no library calls. */
#include "core/decimal.h"

#include <string.h>

#include "kl/err.h"

static const int64_t pow10_tab[9] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
};

/* Reads up to 8 ASCII digits at p (never past end) into *val; returns how many. With 8 bytes
 * readable it is branch-light SWAR: find the first non-digit byte, shift the digits to the top
 * and combine pairs, quads and octets with three multiplies. Digit strings are the bulk of a
 * dump, so this is where replay spends its parsing time. */
static inline unsigned
digits8(const char *p, const char *end, uint64_t *val)
{
    if (end - p < 8) {
        uint64_t v = 0;
        unsigned n = 0;
        while (p + n < end && n < 8 && (unsigned)(p[n] - '0') < 10)
            v = v * 10 + (uint64_t)(p[n++] - '0');
        *val = v;
        return n;
    }
    uint64_t x;
    memcpy(&x, p, 8);
    /* Non-zero byte = not a digit. A carry out of a byte >= 0xFA only reaches bytes after the
     * first non-digit, which do not count. */
    uint64_t bad = ((x & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL) |
                   (((x + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL);
    unsigned n = bad ? (unsigned)__builtin_ctzll(bad) >> 3 : 8;
    if (n == 0) {
        *val = 0;
        return 0;
    }
    uint64_t v = (x - 0x3030303030303030ULL) << (8 * (8 - n)); /* leading zeros fill the top */
    v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFULL;
    v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFULL;
    v = (v * 10000 + (v >> 32)) & 0xFFFFFFFFULL;
    *val = v;
    return n;
}

int
kl_dec_scan(const char *s, const char *end, kl_dec_t *out, const char **stop)
{
    const char *p = s;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const char *int_start = p;
    while (p < end && *p == '0')
        p++;
    /* Integer part: at most 11 significant digits fit (INT64_MAX / 1e8 = 92233720368). */
    uint64_t ip = 0, chunk;
    unsigned sig = 0, n;
    do {
        n = digits8(p, end, &chunk);
        if (sig + n <= 11)
            ip = ip * (uint64_t)pow10_tab[n] + chunk;
        sig += n;
        p += n;
    } while (n == 8);
    if (p == int_start)
        goto syntax;
    uint64_t frac = 0;
    if (p < end && *p == '.') {
        p++;
        n = digits8(p, end, &frac);
        if (n == 0)
            goto syntax;
        p += n;
        frac *= (uint64_t)pow10_tab[KL_DEC_PLACES - n];
        int precise = 1;
        while (p < end && (unsigned)(*p - '0') < 10)
            precise &= *p++ == '0';
        if (!precise) {
            *stop = p;
            return KL_EDEC_PRECISION;
        }
    }
    *stop = p;
    /* ip < 1e11 here, so ip * 1e8 + frac < 2^64 and the check below is exact. */
    uint64_t mag = ip * (uint64_t)KL_DEC_SCALE + frac;
    if (sig > 11 || mag > (uint64_t)INT64_MAX + (uint64_t)neg)
        return KL_EDEC_OVERFLOW;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
syntax:
    *stop = p;
    return KL_EDEC_SYNTAX;
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
    const char *p = s;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const char *d0 = p;
    uint64_t v = 0, chunk;
    /* Two octets (16 digits) cannot overflow; only digits past them are checked. */
    for (int i = 0; i < 2; i++) {
        unsigned n = digits8(p, end, &chunk);
        v = v * (uint64_t)pow10_tab[n] + chunk;
        p += n;
        if (n < 8)
            goto done;
    }
    int overflow = 0;
    while (p < end && (unsigned)(*p - '0') < 10) {
        unsigned d = (unsigned)(*p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    if (overflow) {
        *stop = p;
        return KL_EINT_OVERFLOW;
    }
done:
    *stop = p;
    if (p == d0)
        return KL_EINT_SYNTAX;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return KL_EINT_OVERFLOW;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
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
