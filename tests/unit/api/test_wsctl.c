/* Unit tests for src/api/wsctl.c: kline stream names (parse, canonical name, round trip), the
 * SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY control frames with
 * every error Binance documents (code, exact message, serde position, echoed id), and the reply
 * writers. Positions were counted by hand with serde_json's rules (line from 1, column = bytes
 * into the line up to and including the byte the error is at). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/apierr.h"
#include "api/wsctl.h"
#include "core/interval.h"

static kl_ws_ctl_t ctl; /* ~50 KiB: not on the stack */

static int
ctl_parse(const char *m, kl_api_err_t *e)
{
    memset(e, 0, sizeof *e);
    return kl_ws_ctl_parse(m, strlen(m), &ctl, e);
}

static void
expect_ctl_err(const char *m, int code, const char *msg, const char *id)
{
    kl_api_err_t e;
    int rc = ctl_parse(m, &e);
    if (rc != -1 || e.code != code || strcmp(e.msg, msg) != 0)
        print_error("frame '%s': rc %d code %d msg '%s'\n", m, rc, e.code, e.msg);
    assert_int_equal(rc, -1);
    assert_int_equal(e.code, code);
    assert_int_equal(e.http, 0);
    assert_string_equal(e.msg, msg);
    assert_int_equal(ctl.id_len, strlen(id));
    assert_memory_equal(ctl.id, id, ctl.id_len);
}

static void
expect_ctl_ok(const char *m)
{
    kl_api_err_t e;
    int rc = ctl_parse(m, &e);
    if (rc != 0)
        print_error("frame '%s': code %d msg '%s'\n", m, e.code, e.msg);
    assert_int_equal(rc, 0);
}

static void
assert_id(const char *id)
{
    assert_int_equal(ctl.id_len, strlen(id));
    assert_memory_equal(ctl.id, id, ctl.id_len);
}

/* ---- stream names ---- */

static void
test_stream_parse_ok(void **state)
{
    (void)state;
    kl_ws_stream_t st;
    assert_int_equal(kl_ws_stream_parse("btcusdt@kline_1m", 16, &st), 0);
    assert_string_equal(st.symbol, "BTCUSDT");
    assert_int_equal(st.iv, KL_IV_1M);
    assert_int_equal(st.has_tz, 0);
    assert_int_equal(st.tz_minutes, 0);

    const char *s = "BtcUsdt@kline_1M@+08:00";
    assert_int_equal(kl_ws_stream_parse(s, strlen(s), &st), 0);
    assert_string_equal(st.symbol, "BTCUSDT");
    assert_int_equal(st.iv, KL_IV_1MO);
    assert_int_equal(st.has_tz, 1);
    assert_int_equal(st.tz_minutes, 480);

    static const struct {
        const char *s;
        int32_t tz;
    } tzs[] = {{"a@kline_1d@-12:00", -720}, {"a@kline_1d@+14:00", 840},
               {"a@kline_1d@+00:00", 0},    {"a@kline_1d@-03:30", -210},
               {"a@kline_1d@+05:45", 345}};
    for (size_t i = 0; i < sizeof tzs / sizeof tzs[0]; i++) {
        assert_int_equal(kl_ws_stream_parse(tzs[i].s, strlen(tzs[i].s), &st), 0);
        assert_int_equal(st.has_tz, 1);
        assert_int_equal(st.tz_minutes, tzs[i].tz);
    }
    /* 31 characters: the longest symbol. */
    s = "abcdefghijklmnopqrstuvwxyz01234@kline_1s";
    assert_int_equal(kl_ws_stream_parse(s, strlen(s), &st), 0);
    assert_string_equal(st.symbol, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234");
    /* Only n bytes are read. */
    assert_int_equal(kl_ws_stream_parse("ethbtc@kline_15mXX", 16, &st), 0);
    assert_int_equal(st.iv, KL_IV_15M);
}

static void
test_stream_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "btcusdt",
        "@kline_1m",
        "btcusdt@",
        "btcusdt@kline_",
        "btcusdt@kline_2m",
        "btcusdt@kline_1H",
        "btcusdt@Kline_1m",
        "btcusdt@kline1m",
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@depth@100ms",
        "!ticker@arr",
        "btc_usdt@kline_1m",
        "btc usdt@kline_1m",
        "abcdefghijklmnopqrstuvwxyz012345@kline_1m", /* 32 characters */
        "btcusdt@kline_1m@",
        "btcusdt@kline_1m@+8:00",
        "btcusdt@kline_1m@08:00",
        "btcusdt@kline_1m@+08:0",
        "btcusdt@kline_1m@+0800",
        "btcusdt@kline_1m@+08:00x",
        "btcusdt@kline_1m@+08:60",
        "btcusdt@kline_1m@+14:01",
        "btcusdt@kline_1m@-12:01",
        "btcusdt@kline_1m@+15:00",
        "btcusdt@kline_1m@-00:00",
        "btcusdt@kline_1m@+08:00@+08:00",
        "btcusdt@kline_1m@UTC",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kl_ws_stream_t st;
        if (kl_ws_stream_parse(bad[i], strlen(bad[i]), &st) != -1)
            print_error("accepted '%s'\n", bad[i]);
        assert_int_equal(kl_ws_stream_parse(bad[i], strlen(bad[i]), &st), -1);
    }
    kl_ws_stream_t st;
    assert_int_equal(kl_ws_stream_parse("btc\0usdt@kline_1m", 17, &st), -1);
}

