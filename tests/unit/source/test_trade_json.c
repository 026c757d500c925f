/* Tests of the trade/aggTrade JSON parser: every field of real capture lines taken verbatim,
 * both event kinds, the combined-stream envelope, key order and whitespace freedom, skipping of
 * unknown values of every JSON type, one distinct bad input per error code, and a pass over
 * all three Binance WS capture files whose aggTrade count is checked against an independent
 * count of the raw text. The capture lines quoted below come from Bryant Moscon's
 * bmoscon/cryptofeed sample_data (XFree86 1.1 license; see ../shared/data/binance-ws-captures). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kl/err.h"
#include "source/trade_json.h"

static int
parse(const char *s, kl_trade_msg_t *m)
{
    return kl_trade_json_parse(s, strlen(s), m);
}

/* The JSON part of a capture line "<epoch>: <json>". */
static const char *
json_of(const char *line)
{
    const char *j = strstr(line, ": {");
    assert_non_null(j);
    return j + 2;
}

static void
assert_agg(const kl_trade_msg_t *m, const char *sym, int64_t E, int64_t a, kl_dec_t p,
           kl_dec_t q, int64_t f, int64_t l, int64_t T, int maker)
{
    assert_string_equal(m->symbol, sym);
    assert_int_equal(m->is_agg, 1);
    assert_int_equal(m->event_time, E);
    assert_int_equal(m->t.id, a);
    assert_int_equal(m->t.price, p);
    assert_int_equal(m->t.qty, q);
    assert_int_equal(m->t.first_id, f);
    assert_int_equal(m->t.last_id, l);
    assert_int_equal(m->t.ts, T);
    assert_int_equal(m->t.buyer_maker, maker);
}

static void
capture_lines(void **state)
{
    (void)state;
    kl_trade_msg_t m;
    /* USD-M futures: few decimals, "a" before "s", no "M". */
    assert_int_equal(
        parse(json_of("1626992744.3115578: {\"stream\":\"sushiusdt@aggTrade\",\"data\":{\"e\":"
                      "\"aggTrade\",\"E\":1626992744262,\"a\":87353230,\"s\":\"SUSHIUSDT\",\"p\":"
                      "\"7.6120\",\"q\":\"297\",\"f\":126902924,\"l\":126902927,\"T\":"
                      "1626992744108,\"m\":false}}"),
              &m),
        0);
    assert_agg(&m, "SUSHIUSDT", 1626992744262LL, 87353230, 761200000, 29700000000LL, 126902924,
               126902927, 1626992744108LL, 0);

    assert_int_equal(
        parse(json_of("1626992742.334986: {\"stream\":\"akrousdt@aggTrade\",\"data\":{\"e\":"
                      "\"aggTrade\",\"E\":1626992742291,\"a\":14888302,\"s\":\"AKROUSDT\",\"p\":"
                      "\"0.01731\",\"q\":\"312\",\"f\":27931348,\"l\":27931348,\"T\":"
                      "1626992742134,\"m\":true}}"),
              &m),
        0);
    assert_agg(&m, "AKROUSDT", 1626992742291LL, 14888302, 1731000, 31200000000LL, 27931348,
               27931348, 1626992742134LL, 1);

    /* Binance.US spot: 8 decimals, "s" before "a", trailing "M". */
    assert_int_equal(
        parse(json_of("1633998289.023116: {\"stream\":\"omgbusd@aggTrade\",\"data\":{\"e\":"
                      "\"aggTrade\",\"E\":1633998289098,\"s\":\"OMGBUSD\",\"a\":425087,\"p\":"
                      "\"13.80040000\",\"q\":\"30.11000000\",\"f\":439579,\"l\":439579,\"T\":"
                      "1633998289097,\"m\":true,\"M\":true}}"),
              &m),
        0);
    assert_agg(&m, "OMGBUSD", 1633998289098LL, 425087, 1380040000, 3011000000LL, 439579, 439579,
               1633998289097LL, 1);

    /* binance.com spot: a price below 1e-5. */
    assert_int_equal(
        parse(json_of("1633998534.481201: {\"stream\":\"lrcbtc@aggTrade\",\"data\":{\"e\":"
                      "\"aggTrade\",\"E\":1633998534486,\"s\":\"LRCBTC\",\"a\":9213679,\"p\":"
                      "\"0.00000638\",\"q\":\"177.00000000\",\"f\":12368013,\"l\":12368013,"
                      "\"T\":1633998534486,\"m\":false,\"M\":true}}"),
              &m),
        0);
    assert_agg(&m, "LRCBTC", 1633998534486LL, 9213679, 638, 17700000000LL, 12368013, 12368013,
               1633998534486LL, 0);
}

