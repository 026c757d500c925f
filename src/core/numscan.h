/* Inline number scanners for row parsers that must not pay a call per field: the SWAR digit
 * reader and the decimal/integer scanners behind kl_dec_scan()/kl_int_scan() (decimal.h has
 * their contracts). Include only from parsers on a hot path. */
#ifndef KL_CORE_NUMSCAN_H
#define KL_CORE_NUMSCAN_H

#include <stdint.h>
#include <string.h>

#include "kl/err.h"
#include "kl/types.h"

static const int64_t kl_pow10_tab[9] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
};

/* Reads up to 8 ASCII digits at p (never past end) into *val; returns how many. With 8 bytes
 * readable it is branch-light SWAR: find the first non-digit byte, shift the digits to the top
 * and combine pairs, quads and octets with three multiplies. Digit strings are the bulk of a
 * dump, so this is where replay spends its parsing time. */
static inline unsigned
kl_digits8(const char *p, const char *end, uint64_t *val)
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

static inline int
kl_dec_scan_inline(const char *s, const char *end, kl_dec_t *out, const char **stop)
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
        n = kl_digits8(p, end, &chunk);
        if (sig + n <= 11)
            ip = ip * (uint64_t)kl_pow10_tab[n] + chunk;
        sig += n;
        p += n;
    } while (n == 8);
    if (p == int_start)
        goto syntax;
    uint64_t frac = 0;
    if (p < end && *p == '.') {
        p++;
        n = kl_digits8(p, end, &frac);
        if (n == 0)
            goto syntax;
        p += n;
        frac *= (uint64_t)kl_pow10_tab[KL_DEC_PLACES - n];
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

static inline int
kl_int_scan_inline(const char *s, const char *end, int64_t *out, const char **stop)
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
        unsigned n = kl_digits8(p, end, &chunk);
        v = v * (uint64_t)kl_pow10_tab[n] + chunk;
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

#endif
