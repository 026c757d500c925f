/* libFuzzer target for the fixed-point number parsers (kl_dec_parse/_scan, kl_int_parse/_scan,
 * kl_sum_parse) and their formatters. Beyond "no crash", it checks the contracts other modules
 * rely on: an accepted value round-trips through its text, which has exactly the promised
 * decimals; the 1e-16 sum formatter agrees with the 1e-8 one; a rejected input leaves *out
 * untouched and names a documented error; accept/reject and the value agree with a slow,
 * obviously correct reference parser; the _scan forms agree with the _parse forms. Any
 * violation is a trap. */
#include <stdint.h>
#include <string.h>

/* Compiled into this target, not only linked from libkl: the fuzz build instruments the target
 * alone, and libFuzzer needs coverage (and ASan needs checks) inside the parser itself. */
#include "core/decimal.c"

#include "core/decimal.h"
#include "kl/err.h"
#include "kl/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

/* Poison written into *out before a call, to see whether a failing call wrote it. */
#define FZ_SENTINEL ((int64_t)0x5a5a5a5a5a5a5a5aLL)

enum fz_ref { FZ_OK, FZ_SYNTAX, FZ_PRECISION, FZ_OVERFLOW, FZ_PRECISION_OVERFLOW };

static int
fz_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

/* *mag = *mag * 10 + d, or *big = 1 once that would pass 2^128 (every limit is below it). */
static void
fz_mul10add(unsigned __int128 *mag, unsigned d, int *big)
{
    if (*mag > (~(unsigned __int128)0 - 9) / 10)
        *big = 1;
    else
        *mag = *mag * 10 + d;
}

/* Reference for kl_dec_parse and kl_sum_parse: grammar -?[0-9]+(\.[0-9]+)? checked first, then
 * the magnitude in 10^-places units (flagged "big" instead of wrapping), then
 * precision and range independently. Accepted values are at most max_pos, or max_neg below 0. */
static enum fz_ref
fz_ref_num(const char *s, size_t n, int places, unsigned __int128 max_pos,
           unsigned __int128 max_neg, __int128 *out)
{
    size_t i = 0;
    int neg = 0, big = 0, imprecise = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    unsigned __int128 mag = 0;
    size_t ip0 = i;
    for (; i < n && fz_isdigit(s[i]); i++)
        fz_mul10add(&mag, (unsigned)(s[i] - '0'), &big);
    if (i == ip0)
        return FZ_SYNTAX;
    int nfrac = 0;
    if (i < n) {
        if (s[i] != '.')
            return FZ_SYNTAX;
        i++;
        size_t f0 = i;
        for (; i < n && fz_isdigit(s[i]); i++) {
            if (nfrac < places) {
                fz_mul10add(&mag, (unsigned)(s[i] - '0'), &big);
                nfrac++;
            } else if (s[i] != '0') {
                imprecise = 1;
            }
        }
        if (i == f0 || i != n)
            return FZ_SYNTAX;
    }
    for (; nfrac < places; nfrac++)
        fz_mul10add(&mag, 0, &big);
    int overflow = big || mag > (neg ? max_neg : max_pos);
    if (imprecise && overflow)
        return FZ_PRECISION_OVERFLOW;
    if (imprecise)
        return FZ_PRECISION;
    if (overflow)
        return FZ_OVERFLOW;
    *out = neg ? -(__int128)mag : (__int128)mag;
    return FZ_OK;
}

/* Reference for kl_int_parse: grammar -?[0-9]+ and the value, saturating. *digits_fit tells
 * whether the leading run of digits alone fits int64 (an overflow can then not be the reason
 * a malformed input was refused). */
static enum fz_ref
fz_ref_int(const char *s, size_t n, int64_t *out, int *digits_fit)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    size_t d0 = i;
    __int128 v = 0;
    const __int128 cap = (__int128)1 << 100;
    for (; i < n && fz_isdigit(s[i]); i++) {
        v = v * 10 + (s[i] - '0');
        if (v > cap)
            v = cap;
    }
    __int128 sv = neg ? -v : v;
    int fits = sv <= INT64_MAX && sv >= INT64_MIN;
    *digits_fit = fits;
    if (i == d0 || i != n)
        return FZ_SYNTAX;
    if (!fits)
        return FZ_OVERFLOW;
    *out = (int64_t)sv;
    return FZ_OK;
}

