/* Unit tests for src/api/query.c and apierr.c: every error path of the /api/v3/klines query
 * with Binance's exact code, message and HTTP status (the sources are listed at the top of
 * query.c), the accepted forms of each parameter with their edge values, the generic parameter
 * lookup, and the error JSON writer under small buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/apierr.h"
#include "api/query.h"
#include "core/interval.h"

static int
parse(const char *qs, kl_klines_query_t *q, kl_api_err_t *e)
{
    memset(e, 0, sizeof *e);
    return kl_api_parse_klines(qs, strlen(qs), q, e);
}

/* Asserts that qs fails with exactly this code and message, as HTTP 400. */
static void
expect_err(const char *qs, int code, const char *msg)
{
    kl_klines_query_t q;
    kl_api_err_t e;
    int rc = parse(qs, &q, &e);
    if (rc != -1 || e.code != code || strcmp(e.msg, msg) != 0 || e.http != 400)
        print_error("query '%s': rc %d http %d code %d msg '%s'\n", qs, rc, e.http, e.code,
                    e.msg);
    assert_int_equal(rc, -1);
    assert_int_equal(e.http, 400);
    assert_int_equal(e.code, code);
    assert_string_equal(e.msg, msg);
}

static void
expect_ok(const char *qs, kl_klines_query_t *q)
{
    kl_api_err_t e;
    int rc = parse(qs, q, &e);
    if (rc != 0)
        print_error("query '%s': code %d msg '%s'\n", qs, e.code, e.msg);
    assert_int_equal(rc, 0);
}

#define MANDATORY(p) "Mandatory parameter '" p "' was not sent, was empty/null, or malformed."
#define ILLEGAL(p, r) "Illegal characters found in parameter '" p "'; legal range is '" r "'."
#define DIGITS "^[0-9]{1,20}$"
#define SYMRE "^[A-Z0-9-_.]{1,20}$"
#define TZRE "^[+-]?[0-9]{1,2}(:[0-9]{2})?$"

static void
test_minimal_and_defaults(void **state)
{
    (void)state;
    kl_klines_query_t q;
    memset(&q, 0x5a, sizeof q);
    expect_ok("symbol=BTCUSDT&interval=1m", &q);
    assert_string_equal(q.symbol, "BTCUSDT");
    assert_int_equal(q.iv, KL_IV_1M);
    assert_int_equal(q.limit, 500);
    assert_int_equal(q.has_start, 0);
    assert_int_equal(q.has_end, 0);
    assert_int_equal(q.has_tz, 0);
    assert_int_equal(q.tz_minutes, 0);

    /* Any order, every parameter, and the case-sensitive 1M vs 1m. */
    expect_ok("timeZone=-1:00&limit=1000&endTime=1700000059999&startTime=1700000000000"
              "&interval=1M&symbol=ETH2BTC",
              &q);
    assert_string_equal(q.symbol, "ETH2BTC");
    assert_int_equal(q.iv, KL_IV_1MO);
    assert_int_equal(q.has_start, 1);
    assert_int_equal(q.start_ms, 1700000000000LL);
    assert_int_equal(q.has_end, 1);
    assert_int_equal(q.end_ms, 1700000059999LL);
    assert_int_equal(q.limit, 1000);
    assert_int_equal(q.has_tz, 1);
    assert_int_equal(q.tz_minutes, -60);
}

static void
test_all_intervals(void **state)
{
    (void)state;
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        char qs[64];
        snprintf(qs, sizeof qs, "symbol=BNBBTC&interval=%s", kl_iv_name(iv));
        kl_klines_query_t q;
        expect_ok(qs, &q);
        assert_int_equal(q.iv, iv);
    }
}

