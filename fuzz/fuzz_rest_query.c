/* libFuzzer target for kl_api_parse_klines() and kl_api_query_param(), which read the query
 * string of GET /api/v3/klines straight off the network. Beyond "no crash, no read past len",
 * it checks the contract the REST route relies on: a failure is HTTP 400 with one of Binance's
 * codes for this endpoint, and its JSON body is well formed; the overlong cap is exact; an
 * accepted query has a valid symbol, interval, limit and offset, and the generic lookup agrees
 * with it; the outcome does not depend on the order of the parameters; and the query rebuilt
 * canonically (with the offset's plus sent raw or as %2B) parses back to the same request.
 * Any violation is a trap. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Compiled into this target, not only linked from libkl: libFuzzer needs coverage (and ASan
 * needs checks) inside the parser itself. */
#include "api/apierr.c"
#include "api/query.c"

#include "api/query.h"
#include "core/interval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

static int
fz_parse(const char *s, size_t n, kl_klines_query_t *q, kl_api_err_t *e)
{
    memset(q, 0x5a, sizeof *q);
    memset(e, 0x5a, sizeof *e);
    int rc = kl_api_parse_klines(s, n, q, e);
    CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        size_t sl = strnlen(q->symbol, sizeof q->symbol);
        CHECK(sl >= 1 && sl <= 20);
        for (size_t i = 0; i < sl; i++)
            CHECK((q->symbol[i] >= 'A' && q->symbol[i] <= 'Z') ||
                  (q->symbol[i] >= '0' && q->symbol[i] <= '9'));
        CHECK(q->iv >= 0 && q->iv < KL_IV_COUNT);
        CHECK(q->limit >= 1 && q->limit <= KL_API_LIMIT_MAX);
        CHECK(q->has_start == 0 || q->has_start == 1);
        CHECK(q->has_end == 0 || q->has_end == 1);
        CHECK(q->has_tz == 0 || q->has_tz == 1);
        CHECK(!q->has_start || (q->start_ms >= 0 && q->start_ms <= KL_TIME_MAX_MS));
        CHECK(!q->has_end || (q->end_ms >= 0 && q->end_ms <= KL_TIME_MAX_MS));
        CHECK(q->has_tz ? q->tz_minutes >= KL_TZ_MIN_MINUTES && q->tz_minutes <= KL_TZ_MAX_MINUTES
                        : q->tz_minutes == 0);
        CHECK(n <= KL_API_QUERY_MAX);
        return 0;
    }
    CHECK(e->http == 400);
    CHECK(e->code == -1100 || e->code == -1101 || e->code == -1102 || e->code == -1104 ||
          e->code == -1108 || e->code == -1120 || e->code == -1121 || e->code == -1130);
    size_t ml = strnlen(e->msg, sizeof e->msg);
    CHECK(ml > 0 && ml < sizeof e->msg);
    CHECK((n > KL_API_QUERY_MAX) ==
          (strcmp(e->msg, "Too many parameters sent for this endpoint.") == 0));
    char json[512];
    size_t jn = kl_api_err_json(e, json, sizeof json);
    CHECK(jn > 20 && jn == strlen(json) && memcmp(json, "{\"code\":-11", 11) == 0);
    CHECK(strcmp(json + jn - 2, "\"}") == 0);
    return -1;
}

static int
fz_same(const kl_klines_query_t *a, const kl_klines_query_t *b)
{
    return strcmp(a->symbol, b->symbol) == 0 && a->iv == b->iv &&
           a->has_start == b->has_start && (!a->has_start || a->start_ms == b->start_ms) &&
           a->has_end == b->has_end && (!a->has_end || a->end_ms == b->end_ms) &&
           a->limit == b->limit && a->has_tz == b->has_tz && a->tz_minutes == b->tz_minutes;
}

/* Rewrites s[0..n) with its '&'-separated segments in reverse order. */
static size_t
fz_reverse(const char *s, size_t n, char *out)
{
    size_t o = 0, end = n;
    for (size_t i = n + 1; i-- > 0;) {
        if (i == 0 || s[i - 1] == '&') {
            memcpy(out + o, s + i, end - i);
            o += end - i;
            if (i > 0)
                out[o++] = '&';
            end = i > 0 ? i - 1 : 0;
        }
    }
    return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    kl_klines_query_t q, q2;
    kl_api_err_t e, e2;
    int rc = fz_parse(s, size, &q, &e);

    /* Parameter order changes nothing, error or not. */
    static char rev[KL_API_QUERY_MAX + 64];
    if (size <= KL_API_QUERY_MAX) {
        size_t rn = fz_reverse(s, size, rev);
        CHECK(rn == size);
        int rc2 = fz_parse(rev, rn, &q2, &e2);
        CHECK(rc2 == rc);
        if (rc == 0)
            CHECK(fz_same(&q, &q2));
        else
            CHECK(e2.code == e.code && strcmp(e2.msg, e.msg) == 0);
    }
    if (rc != 0)
        return 0;

    /* The generic lookup sees the same values. */
    char v[64];
    CHECK(kl_api_query_param(s, size, "symbol", v, sizeof v) == (int)strlen(q.symbol));
    CHECK(strcmp(v, q.symbol) == 0);
    CHECK(kl_api_query_param(s, size, "interval", v, sizeof v) == (int)strlen(kl_iv_name(q.iv)));
    CHECK(strcmp(v, kl_iv_name(q.iv)) == 0);
    CHECK((kl_api_query_param(s, size, "startTime", v, sizeof v) >= 0) == q.has_start);
    CHECK((kl_api_query_param(s, size, "timeZone", v, sizeof v) >= 0) == q.has_tz);

    /* The REST route's window math on the accepted times (answer_tz in rest.c): kline opens and
     * next opens in the query's zone, in ms and us; UBSan traps on any signed overflow. */
    for (int u = 0; u < 2; u++) {
        kl_ivspec_t sp;
        int64_t unit = u ? 1000 : 1;
        kl_ivspec_init(&sp, q.iv, unit, q.tz_minutes, kl_iv_default_origin_ms(q.iv));
        int64_t t = (q.has_start ? q.start_ms : q.has_end ? q.end_ms : 0) * unit;
        int64_t o = kl_iv_open(&sp, t);
        CHECK(o <= t);
        for (int i = 0; i < 3; i++) {
            int64_t nx = kl_iv_next(&sp, o);
            CHECK(nx > o);
            o = nx;
        }
        CHECK(kl_iv_open(&sp, o - 1) < o);
    }

    /* Canonical rebuild parses back to the same request. */
    for (int style = 0; style < 2; style++) {
        char buf[256];
        int n = snprintf(buf, sizeof buf, "symbol=%s&interval=%s&limit=%d", q.symbol,
                         kl_iv_name(q.iv), q.limit);
        if (q.has_start)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "&startTime=%" PRId64, q.start_ms);
        if (q.has_end)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "&endTime=%" PRId64, q.end_ms);
        if (q.has_tz) {
            int32_t a = q.tz_minutes < 0 ? -q.tz_minutes : q.tz_minutes;
            n += snprintf(buf + n, sizeof buf - (size_t)n, "&timeZone=%s%02d:%02d",
                          q.tz_minutes < 0 ? "-" : style ? "%2B" : "+", (int)(a / 60),
                          (int)(a % 60));
        }
        CHECK(n > 0 && (size_t)n < sizeof buf);
        CHECK(fz_parse(buf, (size_t)n, &q2, &e2) == 0);
        CHECK(fz_same(&q, &q2));
    }
    return 0;
}