static void
trade_events(void **state)
{
    (void)state;
    kl_trade_msg_t m;
    /* Binance's documented trade event. */
    const char *doc = "{\"e\":\"trade\",\"E\":123456789,\"s\":\"BNBBTC\",\"t\":12345,\"p\":"
                      "\"0.001\",\"q\":\"100\",\"T\":123456785,\"m\":true,\"M\":true}";
    assert_int_equal(parse(doc, &m), 0);
    assert_string_equal(m.symbol, "BNBBTC");
    assert_int_equal(m.is_agg, 0);
    assert_int_equal(m.event_time, 123456789);
    assert_int_equal(m.t.id, 12345);
    assert_int_equal(m.t.first_id, 12345);
    assert_int_equal(m.t.last_id, 12345);
    assert_int_equal(m.t.price, 100000);
    assert_int_equal(m.t.qty, 10000000000LL);
    assert_int_equal(m.t.ts, 123456785);
    assert_int_equal(m.t.buyer_maker, 1);

    /* Older trade events carry buyer/seller order ids "b" and "a": "a" is not the trade id,
     * and even a junk "a" or "f" must not disturb a trade. */
    const char *old = "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":777,\"p\":\"29000.5\","
                      "\"q\":\"0.002\",\"b\":88,\"a\":99,\"T\":1609459200123,\"m\":false,"
                      "\"M\":true}";
    assert_int_equal(parse(old, &m), 0);
    assert_int_equal(m.t.id, 777);
    assert_int_equal(m.t.first_id, 777);
    assert_int_equal(m.t.last_id, 777);
    assert_int_equal(m.t.price, 2900050000000LL);
    assert_int_equal(m.t.qty, 200000);
    assert_int_equal(m.t.buyer_maker, 0);
    const char *junk = "{\"e\":\"trade\",\"s\":\"X\",\"t\":5,\"p\":\"1\",\"q\":\"1\",\"a\":\"oid\","
                       "\"f\":1.5,\"l\":[1],\"T\":2,\"m\":true}";
    assert_int_equal(parse(junk, &m), 0);
    assert_int_equal(m.t.id, 5);
    assert_int_equal(m.event_time, 0); /* no "E" */

    /* And an aggTrade ignores a stray "t". */
    const char *agg = "{\"e\":\"aggTrade\",\"s\":\"X\",\"t\":\"zz\",\"a\":9,\"f\":3,\"l\":4,"
                      "\"p\":\"2\",\"q\":\"3\",\"T\":2,\"m\":false}";
    assert_int_equal(parse(agg, &m), 0);
    assert_int_equal(m.t.id, 9);
    assert_int_equal(m.t.first_id, 3);
    assert_int_equal(m.t.last_id, 4);
}