static void
test_stream_name(void **state)
{
    (void)state;
    kl_ws_stream_t st = {.symbol = "BTCUSDT", .iv = KL_IV_1H};
    char buf[64];
    assert_int_equal(kl_ws_stream_name(&st, buf, sizeof buf), 16);
    assert_string_equal(buf, "btcusdt@kline_1h");
    st.has_tz = 1;
    st.tz_minutes = -210;
    assert_int_equal(kl_ws_stream_name(&st, buf, sizeof buf), 23);
    assert_string_equal(buf, "btcusdt@kline_1h@-03:30");
    st.tz_minutes = 0;
    kl_ws_stream_name(&st, buf, sizeof buf);
    assert_string_equal(buf, "btcusdt@kline_1h@+00:00");

    /* Small buffers: NUL-terminated, length = what was written. */
    assert_int_equal(kl_ws_stream_name(&st, buf, 5), 4);
    assert_string_equal(buf, "btcu");
    assert_int_equal(kl_ws_stream_name(&st, buf, 1), 0);
    assert_string_equal(buf, "");
    st.iv = KL_IV_COUNT;
    assert_int_equal(kl_ws_stream_name(&st, buf, sizeof buf), 0);
    assert_string_equal(buf, "");

    /* Every interval and a sweep of offsets round-trip through parse(name(x)). */
    kl_ws_stream_t a = {.symbol = "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234"}, b;
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        for (int32_t tz = KL_TZ_MIN_MINUTES - 1; tz <= KL_TZ_MAX_MINUTES; tz += 15) {
            a.iv = iv;
            a.has_tz = tz >= KL_TZ_MIN_MINUTES;
            a.tz_minutes = a.has_tz ? tz : 0;
            size_t n = kl_ws_stream_name(&a, buf, sizeof buf);
            assert_true(n < 64);
            assert_int_equal(kl_ws_stream_parse(buf, n, &b), 0);
            assert_memory_equal(&a, &b, sizeof a);
        }
    }
}

/* ---- control frames: accepted ---- */

