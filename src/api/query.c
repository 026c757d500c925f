/* Query string of GET /api/v3/klines and /api/v3/uiKlines, parsed and checked the way Binance
 * spot checks it, so that a client library sees the same code and message from klined as from
 * api.binance.com. Pure and bounded: at most KL_API_QUERY_MAX bytes, no allocation.
 *
 * Binance's answers, and where they come from ("errors.md" and "rest-api.md" are
 * binance/binance-spot-api-docs; "observed" means real replies quoted in public code/issues):
 *   every error below is HTTP 400.
 * - symbol absent or empty: -1102 "Mandatory parameter 'symbol' was not sent, was empty/null,
 *   or malformed." (errors.md; observed for /klines with fromId=1 only). Same for 'interval'.
 * - symbol not matching ^[A-Z0-9-_.]{1,20}$ (lowercase, too long, other bytes): -1100
 *   "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."
 *   (observed, e.g. for MEnergyUSDT on /klines). A name that passes that regex but holds '-',
 *   '_' or '.' cannot be one of our [A-Z0-9] symbols: -1121 "Invalid symbol." (observed for
 *   BTC_USDT). Whether a well-formed symbol exists is the caller's check (-1121).
 * - interval not one of the 16 names (case-sensitive, rest-api.md): -1120 "Invalid interval."
 * - startTime, endTime, limit not matching ^[0-9]{1,20}$ (negative, non-digit, empty, longer
 *   than 20): -1100 "Illegal characters found in parameter 'startTime'; legal range is
 *   '^[0-9]{1,20}$'." (observed for startTime on /klines, and limit=-1 on aggTrades).
 * - a value that passes that regex but does not fit the parameter's type (LONG for the times,
 *   INT for limit): -1108 "Parameter 'X' overflowed." (errors.md PARAM_OVERFLOW; UNVERIFIED
 *   that /klines uses it rather than -1100).
 * - limit above 1000: capped at 1000, no error (spot clients send limit=1500 to /api/v3/klines
 *   and get 1000 rows; futures errors instead). limit 0: raised to 1 (UNVERIFIED; no capture
 *   of Binance's answer found).
 * - startTime or endTime above 253402300799999 (9999-12-31T23:59:59.999Z): clamped to it, no
 *   error (no kline exists there, so the answer is the same; the REST route's arithmetic stays
 *   far from int64 overflow).
 * - startTime > endTime: accepted; the route answers 200 [] (spot returns no rows where futures
 *   returns -1023, python-binance PR #1165).
 * - timeZone (rest-api.md: "-1:00", "05:45", "0", "8", range [-12:00, +14:00] inclusive):
 *   not matching ^[+-]?[0-9]{1,2}(:[0-9]{2})?$ (empty included): -1100 with that regex as the
 *   legal range; well formed but minutes > 59 or outside the range: -1130 "Data sent for
 *   parameter 'timeZone' is not valid." (errors.md INVALID_PARAMETER; both UNVERIFIED against
 *   a capture). '+' is a literal plus here, not a space, so "+08:00" sent unencoded works, and
 *   so does %2B08:00.
 * - the same name twice (any name, known or not): -1101 "Duplicate values for a parameter
 *   detected." It is checked first (observed: ticker/24hr?limit=1&limit=2 gets -1101, not the
 *   unknown-parameter error).
 * - an unknown name: -1104 "Not all sent parameters were read; read '2' parameter(s) but was
 *   sent '3'." checked last, after every known value is valid (observed on /klines with
 *   fromId=1, and python-binance issue #172 with star_time/end_time).
 * - more than KL_API_QUERY_MAX bytes: -1101 "Too many parameters sent for this endpoint." (our
 *   cap; Binance's own limit is not documented; six real parameters never come near it).
 * - a malformed %-escape (or %00) in a value fails that value's own check as above; in a name
 *   it makes the name unknown. Empty segments ("a=1&&b=2", a trailing '&') are skipped.
 * Order: length, duplicates, symbol, interval, startTime, endTime, limit, timeZone, unknown. */
#include "api/query.h"

#include <stdio.h>
#include <string.h>

#include "core/interval.h"

#define HTTP_BAD_REQUEST 400

typedef struct seg {
    size_t k, kn; /* name: qs[k .. k+kn) */
    size_t v, vn; /* value: qs[v .. v+vn), vn 0 when there is no '=' */
} seg_t;

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Next decoded byte of s[*i .. n): 1..255, -1 at the end, -2 on a malformed escape or %00. */
static int
pct_next(const char *s, size_t n, size_t *i)
{
    if (*i >= n)
        return -1;
    if (s[*i] != '%') {
        unsigned char c = (unsigned char)s[(*i)++];
        return c == 0 ? -2 : c;
    }
    if (n - *i < 3)
        return -2;
    int h = hexval(s[*i + 1]), l = hexval(s[*i + 2]);
    if (h < 0 || l < 0 || (h | l) == 0)
        return -2;
    *i += 3;
    return h * 16 + l;
}