static void
envelope(void **state)
{
    (void)state;
    kl_trade_msg_t m;
    const char *a = "{\"stream\":\"bnbbtc@trade\",\"data\":{\"e\":\"trade\",\"E\":123456789,"
                    "\"s\":\"BNBBTC\",\"t\":12345,\"p\":\"0.001\",\"q\":\"100\",\"T\":123456785,"
                    "\"m\":true,\"M\":true}}";
    assert_int_equal(parse(a, &m), 0);
    assert_string_equal(m.symbol, "BNBBTC");
    assert_int_equal(m.t.id, 12345);
    /* "data" first, "stream" after, spaces and newlines between all tokens. */
    const char *b = " \n{ \"data\" : { \"T\" : 123456785 , \"m\" : true , \"e\" : \"trade\" ,"
                    " \"s\" : \"BNBBTC\" , \"t\" : 12345 , \"p\" : \"0.001\" , \"q\" : \"100\" } ,"
                    "\r\n\t\"stream\" : \"bnbbtc@trade\" } \r\n";
    kl_trade_msg_t m2;
    assert_int_equal(parse(b, &m2), 0);
    assert_string_equal(m2.symbol, "BNBBTC");
    assert_int_equal(m2.t.id, 12345);
    assert_int_equal(m2.t.ts, 123456785);
    assert_int_equal(m2.event_time, 0);
    /* Event keys beside "data" make the envelope ambiguous. */
    const char *c = "{\"s\":\"ETHBTC\",\"data\":{\"e\":\"trade\",\"s\":\"BNBBTC\",\"t\":1,\"p\":"
                    "\"1\",\"q\":\"1\",\"T\":1,\"m\":true}}";
    assert_int_equal(parse(c, &m), KL_EJSON);
    /* "data" must be an object; a second envelope level is not unwrapped. */
    assert_int_equal(parse("{\"stream\":\"x\",\"data\":[1]}", &m), KL_EJSON);
    assert_int_equal(parse("{\"data\":{\"data\":{\"e\":\"trade\"}}}", &m), KL_EJSON_FIELD);
}

/* Every rotation and the reverse of the members of one message give the same result. */
static void
key_orders(void **state)
{
    (void)state;
    static const char *members[] = {
        "\"e\":\"aggTrade\"", "\"E\":1626992744262", "\"a\":87353230", "\"s\":\"SUSHIUSDT\"",
        "\"p\":\"7.6120\"",   "\"q\":\"297\"",       "\"f\":126902924", "\"l\":126902927",
        "\"T\":1626992744108", "\"m\":false",        "\"M\":true",
    };
    enum { NM = sizeof members / sizeof members[0] };
    for (int rev = 0; rev < 2; rev++) {
        for (int rot = 0; rot < NM; rot++) {
            char buf[512] = "{";
            for (int i = 0; i < NM; i++) {
                int k = (rot + (rev ? NM - 1 - i : i)) % NM;
                strcat(buf, members[k]);
                strcat(buf, i + 1 < NM ? "," : "}");
            }
            kl_trade_msg_t m;
            assert_int_equal(parse(buf, &m), 0);
            assert_agg(&m, "SUSHIUSDT", 1626992744262LL, 87353230, 761200000, 29700000000LL,
                       126902924, 126902927, 1626992744108LL, 0);
        }
    }
}