static void
test_ctl_subscribe(void **state)
{
    (void)state;
    expect_ctl_ok("{\"method\":\"SUBSCRIBE\",\"params\":[\"btcusdt@kline_1m\","
                  "\"ETHBTC@kline_1w@+08:00\"],\"id\":1}");
    assert_int_equal(ctl.method, KL_WS_SUBSCRIBE);
    assert_id("1");
    assert_int_equal(ctl.n_params, 2);
    assert_string_equal(ctl.params[0].symbol, "BTCUSDT");
    assert_int_equal(ctl.params[0].iv, KL_IV_1M);
    assert_int_equal(ctl.params[0].has_tz, 0);
    assert_string_equal(ctl.params[1].symbol, "ETHBTC");
    assert_int_equal(ctl.params[1].iv, KL_IV_1W);
    assert_int_equal(ctl.params[1].tz_minutes, 480);

    /* Spacing, member order, escapes in keys and values, unknown members ignored. */
    expect_ctl_ok(" \r\n{ \"id\" : \"Req-42\" ,\n\t\"extra\" : {\"a\":[1,2.5e-3,true,null]} , "
                  "\"params\" : [ \"bnb\\u0062tc@kline_3d\" ] , \"\\u006dethod\" : "
                  "\"UNSUBSCRIBE\" } \n");
    assert_int_equal(ctl.method, KL_WS_UNSUBSCRIBE);
    assert_id("\"Req-42\"");
    assert_int_equal(ctl.n_params, 1);
    assert_string_equal(ctl.params[0].symbol, "BNBBTC");
    assert_int_equal(ctl.params[0].iv, KL_IV_3D);

    expect_ctl_ok("{\"method\":\"SUBSCRIBE\",\"params\":[],\"id\":null}");
    assert_int_equal(ctl.n_params, 0);
    assert_id("null");

    /* The id range: int64 both ends, a UUID, the empty string. */
    expect_ctl_ok("{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":9223372036854775807}");
    assert_int_equal(ctl.method, KL_WS_LIST_SUBSCRIPTIONS);
    assert_id("9223372036854775807");
    expect_ctl_ok("{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":-9223372036854775808}");
    assert_id("-9223372036854775808");
    expect_ctl_ok("{\"method\":\"LIST_SUBSCRIPTIONS\","
                  "\"id\":\"1dbbeb56-8eea-466a-8f6e-86bdcfa2fc0b\"}");
    assert_id("\"1dbbeb56-8eea-466a-8f6e-86bdcfa2fc0b\"");
    expect_ctl_ok("{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":\"\"}");
    assert_id("\"\"");
    expect_ctl_ok("{\"method\":\"LIST_SUBSCRIPTIONS\",\"params\":[],\"id\":0}");
    expect_ctl_ok("{\"method\":\"LIST_SUBSCRIPTIONS\",\"params\":null,\"id\":0}");
    assert_int_equal(ctl.n_params, 0);
}

static void
test_ctl_max_params(void **state)
{
    (void)state;
    /* 1024 streams fit; one more is refused. */
    size_t cap = 40 + (KL_WS_PARAMS_MAX + 1) * 24;
    char *m = malloc(cap);
    assert_non_null(m);
    for (int extra = 0; extra < 2; extra++) {
        size_t o = (size_t)snprintf(m, cap, "{\"method\":\"SUBSCRIBE\",\"id\":5,\"params\":[");
        for (int k = 0; k < KL_WS_PARAMS_MAX + extra; k++)
            o += (size_t)snprintf(m + o, cap - o, "%s\"s%d@kline_1m\"", k ? "," : "", k);
        o += (size_t)snprintf(m + o, cap - o, "]}");
        kl_api_err_t e;
        int rc = kl_ws_ctl_parse(m, o, &ctl, &e);
        if (!extra) {
            assert_int_equal(rc, 0);
            assert_int_equal(ctl.n_params, KL_WS_PARAMS_MAX);
            assert_string_equal(ctl.params[1023].symbol, "S1023");
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(e.code, 2);
            assert_string_equal(e.msg, "Invalid request: too many parameters");
            assert_id("5");
        }
    }
    free(m);
}