static void
test_symbol(void **state)
{
    (void)state;
    expect_err("interval=1m", -1102, MANDATORY("symbol"));
    expect_err("symbol=&interval=1m", -1102, MANDATORY("symbol"));
    expect_err("symbol&interval=1m", -1102, MANDATORY("symbol"));
    expect_err("", -1102, MANDATORY("symbol"));
    expect_err("fromId=1", -1102, MANDATORY("symbol")); /* observed: mandatory before unknown */
    expect_err("symbol=btcusdt&interval=1m", -1100, ILLEGAL("symbol", SYMRE));
    expect_err("symbol=MEnergyUSDT&interval=1m", -1100, ILLEGAL("symbol", SYMRE));
    expect_err("symbol=BTC%20USDT&interval=1m", -1100, ILLEGAL("symbol", SYMRE));
    expect_err("symbol=BTC+USDT&interval=1m", -1100, ILLEGAL("symbol", SYMRE));
    expect_err("symbol=BTC%ZZ&interval=1m", -1100, ILLEGAL("symbol", SYMRE));
    expect_err("symbol=BTC%00&interval=1m", -1100, ILLEGAL("symbol", SYMRE));
    expect_err("symbol=ABCDEFGHIJKLMNOPQRSTU&interval=1m", -1100, ILLEGAL("symbol", SYMRE));
    /* Legal for Binance's regex, but never one of our [A-Z0-9] symbols. */
    expect_err("symbol=BTC_USDT&interval=1m", -1121, "Invalid symbol.");
    expect_err("symbol=BTC-USDT&interval=1m", -1121, "Invalid symbol.");
    expect_err("symbol=BTC.USDT&interval=1m", -1121, "Invalid symbol.");

    kl_klines_query_t q;
    expect_ok("symbol=ABCDEFGHIJKLMNOPQRST&interval=1m", &q); /* 20: the longest */
    assert_string_equal(q.symbol, "ABCDEFGHIJKLMNOPQRST");
    expect_ok("symbol=%42TC%55SDT&interval=1m", &q); /* percent-encoded letters */
    assert_string_equal(q.symbol, "BTCUSDT");
    expect_ok("symbol=1&interval=1m", &q);
    assert_string_equal(q.symbol, "1");
}

static void
test_interval(void **state)
{
    (void)state;
    expect_err("symbol=BTCUSDT", -1102, MANDATORY("interval"));
    expect_err("symbol=BTCUSDT&interval=", -1102, MANDATORY("interval"));
    expect_err("symbol=BTCUSDT&interval=2m", -1120, "Invalid interval.");
    expect_err("symbol=BTCUSDT&interval=1H", -1120, "Invalid interval.");
    expect_err("symbol=BTCUSDT&interval=1m%20", -1120, "Invalid interval.");
    expect_err("symbol=BTCUSDT&interval=%", -1120, "Invalid interval.");
    expect_err("symbol=BTCUSDT&interval=1mmmmmmmmmm", -1120, "Invalid interval.");
}