static void
unknown_values(void **state)
{
    (void)state;
    kl_trade_msg_t m;
    const char *s =
        "{\"x\":\"a \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9\\uD83D\\uDE00 }],{\","
        "\"\\u0065\":\"not the e key\",\"e\":\"trade\",\"n\":null,\"y\":true,\"z\":false,"
        "\"num\":-0.5e+10,\"i\":0,\"big\":123456789012345678901234567890,"
        "\"obj\":{\"k\":[1,{\"e\":\"depthUpdate\"},[],{}],\"s\":\"lower\"},\"arr\":[\"]\",\"}\"],"
        "\"utf8\":\"\xc3\xa9\xe2\x82\xac\",\"s\":\"BTCUSDT\",\"t\":42,\"p\":\"1.5\","
        "\"q\":\"2\",\"T\":7,\"m\":true,\"\":\"empty key\",\"long key\":1E3}";
    assert_int_equal(parse(s, &m), 0);
    assert_string_equal(m.symbol, "BTCUSDT");
    assert_int_equal(m.t.id, 42);
    assert_int_equal(m.t.price, 150000000);
    assert_int_equal(m.t.qty, 200000000);
    assert_int_equal(m.t.ts, 7);

    /* Containers nested exactly 8 deep (the event object is 1) pass; 9 do not. */
    const char *base = "{\"e\":\"trade\",\"s\":\"A\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,"
                       "\"m\":true,\"x\":";
    char buf[256];
    snprintf(buf, sizeof buf, "%s[[[[[[[1]]]]]]]}", base);
    assert_int_equal(parse(buf, &m), 0);
    snprintf(buf, sizeof buf, "%s{\"a\":{\"b\":[{\"c\":[[{}]]}]}}}", base);
    assert_int_equal(parse(buf, &m), 0);
    snprintf(buf, sizeof buf, "%s[[[[[[[[1]]]]]]]]}", base);
    assert_int_equal(parse(buf, &m), KL_EJSON);
    /* In an envelope the envelope is level 1, so one level less is left. */
    snprintf(buf, sizeof buf, "{\"data\":%s[[[[[[1]]]]]]}}", base);
    assert_int_equal(parse(buf, &m), 0);
    snprintf(buf, sizeof buf, "{\"data\":%s[[[[[[[1]]]]]]]}}", base);
    assert_int_equal(parse(buf, &m), KL_EJSON);
}

/* One input per error code and per distinct cause; *out stays untouched on every error. */
static void
errors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
#define T_OK "\"e\":\"trade\",\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1.5\",\"q\":\"2\",\"T\":7"
        {"{" T_OK ",\"m\":true}", 0},
        /* missing fields */
        {"{\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}", KL_EJSON_FIELD},
        {"{" T_OK "}", KL_EJSON_FIELD},
        {"{\"e\":\"trade\",\"s\":\"BTCUSDT\",\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON_FIELD},
        {"{\"e\":\"aggTrade\",\"s\":\"B\",\"a\":1,\"f\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,"
         "\"m\":true}",
         KL_EJSON_FIELD},
        {"{\"e\":\"aggTrade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON_FIELD},
        {"{}", KL_EJSON_FIELD},
        /* other events */
        {"{\"e\":\"depthUpdate\",\"E\":1,\"b\":[[\"1\",\"2\"]]}", KL_EJSON_EVENT},
        {"{\"e\":\"trade\"," T_OK ",\"m\":true}", KL_EJSON},  /* repeated e */
        {"{\"e\":\"Trade\",\"s\":\"B\"}", KL_EJSON_EVENT},     /* case matters */
        {"{\"e\":\"trade \",\"s\":\"B\"}", KL_EJSON_EVENT},
        {"{\"e\":\"kline\",\"k\":{\"t\":1,\"x\":false}} trailing ignored", KL_EJSON_EVENT},
        /* wrong types */
        {"{\"e\":5,\"s\":\"B\"}", KL_EJSON},
        {"{" T_OK ",\"m\":\"true\"}", KL_EJSON},
        {"{" T_OK ",\"m\":1}", KL_EJSON},
        {"{" T_OK ",\"m\":null}", KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":1.5,\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":\"1\",\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7.0,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7e3,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":07,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":99999999999999999999,\"p\":\"1\",\"q\":\"2\","
         "\"T\":7,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,\"E\":\"1\","
         "\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"aggTrade\",\"s\":\"B\",\"a\":1.0,\"f\":1,\"l\":1,\"p\":\"1\",\"q\":\"2\","
         "\"T\":7,\"m\":true}",
         KL_EJSON},
        /* symbols */
        {"{\"e\":\"trade\",\"s\":\"btcusdt\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"BTC\\\"X\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,"
         "\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"BTC-USDT\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\",\"t\":1,\"p\":\"1\","
         "\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EJSON},
        {"{\"e\":\"trade\",\"s\":5,\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,\"m\":true}", KL_EJSON},
        /* decimals */
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"0.000000001\",\"q\":\"2\",\"T\":7,"
         "\"m\":true}",
         KL_EDEC_PRECISION},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"1.5x\",\"T\":7,\"m\":true}",
         KL_EDEC_SYNTAX},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EDEC_SYNTAX},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1e5\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EDEC_SYNTAX},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"\\u0031\",\"q\":\"2\",\"T\":7,\"m\":true}",
         KL_EDEC_SYNTAX},
        {"{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"99999999999.5\",\"T\":7,"
         "\"m\":true}",
         KL_EDEC_OVERFLOW},
        /* a field error outranks a missing field; the first field error wins */
        {"{\"e\":\"trade\",\"q\":\"0.123456789\",\"p\":\"x\"}", KL_EDEC_PRECISION},
        /* structure */
        {"{" T_OK ",\"m\":true}x", KL_EJSON},
        {"{" T_OK ",\"m\":true}{}", KL_EJSON},
        {"{" T_OK ",\"m\":true", KL_EJSON},
        {"{" T_OK ",\"m\":true,}", KL_EJSON},
        {"{" T_OK ",,\"m\":true}", KL_EJSON},
        {"{" T_OK ";\"m\":true}", KL_EJSON},
        {"{" T_OK ",\"m\" true}", KL_EJSON},
        {"{" T_OK ",\"m\":truex}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":\"a\x01\"}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":\"\\q\"}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":\"\\u12G4\"}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":[1,]}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":01}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":1.}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":-}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":nul}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"x\":{1:2}}", KL_EJSON},
        {"{" T_OK ",\"m\":true,\"t\":2}", KL_EJSON}, /* repeated key */
        {"[" T_OK "]", KL_EJSON},
        {"", KL_EJSON},
        {"   ", KL_EJSON},
        {"{\"e\":\"trade\",\"p\":\"1", KL_EJSON}, /* truncated in a decimal */
        /* ids */
        {"{\"e\":\"aggTrade\",\"s\":\"B\",\"a\":1,\"f\":5,\"l\":4,\"p\":\"1\",\"q\":\"2\","
         "\"T\":7,\"m\":true}",
         KL_ETRADE},