static void
test_ctl_properties(void **state)
{
    (void)state;
    expect_ctl_ok("{\"method\":\"SET_PROPERTY\",\"params\":[\"combined\",true],\"id\":5}");
    assert_int_equal(ctl.method, KL_WS_SET_PROPERTY);
    assert_int_equal(ctl.combined, 1);
    expect_ctl_ok("{\"method\":\"SET_PROPERTY\",\"params\":[\"combined\",false],\"id\":5}");
    assert_int_equal(ctl.combined, 0);
    expect_ctl_ok("{\"method\":\"GET_PROPERTY\",\"params\":[\"combined\"],\"id\":2}");
    assert_int_equal(ctl.method, KL_WS_GET_PROPERTY);
    assert_id("2");

    const char *name = "Invalid request: property name must be a string";
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"id\":5}", 2, name, "5");
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":[],\"id\":5}", 2, name, "5");
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":[1,true],\"id\":5}", 2, name, "5");
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":\"combined\",\"id\":5}", 2, name,
                   "5");
    expect_ctl_err("{\"method\":\"GET_PROPERTY\",\"params\":[null],\"id\":5}", 2, name, "5");
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":[\"combine\",true],\"id\":5}", 0,
                   "Unknown property", "5");
    expect_ctl_err("{\"method\":\"GET_PROPERTY\",\"params\":[\"Combined\"],\"id\":5}", 0,
                   "Unknown property", "5");
    const char *boolean = "Invalid value type: expected Boolean";
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":[\"combined\",1],\"id\":5}", 1,
                   boolean, "5");
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":[\"combined\",\"true\"],\"id\":5}", 1,
                   boolean, "5");
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":[\"combined\"],\"id\":5}", 1,
                   boolean, "5");
    const char *many = "Invalid request: too many parameters";
    expect_ctl_err("{\"method\":\"SET_PROPERTY\",\"params\":[\"combined\",true,1],\"id\":5}", 2,
                   many, "5");
    expect_ctl_err("{\"method\":\"GET_PROPERTY\",\"params\":[\"combined\",true],\"id\":5}", 2,
                   many, "5");
    expect_ctl_err("{\"method\":\"LIST_SUBSCRIPTIONS\",\"params\":[\"a@kline_1m\"],\"id\":5}", 2,
                   many, "5");
    expect_ctl_err("{\"method\":\"LIST_SUBSCRIPTIONS\",\"params\":{},\"id\":5}", 2, many, "5");
}

/* ---- control frames: refused ---- */