static void
test_times(void **state)
{
    (void)state;
    expect_err("symbol=BTCUSDT&interval=1m&startTime=abc", -1100, ILLEGAL("startTime", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&startTime=-1", -1100, ILLEGAL("startTime", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&startTime=", -1100, ILLEGAL("startTime", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&startTime=1.5", -1100, ILLEGAL("startTime", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&startTime=+1", -1100, ILLEGAL("startTime", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&startTime=123456789012345678901", -1100,
               ILLEGAL("startTime", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&endTime=1e3", -1100, ILLEGAL("endTime", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&endTime=%31%", -1100, ILLEGAL("endTime", DIGITS));
    /* 20 digits pass the regex but overflow a LONG. */
    expect_err("symbol=BTCUSDT&interval=1m&startTime=9223372036854775808", -1108,
               "Parameter 'startTime' overflowed.");
    expect_err("symbol=BTCUSDT&interval=1m&endTime=99999999999999999999", -1108,
               "Parameter 'endTime' overflowed.");

    kl_klines_query_t q;
    expect_ok("symbol=BTCUSDT&interval=1m&startTime=9223372036854775807&endTime=0", &q);
    assert_int_equal(q.start_ms, KL_TIME_MAX_MS); /* clamped: no kline past year 9999 */
    assert_int_equal(q.end_ms, 0);
    /* startTime > endTime is not an error on spot: the route answers []. */
    assert_true(q.has_start && q.has_end && q.start_ms > q.end_ms);
    expect_ok("symbol=BTCUSDT&interval=1M&endTime=9223372036854775807&timeZone=14", &q);
    assert_int_equal(q.end_ms, KL_TIME_MAX_MS);
    expect_ok("symbol=BTCUSDT&interval=1m&startTime=253402300799999", &q);
    assert_int_equal(q.start_ms, KL_TIME_MAX_MS);
    expect_ok("symbol=BTCUSDT&interval=1m&startTime=00000000000000000001", &q);
    assert_int_equal(q.start_ms, 1);
}

static void
test_limit(void **state)
{
    (void)state;
    kl_klines_query_t q;
    static const struct {
        const char *v;
        int want;
    } ok[] = {{"1", 1}, {"499", 499}, {"1000", 1000}, {"1001", 1000}, {"1500", 1000},
              {"2147483647", 1000}, {"0", 1}, {"0000", 1}, {"%35", 5}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char qs[64];
        snprintf(qs, sizeof qs, "symbol=BTCUSDT&interval=1m&limit=%s", ok[i].v);
        expect_ok(qs, &q);
        assert_int_equal(q.limit, ok[i].want);
    }
    expect_err("symbol=BTCUSDT&interval=1m&limit=-1", -1100, ILLEGAL("limit", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&limit=abc", -1100, ILLEGAL("limit", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&limit=", -1100, ILLEGAL("limit", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&limit=10%20", -1100, ILLEGAL("limit", DIGITS));
    expect_err("symbol=BTCUSDT&interval=1m&limit=2147483648", -1108,
               "Parameter 'limit' overflowed.");
}

static void
test_timezone(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int32_t minutes;
    } ok[] = {
        {"0", 0},         {"8", 480},         {"4", 240},        {"-1:00", -60},
        {"05:45", 345},   {"+08:00", 480},    {"%2B08:00", 480}, {"-12:00", -720},
        {"+14:00", 840},  {"14", 840},        {"-12", -720},     {"+5:30", 330},
        {"-00:30", -30},  {"%2d03%3a30", -210},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char qs[64];
        snprintf(qs, sizeof qs, "symbol=BTCUSDT&interval=1d&timeZone=%s", ok[i].v);
        kl_klines_query_t q;
        expect_ok(qs, &q);
        assert_int_equal(q.has_tz, 1);
        assert_int_equal(q.tz_minutes, ok[i].minutes);
    }
    static const char *const shape[] = {"",       "abc",    "8h",     "+",      "08:0",
                                        "08:000", "123",    "+-1",    "1:2:3",  "%20+8",
                                        "08%3A",  "UTC",    "08:00 ", "%2",     "8.5"};
    for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++) {
        char qs[64];
        snprintf(qs, sizeof qs, "symbol=BTCUSDT&interval=1d&timeZone=%s", shape[i]);
        expect_err(qs, -1100, ILLEGAL("timeZone", TZRE));
    }
    static const char *const range[] = {"-12:01", "+14:01", "15", "-13", "99", "08:60",
                                        "+14:30"};
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        char qs[64];
        snprintf(qs, sizeof qs, "symbol=BTCUSDT&interval=1d&timeZone=%s", range[i]);
        expect_err(qs, -1130, "Data sent for parameter 'timeZone' is not valid.");
    }
}

static void
test_duplicates_and_unknown(void **state)
{
    (void)state;
    const char *dup = "Duplicate values for a parameter detected.";
    expect_err("symbol=BTCUSDT&interval=1m&symbol=BTCUSDT", -1101, dup);
    expect_err("symbol=BTCUSDT&interval=1m&limit=1&limit=2", -1101, dup);
    expect_err("limit=1&limit=2", -1101, dup);                 /* before the mandatory check */
    expect_err("symbol=BTCUSDT&interval=1m&foo=1&foo=2", -1101, dup); /* unknown names too */
    expect_err("symbol=BTCUSDT&interval=1m&%73ymbol=X", -1101, dup);  /* decoded names */
    expect_err("symbol=BTCUSDT&interval=1m&interval", -1101, dup);

    expect_err("fromId=1&symbol=BNBBTC&interval=1h", -1104,
               "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.");
    expect_err("symbol=BNBBTC&interval=1h&star_time=1&end_time=2", -1104,
               "Not all sent parameters were read; read '2' parameter(s) but was sent '4'.");
    expect_err("symbol=BNBBTC&interval=1h&Symbol=BNBBTC", -1104,
               "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.");
    expect_err("symbol=BNBBTC&interval=1h&limit=5&=x", -1104,
               "Not all sent parameters were read; read '3' parameter(s) but was sent '4'.");
    expect_err("symbol=BNBBTC&interval=1h&sym%ZZ=1", -1104,
               "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.");
    /* Values are checked before unknown names. */
    expect_err("symbol=BNBBTC&interval=1h&foo=1&limit=x", -1100, ILLEGAL("limit", DIGITS));

    /* Empty segments are not parameters. */
    kl_klines_query_t q;
    expect_ok("&symbol=BNBBTC&&interval=1h&", &q);
    assert_string_equal(q.symbol, "BNBBTC");
    assert_int_equal(q.iv, KL_IV_1H);
}

static void
test_length_cap(void **state)
{
    (void)state;
    char qs[KL_API_QUERY_MAX + 2];
    const char *base = "symbol=BTCUSDT&interval=1m&";
    size_t bl = strlen(base);
    memcpy(qs, base, bl);
    memset(qs + bl, '&', sizeof qs - bl);
    kl_klines_query_t q;
    kl_api_err_t e;
    /* Exactly at the cap: accepted (the '&' padding is empty segments). */
    assert_int_equal(kl_api_parse_klines(qs, KL_API_QUERY_MAX, &q, &e), 0);
    assert_int_equal(kl_api_parse_klines(qs, KL_API_QUERY_MAX + 1, &q, &e), -1);
    assert_int_equal(e.http, 400);
    assert_int_equal(e.code, -1101);
    assert_string_equal(e.msg, "Too many parameters sent for this endpoint.");

    /* Not NUL-terminated: only len bytes are read. */
    const char *s = "symbol=BTCUSDT&interval=1mXYZ";
    assert_int_equal(kl_api_parse_klines(s, strlen(s) - 3, &q, &e), 0);
    assert_int_equal(q.iv, KL_IV_1M);

    /* Many distinct unknown names (the quadratic duplicate check stays bounded). */
    char big[KL_API_QUERY_MAX];
    size_t o = (size_t)snprintf(big, sizeof big, "symbol=BTCUSDT&interval=1m");
    int extra = 0;
    while (o + 8 < sizeof big)
        o += (size_t)snprintf(big + o, sizeof big - o, "&k%04d", extra++);
    assert_int_equal(kl_api_parse_klines(big, o, &q, &e), -1);
    assert_int_equal(e.code, -1104);
    char want[128];
    snprintf(want, sizeof want,
             "Not all sent parameters were read; read '2' parameter(s) but was sent '%d'.",
             extra + 2);
    assert_string_equal(e.msg, want);
}

static void
test_query_param(void **state)
{
    (void)state;
    const char *qs = "a=1&symbol=BTC%55SDT&tz=+08:00&plus=%2B1&empty=&bare&bad=%G1&long=abcdef"
                     "&a=2&%6Eame=v";
    size_t n = strlen(qs);
    char out[8];
    assert_int_equal(kl_api_query_param(qs, n, "symbol", out, sizeof out), 7);
    assert_string_equal(out, "BTCUSDT");
    assert_int_equal(kl_api_query_param(qs, n, "a", out, sizeof out), 1);
    assert_string_equal(out, "1"); /* first occurrence */
    assert_int_equal(kl_api_query_param(qs, n, "tz", out, sizeof out), 6);
    assert_string_equal(out, "+08:00"); /* '+' stays a plus */
    assert_int_equal(kl_api_query_param(qs, n, "plus", out, sizeof out), 2);
    assert_string_equal(out, "+1");
    assert_int_equal(kl_api_query_param(qs, n, "empty", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(kl_api_query_param(qs, n, "bare", out, sizeof out), 0);
    assert_int_equal(kl_api_query_param(qs, n, "name", out, sizeof out), 1);
    assert_string_equal(out, "v");
    assert_int_equal(kl_api_query_param(qs, n, "bad", out, sizeof out), -2);
    assert_int_equal(kl_api_query_param(qs, n, "long", out, sizeof out), 6);
    assert_string_equal(out, "abcdef");
    assert_int_equal(kl_api_query_param(qs, n, "long", out, 7), 6);
    assert_int_equal(kl_api_query_param(qs, n, "long", out, 6), -2);
    assert_int_equal(kl_api_query_param(qs, n, "missing", out, sizeof out), -1);
    assert_int_equal(kl_api_query_param(qs, n, "symbo", out, sizeof out), -1);
    assert_int_equal(kl_api_query_param("", 0, "a", out, sizeof out), -1);
    assert_int_equal(kl_api_query_param("a=1", 3, "a", out, 0), -2);
}

static void
test_err_json(void **state)
{
    (void)state;
    kl_api_err_t e;
    kl_api_err_set(&e, 400, -1121, "Invalid symbol.");
    char buf[256];
    size_t n = kl_api_err_json(&e, buf, sizeof buf);
    assert_string_equal(buf, "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(e.http, 400);

    /* Escapes: quotes, backslash, control bytes, broken UTF-8; valid UTF-8 kept. */
    kl_api_err_set(&e, 400, -1100, "a\"b\\c\n\x01\xff\xc3\xa9");
    kl_api_err_json(&e, buf, sizeof buf);
    assert_string_equal(buf,
                        "{\"code\":-1100,\"msg\":\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\"}");

    /* Small buffers: always closed JSON, never a cut escape; too small: "". */
    kl_api_err_set(&e, 400, -1100, "\"\"\"\"");
    static const char full[] = "{\"code\":-1100,\"msg\":\"\\\"\\\"\\\"\\\"\"}";
    for (size_t cap = 0; cap <= sizeof full + 2; cap++) {
        char small[64];
        memset(small, 'Z', sizeof small);
        n = kl_api_err_json(&e, small, cap);
        assert_true(n < cap || (cap == 0 && n == 0));
        if (cap == 0) {
            assert_int_equal(small[0], 'Z');
            continue;
        }
        assert_int_equal(strlen(small), n);
        if (n == 0)
            continue;
        assert_memory_equal(small, "{\"code\":-1100,\"msg\":\"", 21);
        assert_string_equal(small + n - 2, "\"}");
        /* The message part holds whole escapes only. */
        assert_int_equal((n - 23) % 2, 0);
    }
    n = kl_api_err_json(&e, buf, sizeof full);
    assert_string_equal(buf, full);
    n = kl_api_err_json(&e, buf, 23);
    assert_int_equal(n, 0);
    n = kl_api_err_json(&e, buf, 24);
    assert_string_equal(buf, "{\"code\":-1100,\"msg\":\"\"}");

    /* Truncation of an over-long formatted message. */
    char longmsg[400];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    kl_api_err_set(&e, 400, -1, "%s", longmsg);
    assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_and_defaults),
        cmocka_unit_test(test_all_intervals),
        cmocka_unit_test(test_symbol),
        cmocka_unit_test(test_interval),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_duplicates_and_unknown),
        cmocka_unit_test(test_length_cap),
        cmocka_unit_test(test_query_param),
        cmocka_unit_test(test_err_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