#undef T_OK
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kl_trade_msg_t m;
        memset(&m, 0xab, sizeof m);
        int rc = parse(cases[i].in, &m);
        if (rc != cases[i].rc)
            fail_msg("case %zu: %s: got %d (%s), want %d", i, cases[i].in, rc, kl_strerror(rc),
                     cases[i].rc);
        if (rc != 0)
            assert_int_equal((unsigned char)m.symbol[0], 0xab);
    }
    kl_trade_msg_t m;
    assert_int_equal(kl_trade_json_parse("{}", 2, NULL), KL_EARG);
    assert_int_equal(kl_trade_json_parse(NULL, 3, &m), KL_EARG);
    assert_int_equal(kl_trade_json_parse(NULL, 0, &m), KL_EJSON);
    /* n bounds the input: the same text cut short is truncated, not read past. */
    const char *ok = "{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,"
                     "\"m\":true}";
    assert_int_equal(kl_trade_json_parse(ok, strlen(ok), &m), 0);
    for (size_t k = 0; k < strlen(ok); k++)
        assert_int_equal(kl_trade_json_parse(ok, k, &m), KL_EJSON);
}

static void
length_limit(void **state)
{
    (void)state;
    const char *ok = "{\"e\":\"trade\",\"s\":\"B\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":7,"
                     "\"m\":true,\"x\":\"";
    static char buf[KL_TRADE_JSON_MAX + 2];
    size_t n0 = strlen(ok);
    memcpy(buf, ok, n0);
    /* Exactly KL_TRADE_JSON_MAX bytes: accepted. */
    memset(buf + n0, 'z', KL_TRADE_JSON_MAX - n0 - 2);
    buf[KL_TRADE_JSON_MAX - 2] = '"';
    buf[KL_TRADE_JSON_MAX - 1] = '}';
    kl_trade_msg_t m;
    assert_int_equal(kl_trade_json_parse(buf, KL_TRADE_JSON_MAX, &m), 0);
    assert_string_equal(m.symbol, "B");
    /* One byte more, even a trailing newline: too long. */
    buf[KL_TRADE_JSON_MAX] = '\n';
    assert_int_equal(kl_trade_json_parse(buf, KL_TRADE_JSON_MAX + 1, &m), KL_ELINE);
}