static void
test_ctl_bad_json(void **state)
{
    (void)state;
    expect_ctl_err("", 3, "Invalid JSON: EOF while parsing a value at line 1 column 0", "null");
    expect_ctl_err("   ", 3, "Invalid JSON: EOF while parsing a value at line 1 column 3",
                   "null");
    expect_ctl_err("x", 3, "Invalid JSON: expected value at line 1 column 1", "null");
    expect_ctl_err("{", 3, "Invalid JSON: EOF while parsing an object at line 1 column 1",
                   "null");
    expect_ctl_err("{method:1}", 3, "Invalid JSON: key must be a string at line 1 column 2",
                   "null");
    expect_ctl_err("{\"method\" \"X\"}", 3, "Invalid JSON: expected `:` at line 1 column 11",
                   "null");
    expect_ctl_err("{\"method\":\"SUBSCRIBE\",}", 3,
                   "Invalid JSON: trailing comma at line 1 column 23", "null");
    expect_ctl_err("{\"method\":\"SUBSCRIBE\" \"id\":1}", 3,
                   "Invalid JSON: expected `,` or `}` at line 1 column 23", "null");
    expect_ctl_err("{\"id\":1,\"method\":\"SUBSCRIBE\",\"params\":[\"a@kline_1m\"", 3,
                   "Invalid JSON: EOF while parsing a list at line 1 column 51", "1");
    expect_ctl_err("{\"id\":1,\"method\":\"SUBSCRIBE\",\"params\":[1,]}", 3,
                   "Invalid JSON: trailing comma at line 1 column 42", "1");
    expect_ctl_err("{\"id\":1,\"method\":\"SUBSCRIBE\",\"params\":[1 2]}", 3,
                   "Invalid JSON: expected `,` or `]` at line 1 column 42", "1");
    expect_ctl_err("{\"id\":tru}", 3, "Invalid JSON: expected ident at line 1 column 10",
                   "null");
    expect_ctl_err("{\"id\":nul", 3, "Invalid JSON: EOF while parsing a value at line 1 column 9",
                   "null");
    expect_ctl_err("{\"id\":01}", 3, "Invalid JSON: invalid number at line 1 column 8", "null");
    expect_ctl_err("{\"id\":-x}", 3, "Invalid JSON: invalid number at line 1 column 8", "null");
    expect_ctl_err("{\"id\":1.}", 3, "Invalid JSON: invalid number at line 1 column 9", "null");
    expect_ctl_err("{\"id\":1e}", 3, "Invalid JSON: invalid number at line 1 column 9", "null");
    expect_ctl_err("{\"id\":\"ab", 3,
                   "Invalid JSON: EOF while parsing a string at line 1 column 9", "null");
    expect_ctl_err("{\"id\":\"a\\x\"}", 3, "Invalid JSON: invalid escape at line 1 column 10",
                   "null");
    expect_ctl_err("{\"id\":\"a\tb\"}", 3,
                   "Invalid JSON: control character (\\u0000-\\u001F) found while parsing a "
                   "string at line 1 column 9",
                   "null");
    expect_ctl_err("{\"id\":\"a\xff\"}", 3,
                   "Invalid JSON: invalid unicode code point at line 1 column 9", "null");
    expect_ctl_err("{\"id\":\"\\ud800x\"}", 3,
                   "Invalid JSON: unexpected end of hex escape at line 1 column 14", "null");
    expect_ctl_err("{\"id\":\"\\ud800\\u0041\"}", 3,
                   "Invalid JSON: lone leading surrogate in hex escape at line 1 column 19",
                   "null");
    expect_ctl_err("{\"id\":\"\\udc00\"}", 3,
                   "Invalid JSON: lone leading surrogate in hex escape at line 1 column 13",
                   "null");
    expect_ctl_err("{\"id\":\"\\ud800", 3,
                   "Invalid JSON: EOF while parsing a string at line 1 column 13", "null");
    expect_ctl_err("{\"id\":\"\\u12", 3,
                   "Invalid JSON: EOF while parsing a string at line 1 column 11", "null");
    expect_ctl_err("{\"id\":\"\\uzzzz\"}", 3, "Invalid JSON: invalid escape at line 1 column 10",
                   "null");
    expect_ctl_err("{\"id\":\"\\u00zz\"}", 3, "Invalid JSON: invalid escape at line 1 column 12",
                   "null");
    expect_ctl_err("{\"id\":1e", 3, "Invalid JSON: EOF while parsing a value at line 1 column 8",
                   "null");
    /* A surrogate pair decodes (and an astral character in a key is just an unknown key). */
    expect_ctl_ok("{\"\\ud83d\\ude00\":1,\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":1}");
    /* A valid object, then more. */
    expect_ctl_err("{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":1} x", 3,
                   "Invalid JSON: trailing characters at line 1 column 40", "1");
    /* Lines count from 1, columns restart after each newline. */
    expect_ctl_err("{\n  \"id\": 1,\n  \"method\": [\n", 3,
                   "Invalid JSON: EOF while parsing a list at line 4 column 0", "1");

    /* serde's recursion limit, inside an ignored member. */
    char deep[400];
    size_t o = (size_t)snprintf(deep, sizeof deep, "{\"x\":");
    for (int k = 0; k < 130; k++)
        deep[o++] = '[';
    deep[o] = '\0';
    /* The object is level 1: serde refuses the 127th '[' (at index 5 + 126). */
    expect_ctl_err(deep, 3, "Invalid JSON: recursion limit exceeded at line 1 column 132",
                   "null");
    o = (size_t)snprintf(deep, sizeof deep, "{\"x\":");
    for (int k = 0; k < 126; k++)
        deep[o++] = '[';
    for (int k = 0; k < 126; k++)
        deep[o++] = ']';
    o += (size_t)snprintf(deep + o, sizeof deep - o, ",\"method\":\"GET_PROPERTY\",\"id\":1,"
                                                     "\"params\":[\"combined\"]}");
    expect_ctl_ok(deep);
}