/* Text must be -?[0-9]+\.[0-9]{8}, without a superfluous leading zero. */
static void
fz_check_8dp(const char *buf, size_t len)
{
    CHECK(len == strlen(buf));
    CHECK(len < KL_NUM_BUFSZ);
    size_t i = buf[0] == '-' ? 1 : 0;
    size_t d0 = i;
    while (i < len && fz_isdigit(buf[i]))
        i++;
    CHECK(i > d0);
    CHECK(i - d0 == 1 || buf[d0] != '0');
    CHECK(i < len && buf[i] == '.');
    CHECK(len - (i + 1) == KL_DEC_PLACES);
    for (size_t k = i + 1; k < len; k++)
        CHECK(fz_isdigit(buf[k]));
}

static void
fz_dec(const char *s, size_t n)
{
    __int128 ref = FZ_SENTINEL;
    enum fz_ref want = fz_ref_num(s, n, KL_DEC_PLACES, (unsigned __int128)INT64_MAX,
                                  (unsigned __int128)INT64_MAX + 1, &ref);
    kl_dec_t v = FZ_SENTINEL;
    int rc = kl_dec_parse(s, n, &v);
    switch (want) {
    case FZ_OK: CHECK(rc == 0 && v == ref); break;
    case FZ_SYNTAX: CHECK(rc == KL_EDEC_SYNTAX); break;
    case FZ_PRECISION: CHECK(rc == KL_EDEC_PRECISION); break;
    case FZ_OVERFLOW: CHECK(rc == KL_EDEC_OVERFLOW); break;
    case FZ_PRECISION_OVERFLOW: CHECK(rc == KL_EDEC_PRECISION || rc == KL_EDEC_OVERFLOW); break;
    }
    if (rc != 0) {
        CHECK(rc == KL_EDEC_SYNTAX || rc == KL_EDEC_PRECISION || rc == KL_EDEC_OVERFLOW);
        CHECK(v == FZ_SENTINEL);
        return;
    }

    char buf[KL_NUM_BUFSZ];
    size_t len = kl_dec_format(v, buf);
    fz_check_8dp(buf, len);
    kl_dec_t back = FZ_SENTINEL;
    CHECK(kl_dec_parse(buf, len, &back) == 0 && back == v);

    /* The same value held as a 1e-16 sum must print identically, and any extra places below
     * the 8th must be truncated toward zero, whatever the sign. */
    char sbuf[KL_NUM_BUFSZ];
    kl_sum_t sum = (kl_sum_t)v * KL_DEC_SCALE;
    size_t slen = kl_sum_format(sum, 16, sbuf);
    CHECK(slen == len && memcmp(sbuf, buf, len + 1) == 0);
    slen = kl_sum_format((kl_sum_t)v, 8, sbuf);
    CHECK(slen == len && memcmp(sbuf, buf, len + 1) == 0);
    kl_sum_t tail = (kl_sum_t)((uint64_t)v % (uint64_t)KL_DEC_SCALE);
    kl_sum_t towards_zero = v < 0 ? sum - tail : sum + tail;
    slen = kl_sum_format(towards_zero, 16, sbuf);
    CHECK(slen == len && memcmp(sbuf, buf, len + 1) == 0);
    if (v == 0 && tail == 0) {
        /* A negative sum smaller than 1e-8 prints as zero, not "-0.00000000". */
        slen = kl_sum_format(-(kl_sum_t)((uint64_t)n % (uint64_t)KL_DEC_SCALE + 1), 16, sbuf);
        CHECK(strcmp(sbuf, "0.00000000") == 0 && slen == 10);
    }
}

/* kl_sum_parse with the given places, and kl_sum_format_exact back. The storage form of a sum
 * must agree with kl_dec_parse wherever both apply. */