static char *
read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    buf[sz] = '\0';
    *len = (size_t)sz;
    return buf;
}

static size_t
count_substr(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Every JSON line of the captures: aggTrades parse with sane fields and their number matches
 * the raw text; messages of other events are KL_EJSON_EVENT; spot bookTicker messages, which
 * carry no "e" at all, are KL_EJSON_FIELD. Nothing else happens. */
static void
capture_files(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t aggs; /* from the README, as a cross-check of the independent count */
    } files[] = {
        {"BINANCE.ws.1.0", 2},
        {"BINANCE_FUTURES.ws.1.0", 91},
        {"BINANCE_US.ws.1.0", 11},
    };
    size_t total_aggs = 0;
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/binance-ws-captures/%s", KL_SHARED_DATA, files[fi].name);
        size_t len;
        char *buf = read_file(path, &len);
        size_t expect_aggs = count_substr(buf, "\"e\":\"aggTrade\"");
        assert_int_equal(expect_aggs, files[fi].aggs);
        size_t aggs = 0, events = 0, no_e = 0, lines = 0;
        int64_t prev_a = -1;
        char *line = strchr(buf, '\n'); /* the first line is the URL */
        assert_non_null(line);
        line++;
        while (*line != '\0') {
            char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) : strlen(line);
            if (ll == 0) { /* the files end with a blank line */
                line = nl ? nl + 1 : line;
                continue;
            }
            char *j = memchr(line, '{', ll);
            assert_non_null(j);
            size_t jl = ll - (size_t)(j - line);
            kl_trade_msg_t m;
            int rc = kl_trade_json_parse(j, jl, &m);
            int has_e = memmem(j, jl, "\"e\":", 4) != NULL;
            lines++;
            if (rc == 0) {
                aggs++;
                assert_int_equal(m.is_agg, 1);
                assert_true(strlen(m.symbol) >= 3);
                /* the stream name is the lower-case symbol */
                char stream[64];
                snprintf(stream, sizeof stream, "\"stream\":\"%s@aggTrade\"", m.symbol);
                for (char *c = stream + 10; *c != '@'; c++)
                    if (*c >= 'A' && *c <= 'Z')
                        *c = (char)(*c - 'A' + 'a');
                assert_non_null(memmem(j, jl, stream, strlen(stream)));
                assert_true(m.t.price > 0 && m.t.qty > 0);
                assert_true(m.t.first_id <= m.t.last_id);
                assert_true(m.t.ts > 1600000000000LL && m.t.ts < 1700000000000LL);
                assert_true(m.event_time >= m.t.ts);
                assert_true(m.t.id != prev_a);
                prev_a = m.t.id;
            } else if (has_e) {
                assert_int_equal(rc, KL_EJSON_EVENT);
                events++;
            } else {
                assert_int_equal(rc, KL_EJSON_FIELD);
                assert_non_null(memmem(j, jl, "@bookTicker", 11));
                no_e++;
            }
            line = nl ? nl + 1 : line + ll;
        }
        assert_int_equal(aggs, expect_aggs);
        assert_int_equal(aggs + events + no_e, lines);
        assert_true(events > 0);
        total_aggs += aggs;
        free(buf);
    }
    assert_int_equal(total_aggs, 104);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capture_lines), cmocka_unit_test(trade_events),
        cmocka_unit_test(envelope),      cmocka_unit_test(key_orders),
        cmocka_unit_test(unknown_values), cmocka_unit_test(errors),
        cmocka_unit_test(length_limit),  cmocka_unit_test(capture_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