/* Decodes s[0..n) into out (NUL-terminated). Returns the length, or -2 if malformed or if it
 * needs more than cap-1 bytes. */
static int
pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, o = 0;
    int c;
    if (cap == 0)
        return -2;
    while ((c = pct_next(s, n, &i)) != -1) {
        if (c < 0 || o + 1 >= cap)
            return -2;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (int)o;
}

/* Whether the decoded name of seg equals name; a malformed name equals nothing. */
static int
key_is(const char *qs, const seg_t *g, const char *name)
{
    size_t i = 0;
    const char *p = name;
    for (;;) {
        int c = pct_next(qs + g->k, g->kn, &i);
        if (c == -1)
            return *p == '\0';
        if (c < 0 || *p == '\0' || (unsigned char)*p != c)
            return 0;
        p++;
    }
}

/* Whether two names are the same after decoding (raw comparison when either is malformed). */
static int
key_same(const char *qs, const seg_t *a, const seg_t *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        int c = pct_next(qs + a->k, a->kn, &i), d = pct_next(qs + b->k, b->kn, &j);
        if (c == -2 || d == -2)
            return a->kn == b->kn && memcmp(qs + a->k, qs + b->k, a->kn) == 0;
        if (c != d)
            return 0;
        if (c == -1)
            return 1;
    }
}

/* Fills segs (up to max) with the non-empty '&'-separated segments and
 * returns how many there were (possibly more than max). */
static size_t
split(const char *qs, size_t len, seg_t *segs, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && qs[i] != '&')
            continue;
        if (i > start) {
            if (n < max) {
                const char *eq = memchr(qs + start, '=', i - start);
                seg_t *g = &segs[n];
                g->k = start;
                g->kn = eq ? (size_t)(eq - qs) - start : i - start;
                g->v = eq ? (size_t)(eq - qs) + 1 : i;
                g->vn = i - g->v;
            }
            n++;
        }
        start = i + 1;
    }
    return n;
}

int
kl_api_query_param(const char *qs, size_t len, const char *name, char *out, size_t cap)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && qs[i] != '&')
            continue;
        if (i > start) {
            seg_t g;
            split(qs + start, i - start, &g, 1);
            if (key_is(qs + start, &g, name))
                return pct_decode(qs + start + g.v, g.vn, out, cap);
        }
        start = i + 1;
    }
    return -1;
}

static int
fail(kl_api_err_t *err, int code, const char *msg)
{
    kl_api_err_set(err, HTTP_BAD_REQUEST, code, "%s", msg);
    return -1;
}

static int
fail_illegal(kl_api_err_t *err, const char *name, const char *range)
{
    kl_api_err_set(err, HTTP_BAD_REQUEST, -1100,
                   "Illegal characters found in parameter '%s'; legal range is '%s'.", name,
                   range);
    return -1;
}

static int
fail_mandatory(kl_api_err_t *err, const char *name)
{
    kl_api_err_set(err, HTTP_BAD_REQUEST, -1102,
                   "Mandatory parameter '%s' was not sent, was empty/null, or malformed.", name);
    return -1;
}

#define RANGE_DIGITS "^[0-9]{1,20}$"
#define RANGE_SYMBOL "^[A-Z0-9-_.]{1,20}$"
#define RANGE_TZ "^[+-]?[0-9]{1,2}(:[0-9]{2})?$"