static void
fz_sum(const char *s, size_t n, int places)
{
    const unsigned __int128 lim = ((unsigned __int128)1 << 127) - 1;
    __int128 ref = FZ_SENTINEL;
    enum fz_ref want = fz_ref_num(s, n, places, lim, lim, &ref);
    kl_sum_t v = FZ_SENTINEL;
    int rc = kl_sum_parse(s, n, places, &v);
    switch (want) {
    case FZ_OK: CHECK(rc == 0 && v == ref); break;
    /* The first non-zero excess digit is reported at once, even before a later stray byte. */
    case FZ_SYNTAX: CHECK(rc == KL_EDEC_SYNTAX || rc == KL_EDEC_PRECISION); break;
    case FZ_PRECISION: CHECK(rc == KL_EDEC_PRECISION); break;
    case FZ_OVERFLOW: CHECK(rc == KL_EDEC_OVERFLOW); break;
    case FZ_PRECISION_OVERFLOW: CHECK(rc == KL_EDEC_PRECISION || rc == KL_EDEC_OVERFLOW); break;
    }
    if (rc != 0) {
        CHECK(v == FZ_SENTINEL);
        return;
    }
    char buf[KL_NUM_BUFSZ];
    size_t len = kl_sum_format_exact(v, places, buf);
    CHECK(len == strlen(buf) && len < KL_NUM_BUFSZ);
    const char *dot = strchr(buf, '.');
    CHECK(dot != NULL && (size_t)(buf + len - dot - 1) == (size_t)places);
    kl_sum_t back = FZ_SENTINEL;
    CHECK(kl_sum_parse(buf, len, places, &back) == 0 && back == v);

    kl_dec_t d = FZ_SENTINEL;
    if (kl_dec_parse(s, n, &d) == 0) {
        kl_sum_t scaled = d;
        for (int p = KL_DEC_PLACES; p < places; p++)
            scaled *= 10;
        if (places >= KL_DEC_PLACES)
            CHECK(v == scaled);
        if (places == 8 || places == 16) {
            /* Truncating the exact form to 8 places gives the 8-place form. */
            char b8[KL_NUM_BUFSZ], e8[KL_NUM_BUFSZ];
            kl_dec_format(d, e8);
            kl_sum_format(v, places, b8);
            CHECK(strcmp(b8, e8) == 0);
        }
    }
}

static void
fz_int(const char *s, size_t n)
{
    int64_t ref = FZ_SENTINEL;
    int digits_fit = 0;
    enum fz_ref want = fz_ref_int(s, n, &ref, &digits_fit);
    int64_t v = FZ_SENTINEL;
    int rc = kl_int_parse(s, n, &v);
    if (want == FZ_OK) {
        CHECK(rc == 0 && v == ref);
    } else {
        CHECK(rc == KL_EINT_SYNTAX || rc == KL_EINT_OVERFLOW);
        CHECK(v == FZ_SENTINEL);
        if (want == FZ_OVERFLOW)
            CHECK(rc == KL_EINT_OVERFLOW);
        if (digits_fit)
            CHECK(rc == KL_EINT_SYNTAX);
        return;
    }

    char buf[KL_NUM_BUFSZ];
    size_t len = kl_int_format(v, buf);
    CHECK(len == strlen(buf) && len >= 1 && len <= 20);
    int64_t back = FZ_SENTINEL;
    CHECK(kl_int_parse(buf, len, &back) == 0 && back == v);
}

/* The scanner forms stop inside [s, end], at a character that cannot continue the number, and
 * agree with the _parse forms on s[0..*stop). */
static void
fz_scan(const char *s, size_t n)
{
    const char *end = s + n;
    const char *stop = NULL;
    kl_dec_t dv = FZ_SENTINEL, dp = FZ_SENTINEL;
    int rc = kl_dec_scan(s, end, &dv, &stop);
    CHECK(stop != NULL && stop >= s && stop <= end);
    CHECK(stop == end || !fz_isdigit(*stop));
    CHECK(kl_dec_parse(s, (size_t)(stop - s), &dp) == rc);
    CHECK(rc == 0 ? dv == dp : dv == FZ_SENTINEL);

    int64_t iv = FZ_SENTINEL, ip = FZ_SENTINEL;
    stop = NULL;
    rc = kl_int_scan(s, end, &iv, &stop);
    CHECK(stop != NULL && stop >= s && stop <= end);
    CHECK(stop == end || !fz_isdigit(*stop));
    CHECK(kl_int_parse(s, (size_t)(stop - s), &ip) == rc);
    CHECK(rc == 0 ? iv == ip : iv == FZ_SENTINEL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    fz_dec(s, size);
    fz_int(s, size);
    fz_scan(s, size);
    fz_sum(s, size, 8);
    fz_sum(s, size, 16);
    /* Any other precision the storage format may use, picked by the input. */
    fz_sum(s, size, size > 0 ? 1 + data[size - 1] % 30 : 1);
    /* Prefixes cut at each separator reach the "n ends mid-number" paths with real data. */
    for (size_t i = 0; i < size && i < 64; i++)
        if (data[i] == '.' || data[i] == '-') {
            fz_dec(s, i);
            fz_dec(s, i + 1);
        }
    return 0;
}