static void
test_ctl_bad_request(void **state)
{
    (void)state;
    expect_ctl_err("{\"method\":\"SUBSCRIBEX\",\"params\":[],\"id\":1}", 2,
                   "Invalid request: unknown variant `SUBSCRIBEX`, expected one of `SUBSCRIBE`, "
                   "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 "
                   "column 22",
                   "null");
    /* The id is echoed when it came first; a long method name is shortened. */
    expect_ctl_err("{\"id\":77,\"method\":\"subscribe_subscribe_subscribe\"}", 2,
                   "Invalid request: unknown variant `subscribe_subscribe_subs`, expected one of "
                   "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                   "`GET_PROPERTY` at line 1 column 49",
                   "77");
    expect_ctl_err("{\n\"method\":\"FOO\"}", 2,
                   "Invalid request: unknown variant `FOO`, expected one of `SUBSCRIBE`, "
                   "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 2 "
                   "column 14",
                   "null");
    expect_ctl_err("{\"method\":5,\"id\":1}", 2,
                   "Invalid request: invalid type for `method`, expected a string at line 1 "
                   "column 11",
                   "null");
    expect_ctl_err("{\"id\":1}", 2, "Invalid request: missing field `method` at line 1 column 8",
                   "1");
    expect_ctl_err("{}", 2, "Invalid request: missing field `method` at line 1 column 2", "null");
    expect_ctl_err("{\"method\":\"SUBSCRIBE\",\"method\":\"X\"}", 2,
                   "Invalid request: duplicate field `method` at line 1 column 30", "null");
    expect_ctl_err("{\"id\":1,\"method\":\"SUBSCRIBE\",\"params\":[],\"id\":2}", 2,
                   "Invalid request: duplicate field `id` at line 1 column 45", "1");
    expect_ctl_err("[]", 2, "Invalid request: expected a JSON object", "null");
    expect_ctl_err("\"SUBSCRIBE\"", 2, "Invalid request: expected a JSON object", "null");
    expect_ctl_err("[1,", 3, "Invalid JSON: EOF while parsing a value at line 1 column 3",
                   "null");

    /* id: absent or of a type Binance refuses. */
    const char *idmsg = "Invalid request: request ID must be an unsigned integer";
    static const char *const bad_ids[] = {
        "1.5", "1e3", "true", "{}", "[1]", "\"a b\"", "\"a_b\"", "\"\\u0041\"",
        "\"1234567890123456789012345678901234567\"", /* 37 */
        "9223372036854775808", "-9223372036854775809", "12345678901234567890",
    };
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char m[160];
        snprintf(m, sizeof m, "{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":%s}", bad_ids[i]);
        expect_ctl_err(m, 2, idmsg, "null");
    }
    expect_ctl_err("{\"method\":\"LIST_SUBSCRIPTIONS\"}", 2, idmsg, "null");

    /* SUBSCRIBE's params. */
    expect_ctl_err("{\"method\":\"SUBSCRIBE\",\"id\":3}", 2,
                   "Invalid request: missing field `params` at line 1 column 29", "3");
    const char *arr = "Invalid request: params must be an array of stream names";
    expect_ctl_err("{\"method\":\"SUBSCRIBE\",\"params\":\"btcusdt@kline_1m\",\"id\":3}", 2, arr,
                   "3");
    expect_ctl_err("{\"method\":\"UNSUBSCRIBE\",\"params\":null,\"id\":3}", 2, arr, "3");
    const char *inv = "Invalid request: invalid stream";
    static const char *const bad_streams[] = {
        "\"btcusdt@kline_2m\"", "\"not asdfads\"", "5", "[\"btcusdt@kline_1m\"]", "null",
        "\"btcusdt@kline_1m@+8:00\"", "\"btcusdt@kline_1m@+15:00\"", "\"\"",
        "\"btcusdt@kline_1m\\u0000\"", "\"btc\\u00e9usdt@kline_1m\"",
        "\"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789@kline_1m\"",
    };
    for (size_t i = 0; i < sizeof bad_streams / sizeof bad_streams[0]; i++) {
        char m[200];
        snprintf(m, sizeof m,
                 "{\"method\":\"SUBSCRIBE\",\"params\":[\"ethbtc@kline_1m\",%s],\"id\":\"x9\"}",
                 bad_streams[i]);
        expect_ctl_err(m, 2, inv, "\"x9\"");
    }
    /* Binance streams we do not serve are named in the refusal. */
    expect_ctl_err("{\"method\":\"SUBSCRIBE\",\"params\":[\"btcusdt@trade\"],\"id\":4}", 2,
                   "Invalid request: invalid stream `btcusdt@trade`: klined serves only "
                   "<symbol>@kline_<interval> streams",
                   "4");
    expect_ctl_err("{\"method\":\"SUBSCRIBE\",\"params\":[\"!ticker@arr\"],\"id\":4}", 2,
                   "Invalid request: invalid stream `!ticker@arr`: klined serves only "
                   "<symbol>@kline_<interval> streams",
                   "4");
    expect_ctl_err("{\"method\":\"UNSUBSCRIBE\",\"params\":[\"bnbbtc@depth@100ms\"],\"id\":4}", 2,
                   "Invalid request: invalid stream `bnbbtc@depth@100ms`: klined serves only "
                   "<symbol>@kline_<interval> streams",
                   "4");
}