/* Parses a ^[0-9]{1,20}$ value no greater than max. Returns 0, -1 (regex) or -2 (overflow). */
static int
parse_digits(const char *qs, const seg_t *g, int64_t max, int64_t *out)
{
    char buf[24];
    int n = pct_decode(qs + g->v, g->vn, buf, sizeof buf);
    if (n < 1 || n > 20)
        return -1;
    for (int i = 0; i < n; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        int d = buf[i] - '0';
        if (v > (max - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int
get_time(const char *qs, const seg_t *g, const char *name, int64_t *out, kl_api_err_t *err)
{
    int rc = parse_digits(qs, g, INT64_MAX, out);
    if (rc == -1)
        return fail_illegal(err, name, RANGE_DIGITS);
    if (rc == -2) {
        kl_api_err_set(err, HTTP_BAD_REQUEST, -1108, "Parameter '%s' overflowed.", name);
        return -1;
    }
    return 0;
}

/* Checks ^[+-]?[0-9]{1,2}(:[0-9]{2})?$ on s. */
static int
tz_shape_ok(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    int h = 0;
    while (*s >= '0' && *s <= '9' && h < 3) {
        s++;
        h++;
    }
    if (h < 1 || h > 2)
        return 0;
    if (*s == '\0')
        return 1;
    return s[0] == ':' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
           s[3] == '\0';
}

enum { P_SYMBOL, P_INTERVAL, P_START, P_END, P_LIMIT, P_TZ, P_COUNT };
static const char *const param_names[P_COUNT] = {"symbol", "interval", "startTime",
                                                  "endTime", "limit", "timeZone"};

int
kl_api_parse_klines(const char *qs, size_t len, kl_klines_query_t *q, kl_api_err_t *err)
{
    if (len > KL_API_QUERY_MAX)
        return fail(err, -1101, "Too many parameters sent for this endpoint.");

    /* Every non-empty segment takes at least one byte and one '&' but the last. */
    seg_t segs[KL_API_QUERY_MAX / 2 + 1];
    size_t n = split(qs, len, segs, sizeof segs / sizeof segs[0]);

    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (key_same(qs, &segs[i], &segs[j]))
                return fail(err, -1101, "Duplicate values for a parameter detected.");

    const seg_t *p[P_COUNT] = {0};
    int n_read = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < P_COUNT; k++)
            if (key_is(qs, &segs[i], param_names[k])) {
                p[k] = &segs[i];
                n_read++;
                break;
            }

    memset(q, 0, sizeof *q);
    q->limit = KL_API_LIMIT_DEFAULT;

    /* symbol */
    if (!p[P_SYMBOL] || p[P_SYMBOL]->vn == 0)
        return fail_mandatory(err, "symbol");
    char sym[32];
    int sn = pct_decode(qs + p[P_SYMBOL]->v, p[P_SYMBOL]->vn, sym, sizeof sym);
    if (sn < 1 || sn > 20)
        return fail_illegal(err, "symbol", RANGE_SYMBOL);
    int odd = 0;
    for (int i = 0; i < sn; i++) {
        char c = sym[i];
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '-' || c == '_' || c == '.')
            odd = 1;
        else
            return fail_illegal(err, "symbol", RANGE_SYMBOL);
    }
    if (odd)
        return fail(err, -1121, "Invalid symbol.");
    memcpy(q->symbol, sym, (size_t)sn + 1);

    /* interval */
    if (!p[P_INTERVAL] || p[P_INTERVAL]->vn == 0)
        return fail_mandatory(err, "interval");
    char ivs[8];
    int ivn = pct_decode(qs + p[P_INTERVAL]->v, p[P_INTERVAL]->vn, ivs, sizeof ivs);
    int iv = ivn < 0 ? -1 : kl_iv_parse(ivs, (size_t)ivn);
    if (iv < 0)
        return fail(err, -1120, "Invalid interval.");
    q->iv = iv;

    if (p[P_START]) {
        if (get_time(qs, p[P_START], "startTime", &q->start_ms, err) != 0)
            return -1;
        q->has_start = 1;
    }
    if (p[P_END]) {
        if (get_time(qs, p[P_END], "endTime", &q->end_ms, err) != 0)
            return -1;
        q->has_end = 1;
    }
    /* Nothing is stored past year 9999: later times answer the same, and clamping keeps every
     * later computation on them (unit scaling, interval math) far from int64 overflow. */
    if (q->has_start && q->start_ms > KL_TIME_MAX_MS)
        q->start_ms = KL_TIME_MAX_MS;
    if (q->has_end && q->end_ms > KL_TIME_MAX_MS)
        q->end_ms = KL_TIME_MAX_MS;

    if (p[P_LIMIT]) {
        int64_t lim;
        int rc = parse_digits(qs, p[P_LIMIT], INT32_MAX, &lim);
        if (rc == -1)
            return fail_illegal(err, "limit", RANGE_DIGITS);
        if (rc == -2)
            return fail(err, -1108, "Parameter 'limit' overflowed.");
        q->limit = lim < 1 ? 1 : lim > KL_API_LIMIT_MAX ? KL_API_LIMIT_MAX : (int)lim;
    }

    if (p[P_TZ]) {
        char tz[8];
        if (pct_decode(qs + p[P_TZ]->v, p[P_TZ]->vn, tz, sizeof tz) < 0 || !tz_shape_ok(tz))
            return fail_illegal(err, "timeZone", RANGE_TZ);
        int32_t minutes;
        if (kl_tz_parse(tz, &minutes) != 0)
            return fail(err, -1130, "Data sent for parameter 'timeZone' is not valid.");
        q->tz_minutes = minutes;
        q->has_tz = 1;
    }

    if ((size_t)n_read < n) {
        kl_api_err_set(err, HTTP_BAD_REQUEST, -1104,
                       "Not all sent parameters were read; read '%d' parameter(s) but was sent "
                       "'%zu'.",
                       n_read, n);
        return -1;
    }
    return 0;
}