static void
test_ctl_frame_cap(void **state)
{
    (void)state;
    /* A valid frame padded with whitespace to exactly the cap is accepted; one byte more is
     * refused before any scanning. */
    char *m = malloc(KL_WS_FRAME_MAX + 1);
    assert_non_null(m);
    const char *body = "{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":1}";
    size_t bl = strlen(body);
    memcpy(m, body, bl);
    memset(m + bl, ' ', KL_WS_FRAME_MAX + 1 - bl);
    kl_api_err_t e;
    assert_int_equal(kl_ws_ctl_parse(m, KL_WS_FRAME_MAX, &ctl, &e), 0);
    assert_int_equal(kl_ws_ctl_parse(m, KL_WS_FRAME_MAX + 1, &ctl, &e), -1);
    assert_int_equal(e.code, 2);
    assert_string_equal(e.msg, "Invalid request: message longer than 65536 bytes");
    assert_id("null");
    free(m);
}

/* ---- replies ---- */

static void
test_replies(void **state)
{
    (void)state;
    char buf[512];
    assert_int_equal(kl_ws_reply_null("1", 1, buf, sizeof buf), 22);
    assert_string_equal(buf, "{\"result\":null,\"id\":1}");
    kl_ws_reply_null("\"abc\"", 5, buf, sizeof buf);
    assert_string_equal(buf, "{\"result\":null,\"id\":\"abc\"}");
    kl_ws_reply_null(NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "{\"result\":null,\"id\":null}");
    assert_int_equal(kl_ws_reply_null("1", 1, buf, 22), 0);
    assert_string_equal(buf, "");
    assert_int_equal(kl_ws_reply_null("1", 1, buf, 23), 22);

    kl_api_err_t e;
    kl_api_err_set(&e, 0, 2, "Invalid request: invalid stream");
    size_t n = kl_ws_reply_error(&e, "2", 1, buf, sizeof buf);
    assert_string_equal(buf,
                        "{\"error\":{\"code\":2,\"msg\":\"Invalid request: invalid stream\"},\"id\":2}");
    assert_int_equal(n, strlen(buf));
    kl_ws_reply_error(&e, "", 0, buf, sizeof buf);
    assert_string_equal(buf,
                        "{\"error\":{\"code\":2,\"msg\":\"Invalid request: invalid stream\"},"
                        "\"id\":null}");

    /* The messages the parser makes go out as valid, escaped JSON with the echoed id. */
    kl_api_err_t pe;
    assert_int_equal(ctl_parse("{\"id\":\"q1\",\"method\":\"a\\\"b\"}", &pe), -1);
    n = kl_ws_reply_error(&pe, ctl.id, ctl.id_len, buf, sizeof buf);
    assert_string_equal(buf, "{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown variant "
                             "`a\\\"b`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
                             "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 "
                             "column 26\"},\"id\":\"q1\"}");

    /* Small buffers: shortened message, closed object, or "" when even that cannot fit. */
    for (size_t cap = 0; cap < 80; cap++) {
        char small[80];
        memset(small, 'Z', sizeof small);
        n = kl_ws_reply_error(&e, "12", 2, small, cap);
        if (cap == 0) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_true(n < cap);
        assert_int_equal(strlen(small), n);
        /* head 26 + tail 11 + NUL: below 38 nothing fits. */
        assert_int_equal(n == 0, cap < 38);
        if (n)
            assert_string_equal(small + n - 11, "\"},\"id\":12}");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_parse_ok),  cmocka_unit_test(test_stream_parse_bad),
        cmocka_unit_test(test_stream_name),      cmocka_unit_test(test_ctl_subscribe),
        cmocka_unit_test(test_ctl_max_params),   cmocka_unit_test(test_ctl_properties),
        cmocka_unit_test(test_ctl_bad_json),     cmocka_unit_test(test_ctl_bad_request),
        cmocka_unit_test(test_ctl_frame_cap),    cmocka_unit_test(test_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
